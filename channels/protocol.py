"""uvicorn's HTTP/1.1 protocols, answering requests they cannot parse with problem+json.

A NUL byte in a header, ``Content-Length: abc``, broken chunked framing or a header block
over the parser's limit are refused by the HTTP parser, and uvicorn answers them itself,
in plain text, whatever the app would have said. These subclasses write the same answer
as an RFC 9457 document instead, so a client sees one error format whatever went wrong.

After the answer the connection is half-closed and what the client still sends is read
and dropped for a moment before the socket closes (a "lingering close", RFC 9112 9.6):
closing with unread bytes would make the kernel send a reset, which can destroy the
answer before the client has read it.

They also bound what a connection may hold (``HttpLimits``): one timer per connection
gives the headers of a request a deadline from the moment the connection opens or the
previous answer ends, and its body a deadline from the end of its headers (408, or a
plain close when nothing of a request arrived). A connection accepted at the cap closes
the one kept alive longest without a request, as its keep-alive timeout would: idle
connections cannot lock new clients out. When none is idle (each is new, within its
header timeout, or busy with a request), the newcomer is answered 503 before anything is
read.
"""

from __future__ import annotations

import asyncio
import http
import logging
import re
import weakref
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import h11
import structlog
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from channels.problems import PROBLEM_TYPE, Problem, problem_body

log = structlog.get_logger("switchboard.http")


def _shutdown_cut_is_a_warning(record: logging.LogRecord) -> bool:
    """uvicorn logs the requests it cancels when the shutdown's grace period is over at
    error level; each has been answered 503 (``problem_on_failure``): a warning."""
    if record.levelno == logging.ERROR and "timeout graceful shutdown exceeded" in str(record.msg):
        record.levelno, record.levelname = logging.WARNING, "WARNING"
    return True


logging.getLogger("uvicorn.error").addFilter(_shutdown_cut_is_a_warning)

LINGER_S = 2.0
MAX_DETAIL = 120
RETRY_AFTER_S = 5
HTTP_VERSIONS = frozenset({"1.0", "1.1"})
TRANSFER_CODING_REFUSED = "Only Transfer-Encoding: chunked is supported"  # h11's words
SLUGS = {
    408: "request-timeout",
    431: "headers-too-large",
    503: "service-unavailable",
    501: "not-implemented",
    505: "http-version-not-supported",
}
#: A request line (RFC 9112 3): a method (a token, RFC 9110 5.6.2), a target, a version
REQUEST_LINE = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}) [^\s]+ HTTP/\d\.\d\r?\n")
#: The methods llhttp reads; any other token is one it refuses, which is no malformed
#: request but a method this server does not know: 501 (RFC 9110 15.6.2), not 400
LLHTTP_METHODS = frozenset(
    b"DELETE GET HEAD POST PUT CONNECT OPTIONS TRACE COPY LOCK MKCOL MOVE PROPFIND PROPPATCH"
    b" SEARCH UNLOCK BIND REBIND UNBIND ACL REPORT MKACTIVITY CHECKOUT MERGE M-SEARCH NOTIFY"
    b" SUBSCRIBE UNSUBSCRIBE PATCH PURGE MKCALENDAR LINK UNLINK SOURCE QUERY".split()
)


def unknown_method(opening: bytes) -> str | None:
    """The method of a well-formed request line that llhttp refused for it, or None."""
    found = REQUEST_LINE.match(opening)
    if found is None or found.group(1) in LLHTTP_METHODS:
        return None
    return found.group(1).decode("ascii")


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """What one connection may hold (the ``SWITCHBOARD_HTTP_*`` settings)."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_connections: int = 1000
    keep_alive_s: float = 75.0


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


NO_STORE = (b"cache-control", b"no-store")
"""On every error answer the server writes itself, as on the app's (``problem_response``):
no error is worth keeping in a cache."""


def problem_bytes(status: int, detail: str) -> bytes:
    return problem_body(Problem(status, detail, slug=SLUGS.get(status, "malformed-http")))


def _head_refusal(
    version: str, hosts: int, transfer_codings: list[bytes]
) -> tuple[int, str] | None:
    """A parsed head that HTTP/1.1 refuses: another version (llhttp reads ``HTTP/2.0``
    as it would 1.1), not exactly one Host (RFC 9112 3.2; optional in HTTP/1.0), or a
    Transfer-Encoding other than one lone ``chunked``.

    llhttp takes ``identity, chunked`` (or ``gzip, chunked``) as chunked; h11 refuses
    every value but ``chunked``, and so does this, whichever parser serves: ``identity``
    is no transfer coding since RFC 7230, and the ingress decodes no other. The answer
    is 400, not the 501 RFC 9112 6.1 suggests for an unknown coding: h11 reports both
    that and a ``chunked`` that is not last (a 400 the RFC requires, 6.3) as one error,
    and no other server of ours would take the request (docs/ingress.md)."""
    if version not in HTTP_VERSIONS:
        return 505, f"HTTP/{version[:8]} is not supported; send HTTP/1.1"
    if hosts > 1:
        return 400, "malformed HTTP/1.1 request: more than one Host header"
    if hosts == 0 and version == "1.1":
        return 400, "malformed HTTP/1.1 request: no Host header"
    if transfer_codings and [value.strip().lower() for value in transfer_codings] != [b"chunked"]:
        return 400, _detail(400, TRANSFER_CODING_REFUSED, None)
    return None


class _RecordingConnection(h11.Connection):
    """Keeps the last parse error: uvicorn catches it and passes on only a fixed text.

    h11 applies its size limit only to a head still incomplete after a read; one that
    arrives whole in a single read is measured here, so the limit holds either way."""

    last_error: h11.RemoteProtocolError | None = None

    def __init__(
        self,
        our_role: type[h11.SERVER],
        limit: int,
        on_head: Callable[[], None] | None = None,
        on_end: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(our_role, limit)
        self._head_limit = limit
        self._on_head = on_head
        self._on_end = on_end

    def next_event(self) -> Any:
        try:
            event = super().next_event()
            if isinstance(event, h11.Request):
                if _head_size(event) > self._head_limit:
                    raise h11.RemoteProtocolError("headers over the limit", error_status_hint=431)
                if self._on_head is not None:
                    self._on_head()
            elif isinstance(event, h11.EndOfMessage) and self._on_end is not None:
                self._on_end()
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

    def _answer(self, status: int, detail: str, *, retry: bool = False) -> None:
        """Answer problem+json and close, unless the app already started its answer."""
        cycle = getattr(self, "cycle", None)  # the current request's, or the previous one's
        if cycle is not None and cycle.response_started and not cycle.response_complete:
            # The app already started its answer: a second one cannot follow it.
            self._answered = True
            self._abandon_cycle()
            self.transport.close()
            return
        body = problem_bytes(status, detail)
        reason = http.HTTPStatus(status).phrase.encode()
        head = [b"HTTP/1.1 %d %s\r\n" % (status, reason)]
        state: ServerState = getattr(self, "server_state")  # noqa: B009 (both parsers have it)
        head += [name + b": " + value + b"\r\n" for name, value in state.default_headers]
        if retry:
            head.append(b"retry-after: %d\r\n" % RETRY_AFTER_S)
        head += [
            b"content-type: " + PROBLEM_TYPE.encode() + b"\r\n",
            b": ".join(NO_STORE) + b"\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self._close_after_answer()
        answered = getattr(self, "answered", None)
        if answered is not None:  # counted where no app sees the request
            answered(status)


HEAD, BODY = "head", "body"


# Per server: its connections kept alive without a request, the longest idle first.
_IDLE: weakref.WeakKeyDictionary[ServerState, dict[_Bounded, None]] = weakref.WeakKeyDictionary()


class _Bounded(_Lingering):
    """Deadlines for a request's head and body, and the cap on open connections.

    One timer handle per connection, replaced at most three times per request (headers
    awaited, body awaited, answer under way: none); nothing is done per byte.

    At the cap, a new connection closes the one kept alive longest since its last
    answer: a client holding slots with a request every keep-alive period would
    otherwise lock every new client out. A connection that has not sent its first
    request yet is not closed for another (its client is about to send it, and would
    see a reset it has no reason to retry); it holds a slot for the header timeout at
    most. No share per client address: behind a load balancer nearly every connection
    comes from a few of its addresses, and the client's own is in a header not yet read
    when the connection is accepted."""

    limits = HttpLimits()
    loop: asyncio.AbstractEventLoop
    connections: set[Any]
    _idle: dict[_Bounded, None]  # the server's, in ``_IDLE``
    _deadline: asyncio.TimerHandle | None = None
    _awaiting: str | None = None  # HEAD, BODY, or None while the app has the request
    _head_started = False  # bytes of a head not yet complete have arrived
    _kept_alive = False  # idle after an answer: the keep-alive deadline, until bytes come

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        state: ServerState = getattr(self, "server_state")  # noqa: B009 (both parsers have it)
        self._idle = _IDLE.setdefault(state, {})
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections and not self._close_idlest():
            # Answered as accepted, the request unread: a client may retry elsewhere, or
            # later, and the connection is not counted by the server's shutdown.
            self.connections.discard(self)
            detail = f"too many open connections (at most {self.limits.max_connections})"
            self._answer(503, detail, retry=True)
            return
        self._await(HEAD)

    def _close_idlest(self) -> bool:
        """Close the connection kept alive longest without a request, if there is one."""
        while self._idle:
            idlest = next(iter(self._idle))
            del self._idle[idlest]
            if idlest.close_idle():
                return True
        return False

    def close_idle(self) -> bool:
        """Close as the keep-alive timeout would, the slot free at once; False if the
        connection is closing already."""
        if self._answered or self.transport.is_closing():
            return False
        self._await(None)
        self._answered = True
        self.connections.discard(self)
        close: Callable[[], None] = getattr(self, "timeout_keep_alive_handler")  # noqa: B009 (uvicorn's)
        close()
        return True

    def data_received(self, data: bytes) -> None:
        if self._awaiting is not BODY:
            self._head_started = True
            if self._kept_alive:  # the next request began: its headers have their own time
                self._await(HEAD)
        super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._await(None)
        super().connection_lost(exc)

    def shutdown(self) -> None:
        """The server is stopping. A request whose headers are still arriving is answered
        503 with Retry-After, not cut off unanswered (a proxy would turn that into a 502
        for a POST it may not retry); the others as uvicorn does."""
        if self._awaiting is HEAD and self._head_started and not self._answered:
            self._answer(503, "the server is shutting down; retry", retry=True)
            return
        super().shutdown()  # type: ignore[misc]  # the parser protocol's, next in the MRO

    def _await(self, phase: str | None, *, kept_alive: bool = False) -> None:
        """Await the next request's headers (HEAD) or this one's body. ``kept_alive``: a
        connection idle after an answer may wait the keep-alive time for the next request
        (longer than a load balancer's idle timeout, so it never sends a request on a
        connection being closed); once its first bytes come, its headers have the header
        timeout. A new connection's first request has the header timeout from the start."""
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._awaiting = phase
        self._kept_alive = kept_alive
        self._idle.pop(self, None)
        if phase is HEAD and kept_alive and not self._answered:
            self._idle[self] = None  # the last: the most recently idle
        if phase is not None and not self._answered:
            limits = self.limits
            if phase is BODY:
                delay = limits.body_timeout_s
            else:
                delay = limits.keep_alive_s if kept_alive else limits.header_timeout_s
            self._deadline = self.loop.call_later(delay, self._expired)

    def _head_complete(self) -> None:
        self._head_started = False
        self._await(BODY)

    def _message_complete(self) -> None:
        """The app has the request; or, when it answered before reading the whole body,
        the next request's headers are awaited from now."""
        cycle = getattr(self, "cycle", None)
        answered = cycle is not None and cycle.response_complete
        waiting = answered and not self.transport.is_closing()
        self._await(HEAD if waiting else None, kept_alive=waiting)

    def _response_complete(self) -> None:
        """The next request's headers are awaited from the end of this answer, unless
        a pipelined request is already with the app or has its body on the way."""
        cycle = getattr(self, "cycle", None)
        idle = cycle is None or cycle.response_complete
        if idle and self._awaiting is None and not self.transport.is_closing():
            self._await(HEAD, kept_alive=True)

    def _expired(self) -> None:
        self._deadline = None
        if self._answered or self.transport.is_closing():
            return
        if self._awaiting is HEAD:
            if not self._head_started:  # an idle connection: nothing to answer
                self._answered = True
                self.transport.close()
                return
            detail = f"the request headers did not arrive within {self.limits.header_timeout_s:g} s"
        else:
            cycle = getattr(self, "cycle", None)
            if cycle is not None and cycle.response_started:
                # The app answered without reading the whole body: no second answer.
                self._answered = True
                self._abandon_cycle()
                self.transport.close()
                return
            detail = f"the request body did not arrive within {self.limits.body_timeout_s:g} s"
        self._answer(408, detail)


class ProblemH11Protocol(_Bounded, H11Protocol):
    """uvicorn's h11 protocol; a request h11 refuses gets problem+json (400, 431 or 505)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._limit = head_limit(config)
        self.conn = _RecordingConnection(
            h11.SERVER, self._limit, self._check_head, self._message_complete
        )

    def _check_head(self) -> None:
        """h11 refuses a missing or second Host itself; a version other than 1.x here."""
        version = self.conn.their_http_version
        if version is not None and version.decode("ascii", "replace") not in HTTP_VERSIONS:
            raise h11.RemoteProtocolError("unsupported HTTP version", error_status_hint=505)
        self._head_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._response_complete()

    def send_400_response(self, msg: str) -> None:
        error = self.conn.last_error if isinstance(self.conn, _RecordingConnection) else None
        hint = error.error_status_hint if error is not None else 400
        status = hint if hint in (400, 431, 505) else 400
        if self.conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            # The app already started its answer: a second one cannot follow it.
            self._answered = True
            self._abandon_cycle()
            self.transport.close()
            return
        if status == 505:
            version = (self.conn.their_http_version or b"?").decode("ascii", "replace")
            detail = f"HTTP/{version[:8]} is not supported; send HTTP/1.1"
        else:
            detail = _detail(status, str(error) if error else msg, self._limit)
        body = problem_bytes(status, detail)
        headers = [
            (b"content-type", PROBLEM_TYPE.encode()),
            NO_STORE,
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

    class ProblemHttpToolsProtocol(_Bounded, HttpToolsProtocol):
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
            self._refusal: tuple[int, str] | None = None
            self._opening = b""  # the first bytes of the request being read

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
            if self._head_bytes == 0:
                self._opening = data[:8192]
            if self._head_bytes is not None:
                self._head_bytes += len(data)
            super().data_received(data)
            if self._answered or self._head_bytes is None or self._head_bytes <= self._limit:
                return
            self._answer(431, _detail(431, None, self._limit))

        def on_headers_complete(self) -> None:
            self._head_bytes = None
            hosts = sum(1 for name, _ in self.headers if name == b"host")
            codings = [value for name, value in self.headers if name == b"transfer-encoding"]
            self._refusal = _head_refusal(self.parser.get_http_version(), hosts, codings)
            if self._refusal is not None:
                raise ValueError(self._refusal[1])  # reaches ``send_400_response``
            self._head_complete()
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._head_bytes = 0
            self._parsed_head = 0
            self._message_complete()
            super().on_message_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._response_complete()

        def send_400_response(self, msg: str) -> None:
            del msg  # uvicorn's fixed text; llhttp's reason is not passed on
            if self._head_too_large:
                self._answer(431, _detail(431, None, self._limit))
            elif self._refusal is not None:
                self._answer(*self._refusal)
            elif (method := unknown_method(self._opening)) is not None:
                detail = f"the method {method} is not implemented (methods are case-sensitive)"
                self._answer(501, detail)
            else:
                self._answer(400, _detail(400, None, None))

    return ProblemHttpToolsProtocol


ProblemHttpToolsProtocol = _httptools_protocol()


def problem_protocol(
    limits: HttpLimits | None = None, answered: Callable[[int], None] | None = None
) -> type[asyncio.Protocol]:
    """The class uvicorn's ``http="auto"`` would pick (httptools when installed, else
    h11), answering unparseable requests with problem+json, bound by ``limits``.
    ``answered`` hears the status of every answer the server gives itself (400, 408,
    431, 503 at the connection limit, 505), which no app middleware sees."""
    base = ProblemHttpToolsProtocol or ProblemH11Protocol
    if limits is None and answered is None:
        return base
    attributes: dict[str, Any] = {"limits": limits or HttpLimits()}
    if answered is not None:
        attributes["answered"] = staticmethod(answered)
    return type(base.__name__, (base,), attributes)


ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


def problem_on_failure(app: ASGIApp) -> ASGIApp:
    """``app``, answering problem+json where uvicorn would answer ``500`` in plain text:
    when the app fails before it starts an answer, or its task is cancelled (the
    shutdown's grace period is over): that is ``503`` with Retry-After, the server is
    going away and another may take the request."""

    async def guarded(
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = False

        async def sending(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await app(scope, receive, sending)
        except BaseException as exc:
            if not started:
                await _send_problem(send, exc)
                if isinstance(exc, asyncio.CancelledError):
                    # answered 503: the end of a normal shutdown, no application error
                    # (raised on, uvicorn logs a traceback at error level on every deploy)
                    log.info("request_cut_at_shutdown", path=scope.get("path", ""))
                    return
            raise

    return guarded


async def _send_problem(send: Callable[[Any], Awaitable[None]], exc: BaseException) -> None:
    if isinstance(exc, asyncio.CancelledError):
        # cut mid-way: a produce may have gone out, and the broker may write it yet
        status, slug = 503, "outcome-unknown"
        detail = (
            "the server stopped while handling this request: the event may have been "
            "written. Retry with the same Idempotency-Key (or the same content, or the "
            "provider's id): the retry carries the same event id, so it never becomes a "
            "second event"
        )
    else:
        status, slug, detail = 500, None, "the server failed to answer this request"
    body = problem_body(Problem(status, detail, slug=slug))
    headers = [
        (b"content-type", PROBLEM_TYPE.encode()),
        NO_STORE,
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    if status == 503:
        headers.append((b"retry-after", str(RETRY_AFTER_S).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
