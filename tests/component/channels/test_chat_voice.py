"""Chat and voice over HTTP against the real embedded broker."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr

from router.settings import Settings
from router.topics import Topic
from tests.component.channels.support import assert_nothing_written, assert_problem, client_for
from tests.conftest import read_topic, values

pytestmark = pytest.mark.component

CHAT: dict[str, Any] = {
    "conversation_id": "conv-42",
    "visitor": {"id": "v-7", "email": "Dana@Example.com", "name": "Dana"},
    "text": "  Is my order shipped?  ",
    "message_id": "m-1",
    "sent_at": "2026-11-03T10:00:00Z",
    "page_url": "https://shop.example.com/orders/9",
    "locale": "en-GB",
}


async def test_chat_message_is_published_with_conversation_and_visitor(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    resp = await ingress_client.post("/v1/channels/chat", json=CHAT)
    assert resp.status_code == 202, resp.text
    records = await read_topic(settings, Topic.INBOUND, expect=1)
    assert records[0].key == b"email:dana@example.com"
    data = values(records)[0]["data"]
    assert data["channel"] == "chat"
    assert data["customer"] == {
        "email": "dana@example.com",
        "name": "Dana",
        "handles": {"chat": "v-7"},
    }
    assert data["thread"]["conversation_id"] == "conv-42"
    assert data["text"] == "Is my order shipped?"
    assert data["inbox"] == "shop.example.com"
    assert data["language"] == "en"
    assert data["metadata"] == {"page_url": CHAT["page_url"], "locale": "en-GB"}


@pytest.mark.parametrize(
    "claimed",
    [
        "2099-01-01T00:00:00Z",  # a client's clock ahead: SLA clocks that never run out
        "1971-01-01T00:00:00Z",  # a device clock at the epoch: a ticket breached at birth
        "0001-01-01T00:00:00+23:59",  # not even representable in UTC arithmetic
    ],
)
async def test_a_time_that_cannot_be_true_is_replaced_by_the_time_received(
    ingress_client: httpx.AsyncClient, settings: Settings, claimed: str
) -> None:
    """Beyond 5 minutes ahead or older than any provider delivers late (7 days), the
    time received stands; a time an hour ago (a chat sent while offline) is kept."""
    recent = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    wrong = {k: v for k, v in CHAT.items() if k != "message_id"} | {"sent_at": claimed}
    past = {**CHAT, "message_id": "m-past", "sent_at": recent}
    before = time.time()
    for body in (wrong, past):
        resp = await ingress_client.post("/v1/channels/chat", json=body)
        assert resp.status_code == 202, resp.text
    moved, kept = values(await read_topic(settings, Topic.INBOUND, expect=2))
    assert moved["data"]["sent_at"] is not None  # the claim is kept as data
    assert before - 1 <= datetime.fromisoformat(moved["time"]).timestamp() <= time.time() + 1
    assert kept["time"] == recent


async def test_anonymous_visitor_is_keyed_by_chat_handle(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    body = {"conversation_id": "c", "visitor": {"id": "v-9"}, "text": "hi"}
    assert (await ingress_client.post("/v1/channels/chat", json=body)).status_code == 202
    assert (await read_topic(settings, Topic.INBOUND, expect=1))[0].key == b"chat:v-9"


@pytest.mark.parametrize(
    "body",
    [
        CHAT,
        {k: v for k, v in CHAT.items() if k != "message_id"},  # id from (conversation, time, text)
    ],
)
async def test_chat_resend_is_a_duplicate(
    ingress_client: httpx.AsyncClient, settings: Settings, body: dict[str, Any]
) -> None:
    first = await ingress_client.post("/v1/channels/chat", json=body)
    again = await ingress_client.post("/v1/channels/chat", json=body)
    assert [r.json()["duplicate"] for r in (first, again)] == [False, True]
    assert len(await read_topic(settings, Topic.INBOUND, expect=1)) == 1


async def test_the_same_sent_at_in_another_offset_is_a_duplicate(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    """A widget backend that re-serialises the time in local time on a retry made a second
    message; the id of a ``Z`` time is the one the earlier code gave, so retries across
    an upgrade still dedupe."""
    body = {k: v for k, v in CHAT.items() if k != "message_id"}  # id from conversation, time, text
    url = "/v1/channels/chat"
    first = await ingress_client.post(url, json={**body, "sent_at": "2026-12-05T16:00:00Z"})
    # the id the code before the UTC fix gave this message: a deployed system's retry matches
    assert first.json() == {"id": "7affa326-9332-56e9-9e0e-e1efd5873af8", "duplicate": False}
    for same in (
        "2026-12-05T17:00:00+01:00",
        "2026-12-05T16:00:00.000Z",
        "2026-12-05T11:00:00-05:00",
    ):
        again = await ingress_client.post(url, json={**body, "sent_at": same})
        assert again.json() == {"id": first.json()["id"], "duplicate": True}, same
    assert len(await read_topic(settings, Topic.INBOUND, expect=1)) == 1


async def test_a_visitor_at_a_test_domain_is_accepted(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    """Was 400 ("special-use or reserved name"); the email channel takes the address."""
    body = {**CHAT, "visitor": {"id": "v-7", "email": "Dana@Shop.Example.TEST"}}
    resp = await ingress_client.post("/v1/channels/chat", json=body)
    assert resp.status_code == 202, resp.text
    records = await read_topic(settings, Topic.INBOUND, expect=1)
    assert records[0].key == b"email:dana@shop.example.test"


async def test_chat_bad_input(ingress_client: httpx.AsyncClient, settings: Settings) -> None:
    post = ingress_client.post
    url = "/v1/channels/chat"
    assert_problem(await post(url, json={**CHAT, "visitor": {}}), 400, "/visitor/id")
    assert_problem(await post(url, json={**CHAT, "text": " "}), 400, "/text")
    not_an_address = {**CHAT, "visitor": {"id": "v-7", "email": "dana@"}}
    assert_problem(await post(url, json=not_an_address), 400, "/visitor/email")
    assert_problem(await post(url, json={**CHAT, "text": 5}), 400, "/text")
    assert_problem(
        await post(url, json={**CHAT, "sent_at": "2026-11-03T10:00:00"}), 400, "/sent_at"
    )
    assert_problem(await post(url, json=[CHAT]), 400)
    bad_json = {"content": b'{"text": ', "headers": {"content-type": "application/json"}}
    assert_problem(await post(url, **bad_json), 400, "")  # type: ignore[arg-type]
    assert_problem(await post(url, data={"text": "hi"}), 415)
    await assert_nothing_written(settings)


CALL: dict[str, Any] = {
    "call_id": "call-1",
    "event": "missed",
    "from": "+1 (415) 867-5309",
    "to": "+18005551212",
    "at": "2026-11-03T10:00:00Z",
}


async def test_missed_call_is_published_with_call_event(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    resp = await ingress_client.post("/v1/channels/voice", json=CALL)
    assert resp.status_code == 202, resp.text
    records = await read_topic(settings, Topic.INBOUND, expect=1)
    assert records[0].key == b"phone:+14158675309"
    data = values(records)[0]["data"]
    assert data["channel"] == "voice"
    assert data["customer"]["phone"] == "+14158675309"
    assert data["inbox"] == "+18005551212"
    assert data["thread"]["call_id"] == "call-1"
    assert data["metadata"] == {"call_event": "missed"}


async def test_a_withheld_caller_is_a_customer_of_that_call_only(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    """Two callers who both hid their number are two customers, not one ticket; the
    voicemail of a withheld call is the same customer as its missed call."""
    calls = [
        {**CALL, "call_id": "CA1", "from": "anonymous"},
        {**CALL, "call_id": "CA1", "from": "anonymous", "event": "voicemail"},
        {**CALL, "call_id": "CA2", "from": "+266696687"},  # Twilio's anonymous caller id
        {**CALL, "call_id": "CA3", "from": " Restricted "},
        {**CALL, "call_id": "CA4", "from": ""},
    ]
    for body in calls:
        assert (await ingress_client.post("/v1/channels/voice", json=body)).status_code == 202
    records = await read_topic(settings, Topic.INBOUND, expect=len(calls))
    assert sorted(r.key or b"" for r in records) == [
        b"voice:call:CA1",
        b"voice:call:CA1",
        b"voice:call:CA2",
        b"voice:call:CA3",
        b"voice:call:CA4",
    ]
    customers = [v["data"]["customer"] for v in values(records)]
    assert {"handles": {"voice": "call:CA2"}} in customers


async def test_call_lifecycle_events_are_distinct_and_carry_seconds(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    answered = {**CALL, "event": "answered", "agent_id": "a-1"}
    ended = {
        **CALL,
        "event": "ended",
        "agent_id": "a-1",
        "talk_seconds": 312.5,
        "hold_seconds": 20,
        "wrap_seconds": 45,
    }
    answers = [
        (await ingress_client.post("/v1/channels/voice", json=body)).json()
        for body in (answered, ended, ended)
    ]
    assert [a["duplicate"] for a in answers] == [False, False, True]
    records = values(await read_topic(settings, Topic.INBOUND, expect=2))
    assert len(records) == 2
    last = records[-1]["data"]["metadata"]
    assert last == {
        "call_event": "ended",
        "agent_id": "a-1",
        "talk_seconds": 312.5,
        "hold_seconds": 20.0,
        "wrap_seconds": 45.0,
    }


async def test_voice_bad_input(ingress_client: httpx.AsyncClient, settings: Settings) -> None:
    post = ingress_client.post
    url = "/v1/channels/voice"
    assert_problem(await post(url, json={**CALL, "event": "hungup"}), 400, "/event")
    assert_problem(
        await post(url, json={k: v for k, v in CALL.items() if k != "from"}), 400, "/from"
    )
    assert_problem(await post(url, json={**CALL, "talk_seconds": -1}), 400, "/talk_seconds")
    assert_problem(await post(url, json={**CALL, "at": "yesterday"}), 400, "/at")
    assert_problem(await post(url, content=b"[", headers={"content-type": "application/json"}), 400)
    assert_problem(await post(url, content=b"{}", headers={"content-type": "text/json"}), 415)
    await assert_nothing_written(settings)


@pytest.mark.parametrize("field", ["talk_seconds", "hold_seconds", "wrap_seconds"])
@pytest.mark.parametrize("value", [True, "60", 1e308, 86_401])
async def test_call_seconds_are_bounded_json_numbers(
    ingress_client: httpx.AsyncClient, settings: Settings, field: str, value: object
) -> None:
    """``talk_seconds: true`` was published as 1.0; a week and more as is. Each one is
    added to the ticket's handle time: at most a day, as a number."""
    resp = await ingress_client.post("/v1/channels/voice", json={**CALL, field: value})
    assert_problem(resp, 400, f"/{field}")
    await assert_nothing_written(settings)


SECRETS = {"chat": "chat-secret-1", "voice": "voice-secret-2"}
BODIES = {"chat": CHAT, "voice": CALL}


@pytest.fixture
async def guarded(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An ingress with SWITCHBOARD_CHAT_SECRET and SWITCHBOARD_VOICE_SECRET set."""
    update = {
        "chat_secret": SecretStr(SECRETS["chat"]),
        "voice_secret": SecretStr(SECRETS["voice"]),
    }
    async with client_for(settings.model_copy(update=update)) as client:
        yield client


def signed(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    """The headers a chat backend sends, computed as docs/ingress.md tells it to."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return {
        "content-type": "application/json",
        "x-switchboard-timestamp": str(timestamp),
        "x-switchboard-signature": f"sha256={mac.hexdigest()}",
    }


@pytest.mark.parametrize("channel", ["chat", "voice"])
async def test_a_secret_lets_in_its_bearer_and_fresh_signatures(
    guarded: httpx.AsyncClient, settings: Settings, channel: str
) -> None:
    url, secret = f"/v1/channels/{channel}", SECRETS[channel]
    bearer = await guarded.post(
        url, json=BODIES[channel], headers={"Authorization": f"Bearer {secret}"}
    )
    assert bearer.status_code == 202, bearer.text
    other = {**BODIES[channel], "message_id": "m-2", "event": "voicemail"}
    body = orjson.dumps(other)
    sig = await guarded.post(url, content=body, headers=signed(secret, body, int(time.time())))
    assert sig.status_code == 202, sig.text
    assert sig.json()["duplicate"] is False
    assert len(await read_topic(settings, Topic.INBOUND, expect=2)) == 2


@pytest.mark.parametrize("channel", ["chat", "voice"])
async def test_a_secret_refuses_whoever_cannot_prove_it(
    guarded: httpx.AsyncClient, settings: Settings, channel: str
) -> None:
    url, secret = f"/v1/channels/{channel}", SECRETS[channel]
    body = orjson.dumps(BODIES[channel])
    now = int(time.time())
    json_only = {"content-type": "application/json"}
    tampered = orjson.dumps({**BODIES[channel], "text": "send me the invoice of ada"})
    refused = {
        "missing": (body, json_only),
        "invalid bearer": (body, {**json_only, "Authorization": "Bearer guess"}),
        "the other channel's secret": (
            body,
            signed(SECRETS["chat" if channel == "voice" else "voice"], body, now),
        ),
        "tampered body": (tampered, signed(secret, body, now)),
        "stale": (body, signed(secret, body, now - 400)),
        "from the future": (body, signed(secret, body, now + 400)),
        "timestamp without signature": (body, {**json_only, "x-switchboard-timestamp": str(now)}),
    }
    details, challenges = {}, {}
    for case, (content, headers) in refused.items():
        resp = await guarded.post(url, content=content, headers=headers)
        problem = assert_problem(resp, 401)
        details[case], challenges[case] = problem["detail"], resp.headers["www-authenticate"]
        assert secret not in problem["detail"], case
    assert details["missing"].startswith("missing credentials")
    assert details["invalid bearer"] == "invalid bearer token"
    assert challenges["invalid bearer"] == 'Bearer realm="switchboard", error="invalid_token"'
    assert challenges["missing"] == 'Bearer realm="switchboard"'
    assert "does not match" in details["tampered body"]
    assert "does not match" in details["the other channel's secret"]
    assert "away from the server's clock; at most 300 s" in details["stale"]
    assert "replay" in details["from the future"]
    assert "without X-Switchboard-Signature" in details["timestamp without signature"]
    await assert_nothing_written(settings)


@pytest.mark.parametrize("channel", ["chat", "voice"])
async def test_a_repeated_authorization_header_is_refused(
    guarded: httpx.AsyncClient, settings: Settings, channel: str
) -> None:
    """The right token first and a wrong one second (or the other way round): which one
    a gateway in front read is unknown, so neither is taken."""
    headers = [
        ("content-type", "application/json"),
        ("authorization", f"Bearer {SECRETS[channel]}"),
        ("authorization", "Bearer guess"),
    ]
    body = orjson.dumps(BODIES[channel])
    resp = await guarded.post(f"/v1/channels/{channel}", content=body, headers=headers)
    problem = assert_problem(resp, 400)
    assert [e["pointer"] for e in problem["errors"]] == ["/header/authorization"]
    await assert_nothing_written(settings)


async def test_without_a_secret_chat_and_voice_stay_open(
    ingress_client: httpx.AsyncClient,
) -> None:
    """The default (and what every other test here relies on): no secret, no check."""
    for channel, body in BODIES.items():
        resp = await ingress_client.post(
            f"/v1/channels/{channel}", json=body, headers={"Authorization": "Bearer anything"}
        )
        assert resp.status_code == 202, resp.text


async def test_an_email_secret_guards_the_email_endpoint_too(
    settings: Settings,
) -> None:
    """An MTA pipe or a provider's raw-MIME forward is on the internet like chat: with
    SWITCHBOARD_EMAIL_SECRET set, a spoofed mail without the secret is refused."""
    secret = "mail-secret-3"
    mail = b"From: eve@example.com\r\nTo: help@acme.test\r\nSubject: hi\r\n\r\nhello"
    rfc822 = {"content-type": "message/rfc822"}
    update = {"email_secret": SecretStr(secret)}
    async with client_for(settings.model_copy(update=update)) as client:
        spoofed = await client.post("/v1/channels/email", content=mail, headers=rfc822)
        assert_problem(spoofed, 401)
        await assert_nothing_written(settings)
        bearer = {**rfc822, "Authorization": f"Bearer {secret}"}
        accepted = await client.post("/v1/channels/email", content=mail, headers=bearer)
        assert accepted.status_code == 202, accepted.text
        signed_mail = mail.replace(b"hello", b"hello again")
        headers = {**signed(secret, signed_mail, int(time.time())), **rfc822}
        again = await client.post("/v1/channels/email", content=signed_mail, headers=headers)
        assert again.status_code == 202, again.text


async def test_a_chat_idempotency_key_reused_for_another_message_is_422(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    """Without message_id or sent_at the key names the message: a retry is a duplicate,
    another message under the same key is refused instead of dropped."""
    plain = {"conversation_id": "conv-9", "visitor": {"id": "v-9"}, "text": "first"}
    headers = {"Idempotency-Key": "chat-7"}
    first = await ingress_client.post("/v1/channels/chat", json=plain, headers=headers)
    retry = await ingress_client.post("/v1/channels/chat", json=plain, headers=headers)
    assert (first.json()["duplicate"], retry.json()["duplicate"]) == (False, True)
    other = {**plain, "text": "something else"}
    reused = await ingress_client.post("/v1/channels/chat", json=other, headers=headers)
    assert_problem(reused, 422)
    assert len(await read_topic(settings, Topic.INBOUND, expect=1)) == 1


@pytest.mark.parametrize("at", ["1700000000", 1700000000, "2026-11-03", "2026-11-03T10:00:00"])
async def test_a_call_or_chat_time_that_is_not_rfc_3339_is_refused_at_its_field(
    ingress_client: httpx.AsyncClient, settings: Settings, at: object
) -> None:
    """An epoch string was read as Unix seconds: a 2023 call on today's ticket."""
    call = await ingress_client.post("/v1/channels/voice", json={**CALL, "at": at})
    assert_problem(call, 400, "/at")
    chat = await ingress_client.post("/v1/channels/chat", json={**CHAT, "sent_at": at})
    assert_problem(chat, 400, "/sent_at")
    await assert_nothing_written(settings)


async def test_a_recording_url_with_a_control_character_is_refused(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    """``http://x/\u0000`` was published as the call's ``metadata.recording_url``."""
    call = {**CALL, "event": "voicemail", "recording_url": "https://rec.example.com/\x00r1"}
    resp = await ingress_client.post("/v1/channels/voice", json=call)
    assert_problem(resp, 400, "/recording_url")
    await assert_nothing_written(settings)
    url = "https://rec.example.com/r1"
    resp = await ingress_client.post("/v1/channels/voice", json={**call, "recording_url": url})
    assert resp.status_code == 202, resp.text
    [event] = values(await read_topic(settings, Topic.INBOUND, expect=1))
    assert event["data"]["metadata"]["recording_url"] == url


async def test_a_calls_ids_refuse_control_characters_and_its_transcript_loses_them(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    resp = await ingress_client.post("/v1/channels/voice", json={**CALL, "call_id": "ca\x00ll"})
    assert_problem(resp, 400, "/call_id")
    resp = await ingress_client.post("/v1/channels/voice", json={**CALL, "from": "+1415\x00555"})
    assert_problem(resp, 400, "/from")
    voicemail = {**CALL, "event": "voicemail", "transcript": "call\x00 me\x07 back\n"}
    assert (await ingress_client.post("/v1/channels/voice", json=voicemail)).status_code == 202
    [event] = values(await read_topic(settings, Topic.INBOUND, expect=1))
    assert event["data"]["text"] == "call me back\n"  # line breaks are text


async def test_an_address_guessing_a_channel_secret_gets_429_and_the_secret_still_passes(
    guarded: httpx.AsyncClient,
) -> None:
    """Wrong chat or voice secrets sent as bearer tokens had each been a 401, never
    counted or logged, where a wrong API token is: past the limit, 429."""
    from channels.auth_failures import LIMIT

    wrong = {"Authorization": "Bearer guess"}
    for _ in range(LIMIT):
        resp = await guarded.post("/v1/channels/chat", json=CHAT, headers=wrong)
        assert resp.status_code == 401
    refused = await guarded.post("/v1/channels/voice", json=CALL, headers=wrong)
    assert assert_problem(refused, 429)["type"].endswith("too-many-failed-tokens")
    right = {"Authorization": f"Bearer {SECRETS['chat']}"}
    assert (await guarded.post("/v1/channels/chat", json=CHAT, headers=right)).status_code == 202
