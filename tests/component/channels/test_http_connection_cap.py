"""Hostile input at the connection level, over raw sockets against ``web.serve`` (both
parsers): connections kept alive at the cap do not lock new clients out (the newcomer
closes the one idle longest; 503 only when every connection is busy), and a
Transfer-Encoding other than a lone ``chunked`` is refused with 400 problem+json."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from tests.component.channels.test_http_limits import (
    GET,
    connection,
    read_until_closed,
    serving,
)
from tests.component.channels.test_malformed_http import (
    answers,
    assert_protocol_problem,
    exchange,
)

pytestmark = pytest.mark.component

POST = b"POST /ok HTTP/1.1\r\nHost: ingress\r\nContent-Length: 2\r\n\r\n{}"
Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture(params=["httptools", "h11"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both parsers: httptools is what serves when installed, h11 the fallback."""
    from channels import protocol

    if request.param == "httptools" and protocol.ProblemHttpToolsProtocol is None:
        pytest.skip("httptools is not installed")
    if request.param == "h11":
        monkeypatch.setattr(protocol, "ProblemHttpToolsProtocol", None)
    return str(request.param)


async def ask(conn: Conn, request: bytes = GET) -> int:
    """One request on a kept-alive connection; the answer's status, its body read."""
    reader, writer = conn
    writer.write(request)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    [(status, headers, _)] = answers(head)
    await reader.readexactly(int(headers["content-length"]))
    return status


async def test_a_new_connection_at_the_cap_closes_the_one_idle_longest(parser: str) -> None:
    """The audit's lock-out: every slot held by a kept-alive connection that asks now and
    then. A new client is served; the connection idle longest is closed as its
    keep-alive timeout would close it (no answer), the others go on."""
    async with serving(parser, http_max_connections=3) as served, contextlib.AsyncExitStack() as s:
        a, b, c = [await s.enter_async_context(connection(served.port)) for _ in range(3)]
        for conn in (a, b, c, a):  # ``a`` asks again: ``b`` has been idle longest
            assert await ask(conn) == 200
        newcomer = await s.enter_async_context(connection(served.port))
        assert await ask(newcomer, POST) == 200
        assert await read_until_closed(b[0], 10) == b""  # closed, nothing answered
        for conn in (a, c, newcomer):
            assert await ask(conn) == 200


async def test_at_the_cap_with_no_connection_idle_a_new_one_gets_503(parser: str) -> None:
    """A request with the app, a request whose head is arriving and a new connection
    that has not sent its first request yet are not closed for a newcomer: it gets the
    documented 503 with Retry-After, and each of them is served after."""
    async with serving(parser, http_max_connections=3) as served, contextlib.AsyncExitStack() as s:
        slow = await s.enter_async_context(connection(served.port))
        slow[1].write(b"GET /slow HTTP/1.1\r\nHost: ingress\r\n\r\n")
        await asyncio.wait_for(served.app_started.wait(), 10)
        arriving = await s.enter_async_context(connection(served.port))
        assert await ask(arriving) == 200
        arriving[1].write(b"POST /ok HTTP/1.1\r\nHost: ingress\r\n")  # its next request
        fresh = await s.enter_async_context(connection(served.port))
        await asyncio.sleep(0.3)  # all three accepted, the head's first bytes read

        answer = await exchange(served.port, GET)
        problem = assert_protocol_problem(answer, 503)
        assert answer[1]["retry-after"] == "5"
        assert "too many open connections" in problem["detail"]

        served.release.set()
        head = await asyncio.wait_for(slow[0].readuntil(b"\r\n\r\n"), 10)
        assert answers(head)[0][0] == 200
        assert await ask(arriving, b"Content-Length: 2\r\n\r\n{}") == 200
        assert await ask(fresh) == 200


TRANSFER_CODINGS = {
    "identity, chunked": b"Transfer-Encoding: identity, chunked\r\n",
    "gzip, chunked": b"Transfer-Encoding: gzip, chunked\r\n",
    "chunked, identity": b"Transfer-Encoding: chunked, identity\r\n",
    "chunked, chunked": b"Transfer-Encoding: chunked, chunked\r\n",
    "two lines of chunked": b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
    "identity alone": b"Transfer-Encoding: identity\r\nContent-Length: 2\r\n",
}
CHUNKED_BODY = b"2\r\n{}\r\n0\r\n\r\n"


@pytest.mark.parametrize("case", list(TRANSFER_CODINGS))
async def test_a_transfer_coding_other_than_a_lone_chunked_gets_400(parser: str, case: str) -> None:
    """RFC 9112 6.1: ``identity`` is no transfer coding, and the ingress decodes none
    but ``chunked``; what llhttp would read as chunked anyway is refused as h11 does."""
    head = b"POST /ok HTTP/1.1\r\nHost: ingress\r\n" + TRANSFER_CODINGS[case] + b"\r\n"
    body = b"{}" if case == "identity alone" else CHUNKED_BODY
    async with serving(parser) as served:
        problem = assert_protocol_problem(await exchange(served.port, head + body), 400)
        assert problem["detail"].startswith("malformed HTTP/1.1 request")
        chunked = b"POST /ok HTTP/1.1\r\nHost: ingress\r\nTransfer-Encoding: Chunked\r\n"
        closing = b"Connection: close\r\n\r\n"
        assert (await exchange(served.port, chunked + closing + CHUNKED_BODY))[0] == 200
