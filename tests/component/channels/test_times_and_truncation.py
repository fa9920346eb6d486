"""Times and sizes the providers and helpdesks send, over HTTP against the real embedded
broker: a record's ``time`` is in UTC whatever offset its sender wrote; ``/v1/actions``
reads ``time`` as RFC 3339 only, as the Kafka path does; a Twilio message over the text
limit is cut and marked, never refused (Twilio cannot shorten it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr

from router.settings import Settings
from router.topics import Topic
from tests.component.channels.support import assert_nothing_written, assert_problem, client_for
from tests.conftest import read_topic, values

pytestmark = pytest.mark.component

AUTH = {"Authorization": "Bearer tok"}
AN_HOUR_AGO = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
PLUS_TWO = AN_HOUR_AGO.astimezone(timezone(timedelta(hours=2))).isoformat()
IN_UTC = AN_HOUR_AGO.isoformat().replace("+00:00", "Z")
PRESENCE = {"type": "agent.presence", "data": {"agent_id": "a-1", "status": "online"}}


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(settings.model_copy(update={"api_tokens": SecretStr("tok")})) as c:
        yield c


async def test_an_actions_time_with_an_offset_is_written_in_utc(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    resp = await client.post("/v1/actions", json={**PRESENCE, "time": PLUS_TWO}, headers=AUTH)
    assert resp.status_code == 202, resp.text
    assert PLUS_TWO.endswith("+02:00")
    assert values(await read_topic(settings, Topic.ACTIONS, expect=1))[0]["time"] == IN_UTC


async def test_a_chat_messages_sent_at_with_an_offset_is_written_in_utc(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    message = {"conversation_id": "c-1", "visitor": {"id": "v-1"}, "text": "hi"}
    resp = await ingress_client.post("/v1/channels/chat", json={**message, "sent_at": PLUS_TWO})
    assert resp.status_code == 202, resp.text
    assert values(await read_topic(settings, Topic.INBOUND, expect=1))[0]["time"] == IN_UTC


@pytest.mark.parametrize(
    "time",
    [
        "1700000000",
        "2025-01-31",
        "2025-01-31T09:30:00",
        1700000000,
        "0001-01-01T00:00:00+01:00",  # RFC 3339, but no instant in UTC: it had been a 500
        "9999-12-31T23:59:59-01:00",
    ],
)
async def test_an_actions_time_that_is_no_rfc3339_timestamp_is_400_at_time(
    client: httpx.AsyncClient, settings: Settings, time: object
) -> None:
    one = await client.post("/v1/actions", json={**PRESENCE, "time": time}, headers=AUTH)
    assert_problem(one, 400, "/time")
    listed = await client.post(
        "/v1/actions", json=[PRESENCE, {**PRESENCE, "time": time}], headers=AUTH
    )
    assert_problem(listed, 400, "/1/time")
    await assert_nothing_written(settings)


async def test_a_postponement_until_no_instant_in_utc_is_400_at_until(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    postponed = {"type": "ticket.postponed", "data": {"ticket_id": "T-1"}}
    for until in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        resp = await client.post(
            "/v1/actions",
            json={**postponed, "data": {"ticket_id": "T-1", "until": until}},
            headers=AUTH,
        )
        assert_problem(resp, 400, "/data/until")
    await assert_nothing_written(settings)


async def test_a_twilio_body_over_the_limit_is_cut_and_marked_truncated(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    sms = {
        "MessageSid": "SMlong000000000000000000000000000",
        "From": "+14158675309",
        "To": "+18005551212",
        "Body": "x" * 150_000,
    }
    form = {"content-type": "application/x-www-form-urlencoded"}
    resp = await ingress_client.post("/v1/channels/sms", content=urlencode(sms), headers=form)
    assert resp.status_code == 202, resp.text
    data = values(await read_topic(settings, Topic.INBOUND, expect=1))[0]["data"]
    assert data["truncated"] is True
    assert 0 < len(data["text"]) <= settings.max_text_bytes < 150_000


@pytest.mark.parametrize("length", [70_000, 120_000])
async def test_a_chat_text_over_the_text_limit_is_413_whatever_its_length(
    ingress_client: httpx.AsyncClient, length: int
) -> None:
    """The limit is SWITCHBOARD_MAX_TEXT_BYTES, as the document says: a text the schema
    took (70,000 characters) was 413, a longer one a 400 naming a character count the
    document gave and the server did not apply."""
    chat = {"conversation_id": "c-1", "visitor": {"id": "v-1"}, "text": "x" * length}
    resp = await ingress_client.post("/v1/channels/chat", json=chat)
    assert resp.status_code == 413, resp.text
    assert [e["pointer"] for e in resp.json()["errors"]] == ["/text"]
    paths = (await ingress_client.get("/openapi.json")).json()["paths"]
    body = paths["/v1/channels/chat"]["post"]["requestBody"]["content"]["application/json"]
    text = body["schema"]["properties"]["text"]
    assert "maxLength" not in text
    assert "SWITCHBOARD_MAX_TEXT_BYTES" in text["description"]
