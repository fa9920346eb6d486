"""Twilio (SMS, WhatsApp) and Meta (Messenger, WhatsApp Cloud) webhooks over HTTP against
the real embedded broker, with signatures checked as the providers compute them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import orjson
import pytest
from pydantic import SecretStr

from channels.signatures import meta_signature, twilio_signature
from router.settings import Settings
from router.topics import Topic
from tests.component.channels.support import (
    assert_nothing_written,
    assert_problem,
    client_for,
)
from tests.conftest import read_topic, values

pytestmark = pytest.mark.component

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "webhooks"
VECTORS = orjson.loads((FIXTURES / "signature_vectors.json").read_bytes())
FORM = {"content-type": "application/x-www-form-urlencoded"}
PUBLIC_URL = "https://switchboard.example.com"
TOKEN = "twilio-test-token"

SMS: dict[str, str] = {
    "MessageSid": "SM0123456789abcdef0123456789abcdef",
    "AccountSid": "AC0123456789abcdef0123456789abcdef",
    "From": "+14158675309",
    "To": "+18005551212",
    "Body": "Where is my parcel?",
    "NumMedia": "1",
    "MediaUrl0": "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
    "MediaContentType0": "image/jpeg",
}
WHATSAPP: dict[str, str] = {
    "MessageSid": "SMwa0000000000000000000000000000",
    "From": "whatsapp:+447700900123",
    "To": "whatsapp:+14155238886",
    "Body": "Hello from WhatsApp",
    "ProfileName": "Priya",
    "WaId": "447700900123",
}


def signed(form: dict[str, str], path: str) -> dict[str, str]:
    sig = twilio_signature(TOKEN, PUBLIC_URL + path, form.items())
    return {**FORM, "X-Twilio-Signature": sig}


@pytest.fixture
def twilio_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"twilio_auth_token": SecretStr(TOKEN), "public_url": PUBLIC_URL + "/"}
    )


async def test_signed_sms_is_published_and_twilio_retry_is_duplicate(
    twilio_settings: Settings, settings: Settings
) -> None:
    path = "/v1/channels/sms"
    body = urlencode(SMS)
    async with client_for(twilio_settings) as client:
        first = await client.post(path, content=body, headers=signed(SMS, path))
        retry = await client.post(path, content=body, headers=signed(SMS, path))
    assert first.status_code == 202, first.text
    assert [r.json()["duplicate"] for r in (first, retry)] == [False, True]
    records = await read_topic(settings, Topic.INBOUND, expect=1)
    assert len(records) == 1
    assert records[0].key == b"phone:+14158675309"
    data = values(records)[0]["data"]
    assert data["channel"] == "sms"
    assert data["customer"]["phone"] == "+14158675309"
    assert data["inbox"] == "+18005551212"
    assert data["text"] == "Where is my parcel?"
    # Twilio says no size
    assert data["attachments"] == [{"content_type": "image/jpeg", "type": "image/jpeg"}]
    assert data["metadata"]["media"] == [{"url": SMS["MediaUrl0"], "content_type": "image/jpeg"}]


async def test_concurrent_copies_of_a_message_are_one_write_and_one_non_duplicate(
    twilio_settings: Settings, settings: Settings
) -> None:
    """Twilio retrying before the first answer: copies arriving together in one process
    wait for the one in flight and are answered ``duplicate``; one record is written."""
    path = "/v1/channels/sms"
    body = urlencode(SMS)
    async with client_for(twilio_settings) as client:
        answers = await asyncio.gather(
            *(client.post(path, content=body, headers=signed(SMS, path)) for _ in range(10))
        )
    assert all(a.status_code == 202 for a in answers), [a.text for a in answers]
    assert sorted(a.json()["duplicate"] for a in answers) == [False] + [True] * 9
    assert len({a.json()["id"] for a in answers}) == 1
    assert len(await read_topic(settings, Topic.INBOUND, expect=1, settle=0.5)) == 1


async def test_whatsapp_prefix_is_normalized(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    resp = await ingress_client.post("/v1/channels/whatsapp", data=WHATSAPP)
    assert resp.status_code == 202, resp.text
    records = await read_topic(settings, Topic.INBOUND, expect=1)
    assert records[0].key == b"phone:+447700900123"
    data = values(records)[0]["data"]
    assert data["channel"] == "whatsapp"
    assert data["customer"] == {
        "phone": "+447700900123",
        "name": "Priya",
        "handles": {"whatsapp": "447700900123"},
    }
    assert data["inbox"] == "+14155238886"


async def test_status_callbacks_are_accepted_and_not_published(
    twilio_settings: Settings, settings: Settings
) -> None:
    """A Messaging Service posts the status of our own outbound messages to the same URL:
    from our number, no body. They open no ticket for our own number."""
    path = "/v1/channels/sms"
    statuses = [
        {
            **SMS,
            "From": "+18005551212",
            "To": "+14158675309",
            "Body": "",
            "NumMedia": "0",
            "MessageSid": f"SMstatus{n}",
            "MessageStatus": status,
            "SmsStatus": status,
        }
        for n, status in enumerate(["sent", "delivered", "failed", "read"])
    ]
    inbound = {**SMS, "SmsStatus": "received"}  # an inbound message says so
    async with client_for(twilio_settings) as client:
        answers = [
            await client.post(path, content=urlencode(form), headers=signed(form, path))
            for form in [*statuses, inbound]
        ]
    assert [a.status_code for a in answers] == [202] * 5
    assert [a.json() for a in answers[:4]] == [{"id": None, "duplicate": False, "ignored": 1}] * 4
    records = await read_topic(settings, Topic.INBOUND, expect=1)
    assert [r.key for r in records] == [b"phone:+14158675309"]


async def test_a_whatsapp_location_becomes_its_text_and_metadata(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    pin = {**WHATSAPP, "Body": "", "Latitude": "52.5200", "Longitude": "13.4050"}
    named = {**pin, "MessageSid": "SMwa1", "Label": "Office", "Address": "Main St 1"}
    for form in (pin, named):
        resp = await ingress_client.post("/v1/channels/whatsapp", data=form)
        assert resp.status_code == 202, resp.text
    first, second = (r["data"] for r in values(await read_topic(settings, Topic.INBOUND, expect=2)))
    assert first["text"] == "52.5200, 13.4050"
    assert first["metadata"]["location"] == {"latitude": "52.5200", "longitude": "13.4050"}
    assert second["text"] == "Office, Main St 1"
    assert second["metadata"]["location"]["label"] == "Office"


async def test_a_whatsapp_button_reply_keeps_its_payload_and_the_message_it_answers(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    """As through Meta: the payload behind the tapped button is what a bot acts on, and
    the message replied to threads the reply (``thread.in_reply_to``)."""
    tapped = {
        **WHATSAPP,
        "Body": "",
        "ButtonText": "Track my order",
        "ButtonPayload": "track:9",
        "OriginalRepliedMessageSid": "SMoutbound00000000000000000000000",
    }
    resp = await ingress_client.post("/v1/channels/whatsapp", data=tapped)
    assert resp.status_code == 202, resp.text
    data = values(await read_topic(settings, Topic.INBOUND, expect=1))[0]["data"]
    assert data["text"] == "Track my order"
    assert data["thread"]["in_reply_to"] == "SMoutbound00000000000000000000000"
    assert (data["metadata"]["button_payload"], data["metadata"]["button_text"]) == (
        "track:9",
        "Track my order",
    )


async def test_an_advanced_opt_out_keeps_its_type(
    twilio_settings: Settings, settings: Settings
) -> None:
    """Twilio's Advanced Opt-Out adds ``OptOutType`` to a STOP/START/HELP message: the
    helpdesk sees that the customer opted out."""
    path = "/v1/channels/sms"
    form = {**SMS, "Body": "STOP", "NumMedia": "0", "OptOutType": "STOP"}
    async with client_for(twilio_settings) as client:
        resp = await client.post(path, content=urlencode(form), headers=signed(form, path))
    assert resp.status_code == 202, resp.text
    data = values(await read_topic(settings, Topic.INBOUND, expect=1))[0]["data"]
    assert (data["text"], data["metadata"]["opt_out_type"]) == ("STOP", "STOP")


async def test_twilio_bad_signature_and_bad_input(
    twilio_settings: Settings, settings: Settings
) -> None:
    path = "/v1/channels/sms"
    body = urlencode(SMS)
    tampered = body.replace("parcel", "parcels")
    async with client_for(twilio_settings) as client:
        post = client.post
        unsigned = assert_problem(await post(path, content=body, headers=FORM), 401)
        assert unsigned["detail"].startswith("missing X-Twilio-Signature")
        assert_problem(await post(path, content=tampered, headers=signed(SMS, path)), 401)
        other_path = signed(SMS, "/v1/channels/whatsapp")
        wrong_url = assert_problem(await post(path, content=body, headers=other_path), 401)
        # the URL it was checked against: a proxy changing it is the usual cause
        assert wrong_url["detail"].startswith("invalid X-Twilio-Signature")
        assert f"at {PUBLIC_URL}/v1/channels/sms " in wrong_url["detail"]
        assert "SWITCHBOARD_PUBLIC_URL" in wrong_url["detail"]
        no_sid = {k: v for k, v in SMS.items() if k != "MessageSid"}
        assert_problem(
            await post(path, content=urlencode(no_sid), headers=signed(no_sid, path)),
            400,
            "/MessageSid",
        )
        many = {**SMS, "NumMedia": "eleven"}
        assert_problem(
            await post(path, content=urlencode(many), headers=signed(many, path)), 400, "/NumMedia"
        )
        malformed = {"a": "1", "": ""}  # b"a=1&&&=" as its signature reads it
        assert_problem(await post(path, content=b"a=1&&&=", headers=FORM), 401)
        assert_problem(await post(path, content=b"a=1&&&=", headers=signed(malformed, path)), 400)
        not_utf8 = urlencode(SMS).encode().replace(b"parcel", b"caf\xe9")
        assert_problem(await post(path, content=not_utf8, headers=FORM), 401)  # unsigned first
        assert_problem(await post(path, content=not_utf8, headers=signed(SMS, path)), 401)
        assert_problem(await post(path, json=SMS), 415)
    await assert_nothing_written(settings)


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        (b"MessageSid=SM1&From=%FF&To=%2B1&Body=x", "/From"),
        (b"MessageSid=SM1&From=%2B14158675309&To=%2B1&Body=caf%E9", "/Body"),
    ],
)
@pytest.mark.parametrize("token", [True, False], ids=["signed", "no-token"])
async def test_a_field_that_is_not_utf8_is_400_at_the_field(
    twilio_settings: Settings, settings: Settings, body: bytes, pointer: str, token: bool
) -> None:
    """``From=%FF`` was read as U+FFFD and published under record key ``sms:\ufffd``:
    every sender whose number arrived so became one customer. Twilio sends UTF-8; other
    bytes are refused at their field, as the web form refuses them, and a correct
    signature (computed over the form as decoded) still lets the body be judged."""
    path = "/v1/channels/sms"
    as_signed = dict(parse_qsl(body.decode(), keep_blank_values=True))  # U+FFFD for %FF
    headers = signed(as_signed, path) if token else FORM
    async with client_for(twilio_settings if token else settings) as client:
        problem = assert_problem(await client.post(path, content=body, headers=headers), 400)
    assert [e["pointer"] for e in problem["errors"]] == [pointer]
    assert "UTF-8" in problem["detail"]
    await assert_nothing_written(settings)


# --- Meta ---------------------------------------------------------------------------------

META = VECTORS["meta_x_hub_signature_256"]
SIGNED_BODY = (FIXTURES / "meta-whatsapp-cloud/signed_body_x_hub_signature_256.json").read_bytes()
JSON = {"content-type": "application/json"}


@pytest.fixture
def meta_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "meta_app_secret": SecretStr(META["app_secret"]),
            "meta_verify_token": SecretStr("verify-me"),
        }
    )


async def test_signed_whatsapp_cloud_vector_is_published(
    meta_settings: Settings, settings: Settings
) -> None:
    headers = {**JSON, "X-Hub-Signature-256": META["expected_header"]}
    async with client_for(meta_settings) as client:
        first = await client.post("/v1/channels/messenger", content=SIGNED_BODY, headers=headers)
        retry = await client.post("/v1/channels/messenger", content=SIGNED_BODY, headers=headers)
    assert first.status_code == 202, first.text
    assert first.json()["ignored"] == 0
    assert [e["duplicate"] for e in first.json()["events"]] == [False]
    assert [e["duplicate"] for e in retry.json()["events"]] == [True]
    assert first.json()["id"] == first.json()["events"][0]["id"]
    assert first.json()["duplicate"] is False
    assert (retry.json()["id"], retry.json()["duplicate"]) == (first.json()["id"], True)
    records = await read_topic(settings, Topic.INBOUND, expect=1)
    assert records[0].key == b"phone:+972544401243"
    data = values(records)[0]["data"]
    assert data["channel"] == "whatsapp"
    assert data["customer"]["name"] == "PyWa Tests"
    assert data["text"] == "Hey there! I am using PyWa."
    assert data["inbox"] == "+15550953877"


async def test_meta_changed_byte_or_missing_signature_is_401(
    meta_settings: Settings, settings: Settings
) -> None:
    tampered = SIGNED_BODY.replace(b"Hey there", b"Hey thera")
    async with client_for(meta_settings) as client:
        post = client.post
        url = "/v1/channels/messenger"
        good = {**JSON, "X-Hub-Signature-256": META["expected_header"]}
        changed = assert_problem(await post(url, content=tampered, headers=good), 401)
        assert changed["detail"].startswith("invalid X-Hub-Signature-256: not the HMAC-SHA256")
        unsigned = assert_problem(await post(url, content=SIGNED_BODY, headers=JSON), 401)
        assert unsigned["detail"].startswith("missing X-Hub-Signature-256")
        wrong = {**JSON, "X-Hub-Signature-256": "sha256=" + "0" * 64}
        assert_problem(await post(url, content=SIGNED_BODY, headers=wrong), 401)
        unsigned_junk = b'{"object": "page"}'
        assert_problem(await post(url, content=unsigned_junk, headers=JSON), 401)
        sig = {**JSON, "X-Hub-Signature-256": meta_signature(META["app_secret"], unsigned_junk)}
        assert_problem(await post(url, content=unsigned_junk, headers=sig), 400, "/entry")
    await assert_nothing_written(settings)


async def test_a_repeated_signature_header_is_400_whichever_copy_is_valid(
    meta_settings: Settings, twilio_settings: Settings, settings: Settings
) -> None:
    """Sent twice, a gateway in front reading one copy and the ingress the other would
    judge the request differently: one signature header, or 400 at it."""
    good, bad = META["expected_header"], "sha256=" + "0" * 64
    async with client_for(meta_settings) as client:
        for pair in ((good, bad), (bad, good)):
            headers = [("content-type", "application/json")] + [
                ("X-Hub-Signature-256", v) for v in pair
            ]
            resp = await client.post("/v1/channels/messenger", content=SIGNED_BODY, headers=headers)
            assert_problem(resp, 400, "/header/x-hub-signature-256")
    form = urlencode(SMS).encode()
    signature = signed(SMS, "/v1/channels/sms")["X-Twilio-Signature"]
    async with client_for(twilio_settings) as client:
        headers = [("content-type", FORM["content-type"])] + [
            ("X-Twilio-Signature", v) for v in (signature, "AAAA")
        ]
        resp = await client.post("/v1/channels/sms", content=form, headers=headers)
        assert_problem(resp, 400, "/header/x-twilio-signature")
    await assert_nothing_written(settings)


async def test_handshake(meta_settings: Settings) -> None:
    async with client_for(meta_settings) as client:
        ok = await client.get(
            "/v1/channels/messenger",
            params={
                "hub.mode": "subscribe",
                "hub.verify_token": "verify-me",
                "hub.challenge": "1158201444",
            },
        )
        assert ok.status_code == 200
        assert ok.text == "1158201444"
        assert ok.headers["content-type"].startswith("text/plain")
        bad = await client.get(
            "/v1/channels/messenger",
            params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"},
        )
        assert_problem(bad, 403)


async def test_handshake_without_challenge_says_so(meta_settings: Settings) -> None:
    """Mode and token right, the challenge missing: 400 at the challenge, not a 403 that
    blames the token; with a wrong token it stays 403, telling a stranger nothing."""
    url = "/v1/channels/messenger"
    async with client_for(meta_settings) as client:
        right = {"hub.mode": "subscribe", "hub.verify_token": "verify-me"}
        problem = assert_problem(await client.get(url, params=right), 400, "/query/hub.challenge")
        assert "hub.challenge" in problem["detail"]
        wrong = {"hub.mode": "subscribe", "hub.verify_token": "nope"}
        assert_problem(await client.get(url, params=wrong), 403)


async def test_handshake_without_configured_token_is_403(ingress_client: httpx.AsyncClient) -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"}
    assert_problem(await ingress_client.get("/v1/channels/messenger", params=params), 403)


MESSENGER: dict[str, Any] = {
    "object": "page",
    "entry": [
        {
            "id": "PAGE1",
            "time": 1762164000000,
            "messaging": [
                {
                    "sender": {"id": "PSID-1"},
                    "recipient": {"id": "PAGE1"},
                    "timestamp": 1762164000000,
                    "message": {"mid": "m_1", "text": "first"},
                },
                {
                    "sender": {"id": "PAGE1"},
                    "recipient": {"id": "PSID-1"},
                    "timestamp": 1762164000500,
                    "message": {"mid": "m_echo", "text": "agent says hi", "is_echo": True},
                },
                {
                    "sender": {"id": "PSID-1"},
                    "recipient": {"id": "PAGE1"},
                    "timestamp": 1762164001000,
                    "read": {"watermark": 1762164000500},
                },
            ],
        },
        {
            "id": "PAGE1",
            "time": 1762164002000,
            "messaging": [
                {
                    "sender": {"id": "PSID-2"},
                    "recipient": {"id": "PAGE1"},
                    "timestamp": 1762164002000,
                    "message": {
                        "mid": "m_2",
                        "attachments": [
                            {"type": "image", "payload": {"url": "https://cdn.example/i.jpg"}}
                        ],
                    },
                }
            ],
        },
    ],
}


async def test_messenger_batch_each_message_its_own_event(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    resp = await ingress_client.post("/v1/channels/messenger", json=MESSENGER)
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert len(body["events"]) == 2
    assert body["ignored"] == 2
    assert (body["id"], body["duplicate"]) == (body["events"][0]["id"], False)
    records = await read_topic(settings, Topic.INBOUND, expect=2)
    assert sorted(r.key for r in records) == [b"messenger:PSID-1", b"messenger:PSID-2"]
    by_text = {v["data"]["text"]: v["data"] for v in values(records)}
    assert by_text["first"]["thread"]["conversation_id"] == "PAGE1:PSID-1"
    assert by_text["first"]["inbox"] == "PAGE1"
    assert by_text[""]["attachments"] == [{"content_type": "image/*", "type": "image/*"}]


async def test_whatsapp_statuses_are_accepted_not_published(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    statuses = orjson.loads(
        (FIXTURES / "meta-whatsapp-cloud/pywa-message_status.json").read_bytes()
    )
    resp = await ingress_client.post("/v1/channels/messenger", json=statuses["read"])
    assert resp.status_code == 202
    assert resp.json() == {"id": None, "duplicate": False, "events": [], "ignored": 1}
    await assert_nothing_written(settings)


@pytest.mark.parametrize("legacy", ["SmsMessageSid", "SmsSid"])
async def test_a_form_with_only_the_legacy_sid_is_published_and_its_retry_is_duplicate(
    settings: Settings, legacy: str
) -> None:
    """Twilio's older webhooks and some relays post the id as ``SmsSid`` or
    ``SmsMessageSid`` only; such a message had been refused 400 for want of MessageSid."""
    form = {legacy if k == "MessageSid" else k: v for k, v in SMS.items()}
    async with client_for(settings) as client:
        first = await client.post("/v1/channels/sms", content=urlencode(form), headers=FORM)
        retry = await client.post("/v1/channels/sms", content=urlencode(form), headers=FORM)
    assert first.status_code == 202, first.text
    assert [r.json()["duplicate"] for r in (first, retry)] == [False, True]
    records = await read_topic(settings, Topic.INBOUND, expect=1)
    assert values(records)[0]["data"]["metadata"]["message_sid"] == SMS["MessageSid"]
