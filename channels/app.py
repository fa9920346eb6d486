"""The HTTP ingress app factory. The composition root builds the context and serves it."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import orjson
from fastapi import FastAPI, Request, Response

from channels import webform
from channels.deps import IngressContext
from channels.problems import install_handlers

RETRY_AFTER_S = 5


def create_app(ctx: IngressContext) -> FastAPI:
    app = FastAPI(
        title="Switchboard ingress",
        version="1",
        description="Channel adapters: every provider's input becomes one CloudEvent on Kafka.",
    )
    app.state.ingress = ctx
    install_handlers(app, RETRY_AFTER_S)
    for module in (webform,):
        app.include_router(module.build_router())
    _health_routes(app, ctx)

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


def _health_routes(app: FastAPI, ctx: IngressContext) -> None:
    @app.get("/healthz", tags=["operations"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="Readiness: Kafka, Redis, rules")
    async def readyz() -> Response:
        checks: dict[str, str] = {}
        for name, check in ctx.ready_checks.items():
            try:
                await check()
                checks[name] = "ok"
            except Exception as exc:
                checks[name] = f"failing: {type(exc).__name__}"
        ok = all(v == "ok" for v in checks.values())
        body = {"status": "ready" if ok else "not ready", "checks": checks}
        return Response(orjson.dumps(body), 200 if ok else 503, media_type="application/json")

    @app.get("/metrics", tags=["operations"], summary="Prometheus text format")
    async def metrics() -> Response:
        return Response(ctx.telemetry.render(), media_type="text/plain; version=0.0.4")
