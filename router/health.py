"""Liveness, readiness and Prometheus routes, served by every role's HTTP port."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from fastapi import FastAPI, Response

from router.observability import Telemetry

ReadyCheck = Callable[[], Awaitable[None]]


def add_health_routes(
    app: FastAPI, telemetry: Telemetry, checks: Callable[[], dict[str, ReadyCheck]]
) -> None:
    @app.get("/healthz", tags=["operations"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="Readiness: Kafka, Redis, rules loaded")
    async def readyz() -> Response:
        results: dict[str, str] = {}
        for name, check in checks().items():
            try:
                await check()
                results[name] = "ok"
            except Exception as exc:  # any failure means: not ready
                results[name] = f"failing: {type(exc).__name__}"
        ok = all(v == "ok" for v in results.values())
        body = {"status": "ready" if ok else "not ready", "checks": results}
        return Response(orjson.dumps(body), 200 if ok else 503, media_type="application/json")

    @app.get("/metrics", tags=["operations"], summary="Prometheus text format")
    async def metrics() -> Response:
        return Response(telemetry.render(), media_type="text/plain; version=0.0.4")


def ops_app(telemetry: Telemetry, checks: Callable[[], dict[str, ReadyCheck]]) -> FastAPI:
    """The HTTP surface of a role without ingress (router, metrics): probes and metrics."""
    app = FastAPI(title="Switchboard", docs_url=None, redoc_url=None)
    add_health_routes(app, telemetry, checks)
    return app
