"""HTTP request metrics of every role: one ASGI middleware that counts and times each
request under its route's path template, as the OpenAPI document writes it.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from router.observability import Telemetry


def serving_route(scope: Scope) -> Any:
    """The route of the app (``scope["app"]``) that serves the request, path and method,
    as the app's router would pick it; None when none does."""
    routes = getattr(scope.get("app"), "routes", None) or ()
    for route in _served_routes(routes):
        if route.matches(scope)[0] is Match.FULL:
            return getattr(route, "original_route", route)
    return None


def route_label(scope: Scope, root_path: str = "") -> str:
    """The ``route`` label of a request's metrics: its route's path template as the
    OpenAPI document writes it (``/v1/tickets/{ticket_id}``, Starlette's ``path_format``,
    never the ``{ticket_id:path}`` it routes by); ``unmatched`` when no route serves it.
    FastAPI names only its own routes in the scope: the others (``/openapi.json``,
    ``/docs``) are looked up, on the scope as it came (``root_path``, before a mount's
    routing extended it), which only requests without an API route pay for."""
    route = scope.get("route") or serving_route({**scope, "root_path": root_path})
    if route is None:
        return "unmatched"
    return str(getattr(route, "path_format", None) or getattr(route, "path", "unmatched"))


def _served_routes(routes: Any) -> Any:
    """The routes as declared: FastAPI from 0.16x keeps an included router's routes
    behind a wrapper of its own (``iter_route_contexts`` unwraps them); before, the app's
    routes were the routes themselves."""
    try:
        from fastapi.routing import iter_route_contexts  # not in every FastAPI
    except ImportError:
        return routes
    return iter_route_contexts(routes)


class Measure:
    """Counts and times every request by route and status, into
    ``switchboard_http_requests`` and ``switchboard_http_request_seconds``: the ingress's
    app and every other role's probes and scrapes (``router.health.ops_app``) alike.

    A plain ASGI middleware: Starlette's ``BaseHTTPMiddleware`` (``@app.middleware``) runs
    each request through an extra task and memory streams, which cost more than a web
    form's own work. The labelled metric children are looked up once per route."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self._telemetry = telemetry
        self._counters: dict[tuple[str, int], Any] = {}
        self._timers: dict[str, Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        root_path = scope.get("root_path", "")  # as routing found it: a mount changes it
        status = 500  # what the server answers when the app raises before answering

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self._record(route_label(scope, root_path), status, started)

    def _record(self, route: str, status: int, started: float) -> None:
        counter = self._counters.get((route, status))
        if counter is None:
            counter = self._telemetry.http_requests.labels(route, str(status))
            self._counters[route, status] = counter
        timer = self._timers.get(route)
        if timer is None:
            timer = self._timers[route] = self._telemetry.http_latency.labels(route)
        counter.inc()
        timer.observe(time.perf_counter() - started)
