"""What a connection may hold, over raw sockets against ``web.serve`` (both parsers): a
deadline for a request's headers and one for its body (408 problem+json, or a close when
nothing arrived), a cap on open connections (503 problem+json with Retry-After), the
HTTP/1.1 head rules (one Host; no other version), a request in flight at shutdown
(503 problem+json, not uvicorn's plain-text 500), and a body in a content coding (415)."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import time
import zlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from router.app import web
from router.app.embedded import free_port
from router.settings import Settings
from tests.component.channels.support import assert_problem, client_for
from tests.component.channels.test_malformed_http import (
    Answer,
    answers,
    assert_protocol_problem,
    exchange,
)

pytestmark = pytest.mark.component

GET = b"GET /ok HTTP/1.1\r\nHost: ingress\r\n\r\n"


class Served:
    """``web.serve`` of a small app, on a port of its own, with these settings."""

    def __init__(self, port: int, stop: asyncio.Event) -> None:
        self.port = port
        self.stop = stop
        self.app_started = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        if scope["path"] == "/slow":
            self.app_started.set()
            await self.release.wait()
        while (await receive()).get("more_body"):
            pass
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
        )
        await send({"type": "http.response.body", "body": b"{}"})


@contextlib.asynccontextmanager
async def serving(parser: str, **limits: Any) -> AsyncIterator[Served]:
    from channels.protocol import problem_protocol

    expected = "ProblemHttpToolsProtocol" if parser == "httptools" else "ProblemH11Protocol"
    assert problem_protocol().__name__ == expected
    settings = Settings(http_host="127.0.0.1", http_port=free_port(), **limits)
    sock = web.bind_http(settings)
    served = Served(settings.http_port, asyncio.Event())
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(web.serve(served, sock, served.stop, ready.set_result, settings))
    await asyncio.wait_for(ready, 10)
    try:
        yield served
    finally:
        served.release.set()
        served.stop.set()
        await asyncio.wait_for(task, 20)
        sock.close()


@pytest.fixture(params=["httptools", "h11"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both parsers: httptools is what serves when installed, h11 the fallback."""
    from channels import protocol

    if request.param == "httptools" and protocol.ProblemHttpToolsProtocol is None:
        pytest.skip("httptools is not installed")
    if request.param == "h11":
        monkeypatch.setattr(protocol, "ProblemHttpToolsProtocol", None)
    return str(request.param)


async def read_until_closed(reader: asyncio.StreamReader, within: float) -> bytes:
    return await asyncio.wait_for(reader.read(), within)


@contextlib.asynccontextmanager
async def connection(port: int) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_an_idle_connection_is_closed_after_the_header_timeout(parser: str) -> None:
    async with (
        serving(parser, http_header_timeout_s=1) as served,
        connection(served.port) as (
            reader,
            _,
        ),
    ):
        started = time.monotonic()
        assert await read_until_closed(reader, 10) == b""  # closed, nothing answered
        assert time.monotonic() - started >= 0.8


async def test_headers_that_do_not_arrive_in_time_get_408(parser: str) -> None:
    async with (
        serving(parser, http_header_timeout_s=1) as served,
        connection(served.port) as (
            reader,
            writer,
        ),
    ):
        started = time.monotonic()
        writer.write(b"POST /ok HTTP/1.1\r\nHost: ingress\r\n")
        for _ in range(3):  # one header line now and then: the deadline is not reset
            await asyncio.sleep(0.4)
            writer.write(b"X-Slow: 1\r\n")
        [answer] = answers(await read_until_closed(reader, 10))
        problem = assert_protocol_problem(answer, 408)
        assert "headers" in problem["detail"]
        assert 0.8 <= time.monotonic() - started < 5


async def test_a_body_that_does_not_arrive_in_time_gets_408(parser: str) -> None:
    async with (
        serving(parser, http_body_timeout_s=1.5) as served,
        connection(served.port) as (
            reader,
            writer,
        ),
    ):
        writer.write(b"POST /ok HTTP/1.1\r\nHost: ingress\r\nContent-Length: 1000\r\n\r\n{")
        started = time.monotonic()
        for _ in range(3):  # a byte now and then: too slow for the whole body
            await asyncio.sleep(0.4)
            writer.write(b" ")
        [answer] = answers(await read_until_closed(reader, 10))
        problem = assert_protocol_problem(answer, 408)
        assert "body" in problem["detail"]
        assert 1.2 <= time.monotonic() - started < 6


async def test_a_slow_app_and_a_kept_alive_connection_are_not_cut(parser: str) -> None:
    """The deadlines are for the client's bytes: not for the app's answer, nor for a
    request sent promptly after the previous answer on the same connection."""
    limits = {"http_header_timeout_s": 1.0, "http_body_timeout_s": 1.0}
    async with serving(parser, **limits) as served, connection(served.port) as (reader, writer):
        writer.write(b"GET /slow HTTP/1.1\r\nHost: ingress\r\n\r\n")
        await asyncio.wait_for(served.app_started.wait(), 10)
        await asyncio.sleep(2.5)  # longer than both deadlines
        served.release.set()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert answers(head)[0][0] == 200
        assert await reader.readexactly(2) == b"{}"
        writer.write(b"POST /ok HTTP/1.1\r\nHost: ingress\r\nContent-Length: 2\r\n\r\n{}")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert answers(head)[0][0] == 200


async def test_connections_over_the_cap_get_503_problem_json(parser: str) -> None:
    async with serving(parser, http_max_connections=2) as served:
        async with connection(served.port), connection(served.port):
            await asyncio.sleep(0.2)  # both accepted
            answer = await exchange(served.port, GET)
            problem = assert_protocol_problem(answer, 503)
            assert answer[1]["retry-after"] == "5"
            assert "too many open connections" in problem["detail"]
        await asyncio.sleep(0.5)  # the two closed: room again
        assert (
            await exchange(served.port, GET.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
        )[0] == 200


HEAD_ERRORS = {
    "no Host": (b"GET /ok HTTP/1.1\r\n\r\n", 400),
    "two Host headers": (b"GET /ok HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    "HTTP/2.0 request line": (b"GET /ok HTTP/2.0\r\nHost: a\r\n\r\n", 505),
}


@pytest.mark.parametrize("case", list(HEAD_ERRORS))
async def test_a_head_http_1_1_refuses_is_answered_with_problem_json(
    parser: str, case: str
) -> None:
    request, status = HEAD_ERRORS[case]
    async with serving(parser) as served:
        answer: Answer = await exchange(served.port, request)
        assert_protocol_problem(answer, status)
        ok = b"GET /ok HTTP/1.0\r\n\r\n"  # HTTP/1.0 without Host is still served
        assert (await exchange(served.port, ok))[0] == 200


async def test_a_request_in_flight_at_shutdown_gets_503_problem_json(
    parser: str, caplog: pytest.LogCaptureFixture
) -> None:
    """And nothing is logged as an application error: the 503 is the end of a normal
    shutdown (a traceback at error level had paged on every rolling deploy)."""
    caplog.set_level(logging.ERROR)
    async with (
        serving(parser, http_shutdown_timeout_s=1) as served,
        connection(served.port) as (
            reader,
            writer,
        ),
    ):
        writer.write(b"GET /slow HTTP/1.1\r\nHost: ingress\r\n\r\n")
        await asyncio.wait_for(served.app_started.wait(), 10)
        served.stop.set()  # what SIGTERM does
        raw = await read_until_closed(reader, 10)
    [(status, headers, body)] = answers(raw)
    assert status == 503, raw
    assert headers["content-type"] == "application/problem+json"
    assert headers["cache-control"] == "no-store"
    assert headers["retry-after"] == "5"
    assert orjson.loads(body)["status"] == 503
    # cut mid-way, perhaps after its produce went out: not "nothing was written"
    assert orjson.loads(body)["type"].endswith("/outcome-unknown")
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_request_whose_headers_are_arriving_at_shutdown_gets_503(parser: str) -> None:
    """Not cut off unanswered: a proxy keeping the connection alive would answer 502 for
    a POST it may not send again."""
    async with (
        serving(parser, http_shutdown_timeout_s=1) as served,
        connection(served.port) as (reader, writer),
    ):
        writer.write(b"POST /ok HTTP/1.1\r\nHost: ingress\r\n")  # the head half sent
        await writer.drain()
        await asyncio.sleep(0.2)
        served.stop.set()  # what SIGTERM does
        raw = await read_until_closed(reader, 10)
    [(status, headers, body)] = answers(raw)
    assert status == 503, raw
    assert headers["cache-control"] == "no-store"
    assert headers["retry-after"] == "5"
    assert orjson.loads(body)["status"] == 503


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
async def test_a_body_in_a_content_coding_is_refused_with_415(
    settings: Settings, coding: str
) -> None:
    payload = orjson.dumps({"email": "ada@example.com", "message": "hello"})
    encoded = {"gzip": gzip.compress, "deflate": zlib.compress}.get(coding, lambda b: b)(payload)
    async with client_for(settings) as client:
        resp = await client.post(
            "/v1/channels/webform",
            content=encoded,
            headers={"Content-Type": "application/json", "Content-Encoding": coding},
        )
        problem = assert_problem(resp, 415)
        assert f"content coding {coding!r} is not supported" in problem["detail"]
        assert resp.headers["accept-encoding"] == "identity"
        plain = await client.post(
            "/v1/channels/webform",
            content=payload,
            headers={"Content-Type": "application/json", "Content-Encoding": "identity"},
        )
        assert plain.status_code == 202, plain.text


@pytest.mark.slow
async def test_a_kept_alive_connection_waits_the_keep_alive_time_for_the_next_request(
    parser: str,
) -> None:
    """A load balancer reuses an idle connection long after the header timeout: it must
    still be open (else a 502 for a request sent on it as it closes). Once the next
    request's first bytes come, its headers have the header timeout again; an idle
    connection is closed after the keep-alive time."""
    limits = {"http_header_timeout_s": 1.0, "http_keep_alive_s": 3}
    async with serving(parser, **limits) as served, connection(served.port) as (reader, writer):
        for _ in range(2):
            writer.write(GET)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert answers(head)[0][0] == 200
            assert await reader.readexactly(2) == b"{}"
            await asyncio.sleep(1.6)  # idle past the header timeout, within the keep-alive
        writer.write(b"GET /ok HTTP/1.1\r\n")  # a head that stops: the header timeout
        started = time.monotonic()
        [answer] = answers(await read_until_closed(reader, 10))
        assert_protocol_problem(answer, 408)
        assert time.monotonic() - started < 2.5
    async with serving(parser, **limits) as served, connection(served.port) as (reader, writer):
        writer.write(GET)
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        await reader.readexactly(2)
        started = time.monotonic()
        assert await read_until_closed(reader, 10) == b""  # closed when the keep-alive ends
        assert 2.5 <= time.monotonic() - started < 6
