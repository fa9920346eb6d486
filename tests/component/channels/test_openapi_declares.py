"""The OpenAPI document declares what the server sends beside the body: 431 on every
operation (the ops app's of the consumer roles too), ``Retry-After`` on a 503,
``WWW-Authenticate`` on a 401 that carries it, ``Link`` on a page of a list,
``Cache-Control`` on the read API's answers. Each declaration is checked against a real
answer."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from consumers.state.waiting import WaitingLine
from router.app.embedded import free_port
from router.redis import make_redis
from router.settings import RedisSettings, Settings
from tests.component.channels.support import assert_problem, client_for
from tests.component.channels.test_malformed_http import (
    assert_protocol_problem,
    exchange,
    running,
)
from tests.component.pipeline.conftest import RULES
from tests.component.read_api.test_read_api_http import customer_with_tickets

pytestmark = pytest.mark.component

AUTH = {"Authorization": "Bearer read-token"}
PAGED = ("/v1/customers/{customer_id}/tickets", "/v1/queues/{name}/waiting", "/v1/agents")
SIGNATURE = {  # the 401s of a provider's webhook signature: its Signature challenge
    ("post", "/v1/channels/sms"): 'Signature realm="twilio", header="X-Twilio-Signature"',
    ("post", "/v1/channels/whatsapp"): 'Signature realm="twilio", header="X-Twilio-Signature"',
    ("post", "/v1/channels/messenger"): 'Signature realm="meta", header="X-Hub-Signature-256"',
}
CHALLENGED = {  # the 401s answered with WWW-Authenticate: bearer token or shared secret
    *SIGNATURE,
    ("post", "/v1/actions"),
    ("post", "/v1/channels/chat"),
    ("post", "/v1/channels/voice"),
    ("post", "/v1/channels/email"),
    ("get", "/v1/tickets/{ticket_id}"),
    ("get", "/v1/customers/{customer_id}/tickets"),
    ("get", "/v1/queues"),
    ("get", "/v1/queues/{name}/waiting"),
    ("get", "/v1/agents"),
    ("get", "/v1/agents/{agent_id}"),
}
SECRETS = {
    "api_tokens": SecretStr("read-token"),
    "chat_secret": SecretStr("chat-secret"),
    "voice_secret": SecretStr("voice-secret"),
    "email_secret": SecretStr("email-secret"),
    "twilio_auth_token": SecretStr("twilio-token"),
    "meta_app_secret": SecretStr("meta-secret"),
}


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, path, op) for path, ops in doc["paths"].items() for m, op in ops.items()]


def headers_of(op: dict[str, Any], status: str) -> set[str]:
    return {name.lower() for name in op["responses"][status].get("headers", {})}


async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    resp = await client.get("/openapi.json")
    assert resp.status_code == 200
    doc: dict[str, Any] = resp.json()
    return doc


@pytest.fixture
async def http(settings: Settings) -> Any:
    update = {"rules_path": RULES, **SECRETS}
    async with client_for(settings.model_copy(update=update)) as client:
        yield client


async def test_every_operation_declares_431_and_the_server_answers_it(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    doc = await document(http)
    for method, path, op in operations(doc):
        for status in ("400", "408", "431"):  # what the HTTP server answers by itself
            declared = op["responses"].get(status)
            assert declared is not None, (method, path, status)
            assert "application/problem+json" in declared["content"], (method, path)
    big = b"GET /healthz HTTP/1.1\r\nHost: ingress\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"
    async with running(settings, "ingress") as port, httpx.AsyncClient() as client:
        assert_protocol_problem(await exchange(port, big), 431)
        assert_protocol_problem(await exchange(port, b"NOT A REQUEST\r\n\r\n"), 400)
        # counted, though no app saw them: a header flood shows in the request counter
        scrape = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        for status in ("400", "431"):
            line = f'switchboard_http_requests_total{{route="server",status="{status}"}} 1.0'
            assert line in scrape.splitlines(), status


async def test_the_ops_app_of_a_consumer_role_declares_431_and_its_server_answers_it(
    settings: Settings,
) -> None:
    async with running(settings, "metrics") as port, httpx.AsyncClient() as client:
        resp = await client.get(f"http://127.0.0.1:{port}/openapi.json")
        assert resp.status_code == 200
        doc = resp.json()
        assert {path for _, path, _ in operations(doc)} == {"/healthz", "/readyz", "/metrics"}
        for method, path, op in operations(doc):
            declared = op["responses"].get("431")
            assert declared is not None, (method, path)
            assert "application/problem+json" in declared["content"], (method, path)
        big = b"GET /healthz HTTP/1.1\r\nHost: ops\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"
        assert_protocol_problem(await exchange(port, big), 431)


async def test_a_401_declares_www_authenticate_exactly_where_it_is_sent(
    http: httpx.AsyncClient,
) -> None:
    doc = await document(http)
    with_401 = {(m, p): op for m, p, op in operations(doc) if "401" in op["responses"]}
    declared = {key for key, op in with_401.items() if "www-authenticate" in headers_of(op, "401")}
    assert declared == CHALLENGED
    requests = {
        ("post", "/v1/actions"): http.post("/v1/actions", json={}),
        ("post", "/v1/channels/chat"): http.post("/v1/channels/chat", json={}),
        ("post", "/v1/channels/voice"): http.post("/v1/channels/voice", json={}),
        ("post", "/v1/channels/email"): http.post(
            "/v1/channels/email",
            content=b"From: a@example.com\r\n\r\nhi",
            headers={"content-type": "message/rfc822"},
        ),
        ("get", "/v1/queues"): http.get("/v1/queues"),
        ("post", "/v1/channels/sms"): http.post(
            "/v1/channels/sms", data={"From": "+15551234567", "Body": "hi"}
        ),
        ("post", "/v1/channels/messenger"): http.post(
            "/v1/channels/messenger", json={"object": "page", "entry": []}
        ),
    }
    for key, request in requests.items():
        resp = await request
        assert_problem(resp, 401)
        sent = "www-authenticate" in resp.headers
        assert sent == (key in declared), (key, resp.headers)
        if key in SIGNATURE:
            assert resp.headers["www-authenticate"] == SIGNATURE[key]
            description = with_401[key]["responses"]["401"]["headers"]["WWW-Authenticate"]
            assert f"`{SIGNATURE[key]}`" in description["description"]
        elif sent:
            assert resp.headers["www-authenticate"].startswith("Bearer ")


async def test_a_503_declares_retry_after_and_sends_it(settings: Settings) -> None:
    dead = RedisSettings(url=f"redis://127.0.0.1:{free_port()}/0", socket_timeout_s=0.5)
    local = settings.model_copy(update={"redis": dead, "rules_path": RULES, **SECRETS})
    async with client_for(local) as client:
        doc = await document(client)
        for method, path, op in operations(doc):
            if "503" not in op["responses"] or path == "/readyz":
                continue  # /readyz: its 503 is the probe's answer, no retry promised
            assert "retry-after" in headers_of(op, "503"), (method, path)
        assert "retry-after" not in headers_of(doc["paths"]["/readyz"]["get"], "503")
        for resp in (
            await client.post(
                "/v1/channels/webform", json={"email": "a@example.com", "message": "hi"}
            ),
            await client.get("/v1/queues", headers=AUTH),
        ):
            assert_problem(resp, 503)
            assert resp.headers["retry-after"].isdigit()
            assert resp.headers["cache-control"] == "no-store"
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert "retry-after" not in ready.headers


async def test_read_answers_declare_cache_control_and_pages_their_link(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    doc = await document(http)
    for method, path, op in operations(doc):
        if "read" not in op.get("tags", ()):
            continue
        for status in op["responses"]:
            if status not in ("408", "431"):  # answered by the HTTP server, before any route
                assert "cache-control" in headers_of(op, status), (method, path, status)
        assert ("link" in headers_of(op, "200")) == (path in PAGED), (method, path)
    redis = make_redis(settings)
    try:
        customer, tickets = await customer_with_tickets(
            settings, redis, "email:declared@example.com", 3, queue="billing"
        )
        await WaitingLine(
            redis, prefix=settings.topic_prefix, shards=settings.timers_shards
        ).follow(tickets)
    finally:
        await redis.aclose()
    for url in (f"/v1/customers/{customer}/tickets", "/v1/queues/billing/waiting"):
        page = await http.get(url, params={"limit": 2}, headers=AUTH)
        assert page.status_code == 200, page.text
        assert page.headers["link"].endswith('>; rel="next"')
        assert page.headers["cache-control"] == "no-store"
    for resp, status in (
        (await http.get("/v1/queues", headers=AUTH), 200),
        (await http.get("/v1/tickets/T-none", headers=AUTH), 404),
        (await http.get("/v1/queues"), 401),
        (await http.get("/v1/queues/billing/waiting", params={"limit": 0}, headers=AUTH), 400),
    ):
        assert resp.status_code == status
        assert resp.headers["cache-control"] == "no-store"
