"""Requests the HTTP parser refuses, over raw sockets against a served Switchboard: the
answer is problem+json (400, or 431 for oversized headers), never plain text, never a
5xx, and the server goes on serving. Routing errors of every role's app are too."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
import uvicorn

from channels.protocol import ProblemH11Protocol, ProblemHttpToolsProtocol
from router.app import roles
from router.app.embedded import free_port
from router.settings import Settings

pytestmark = pytest.mark.component

PROBLEM = "application/problem+json"
WEBFORM = (
    b"POST /v1/channels/webform HTTP/1.1\r\nHost: ingress\r\nContent-Type: application/json\r\n"
)
MALFORMED = {
    "NUL byte in a header": (
        WEBFORM + b"X-Note: a\x00b\r\nContent-Length: 2\r\n\r\n{}",
        400,
    ),
    "Content-Length: abc": (WEBFORM + b"Content-Length: abc\r\n\r\n{}", 400),
    "bad chunked framing": (
        WEBFORM + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        400,
    ),
    "chunk longer than announced": (
        WEBFORM + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}xx\r\n0\r\n\r\n",
        400,
    ),
    "1 MB header line": (
        b"GET /healthz HTTP/1.1\r\nHost: ingress\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n",
        431,
    ),
    "not HTTP at all": (b"HELLO THERE\r\n\r\n", 400),
    # over the 16 KiB limit, but small enough to arrive (and parse) in one read
    "20 kB of headers in one read": (
        WEBFORM + b"X-Big: " + b"a" * 20_000 + b"\r\nContent-Length: 2\r\n\r\n{}",
        431,
    ),
    "many headers just over the limit": (
        WEBFORM + b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 60) for i in range(300)) + b"\r\n",
        431,
    ),
}


@contextlib.asynccontextmanager
async def running(settings: Settings, role: str) -> AsyncIterator[int]:
    """``switchboard run --role <role>`` in this process; yields its HTTP port."""
    local = settings.model_copy(update={"http_port": free_port()})
    stop = asyncio.Event()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(roles.run_roles(local, {role}, stop, on_ready=ready.set_result))
    await asyncio.wait_for(ready, 20)
    try:
        yield local.http_port
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


@pytest.fixture
async def ingress_port(settings: Settings) -> AsyncIterator[int]:
    async with running(settings, "ingress") as port:
        yield port


Answer = tuple[int, dict[str, str], bytes]


def answers(raw: bytes) -> list[Answer]:
    """Status, headers and body of each response in what the server sent."""
    found = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        size = int(headers.get("content-length", len(rest)))
        found.append((int(status_line.split()[1]), headers, rest[:size]))
        raw = rest[size:]
    return found


async def exchange(port: int, request: bytes) -> Answer:
    """Send raw bytes; the one answer, read until the server closes the connection."""
    [answer] = answers(await send_raw(port, request))
    return answer


async def send_raw(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def assert_protocol_problem(answer: Answer, status: int) -> Any:
    got, headers, body = answer
    assert got == status, (got, body)
    assert headers["content-type"] == PROBLEM
    assert headers["cache-control"] == "no-store"  # as every error answer of the ingress
    assert headers["connection"] == "close"
    assert int(headers["content-length"]) == len(body)
    problem = orjson.loads(body)
    assert problem["status"] == status
    assert {"type", "title", "detail"} <= problem.keys()
    return problem


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_a_request_the_parser_refuses_is_answered_with_problem_json(
    ingress_port: int, case: str
) -> None:
    request, status = MALFORMED[case]
    problem = assert_protocol_problem(await exchange(ingress_port, request), status)
    assert problem["detail"].startswith(
        "the request line and headers exceed" if status == 431 else "malformed HTTP/1.1 request"
    )
    assert b"\x00" not in orjson.dumps(problem)  # the offending bytes are not echoed
    async with httpx.AsyncClient() as client:  # and the server is still serving
        assert (await client.get(f"http://127.0.0.1:{ingress_port}/healthz")).status_code == 200


@pytest.mark.parametrize("method", [b"BREW", b"get"])
async def test_an_unknown_method_is_501_not_a_malformed_request(
    ingress_port: int, method: bytes
) -> None:
    """llhttp refuses a method it does not know, and the answer had been 400 "malformed";
    RFC 9110 (15.6.2) has 501 for it. Methods are case-sensitive: ``get`` is unknown."""
    if ProblemHttpToolsProtocol is None:
        pytest.skip("httptools is not installed; h11 hands such a method to the app (405)")
    request = method + b" /healthz HTTP/1.1\r\nHost: ingress\r\n\r\n"
    problem = assert_protocol_problem(await exchange(ingress_port, request), 501)
    assert problem["detail"] == (
        f"the method {method.decode()} is not implemented (methods are case-sensitive)"
    )
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"http://127.0.0.1:{ingress_port}/healthz")).status_code == 200


async def test_a_malformed_request_after_a_good_one_on_a_kept_alive_connection(
    ingress_port: int,
) -> None:
    await assert_answers_after_a_good_request(ingress_port)


async def assert_answers_after_a_good_request(port: int) -> None:
    """One good request answered, then a malformed one on the same connection."""
    bad, _ = MALFORMED["NUL byte in a header"]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: ingress\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        [(status, headers, _)] = answers(head)
        assert status == 200
        await reader.readexactly(int(headers["content-length"]))
        writer.write(bad)
        raw = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    [answer] = answers(raw)
    assert_protocol_problem(answer, 400)


async def test_the_ops_app_of_a_consumer_role_answers_routing_errors_with_problem_json(
    settings: Settings,
) -> None:
    async with running(settings, "metrics") as port, httpx.AsyncClient() as client:
        base = f"http://127.0.0.1:{port}"
        missing = await client.get(f"{base}/v1/channels/chat")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == PROBLEM
        assert missing.json()["detail"] == "nothing is served at /v1/channels/chat"
        wrong = await client.post(f"{base}/readyz")
        assert wrong.status_code == 405
        assert wrong.headers["content-type"] == PROBLEM
        assert_protocol_problem(await exchange(port, b"HELLO THERE\r\n\r\n"), 400)


async def test_httptools_variant_answers_with_problem_json_too() -> None:
    """For when uvicorn[standard] brings httptools: the same answer from its parser."""
    if ProblemHttpToolsProtocol is None:
        pytest.skip("httptools is not installed; the h11 protocol serves (tested above)")
    await _serve_and_check(ProblemHttpToolsProtocol)


async def test_h11_variant_outside_the_roles() -> None:
    """The protocol class alone, on a bare app: nothing of Switchboard's app involved."""
    await _serve_and_check(ProblemH11Protocol)


async def _serve_and_check(protocol: type[asyncio.Protocol]) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        del scope, receive
        headers = [(b"content-length", b"2")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"{}"})

    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http=protocol, log_config=None, lifespan="off"
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if serving.done():
                await serving
            await asyncio.sleep(0.02)
        for request, status in MALFORMED.values():
            assert_protocol_problem(await exchange(port, request), status)
        await assert_answers_after_a_good_request(port)
    finally:
        server.should_exit = True
        await serving
