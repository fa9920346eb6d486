"""POST /v1/actions with a ``source`` that is no URI-reference (RFC 3986): CloudEvents 1.0
requires one, and an event Switchboard publishes must be one a CloudEvents reader takes.

Pending ``channels/actions.py``: ``ActionIn.source`` must be read as
``router.events.UriReference`` (today ``Ident``); until then the request is accepted.
The marker is strict, so the change makes this test fail until the marker is removed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from router.settings import Settings
from tests.component.channels.support import assert_nothing_written, assert_problem, client_for
from tests.component.channels.test_actions_cloudevents import post_structured, structured

pytestmark = pytest.mark.component


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    with_tokens = settings.model_copy(update={"api_tokens": SecretStr("tok-1")})
    async with client_for(with_tokens) as c:
        yield c


@pytest.mark.parametrize("source", ['has spaces and "quotes"', "/desk/<1>", "/desk/%zz"])
async def test_a_source_that_is_no_uri_reference_is_400_at_source(
    client: httpx.AsyncClient, settings: Settings, source: str
) -> None:
    resp = await post_structured(client, structured(id="bad-1", source=source))
    problem = assert_problem(resp, 400, "/source")
    assert "not a URI reference" in problem["errors"][0]["detail"]
    await assert_nothing_written(settings)


async def test_a_relative_or_absolute_uri_reference_source_is_accepted(
    client: httpx.AsyncClient,
) -> None:
    for n, source in enumerate(["/helpdesk/eu%20west", "https://desk.example/a?b=1#c"]):
        resp = await post_structured(client, structured(id=f"ok-{n}", source=source))
        assert resp.status_code == 202, resp.text
