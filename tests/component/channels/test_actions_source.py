"""POST /v1/actions and its ``source``: a URI-reference (RFC 3986), as CloudEvents 1.0
requires, and not one of Switchboard's own, whose ids key their effects unscoped."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from router.ids import event_id
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


FORGED = event_id("/switchboard/channels/email", "message-id:victim-3@example.com\x1fbob@x.test")
"""The id of an email not sent yet, worked out from its Message-ID and sender."""


async def test_a_source_of_switchboards_own_is_400_at_source(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """An action under an inbound channel's source, with that channel's id for a message
    to come, had made the message a duplicate, dropped with a 202 when it came."""
    resp = await post_structured(
        client, structured(id=FORGED, source="/switchboard/channels/email")
    )
    problem = assert_problem(resp, 400, "/source")
    assert "Switchboard's own" in problem["errors"][0]["detail"]
    await assert_nothing_written(settings)


async def test_a_derived_id_under_the_actions_source_is_400_at_id(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    defaulted = structured(id=FORGED)
    del defaulted["source"]  # the actions' own source is the default
    for body in (structured(id=FORGED, source="/switchboard/actions"), defaulted):
        problem = assert_problem(await post_structured(client, body), 400, "/id")
        assert "version 5" in problem["errors"][0]["detail"]
    await assert_nothing_written(settings)


async def test_the_same_id_under_a_source_of_the_clients_own_is_accepted(
    client: httpx.AsyncClient,
) -> None:
    resp = await post_structured(client, structured(id=FORGED, source="/helpdesk/eu"))
    assert resp.status_code == 202, resp.text
