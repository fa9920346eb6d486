"""The HTTP ingress app factory. The composition root builds the context and serves it."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

from channels import actions, chat, email, meta, twilio, voice, webform
from channels.deps import IngressContext
from channels.problems import install_handlers
from router.health import add_health_routes

RETRY_AFTER_S = 5


def create_app(ctx: IngressContext) -> FastAPI:
    app = FastAPI(
        title="Switchboard ingress",
        version="1",
        description="Channel adapters: every provider's input becomes one CloudEvent on Kafka.",
    )
    app.state.ingress = ctx
    install_handlers(app, RETRY_AFTER_S)
    for module in (email, chat, twilio, meta, voice, webform, actions):
        app.include_router(module.build_router())
    add_health_routes(app, ctx.telemetry, lambda: ctx.ready_checks)

    @app.middleware("http")
    async def measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        ctx.telemetry.http_requests.labels(route, str(response.status_code)).inc()
        ctx.telemetry.http_latency.labels(route).observe(time.perf_counter() - started)
        return response

    return app
