"""Every endpoint: 413 over the size limit (declared or streamed), 415 on the wrong
content type, 400 on malformed bodies, and nothing written on any topic."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from channels.body import MAX_JSON_DEPTH
from router.codec import decode_event
from router.settings import Settings
from router.topics import Topic
from tests.component.channels.support import assert_nothing_written, assert_problem, client_for
from tests.conftest import read_topic
from tests.endpoints import POST_ENDPOINTS

pytestmark = pytest.mark.component

AUTH = {"Authorization": "Bearer t"}
LIMIT = 2048


async def chunks(total: int) -> AsyncIterator[bytes]:
    for _ in range(total // 512):
        yield b"x" * 512


async def test_limits_and_content_types_on_every_endpoint(settings: Settings) -> None:
    local = settings.model_copy(update={"max_body_bytes": LIMIT, "api_tokens": SecretStr("t")})
    async with client_for(local) as client:
        for path, ctype in POST_ENDPOINTS.items():
            declared = await client.post(
                path, content=b"x" * (LIMIT + 1), headers={**AUTH, "content-type": ctype}
            )
            assert assert_problem(declared, 413)["type"].endswith("/payload-too-large")
            streamed = await client.post(
                path, content=chunks(LIMIT * 4), headers={**AUTH, "content-type": ctype}
            )
            assert "content-length" not in streamed.request.headers
            assert_problem(streamed, 413)
            wrong = await client.post(
                path, content=b"{}", headers={**AUTH, "content-type": "text/plain"}
            )
            assert_problem(wrong, 415)
            if ctype == "application/json":
                bad = await client.post(
                    path, content=b'{"a": ', headers={**AUTH, "content-type": ctype}
                )
                assert_problem(bad, 400, "")
    await assert_nothing_written(settings)


async def test_meta_events_of_another_shape_are_ignored_and_a_non_delivery_is_400(
    settings: Settings,
) -> None:
    async with client_for(settings) as client:
        url = "/v1/channels/messenger"
        # an event without a sender (a checkbox-plugin opt-in) is no message: counted, 2xx
        no_sender = {
            "object": "page",
            "entry": [{"id": "P", "messaging": [{"recipient": {"id": "P"}}]}],
        }
        skipped = await client.post(url, json=no_sender)
        assert (skipped.status_code, skipped.json()["ignored"]) == (202, 1)
        no_recipient = {
            "object": "page",
            "entry": [{"id": "P", "messaging": [{"sender": {"id": "U"}}]}],
        }
        # an event or a message of a shape not read is ignored, never a 400 Meta redelivers
        skipped = await client.post(url, json=no_recipient)
        assert (skipped.status_code, skipped.json()["ignored"]) == (202, 1)
        wa = {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "W",
                    "changes": [{"field": "messages", "value": {"messages": [{"from": "1"}]}}],
                }
            ],
        }
        skipped = await client.post(url, json=wa)
        assert (skipped.status_code, skipped.json()["ignored"]) == (202, 1)
        other = await client.post(url, json={"object": "email", "entry": [{"id": "1"}]})
        assert (other.status_code, other.json()["ignored"]) == (202, 1)
        # a body that is no delivery at all is a broken request
        assert_problem(await client.post(url, json=[1, 2]), 400)
        assert_problem(await client.post(url, json={"object": "page"}), 400, "/entry")
    await assert_nothing_written(settings)


def nested(levels: int) -> str:
    """A JSON array ``levels`` deep: ``[[...]]``."""
    return "[" * levels + "]" * levels


def upsert(attribute: str, id_: str) -> bytes:
    return (
        f'{{"id": "{id_}", "type": "customer.upserted",'
        f' "data": {{"email": "deep@example.com", "attributes": {{"a": {attribute}}}}}}}'
    ).encode()


@pytest.mark.parametrize("levels", [250, 600, 1000])
async def test_json_nested_too_deep_is_400_where_it_goes_too_deep(
    settings: Settings, levels: int
) -> None:
    """Taken, such an action had been dead-lettered by the router after its 202 (its
    JSON parser reads 200 levels), or failed with a 500 (deeper than encoders go)."""
    local = settings.model_copy(update={"api_tokens": SecretStr("t")})
    headers = {**AUTH, "content-type": "application/json"}
    async with client_for(local) as client:
        resp = await client.post(
            "/v1/actions", content=upsert(nested(levels), "d1"), headers=headers
        )
        # the first array past the limit (/data/attributes/a is level 4 of the body)
        too_deep = "/data/attributes/a" + "/0" * (MAX_JSON_DEPTH - 3)
        problem = assert_problem(resp, 400, too_deep)
        assert f"nested deeper than {MAX_JSON_DEPTH} levels" in problem["detail"]
    await assert_nothing_written(settings)


async def test_json_as_deep_as_taken_reaches_the_router_as_sent(settings: Settings) -> None:
    local = settings.model_copy(update={"api_tokens": SecretStr("t")})
    headers = {**AUTH, "content-type": "application/json"}
    deepest = nested(MAX_JSON_DEPTH - 3)
    async with client_for(local) as client:
        resp = await client.post("/v1/actions", content=upsert(deepest, "d2"), headers=headers)
        assert resp.status_code == 202, resp.text
    [written] = await read_topic(settings, Topic.ACTIONS, expect=1)
    event = decode_event(written.value)  # as the router reads it: no recursion limit hit
    assert orjson.dumps((event.data or {})["attributes"]["a"]) == deepest.encode()


def messenger_event(mid: str, referral: object) -> dict[str, object]:
    return {
        "sender": {"id": f"PSID-{mid}"},
        "recipient": {"id": "P"},
        "timestamp": 1762164000000,
        "message": {"mid": mid, "text": "hello", "referral": {"ref": referral}},
    }


@pytest.mark.parametrize("levels", [250, 600])
async def test_a_meta_message_nested_too_deep_is_ignored_and_the_rest_published(
    settings: Settings, levels: int
) -> None:
    """One such message had failed the whole delivery with a 500 (or its record been
    dead-lettered by the router): ignored as any message of a shape not read is."""
    ok, deep = messenger_event("m_ok", "ad-1"), messenger_event("m_deep", None)
    delivery = {"object": "page", "entry": [{"id": "P", "messaging": [deep, ok]}]}
    body = orjson.dumps(delivery).replace(b'"ref":null', b'"ref":' + nested(levels).encode())
    async with client_for(settings) as client:
        with capture_logs() as logs:
            resp = await client.post(
                "/v1/channels/messenger",
                content=body,
                headers={"content-type": "application/json"},
            )
    assert resp.status_code == 202, resp.text
    assert (len(resp.json()["events"]), resp.json()["ignored"]) == (1, 1)
    [ignored] = [e for e in logs if e["event"] == "meta_event_ignored"]
    assert ignored["pointer"] == "/entry/0/messaging/0"
    [written] = await read_topic(settings, Topic.INBOUND, expect=1)
    assert (decode_event(written.value).data or {})["thread"]["message_id"] == "m_ok"
