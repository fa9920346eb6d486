"""Control characters (a NUL) on every channel, against the real embedded broker: removed
from what people wrote (subject, text, names), as the email channel does; refused with
400 at the field in ids, phone numbers and handles, which name nothing real with one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr

from channels.signatures import twilio_signature
from router.settings import Settings
from router.topics import Topic
from tests.component.channels.support import assert_nothing_written, assert_problem, client_for
from tests.conftest import read_topic, values

pytestmark = pytest.mark.component

TOKEN = "twilio-test-token"
PUBLIC_URL = "https://switchboard.example.com"
FORM = {"content-type": "application/x-www-form-urlencoded"}
SMS = {
    "MessageSid": "SM0123456789abcdef0123456789abcdef",
    "From": "+14158675309",
    "To": "+18005551212",
    "Body": "Where\x00 is my\x07 parcel?\nThanks",
    "ProfileName": "Pri\x00ya",
}


@pytest.fixture
async def twilio(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    update = {"twilio_auth_token": SecretStr(TOKEN), "public_url": PUBLIC_URL}
    async with client_for(settings.model_copy(update=update)) as client:
        yield client


def signed(form: dict[str, str], path: str) -> dict[str, str]:
    return {**FORM, "X-Twilio-Signature": twilio_signature(TOKEN, PUBLIC_URL + path, form.items())}


async def test_a_web_forms_text_loses_its_control_characters(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    form = {
        "email": "ana@example.com",
        "name": "Ana\x00 Lima",
        "subject": "Refund\x00\x1b please",
        "message": "Hello\x00,\n\tmy order\r\n",
    }
    resp = await ingress_client.post("/v1/channels/webform", json=form)
    assert resp.status_code == 202, resp.text
    data = values(await read_topic(settings, Topic.INBOUND, expect=1))[0]["data"]
    assert data["subject"] == "Refund please"
    assert data["text"] == "Hello,\n\tmy order"
    assert data["customer"]["name"] == "Ana Lima"


async def test_a_message_of_control_characters_only_is_empty(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    form = {"email": "ana@example.com", "message": "\x00\x01 "}
    assert_problem(await ingress_client.post("/v1/channels/webform", json=form), 400, "/message")
    await assert_nothing_written(settings)


async def test_chat_strips_text_and_refuses_a_handle_with_a_nul(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    url = "/v1/channels/chat"
    message = {
        "conversation_id": "conv-1",
        "visitor": {"id": "v-1", "name": "Bo\x00b"},
        "text": "hi\x00 there",
        "message_id": "m-1",
    }
    for path, wrong in (
        ("/visitor/id", {**message, "visitor": {"id": "v\x00-1"}}),
        ("/conversation_id", {**message, "conversation_id": "conv\x00-1"}),
        ("/message_id", {**message, "message_id": "m\x00-1"}),
    ):
        assert_problem(await ingress_client.post(url, json=wrong), 400, path)
    await assert_nothing_written(settings)
    resp = await ingress_client.post(url, json=message)
    assert resp.status_code == 202, resp.text
    records = await read_topic(settings, Topic.INBOUND, expect=1)
    assert records[0].key == b"chat:v-1"
    data = values(records)[0]["data"]
    assert (data["text"], data["customer"]["name"]) == ("hi there", "Bob")


async def test_twilio_refuses_a_number_with_a_nul_and_strips_the_text(
    twilio: httpx.AsyncClient, settings: Settings
) -> None:
    path = "/v1/channels/sms"
    forged = {**SMS, "From": "+1415\x00555"}
    resp = await twilio.post(path, content=urlencode(forged), headers=signed(forged, path))
    assert_problem(resp, 400, "/From")
    await assert_nothing_written(settings)
    resp = await twilio.post(path, content=urlencode(SMS), headers=signed(SMS, path))
    assert resp.status_code == 202, resp.text
    records = await read_topic(settings, Topic.INBOUND, expect=1)
    assert records[0].key == b"phone:+14158675309"
    data = values(records)[0]["data"]
    assert data["text"] == "Where is my parcel?\nThanks"
    assert data["customer"]["name"] == "Priya"


async def test_meta_text_loses_control_characters_and_an_id_with_one_is_ignored(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    def delivery(sender: str, text: str) -> dict[str, object]:
        event = {
            "sender": {"id": sender},
            "recipient": {"id": "PAGE1"},
            "timestamp": 1762164000000,
            "message": {"mid": "m_1", "text": text},
        }
        return {"object": "page", "entry": [{"id": "PAGE1", "messaging": [event]}]}

    url = "/v1/channels/messenger"
    wrong = await ingress_client.post(url, json=delivery("PSID\x00-1", "hi"))
    # never published, but no 400 either: Meta would only redeliver it
    assert (wrong.status_code, wrong.json()["ignored"], wrong.json()["events"]) == (202, 1, [])
    await assert_nothing_written(settings)
    resp = await ingress_client.post(url, json=delivery("PSID-1", "hi\x00 there"))
    assert resp.status_code == 202, resp.text
    data = values(await read_topic(settings, Topic.INBOUND, expect=1))[0]["data"]
    assert data["text"] == "hi there"


@pytest.fixture
async def actions(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(settings.model_copy(update={"api_tokens": SecretStr("tok")})) as c:
        yield c


async def test_an_agent_id_with_a_nul_is_refused_and_a_note_loses_it(
    actions: httpx.AsyncClient, settings: Settings
) -> None:
    auth = {"Authorization": "Bearer tok"}
    presence = {"type": "agent.presence", "data": {"agent_id": "a\x00b", "status": "online"}}
    resp = await actions.post("/v1/actions", json=[presence], headers=auth)
    assert_problem(resp, 400, "/0/data/agent_id")
    upsert = {"type": "customer.upserted", "data": {"id": "c-1", "name": "Ana\x00 Lima"}}
    resp = await actions.post("/v1/actions", json=upsert, headers=auth)
    assert resp.status_code == 202, resp.text
    event = values(await read_topic(settings, Topic.ACTIONS, expect=1))[0]
    assert event["data"]["name"] == "Ana Lima"
