"""Web form over HTTP against the real embedded broker: durable before 202, retries deduped."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from channels.body import FORM
from router.codec import CONTENT_TYPE
from router.settings import Settings
from router.topics import Topic
from rules import load_ruleset
from tests.component.channels.support import assert_problem, client_for
from tests.conftest import read_topic, values

pytestmark = pytest.mark.component


async def test_json_form_becomes_one_interaction_on_inbound(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    resp = await ingress_client.post(
        "/v1/channels/webform",
        json={"email": "Alice@Example.com", "name": "Alice", "subject": "Refund", "message": "hi"},
    )
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body["duplicate"] is False
    records = await read_topic(settings, Topic.INBOUND, expect=1)
    assert len(records) == 1
    assert records[0].key == b"email:alice@example.com"
    assert dict(records[0].headers)["content-type"] == CONTENT_TYPE.encode()
    event = values(records)[0]
    assert event["id"] == body["id"]
    assert event["type"] == "switchboard.interaction.received"
    assert event["specversion"] == "1.0"
    assert event["data"]["channel"] == "webform"
    assert event["data"]["customer"] == {
        "email": "alice@example.com",
        "name": "Alice",
        "handles": {},
    }
    assert event["data"]["subject"] == "Refund"
    assert event["data"]["text"] == "hi"


async def test_form_encoded_is_accepted(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    resp = await ingress_client.post(
        "/v1/channels/webform",
        data={"email": "bob@example.com", "message": "help", "category": "billing"},
    )
    assert resp.status_code == 202, resp.text
    event = values(await read_topic(settings, Topic.INBOUND, expect=1))[0]
    assert event["data"]["metadata"] == {"category": "billing"}


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (FORM + "; charset=iso-8859-1", b"email=l2%40example.com&message=caf%E9"),
        (FORM + '; charset="ISO-8859-1"', b"email=l2%40example.com&message=caf\xe9"),
        (FORM + "; charset=windows-1252", b"email=l2%40example.com&message=caf%E9"),
        (FORM, b"email=l2%40example.com&message=caf%C3%A9"),
        (FORM + "; charset=utf-8", b"email=l2%40example.com&message=caf%C3%A9"),
    ],
)
async def test_a_form_is_decoded_in_its_declared_charset(
    ingress_client: httpx.AsyncClient, settings: Settings, content_type: str, body: bytes
) -> None:
    """A Latin-1 page's ``caf%E9`` was stored as "caf\ufffd"."""
    resp = await ingress_client.post(
        "/v1/channels/webform", content=body, headers={"content-type": content_type}
    )
    assert resp.status_code == 202, resp.text
    event = values(await read_topic(settings, Topic.INBOUND, expect=1))[0]
    assert event["data"]["text"] == "café"


@pytest.mark.parametrize(
    ("content_type", "body", "answer"),
    [
        (FORM + "; charset=x-klingon", b"email=a%40example.com&message=hi", (415, "x-klingon")),
        (FORM + "; charset=base64", b"email=a%40example.com&message=hi", (415, "base64")),
        (FORM, b"email=a%40example.com&message=caf%E9", (400, "utf-8")),
        (
            "application/json; charset=utf-16",
            '{"email": "a@example.com", "message": "hi"}'.encode("utf-16"),
            (415, "utf-16"),
        ),
        ("application/json; charset=utf-32", b"{}", (415, "utf-32")),
    ],
)
async def test_a_charset_the_body_cannot_be_read_in_is_refused(
    ingress_client: httpx.AsyncClient,
    settings: Settings,
    content_type: str,
    body: bytes,
    answer: tuple[int, str],
) -> None:
    """Never stored garbled: an unknown charset (415), bytes that are not the charset
    (400), JSON in anything but UTF-8 (415, RFC 8259)."""
    resp = await ingress_client.post(
        "/v1/channels/webform", content=body, headers={"content-type": content_type}
    )
    status, said = answer
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert said in resp.json()["detail"]
    assert await read_topic(settings, Topic.INBOUND, expect=0, settle=0.2) == []


async def test_a_browsers_form_data_is_accepted(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    """``fetch(url, {body: new FormData(form)})`` posts multipart/form-data; a file input
    in the form is not part of the event."""
    resp = await ingress_client.post(
        "/v1/channels/webform",
        data={"email": "cy@example.com", "message": "my order is late", "subject": "Order"},
        files={"screenshot": ("shot.png", b"\x89PNG...", "image/png")},
    )
    assert resp.status_code == 202, resp.text
    assert resp.request.headers["content-type"].startswith("multipart/form-data; boundary=")
    data = values(await read_topic(settings, Topic.INBOUND, expect=1))[0]["data"]
    assert (data["customer"]["email"], data["subject"], data["text"]) == (
        "cy@example.com",
        "Order",
        "my order is late",
    )
    broken = await ingress_client.post(
        "/v1/channels/webform",
        content=b"--x\r\nnot a part",
        headers={"content-type": "multipart/form-data; boundary=x"},
    )
    assert broken.status_code == 400, broken.text


def multipart(message: bytes, part_type: str | None = None) -> bytes:
    declared = f"Content-Type: {part_type}\r\n".encode() if part_type else b""
    return (
        b'--XX\r\nContent-Disposition: form-data; name="email"\r\n\r\nmp@example.com\r\n'
        b'--XX\r\nContent-Disposition: form-data; name="message"\r\n'
        + declared
        + b"\r\n"
        + message
        + b"\r\n--XX--\r\n"
    )


async def test_multipart_text_is_decoded_in_its_declared_charset_and_never_garbled(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    """A part's own charset, else UTF-8; bytes that are no text in it are 400 and an
    unknown charset 415, never stored as Latin-1 (``\x82¨\x96â...``)."""
    url, headers = "/v1/channels/webform", {"content-type": "multipart/form-data; boundary=XX"}
    words = "お問い合わせ".encode("shift_jis")
    declared = multipart(words, "text/plain; charset=shift_jis")
    resp = await ingress_client.post(url, content=declared, headers=headers)
    assert resp.status_code == 202, resp.text
    [data] = [v["data"] for v in values(await read_topic(settings, Topic.INBOUND, expect=1))]
    assert data["text"] == "お問い合わせ"

    undeclared = await ingress_client.post(url, content=multipart(words), headers=headers)
    assert_problem(undeclared, 400)
    unknown = multipart(b"hello \xff", "text/plain; charset=x-unknown")
    assert_problem(await ingress_client.post(url, content=unknown, headers=headers), 415)


async def test_retry_with_idempotency_key_is_a_duplicate_and_writes_once(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    payload = {"email": "carol@example.com", "message": "twice"}
    headers = {"Idempotency-Key": "form-123"}
    first = await ingress_client.post("/v1/channels/webform", json=payload, headers=headers)
    second = await ingress_client.post("/v1/channels/webform", json=payload, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert (first.json()["duplicate"], second.json()["duplicate"]) == (False, True)
    as_form = await ingress_client.post("/v1/channels/webform", data=payload, headers=headers)
    assert as_form.json()["duplicate"] is True  # the same fields, however they are sent
    assert len(await read_topic(settings, Topic.INBOUND, expect=1)) == 1


async def test_an_idempotency_key_reused_for_another_request_is_422_and_writes_nothing(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    """The key names a request: a different one under the same key is a client bug that
    would otherwise silently drop the second message as a 'duplicate'."""
    headers = {"Idempotency-Key": "form-777"}
    first = {"email": "first@example.com", "message": "one"}
    second = {"email": "second@example.com", "message": "another message"}
    ok = await ingress_client.post("/v1/channels/webform", json=first, headers=headers)
    assert ok.status_code == 202, ok.text
    reused = await ingress_client.post("/v1/channels/webform", json=second, headers=headers)
    assert reused.status_code == 422, reused.text
    assert reused.headers["content-type"] == "application/problem+json"
    assert reused.json()["type"].endswith("/idempotency-key-reused")
    assert len(await read_topic(settings, Topic.INBOUND, expect=1)) == 1


@pytest.mark.parametrize("encoding", ["json", "data"], ids=["json", "form-encoded"])
async def test_an_address_at_a_test_domain_is_accepted(
    ingress_client: httpx.AsyncClient, settings: Settings, encoding: str
) -> None:
    """Was 400 ("special-use or reserved name"); the email channel takes the address."""
    body = {"email": "Anna@Example.TEST", "message": "my parcel is late"}
    resp = await ingress_client.post("/v1/channels/webform", **{encoding: body})  # type: ignore[arg-type]
    assert resp.status_code == 202, resp.text
    records = await read_topic(settings, Topic.INBOUND, expect=1)
    assert records[0].key == b"email:anna@example.test"


@pytest.mark.parametrize(
    ("kwargs", "status", "pointer"),
    [
        ({"json": {"message": "no email"}}, 400, "/email"),
        ({"json": {"email": "not-an-email", "message": "x"}}, 400, "/email"),
        ({"json": {"email": "anna@", "message": "x"}}, 400, "/email"),
        ({"data": {"email": "anna@localhost", "message": "x"}}, 400, "/email"),
        ({"json": {"email": "a@example.com", "message": "  "}}, 400, "/message"),
        ({"json": {"email": "a@example.com", "message": 5}}, 400, "/message"),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, ""),
        ({"content": b"hello", "headers": {"content-type": "text/plain"}}, 415, None),
    ],
)
async def test_bad_input_is_problem_json_and_writes_nothing(
    ingress_client: httpx.AsyncClient,
    settings: Settings,
    kwargs: dict[str, object],
    status: int,
    pointer: str | None,
) -> None:
    resp = await ingress_client.post("/v1/channels/webform", **kwargs)  # type: ignore[arg-type]
    assert resp.status_code == status
    assert resp.headers["content-type"] == "application/problem+json"
    problem = resp.json()
    assert problem["status"] == status
    assert {"type", "title", "detail"} <= problem.keys()
    if pointer:
        assert pointer in [e["pointer"] for e in problem["errors"]]
    assert await read_topic(settings, Topic.INBOUND, expect=0, settle=0.2) == []


async def test_oversize_body_is_413(ingress_client: httpx.AsyncClient, settings: Settings) -> None:
    big = "x" * (settings.max_body_bytes + 1)
    resp = await ingress_client.post(
        "/v1/channels/webform", json={"email": "a@example.com", "message": big}
    )
    assert resp.status_code == 413
    assert resp.json()["status"] == 413


async def test_health_and_readiness(ingress_client: httpx.AsyncClient, settings: Settings) -> None:
    assert (await ingress_client.get("/healthz")).json() == {"status": "ok"}
    ready = await ingress_client.get("/readyz")
    assert ready.status_code == 200
    version = load_ruleset(settings.rules_path).version
    assert ready.json()["checks"] == {
        "kafka": "ok",
        "redis": "ok",
        "rules": f"ok (version {version})",  # the contract's "rules are loaded"
    }
    metrics = (await ingress_client.get("/metrics")).text
    assert "switchboard_http_requests_total" in metrics


async def test_an_ingress_that_cannot_read_its_rules_is_not_ready(
    settings: Settings, tmp_path: Path
) -> None:
    """Its transfers' queues would go unchecked: a helpdesk's typo answered 202, then
    dead-lettered by the router."""
    broken = tmp_path / "rules.yaml"
    broken.write_text("version: 1\nrules: [\n")
    async with client_for(settings.model_copy(update={"rules_path": broken})) as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["rules"].startswith("failing: the rules at ")


async def test_pages_on_the_configured_origins_may_post_from_a_browser(settings: Settings) -> None:
    shop = "https://shop.example"
    preflight_headers = {
        "Origin": shop,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    body = {"email": "dee@example.com", "message": "hello from the page"}
    async with client_for(settings.model_copy(update={"cors_origins": shop})) as client:
        preflight = await client.options("/v1/channels/webform", headers=preflight_headers)
        assert preflight.status_code == 200, preflight.text
        assert preflight.headers["access-control-allow-origin"] == shop
        posted = await client.post("/v1/channels/webform", json=body, headers={"Origin": shop})
        assert posted.status_code == 202, posted.text
        assert posted.headers["access-control-allow-origin"] == shop
        refused = await client.post(
            "/v1/channels/webform", json={"email": "x"}, headers={"Origin": shop}
        )
        assert refused.status_code == 400
        assert refused.headers["access-control-allow-origin"] == shop  # errors readable too
        other = await client.post(
            "/v1/channels/webform", json=body, headers={"Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in other.headers
        chat = await client.options("/v1/channels/chat", headers=preflight_headers)
        assert chat.headers["access-control-allow-origin"] == shop  # a chat widget's page
        # the API token's routes: no page may read them, whatever the origin
        for path in ("/v1/actions", "/v1/queues"):
            asked = await client.options(path, headers={**preflight_headers, "Origin": shop})
            assert "access-control-allow-origin" not in asked.headers
            read = await client.get(path, headers={"Origin": shop})
            assert "access-control-allow-origin" not in read.headers
    async with client_for(settings) as plain:  # the default: no CORS at all
        answer = await plain.options("/v1/channels/webform", headers=preflight_headers)
        assert "access-control-allow-origin" not in answer.headers


@pytest.mark.parametrize(
    ("asked", "refused"),
    [
        ({"Origin": "https://evil.example"}, "origin"),
        ({"Access-Control-Request-Method": "DELETE"}, "method"),
        ({"Access-Control-Request-Headers": "x-secret"}, "headers"),
    ],
)
async def test_a_refused_preflight_is_a_problem_not_kept_in_a_cache(
    settings: Settings, asked: dict[str, str], refused: str
) -> None:
    """It was Starlette's ``400`` in ``text/plain``, without ``Cache-Control: no-store``."""
    shop = "https://shop.example"
    preflight_headers = {
        "Origin": shop,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
        **asked,
    }
    async with client_for(settings.model_copy(update={"cors_origins": shop})) as client:
        answer = await client.options("/v1/channels/webform", headers=preflight_headers)
    problem = assert_problem(answer, 400)
    assert refused in problem["detail"]
    assert answer.headers["cache-control"] == "no-store"
