"""The web form, chat and voice carry one message each: their bodies are limited far below
``SWITCHBOARD_MAX_BODY_BYTES`` (which email needs), refused 413 before any parsing, and a
large one is parsed in a worker thread (the audit: a 5.6 MiB web form of 500,000 keys
held every other request 2.25 s while the loop parsed it twice)."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest

import channels.body
import channels.email
import channels.webform
from channels.body import MESSAGE_BODY_BYTES, OFF_LOOP_BYTES, message_body_limit
from router.settings import Settings
from tests.unit.channels.support import Remembering, ingress_client

pytestmark = pytest.mark.unit

SETTINGS = Settings()
LIMIT = message_body_limit(SETTINGS)
ENDPOINTS = {
    "webform-json": ("/v1/channels/webform", "application/json"),
    "webform-form": ("/v1/channels/webform", "application/x-www-form-urlencoded"),
    "chat": ("/v1/channels/chat", "application/json"),
    "voice": ("/v1/channels/voice", "application/json"),
}


@pytest.fixture
async def published() -> Remembering:
    return Remembering()


@pytest.fixture
async def client(published: Remembering) -> AsyncIterator[httpx.AsyncClient]:
    async with ingress_client(SETTINGS, published, raise_app_exceptions=False) as c:
        yield c


def chat_body(text: str, **extra: Any) -> dict[str, Any]:
    return {"conversation_id": "c-1", "visitor": {"id": "v-1"}, "text": text, **extra}


def test_the_limit_is_far_below_the_body_limit_and_holds_the_longest_text() -> None:
    assert LIMIT == MESSAGE_BODY_BYTES < SETTINGS.max_body_bytes
    # the longest text an event takes, every character a 6-byte \uXXXX escape
    assert 6 * SETTINGS.max_text_bytes < LIMIT
    assert LIMIT > 6 * 100_000  # a voice transcript, cut to fit: still read


@pytest.mark.parametrize(("path", "ctype"), ENDPOINTS.values(), ids=list(ENDPOINTS))
async def test_a_body_over_the_message_limit_is_413_before_it_is_parsed(
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    ctype: str,
) -> None:
    def never(*_: object, **__: object) -> None:
        raise AssertionError("parsed a body over the limit")

    monkeypatch.setattr(channels.body, "parse_json", never)
    monkeypatch.setattr(channels.webform, "parse_form_in", never)
    body = orjson.dumps(chat_body("x" * LIMIT)) if "json" in ctype else b"message=" + b"x" * LIMIT
    resp = await client.post(path, content=body, headers={"content-type": ctype})
    assert resp.status_code == 413, resp.text
    problem = resp.json()
    assert problem["errors"] == [{"pointer": "", "detail": f"more than {LIMIT} bytes"}]


async def test_a_form_at_the_longest_text_escaped_is_still_read(
    client: httpx.AsyncClient, published: Remembering
) -> None:
    message = "é" * (SETTINGS.max_text_bytes // 2)  # two bytes each: exactly the text limit
    body = json.dumps({"email": "a@example.com", "message": message}).encode()  # \u00e9
    assert len(body) > 6 * (SETTINGS.max_text_bytes // 2)
    resp = await client.post(
        "/v1/channels/webform", content=body, headers={"content-type": "application/json"}
    )
    assert resp.status_code == 202, resp.text
    assert published.published[0][1].text == message


async def test_a_long_voice_transcript_escaped_is_still_read(
    client: httpx.AsyncClient, published: Remembering
) -> None:
    transcript = "語" * 100_000
    call = {"call_id": "c", "event": "voicemail", "from": "+15551234567", "to": "+15557654321"}
    body = json.dumps({**call, "at": "2026-01-01T00:00:00Z", "transcript": transcript}).encode()
    resp = await client.post(
        "/v1/channels/voice", content=body, headers={"content-type": "application/json"}
    )
    assert resp.status_code == 202, resp.text
    assert published.published[0][1].text.startswith("語語語")


def recording_threads(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> list[bool]:
    """Wraps ``module.name`` to record, per call, whether it ran on the loop's thread."""
    on_loop: list[bool] = []
    original: Callable[..., Any] = getattr(module, name)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        on_loop.append(threading.current_thread() is threading.main_thread())
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapped)
    return on_loop


@pytest.mark.parametrize(("path", "ctype"), ENDPOINTS.values(), ids=list(ENDPOINTS))
async def test_a_large_body_is_parsed_in_a_worker_thread(
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    ctype: str,
) -> None:
    json_body = "json" in ctype
    module, name = (
        (channels.body, "parse_json") if json_body else (channels.webform, "parse_form_in")
    )
    on_loop = recording_threads(monkeypatch, module, name)
    padding = {f"k{i}": i for i in range(OFF_LOOP_BYTES // 8)}
    body = (
        orjson.dumps({**chat_body("hi", email="a@example.com", message="hi"), **padding})
        if json_body
        else b"email=a%40example.com&message=hi&pad=" + b"x" * OFF_LOOP_BYTES
    )
    assert OFF_LOOP_BYTES < len(body) < LIMIT
    await client.post(path, content=body, headers={"content-type": ctype})
    assert on_loop == [False]


async def test_a_repeated_name_in_a_large_body_is_still_400_at_it(
    client: httpx.AsyncClient,
) -> None:
    padding = b"".join(b'"k%d":%d,' % (i, i) for i in range(OFF_LOOP_BYTES // 8))
    body = (
        b"{"
        + padding
        + b'"conversation_id":"a","conversation_id":"b","visitor":{"id":"v"},"text":"hi"}'
    )
    assert len(body) > OFF_LOOP_BYTES
    resp = await client.post(
        "/v1/channels/chat", content=body, headers={"content-type": "application/json"}
    )
    assert resp.status_code == 400, resp.text
    assert [e["pointer"] for e in resp.json()["errors"]] == ["/conversation_id"]


@pytest.mark.parametrize(("kb", "off_loop"), [(4, False), (40, True)])
async def test_a_large_email_is_read_off_the_event_loop(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, kb: int, off_loop: bool
) -> None:
    """An HTML table of 250 KB took 0.6 s of pure Python to render, on the event loop
    below 256 KiB: every other request waited. Above 32 KiB a mail is read in a worker
    thread; the ordinary mail of a few KB is read where it is, with no thread hop."""
    on_loop = recording_threads(monkeypatch, channels.email, "interpret")
    table = "<table>" + "<tr><td>a</td><td>b</td></tr>" * (kb * 1024 // 30) + "</table>"
    mail = (
        "From: ann@example.com\r\nTo: help@acme.example\r\nSubject: s\r\n"
        "Message-ID: <t@example.com>\r\nContent-Type: text/html\r\n\r\n" + table
    ).encode()
    resp = await client.post(
        "/v1/channels/email", content=mail, headers={"content-type": "message/rfc822"}
    )
    assert resp.status_code == 202, resp.text
    assert on_loop == [not off_loop]
