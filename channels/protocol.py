"""uvicorn's HTTP/1.1 protocols, answering requests they cannot parse with problem+json.

A NUL byte in a header, ``Content-Length: abc``, broken chunked framing or a header block
over the parser's limit are refused by the HTTP parser, and uvicorn answers them itself,
in plain text, whatever the app would have said. These subclasses write the same answer
as an RFC 9457 document instead, so a client sees one error format whatever went wrong.

After the answer the connection is half-closed and what the client still sends is read
and dropped for a moment before the socket closes (a "lingering close", RFC 9112 9.6):
closing with unread bytes would make the kernel send a reset, which can destroy the
answer before the client has read it.
"""

from __future__ import annotations

import asyncio
import http
from typing import Any

import h11
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from channels.problems import PROBLEM_TYPE, Problem, problem_body

LINGER_S = 2.0
MAX_DETAIL = 120


def _detail(status: int, reason: str | None, limit: int | None) -> str:
    """What was wrong, without echoing the request's bytes (h11 quotes the bad line)."""
    if status == http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE:
        size = f" of {limit} bytes" if limit else ""
        return f"the request line and headers exceed the limit{size}"
    if not reason:
        return "malformed HTTP/1.1 request"
    words = reason.split(" b'", 1)[0].split(' b"', 1)[0].split(": b", 1)[0].rstrip(":")
    return f"malformed HTTP/1.1 request: {words[:MAX_DETAIL]}"


def head_limit(config: Config) -> int:
    """Most bytes of request line and headers: h11's limit, for both parsers."""
    return config.h11_max_incomplete_event_size or DEFAULT_MAX_INCOMPLETE_EVENT_SIZE


def problem_bytes(status: int, detail: str) -> bytes:
    slug = "headers-too-large" if status == 431 else "malformed-http"
    return problem_body(Problem(status, detail, slug=slug))


class _RecordingConnection(h11.Connection):
    """Keeps the last parse error: uvicorn catches it and passes on only a fixed text.

    h11 applies its size limit only to a head still incomplete after a read; one that
    arrives whole in a single read is measured here, so the limit holds either way."""

    last_error: h11.RemoteProtocolError | None = None

    def __init__(self, our_role: type[h11.SERVER], limit: int) -> None:
        super().__init__(our_role, limit)
        self._head_limit = limit

    def next_event(self) -> Any:
        try:
            event = super().next_event()
            if isinstance(event, h11.Request) and _head_size(event) > self._head_limit:
                raise h11.RemoteProtocolError("headers over the limit", error_status_hint=431)
        except h11.RemoteProtocolError as exc:
            self.last_error = exc
            raise
        return event


def _head_size(request: h11.Request) -> int:
    """The request line and headers as sent, near enough (separators counted)."""
    line = len(request.method) + len(request.target) + 12
    return line + sum(len(name) + len(value) + 4 for name, value in request.headers)


class _Lingering(asyncio.Protocol):
    """The half-close and drain after an error answer, shared by both parsers."""

    transport: asyncio.Transport
    _answered = False
    _linger: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        if not self._answered:
            super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._linger is not None:
            self._linger.cancel()
        super().connection_lost(exc)

    def _abandon_cycle(self) -> None:
        """The app may be waiting for a body that will never come: it hears a disconnect,
        and anything it still sends is dropped (the client already has its answer)."""
        cycle = getattr(self, "cycle", None)
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True
            cycle.message_event.set()

    def _close_after_answer(self) -> None:
        self._answered = True
        self._abandon_cycle()
        if self.transport.can_write_eof():
            self.transport.write_eof()
            loop = asyncio.get_running_loop()
            self._linger = loop.call_later(LINGER_S, self.transport.close)
        else:
            self.transport.close()


class ProblemH11Protocol(_Lingering, H11Protocol):
    """uvicorn's h11 protocol; a request h11 refuses gets problem+json (400 or 431)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._limit = head_limit(config)
        self.conn = _RecordingConnection(h11.SERVER, self._limit)

    def send_400_response(self, msg: str) -> None:
        error = self.conn.last_error if isinstance(self.conn, _RecordingConnection) else None
        hint = error.error_status_hint if error is not None else 400
        status = hint if hint in (400, 431) else 400
        if self.conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            # The app already started its answer: a second one cannot follow it.
            self._answered = True
            self._abandon_cycle()
            self.transport.close()
            return
        body = problem_bytes(status, _detail(status, str(error) if error else msg, self._limit))
        headers = [
            (b"content-type", PROBLEM_TYPE.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        reason = http.HTTPStatus(status).phrase.encode()
        for event in (
            h11.Response(status_code=status, headers=headers, reason=reason),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event) or b"")
        self._close_after_answer()


def _httptools_protocol() -> type[asyncio.Protocol] | None:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools is an optional extra of uvicorn
        return None

    class ProblemHttpToolsProtocol(_Lingering, HttpToolsProtocol):
        """uvicorn's httptools protocol; a request llhttp refuses gets a problem+json 400.

        llhttp has no limit on the size of the headers: this class applies h11's (the
        431 of the default parser), counting what arrives until the headers are complete.
        """

        def __init__(
            self,
            config: Config,
            server_state: ServerState,
            app_state: dict[str, Any],
            _loop: asyncio.AbstractEventLoop | None = None,
        ) -> None:
            super().__init__(config, server_state, app_state, _loop)
            self._limit = head_limit(config)
            self._head_bytes: int | None = 0  # None: the headers are complete
            self._parsed_head = 0  # the request line and headers parsed so far
            self._head_too_large = False

        def on_url(self, url: bytes) -> None:
            self._parsed(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._parsed(len(name) + len(value) + 4)  # ": " and CRLF
            super().on_header(name, value)

        def _parsed(self, size: int) -> None:
            """Headers that arrive in one read are complete before ``data_received`` can
            count them: they are counted as parsed, and over the limit the parser stops
            (an error raised here reaches ``send_400_response``) before the app sees the
            request."""
            self._parsed_head += size
            if self._parsed_head > self._limit:
                self._head_too_large = True
                raise ValueError("request line and headers over the limit")

        def data_received(self, data: bytes) -> None:
            if self._head_bytes is not None:
                self._head_bytes += len(data)
            super().data_received(data)
            if self._answered or self._head_bytes is None or self._head_bytes <= self._limit:
                return
            self._answer(431, _detail(431, None, self._limit))

        def on_headers_complete(self) -> None:
            self._head_bytes = None
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._head_bytes = 0
            self._parsed_head = 0
            super().on_message_complete()

        def send_400_response(self, msg: str) -> None:
            del msg  # uvicorn's fixed text; llhttp's reason is not passed on
            if self._head_too_large:
                self._answer(431, _detail(431, None, self._limit))
            else:
                self._answer(400, _detail(400, None, None))

        def _answer(self, status: int, detail: str) -> None:
            cycle = self.cycle  # the current request's, or the previous one's (keep-alive)
            if cycle is not None and cycle.response_started and not cycle.response_complete:
                # The app already started its answer: a second one cannot follow it.
                self._answered = True
                self._abandon_cycle()
                self.transport.close()
                return
            body = problem_bytes(status, detail)
            reason = http.HTTPStatus(status).phrase.encode()
            head = [b"HTTP/1.1 %d %s\r\n" % (status, reason)]
            head += [
                name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers
            ]
            head += [
                b"content-type: " + PROBLEM_TYPE.encode() + b"\r\n",
                b"content-length: " + str(len(body)).encode() + b"\r\n",
                b"connection: close\r\n\r\n",
            ]
            self.transport.write(b"".join(head) + body)
            self._close_after_answer()

    return ProblemHttpToolsProtocol


ProblemHttpToolsProtocol = _httptools_protocol()


def problem_protocol() -> type[asyncio.Protocol]:
    """The class uvicorn's ``http="auto"`` would pick (httptools when installed, else
    h11), answering unparseable requests with problem+json."""
    return ProblemHttpToolsProtocol or ProblemH11Protocol
