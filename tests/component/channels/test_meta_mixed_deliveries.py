"""Signed Meta deliveries that mix a customer message with an event naming no usable
sender: the delivery is answered 202, the message published, the other counted in
``ignored`` (once a single such event refused the whole delivery with 400)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from channels.signatures import meta_signature
from router.settings import Settings
from router.topics import Topic
from tests.component.channels.support import assert_nothing_written, client_for
from tests.conftest import read_topic, values

pytestmark = pytest.mark.component

SECRET = "meta-app-secret"
URL = "/v1/channels/messenger"
BSUID = "US.13491208655302741918"


@pytest.fixture
def meta_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"meta_app_secret": SecretStr(SECRET)})


async def post_signed(settings: Settings, payload: dict[str, Any]) -> dict[str, Any]:
    raw = orjson.dumps(payload)
    headers = {
        "content-type": "application/json",
        "X-Hub-Signature-256": meta_signature(SECRET, raw),
    }
    async with client_for(settings) as client:
        resp = await client.post(URL, content=raw, headers=headers)
    assert resp.status_code == 202, resp.text
    answer: dict[str, Any] = resp.json()
    return answer


def wa_text(wamid: str, body: str, **sender: str) -> dict[str, Any]:
    return {
        **sender,
        "id": wamid,
        "timestamp": "1764942000",
        "type": "text",
        "text": {"body": body},
    }


async def test_a_bsuid_user_is_published_beside_a_message_naming_nobody(
    meta_settings: Settings, settings: Settings
) -> None:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550953877", "phone_number_id": "106"},
        "contacts": [{"profile": {"name": "Jane", "username": "@jane"}, "user_id": BSUID}],
        "messages": [
            wa_text("wamid.AUD4bsuid", "hi", from_user_id=BSUID),
            wa_text("wamid.nobody", "lost"),
        ],
    }
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": value}]}],
    }
    answer = await post_signed(meta_settings, payload)
    assert (len(answer["events"]), answer["ignored"]) == (1, 1)
    [record] = await read_topic(settings, Topic.INBOUND, expect=1)
    assert record.key == f"whatsapp:{BSUID}".encode()
    data = values([record])[0]["data"]
    assert data["customer"] == {"name": "Jane", "handles": {"whatsapp": BSUID}}
    assert data["text"] == "hi"


MESSAGE = {
    "sender": {"id": "PSID-1"},
    "recipient": {"id": "111222333"},
    "timestamp": 1762164000000,
    "message": {"mid": "m_real", "text": "where is my order"},
}


async def test_a_checkbox_opt_in_does_not_lose_the_message_beside_it(
    meta_settings: Settings, settings: Settings
) -> None:
    optin = {
        "recipient": {"id": "111222333"},
        "timestamp": 1,
        "optin": {"ref": "r", "user_ref": "UREF"},
    }
    payload = {
        "object": "page",
        "entry": [
            {"id": "111222333", "time": 1, "messaging": [MESSAGE]},
            {"id": "111222333", "time": 1, "messaging": [optin]},
        ],
    }
    answer = await post_signed(meta_settings, payload)
    assert (len(answer["events"]), answer["ignored"]) == (1, 1)
    [record] = await read_topic(settings, Topic.INBOUND, expect=1)
    assert record.key == b"messenger:PSID-1"
    assert values([record])[0]["data"]["text"] == "where is my order"


async def test_a_chat_plugin_guest_is_published_with_the_message_beside_it(
    meta_settings: Settings, settings: Settings
) -> None:
    guest = {
        **MESSAGE,
        "sender": {"user_ref": "guest-abc"},
        "message": {"mid": "m_guest", "text": "hello?"},
    }
    standby = {**MESSAGE, "message": {"mid": "m_standby", "text": "another app's thread"}}
    payload = {
        "object": "page",
        "entry": [
            {"id": "111222333", "time": 1, "messaging": [guest, MESSAGE], "standby": [standby]}
        ],
    }
    answer = await post_signed(meta_settings, payload)
    assert (len(answer["events"]), answer["ignored"]) == (2, 1)
    records = await read_topic(settings, Topic.INBOUND, expect=2)
    assert sorted(r.key for r in records) == [b"messenger:PSID-1", b"messenger:user_ref:guest-abc"]


async def test_a_message_without_mid_does_not_refuse_the_valid_one_beside_it(
    meta_settings: Settings, settings: Settings
) -> None:
    """The audit's case: once ``400 /entry/0/messaging/1/message/mid: Field required``
    and the valid message lost."""
    no_mid = {**MESSAGE, "sender": {"id": "PSID-2"}, "message": {"text": "no id"}}
    no_recipient = {k: v for k, v in MESSAGE.items() if k != "recipient"}
    payload = {
        "object": "page",
        "entry": [{"id": "111222333", "time": 1, "messaging": [MESSAGE, no_mid, no_recipient]}],
    }
    answer = await post_signed(meta_settings, payload)
    assert (len(answer["events"]), answer["ignored"]) == (1, 2)
    [record] = await read_topic(settings, Topic.INBOUND, expect=1)
    assert record.key == b"messenger:PSID-1"


async def test_a_whatsapp_timestamp_as_a_number_is_published(
    meta_settings: Settings, settings: Settings
) -> None:
    message = {**wa_text("wamid.numeric", "hi"), "from": "972544401243", "timestamp": 1764942000}
    value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "106"}}
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "WABA1",
                "changes": [{"field": "messages", "value": {**value, "messages": [message]}}],
            }
        ],
    }
    answer = await post_signed(meta_settings, payload)
    assert (len(answer["events"]), answer["ignored"]) == (1, 0)
    [record] = await read_topic(settings, Topic.INBOUND, expect=1)
    assert values([record])[0]["data"]["sent_at"].startswith("2025-12-05T13:40:00")


@pytest.mark.parametrize("kind", ["user", "application"])
async def test_a_delivery_for_another_object_is_accepted_and_ignored(
    meta_settings: Settings, settings: Settings, kind: str
) -> None:
    entry = {"id": "1", "uid": "1", "time": 1, "changes": [{"field": "email"}]}
    answer = await post_signed(meta_settings, {"object": kind, "entry": [entry]})
    assert answer == {"id": None, "duplicate": False, "events": [], "ignored": 1}
    await assert_nothing_written(settings)


async def test_instagram_changes_are_counted_as_ignored(
    meta_settings: Settings, settings: Settings
) -> None:
    comment = {"field": "comments", "value": {"id": "C1", "text": "nice"}}
    payload = {"object": "instagram", "entry": [{"id": "IG1", "time": 1, "changes": [comment]}]}
    answer = await post_signed(meta_settings, payload)
    assert answer == {"id": None, "duplicate": False, "events": [], "ignored": 1}
    await assert_nothing_written(settings)
