"""RFC 9457 problem details: every error the ingress returns is one of these."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any
from urllib.parse import quote, quote_from_bytes

import orjson
import structlog
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match
from starlette.types import Scope

from channels.signatures import PROVIDER_CHALLENGES
from router.actions import json_pointer
from router.errors import BackendUnavailable, InvalidEvent, OutcomeUnknown, TooLarge
from router.logs import Sampled

log = structlog.get_logger("switchboard.ingress")

PROBLEM_TYPE = "application/problem+json"
TYPE_BASE = "https://switchboard.dev/problems/"
TITLES = {
    400: "Invalid request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    413: "Payload too large",
    415: "Unsupported media type",
    431: "Request header fields too large",
    500: "Internal server error",
    503: "Service unavailable",
}


def title(status: int) -> str:
    if status in TITLES:
        return TITLES[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class Problem(Exception):
    """Raise anywhere in a request; the app turns it into problem+json."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug or title(status).lower().replace(" ", "-")
        self.errors = errors
        self.headers = headers or {}


class PartlyWritten(BackendUnavailable):
    """Kafka or Redis failed part-way through a request that writes several events (a
    list of actions, a Meta batch): the items in ``written`` (how the request names them,
    event id) were on Kafka before it. The 503 names them instead of claiming that
    nothing was written."""

    def __init__(
        self, cause: BackendUnavailable, written: list[tuple[str, str]], items: str = "actions"
    ) -> None:
        super().__init__(cause.backend, str(cause).removeprefix(f"{cause.backend}: "))
        self.cause = cause
        self.written = written
        self.items = items


def signature_problem(header: str, detail: str) -> Problem:
    """401 for a provider's webhook (Twilio, Meta) whose signature ``header`` is missing or
    does not sign the request (``detail`` says which), with the provider's challenge in
    ``WWW-Authenticate``."""
    return Problem(
        401, detail, slug="signature", headers={"WWW-Authenticate": PROVIDER_CHALLENGES[header]}
    )


MAX_ERRORS = 100
"""Errors an answer lists: a body of 50,000 unknown members had been answered with 3.2 MB
listing each. The rest are counted in ``errors_omitted`` and ``detail``."""


def problem_body(problem: Problem, instance: str | None = None) -> bytes:
    """The JSON document; also written by the HTTP protocol for requests the app never saw."""
    body: dict[str, Any] = {
        "type": TYPE_BASE + problem.slug,
        "title": title(problem.status),
        "status": problem.status,
        "detail": problem.detail,
    }
    if instance:
        body["instance"] = instance
    if problem.errors:
        body["errors"] = problem.errors[:MAX_ERRORS]
        omitted = len(problem.errors) - MAX_ERRORS
        if omitted > 0:
            body["errors_omitted"] = omitted
            body["detail"] = (
                f"{problem.detail} (the first {MAX_ERRORS} errors are listed; "
                f"{omitted:,} more are not)"
            )
    return orjson.dumps(body)


def problem_response(problem: Problem, instance: str | None = None) -> Response:
    """The problem as ``application/problem+json``. No error is worth keeping in a cache,
    and some name what the request said: every one says ``Cache-Control: no-store``."""
    return Response(
        problem_body(problem, instance),
        problem.status,
        headers={"Cache-Control": "no-store", **(problem.headers or {})},
        media_type=PROBLEM_TYPE,
    )


SUB_DELIMS = "!$&'()*+,;="
"""Kept as they are in ``instance``: RFC 3986 allows them in a path."""


def instance_path(scope: Scope) -> str:
    """The path as the client sent it, for ``instance`` (RFC 9457, 3.1.5: a URI
    reference). Decoded, ``%2F`` would read as ``/`` and ``%00`` as a NUL: the problem
    would name another resource, or none a URI can. A byte a URI cannot hold is escaped."""
    raw = scope.get("raw_path")
    if raw:  # some servers send the query too
        return quote_from_bytes(raw.partition(b"?")[0], safe="/%:@" + SUB_DELIMS)
    return quote(scope["path"], safe="/:@" + SUB_DELIMS)


ROOT = ""
"""The JSON Pointer to the whole request body (RFC 6901: ``/`` would name a member ``""``)."""


def pointer(loc: tuple[int | str, ...] | list[int | str]) -> str:
    """A JSON Pointer (RFC 6901) to the offending field of the request body. FastAPI puts
    ``body`` first in the location of a body error; that names no member, so it goes."""
    parts = loc[1:] if loc and loc[0] == "body" else loc
    return json_pointer(parts)


OBJECT_EXPECTED = frozenset({"model_type", "dataclass_type"})
"""Pydantic's errors for a value where an object belongs, whose message names a Python
class: the client wrote JSON, and learns nothing from our class names."""


def validation_errors(exc: ValidationError | RequestValidationError) -> list[dict[str, Any]]:
    found = []
    for err in exc.errors():
        where = pointer(tuple(err["loc"]))
        detail = err["msg"]
        if err["type"] in OBJECT_EXPECTED:
            detail = "must be a JSON object" if where else "the body must be a JSON object"
        found.append({"pointer": where, "detail": detail})
    return found


def at(where: str, detail: str) -> dict[str, str]:
    """One field's error: its JSON Pointer and what is wrong there."""
    return {"pointer": where, "detail": detail}


def invalid(exc: ValidationError) -> Problem:
    return invalid_fields(validation_errors(exc))


def invalid_fields(errors: list[dict[str, Any]]) -> Problem:
    """400 naming every offending field (``{pointer, detail}``), the first in ``detail``."""
    first = errors[0] if errors else None
    if first is None:
        detail = "invalid"
    elif first["pointer"] == ROOT:  # the whole body: no pointer to name
        detail = str(first["detail"])
    else:
        detail = f"{first['pointer']}: {first['detail']}"
    return Problem(400, detail, slug="invalid", errors=errors)


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE")
"""The methods ``Allow`` may name (RFC 9110, 9.3, and PATCH), in the order it names them."""


def allowed_methods(scope: Scope) -> str:
    """``Allow`` for the request's path (RFC 9110, 10.2.1): every method some route of the
    app serves there, asked of the routes themselves (a path may have several routes, a
    GET route answers HEAD too); empty when no route is on the path."""
    routes = getattr(scope.get("app"), "routes", None) or ()
    served = [
        method
        for method in METHODS
        if any(route.matches({**scope, "method": method})[0] is Match.FULL for route in routes)
    ]
    return ", ".join(served)


def install_http_errors(app: Any) -> None:
    """Routing errors (unknown path, wrong method) and unexpected exceptions as problem+json.

    Every Switchboard app needs these, the ops app of the consumer roles too."""

    async def on_http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        status, headers = exc.status_code, dict(exc.headers or {})
        detail, path = str(exc.detail), instance_path(request.scope)
        if status == 404 and detail == HTTPStatus.NOT_FOUND.phrase:
            detail = f"nothing is served at {path}"
        elif status == 405:
            # Starlette names the methods of the first route on the path only
            headers["Allow"] = allowed_methods(request.scope) or headers.get("Allow", "")
            if detail == HTTPStatus.METHOD_NOT_ALLOWED.phrase:
                allowed = headers["Allow"] or "another method"
                detail = f"{request.method} is not allowed on {path}; use {allowed}"
        problem = Problem(status, detail, headers=headers)
        return problem_response(problem, path)

    async def on_disconnect(request: Request, exc: Exception) -> Response:
        # The client left (or the HTTP protocol already answered a broken body): nobody
        # hears this answer, and it is no server error to log with a traceback.
        del exc
        problem = Problem(400, "the client went away before its request was complete")
        return problem_response(problem, instance_path(request.scope))

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        # The exception itself is logged by the server; the client learns nothing about it.
        del exc
        problem = Problem(500, "the request failed inside Switchboard; the server log says why")
        return problem_response(problem, instance_path(request.scope))

    app.add_exception_handler(HTTPException, on_http_exception)
    app.add_exception_handler(ClientDisconnect, on_disconnect)
    app.add_exception_handler(Exception, on_unexpected)


READS = frozenset({"GET", "HEAD"})
STATE_LOST = (
    "Redis lost its state (its state marker is gone: restarted empty?) until "
    "`switchboard state rebuild` restores it"
)


async def _state_lost(request: Request) -> bool:
    """Whether the 404 about to be answered may only mean that Redis lost its state
    (``channels.state_marker``): a 503 then, which a client retries, not a final 404."""
    ctx = getattr(request.app.state, "ingress", None)
    check = getattr(ctx, "state_lost", None)
    if check is None:
        return False
    try:
        lost: bool = await check()
    except BackendUnavailable:
        return False  # Redis not answering: the 404 was read before it went
    return lost


def _not_done(method: str) -> str:
    """What a backend's silence left undone: a read (the read API) read nothing, and
    must not claim nothing was written as if it had been a write."""
    return "nothing could be read" if method in READS else "nothing was written"


def _partly_written(exc: PartlyWritten) -> str:
    done = ", ".join(f"{pointer} (event {id_})" for pointer, id_ in exc.written)
    if isinstance(exc.cause, OutcomeUnknown):
        rest = "the next may have been written as well, and the rest were not"
    else:
        rest = "the rest were not"
    return (
        f"{exc}: the {exc.items} {done} were written before it; {rest}. Retry with the same "
        "Idempotency-Key (what was written is answered as a duplicate), or send only the rest"
    )


def install_handlers(app: Any, retry_after_s: int) -> None:
    # the refused requests' log lines: one per backend, kind and path every 5 s, counting
    # the others (``held_back``); a line per request had written hundreds a second
    backend_lines = Sampled()

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        if exc.status == 404 and await _state_lost(request):
            return await on_backend(request, BackendUnavailable("redis", STATE_LOST))
        return problem_response(exc, instance_path(request.scope))

    async def on_invalid_event(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, InvalidEvent)
        errors = [{"pointer": e.get("path", ROOT), "detail": e.get("message")} for e in exc.errors]
        problem = Problem(400, str(exc), slug="invalid", errors=errors or None)
        return problem_response(problem, instance_path(request.scope))

    async def on_request_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problem = invalid_fields(validation_errors(exc))
        return problem_response(problem, instance_path(request.scope))

    async def on_too_large(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, TooLarge)
        errors = [{"pointer": exc.pointer, "detail": str(exc)}]
        problem = Problem(413, str(exc), errors=errors)
        return problem_response(problem, instance_path(request.scope))

    async def on_backend(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BackendUnavailable)
        if isinstance(exc, PartlyWritten):
            detail = _partly_written(exc)
            unknown = isinstance(exc.cause, OutcomeUnknown)
            slug = "outcome-unknown" if unknown else "backend-unavailable"
        elif isinstance(exc, OutcomeUnknown):
            detail = (
                f"{exc}: the event may have been written. Retry with the same "
                "Idempotency-Key (or, for web forms and chat, the same content): the "
                "retry carries the same event id, so it never becomes a second event "
                "(it may still be answered as new, if the first write was not confirmed)"
            )
            slug = "outcome-unknown"
        else:
            detail = f"{exc}: {_not_done(request.method)}; retry later"
            slug = "backend-unavailable"
        # the one line an operator sees for it: which backend, what it said, where (the
        # path's first two segments: a read API path names a customer)
        where = "/".join(request.url.path.split("/")[:3])
        held_back = backend_lines.take((slug, exc.backend, where))
        if held_back is not None:  # one line every few seconds while the backend is down
            log.warning(
                slug.replace("-", "_"),
                backend=exc.backend,
                error=str(exc),
                path=where,
                held_back=held_back,
            )
        problem = Problem(503, detail, slug=slug, headers={"Retry-After": str(retry_after_s)})
        return problem_response(problem, instance_path(request.scope))

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(InvalidEvent, on_invalid_event)
    app.add_exception_handler(TooLarge, on_too_large)
    app.add_exception_handler(RequestValidationError, on_request_validation)
    app.add_exception_handler(BackendUnavailable, on_backend)
    install_http_errors(app)
