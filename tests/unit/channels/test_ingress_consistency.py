"""The channels answer alike where a client would expect them to: the web form, chat and
email take the same test addresses; a provider's bad signature is a 401 with a challenge,
as a bad bearer token is; the ops app declares the 431 its server answers, as the
ingress does. Over HTTP, through the app as served (no broker: nothing is durable)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client import generate_latest
from pydantic import SecretStr

from channels.app import document_server_answers
from channels.problems import install_http_errors
from router.health import ops_app
from router.observability import Telemetry
from router.settings import Settings
from tests.problems import PROBLEM, assert_problem
from tests.unit.channels.support import Remembering, ingress_client

pytestmark = pytest.mark.unit

WEBFORM, CHAT, EMAIL = "/v1/channels/webform", "/v1/channels/chat", "/v1/channels/email"


@pytest.fixture
def publisher() -> Remembering:
    return Remembering()


@pytest.fixture
async def client(publisher: Remembering) -> AsyncIterator[httpx.AsyncClient]:
    async with ingress_client(Settings(), publisher) as c:
        yield c


def webform_json(email: str) -> dict[str, Any]:
    return {"json": {"email": email, "message": "my parcel is late"}}


def webform_form(email: str) -> dict[str, Any]:
    return {"data": {"email": email, "message": "my parcel is late"}}


def chat(email: str) -> dict[str, Any]:
    return {
        "json": {"conversation_id": "c-1", "visitor": {"id": "v-1", "email": email}, "text": "hi"}
    }


SENDS = {
    "webform-json": (WEBFORM, webform_json, "/email"),
    "webform-form": (WEBFORM, webform_form, "/email"),
    "chat": (CHAT, chat, "/visitor/email"),
}


# --- one address rule ---------------------------------------------------------------------


@pytest.mark.parametrize("address", ["anna@example.test", "Anna@Support.Example.TEST"])
@pytest.mark.parametrize("send", list(SENDS))
async def test_an_address_at_a_test_domain_is_accepted(
    client: httpx.AsyncClient, publisher: Remembering, send: str, address: str
) -> None:
    """Was 400 "special-use or reserved name" while the email channel took the same."""
    path, body, _ = SENDS[send]
    resp = await client.post(path, **body(address))
    assert resp.status_code == 202, resp.text
    [(_, interaction)] = publisher.published
    assert interaction.customer.email == address.lower()


async def test_the_email_channel_takes_the_same_address(
    client: httpx.AsyncClient, publisher: Remembering
) -> None:
    mail = (
        b"From: Anna <anna@example.test>\r\nTo: help@acme.example\r\n"
        b"Message-ID: <m-1@example.test>\r\nSubject: parcel\r\n\r\nmy parcel is late\r\n"
    )
    resp = await client.post(EMAIL, content=mail, headers={"content-type": "message/rfc822"})
    assert resp.status_code == 202, resp.text
    [(_, interaction)] = publisher.published
    assert interaction.customer.email == "anna@example.test"


CARRIER_ADDRESSES = [
    '"taro..yamada"@docomo.ne.jp',
    "taro..yamada@docomo.ne.jp",
    "Taro..Yamada@DoCoMo.ne.jp",
    '"hanako."@ezweb.ne.jp',
    "hanako.@ezweb.ne.jp",
]
"""Addresses Japanese carriers issued before RFC 5322 was enforced (dots in a row, a dot
before the ``@``), written bare or quoted as mailers quote them."""


def carrier_mail(address: str) -> bytes:
    return (
        f"From: Taro <{address}>\r\nTo: help@acme.example\r\n"
        f"Message-ID: <m-{len(address)}@example.test>\r\nSubject: parcel\r\n\r\nlate\r\n"
    ).encode()


@pytest.mark.parametrize("address", CARRIER_ADDRESSES)
@pytest.mark.parametrize("send", list(SENDS))
async def test_a_japanese_carrier_address_is_the_customer_the_email_channel_names(
    client: httpx.AsyncClient, publisher: Remembering, send: str, address: str
) -> None:
    """Was 400 ("two periods in a row", "Quoting the part before the @-sign is not
    allowed here") on the web form and chat while the email channel took the same."""
    mail = await client.post(
        EMAIL, content=carrier_mail(address), headers={"content-type": "message/rfc822"}
    )
    assert mail.status_code == 202, mail.text
    path, body, _ = SENDS[send]
    resp = await client.post(path, **body(address))
    assert resp.status_code == 202, resp.text
    [(_, by_mail), (_, by_form)] = publisher.published
    assert by_form.customer.email == by_mail.customer.email
    assert by_form.customer.email in ("taro..yamada@docomo.ne.jp", "hanako.@ezweb.ne.jp")


@pytest.mark.parametrize(
    "address",
    [
        "anna",
        "anna@",
        "anna@@example.test",
        "anna@localhost",
        "anna@[192.0.2.1]",
        # quoted around a space, an @, a comma: no identity takes them (they had passed
        # the check and failed to name a customer: a 500)
        '"john doe"@example.com',
        'Bob <"john doe"@example.com>',
        '"a@b"@example.com',
        '"a,b"@example.com',
    ],
)
@pytest.mark.parametrize("send", list(SENDS))
async def test_what_is_no_address_is_still_400_at_its_field(
    client: httpx.AsyncClient, publisher: Remembering, send: str, address: str
) -> None:
    path, body, pointer = SENDS[send]
    problem = assert_problem(await client.post(path, **body(address)), 400)
    assert [e["pointer"] for e in problem["errors"]] == [pointer]
    assert "not a valid email address" in problem["detail"]
    assert publisher.published == []


# --- provider signatures: 401 with a challenge --------------------------------------------

TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
QUOTED = r'"(?:[^"\\]|\\.)*"'
AUTH_PARAM = rf"{TOKEN}\s*=\s*(?:{TOKEN}|{QUOTED})"
TOKEN68 = r"[A-Za-z0-9\-._~+/]+=*"
CHALLENGE = re.compile(rf"{TOKEN}(?: +(?:{TOKEN68}|{AUTH_PARAM}(?:\s*,\s*{AUTH_PARAM})*))?")
"""One challenge of ``WWW-Authenticate`` (RFC 9110, 11.3 and 11.6.1)."""

TWILIO = 'Signature realm="twilio", header="X-Twilio-Signature"'
META = 'Signature realm="meta", header="X-Hub-Signature-256"'
SIGNED = Settings(
    twilio_auth_token=SecretStr("twilio-token"),
    meta_app_secret=SecretStr("meta-secret"),
    public_url="https://switchboard.example",
)
SMS = {"MessageSid": "SM1", "From": "+14158675309", "To": "+15005550006", "Body": "hi"}
UNSIGNED: dict[str, tuple[str, dict[str, Any], str]] = {
    "sms unsigned": ("/v1/channels/sms", {"data": SMS}, TWILIO),
    "whatsapp bad signature": (
        "/v1/channels/whatsapp",
        {"data": SMS, "headers": {"X-Twilio-Signature": "bm90IGl0"}},
        TWILIO,
    ),
    "sms of too many fields": (
        "/v1/channels/sms",
        {
            "content": b"&".join(b"f%d=1" % i for i in range(20_000)),
            "headers": {"content-type": "application/x-www-form-urlencoded"},
        },
        TWILIO,
    ),
    "messenger unsigned": ("/v1/channels/messenger", {"json": {"object": "page"}}, META),
    "messenger bad signature": (
        "/v1/channels/messenger",
        {"json": {"object": "page"}, "headers": {"X-Hub-Signature-256": "sha256=" + "0" * 64}},
        META,
    ),
}


@pytest.mark.parametrize("case", list(UNSIGNED))
async def test_a_bad_provider_signature_is_401_with_a_challenge(case: str) -> None:
    """RFC 9110, 15.5.2: a 401 MUST send WWW-Authenticate; these sent none."""
    path, request, challenge = UNSIGNED[case]
    async with ingress_client(SIGNED, Remembering()) as client:
        resp = await client.post(path, **request)
    problem = assert_problem(resp, 401)
    assert resp.headers["www-authenticate"] == challenge
    assert CHALLENGE.fullmatch(resp.headers["www-authenticate"])
    assert challenge.rpartition('header="')[2].rstrip('"') in problem["detail"]


async def test_the_document_declares_each_signature_challenge(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    for path, challenge in (
        ("/v1/channels/sms", TWILIO),
        ("/v1/channels/whatsapp", TWILIO),
        ("/v1/channels/messenger", META),
    ):
        declared = doc["paths"][path]["post"]["responses"]["401"]["headers"]["WWW-Authenticate"]
        assert f"`{challenge}`" in declared["description"], path
    bearer = doc["paths"]["/v1/actions"]["post"]["responses"]["401"]["headers"]
    assert 'Bearer realm="switchboard"' in bearer["WWW-Authenticate"]["description"]


# --- the ops app's document ---------------------------------------------------------------


async def test_the_ops_app_declares_the_servers_own_answers_on_every_operation() -> None:
    app = ops_app(Telemetry(), dict)
    install_http_errors(app)  # as the roles serve it
    document_server_answers(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ops") as client:
        doc = (await client.get("/openapi.json")).json()
    operations = [(p, m, op) for p, ops in doc["paths"].items() for m, op in ops.items()]
    assert {p for p, _, _ in operations} == {"/healthz", "/readyz", "/metrics"}
    for path, method, op in operations:
        for status in ("400", "408", "431"):
            declared = op["responses"].get(status)
            assert declared is not None, (method, path, status)
            assert PROBLEM in declared["content"], (method, path)


def test_an_outages_slow_answers_fall_in_finite_latency_buckets() -> None:
    """A 503 after the Redis socket timeout or the Kafka request timeout, and a batch
    retried for a minute, had all counted in ``+Inf`` alone: ``histogram_quantile``
    then said 5 s during the outages one looks at them for."""
    telemetry = Telemetry()
    for seconds in (5.02, 10.0, 59.0):
        telemetry.http_latency.labels("/v1/channels/webform").observe(seconds)
    text = generate_latest(telemetry.registry).decode()
    buckets = dict(
        re.findall(
            r'switchboard_http_request_seconds_bucket\{le="([^"]+)",route=[^}]+\} (\S+)', text
        )
    )
    assert buckets["5.0"] == "0.0"
    assert (buckets["7.5"], buckets["10.0"], buckets["60.0"]) == ("1.0", "2.0", "3.0")
