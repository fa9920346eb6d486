"""POST /v1/actions and its ``source``: a URI-reference (RFC 3986), as CloudEvents 1.0
requires, and not one of Switchboard's own, whose ids key their effects unscoped."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from channels import email
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


VICTIM = (
    b"From: Bob <bob@x.test>\r\nTo: help@acme.test\r\nSubject: where is my order\r\n"
    b"Message-ID: <victim-3@x.test>\r\n\r\nIt has not come.\r\n"
)


def forged_id() -> str:
    """The id the email adapter will give ``VICTIM``, worked out before it is sent."""
    parsed, mail = email.interpret(VICTIM)
    assert mail is not None
    return event_id(email.SOURCE, email.provider_id(parsed, VICTIM, mail.customer.email))


async def test_a_source_of_switchboards_own_is_400_at_source(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """An action under an inbound channel's source, with that channel's id for a message
    to come, had made the message a duplicate, dropped with a 202 when it came."""
    resp = await post_structured(
        client, structured(id=forged_id(), source="/switchboard/channels/email")
    )
    problem = assert_problem(resp, 400, "/source")
    assert "Switchboard's own" in problem["errors"][0]["detail"]
    await assert_nothing_written(settings)


@pytest.mark.parametrize("source", [None, "/switchboard/actions", "/switchboard/actions/desk"])
async def test_an_action_naming_a_messages_id_in_advance_does_not_drop_the_message(
    client: httpx.AsyncClient, source: str | None
) -> None:
    """The actions' own source is the client's to use, any id with it; an id of the shape
    Switchboard mints is scoped there, so it names no inbound event."""
    action = structured(id=forged_id(), **({"source": source} if source else {}))
    if source is None:
        del action["source"]
    resp = await post_structured(client, action)
    assert resp.status_code == 202, resp.text
    sent = await client.post(
        "/v1/channels/email", content=VICTIM, headers={"content-type": "message/rfc822"}
    )
    assert sent.status_code == 202, sent.text
    assert sent.json() == {"id": forged_id(), "duplicate": False}
