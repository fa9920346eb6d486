"""RFC 9457 problem details: every error the ingress returns is one of these."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError

from router.errors import BackendUnavailable, InvalidEvent

PROBLEM_TYPE = "application/problem+json"
TYPE_BASE = "https://switchboard.dev/problems/"
TITLES = {
    400: "Invalid request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    413: "Payload too large",
    415: "Unsupported media type",
    503: "Service unavailable",
}


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
        self.slug = slug or TITLES.get(status, "error").lower().replace(" ", "-")
        self.errors = errors
        self.headers = headers or {}


def problem_response(problem: Problem, instance: str | None = None) -> Response:
    body: dict[str, Any] = {
        "type": TYPE_BASE + problem.slug,
        "title": TITLES.get(problem.status, "Error"),
        "status": problem.status,
        "detail": problem.detail,
    }
    if instance:
        body["instance"] = instance
    if problem.errors:
        body["errors"] = problem.errors
    return Response(
        orjson.dumps(body), problem.status, headers=problem.headers, media_type=PROBLEM_TYPE
    )


def pointer(loc: tuple[int | str, ...] | list[int | str]) -> str:
    """A JSON Pointer (RFC 6901) to the offending field."""
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in loc if p != "body"]
    return "/" + "/".join(parts)


def validation_errors(exc: ValidationError | RequestValidationError) -> list[dict[str, Any]]:
    return [{"pointer": pointer(tuple(err["loc"])), "detail": err["msg"]} for err in exc.errors()]


def invalid(exc: ValidationError) -> Problem:
    errors = validation_errors(exc)
    first = errors[0]
    return Problem(400, f"{first['pointer']}: {first['detail']}", slug="invalid", errors=errors)


def install_handlers(app: Any, retry_after_s: int) -> None:
    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return problem_response(exc, request.url.path)

    async def on_invalid_event(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, InvalidEvent)
        errors = [{"pointer": e.get("path", "/"), "detail": e.get("message")} for e in exc.errors]
        return problem_response(
            Problem(400, str(exc), slug="invalid", errors=errors or None), request.url.path
        )

    async def on_request_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = validation_errors(exc)
        detail = f"{errors[0]['pointer']}: {errors[0]['detail']}" if errors else "invalid"
        return problem_response(
            Problem(400, detail, slug="invalid", errors=errors), request.url.path
        )

    async def on_backend(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BackendUnavailable)
        problem = Problem(
            503,
            f"{exc.backend} is not answering; nothing was written, retry later",
            slug="backend-unavailable",
            headers={"Retry-After": str(retry_after_s)},
        )
        return problem_response(problem, request.url.path)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(InvalidEvent, on_invalid_event)
    app.add_exception_handler(RequestValidationError, on_request_validation)
    app.add_exception_handler(BackendUnavailable, on_backend)
