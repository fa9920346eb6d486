"""Liveness, readiness and Prometheus routes, served by every role's HTTP port.

``/readyz`` answers within a fixed budget whatever the backends do: every check runs
concurrently with its own timeout, and results are kept for a moment, so a probe storm
or a hung broker costs at most one in-flight run per check, never a pile of them.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import structlog
from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import PlainTextResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.routing import Match
from starlette.types import Message, Receive, Scope, Send

from router.http_metrics import Measure
from router.observability import Telemetry

ReadyCheck = Callable[[], Awaitable[str | None] | str | None]
"""An async callable, or a plain sync "is it ready?" callable that must not block. Both
return None when ready (or a note, shown as ``ok (note)``: ready, but worth saying) and
raise when not (``NotReady`` for a reason in words)."""

CHECK_TIMEOUT_S = 1.0
CACHE_S = 1.0
OK = "ok"
TIMED_OUT = "failing: timeout"
MAX_REASON = 300


def ready(note: object = None) -> str:
    """A passing check's result: ``ok``, or ``ok (note)`` when it returned a note."""
    return f"{OK} ({note})" if isinstance(note, str) and note else OK


def is_ready(result: str) -> bool:
    return result == OK or result.startswith(f"{OK} (")


class NotReady(Exception):
    """Raised by a check to say why, in words shown as is on ``/readyz``."""


def describe(exc: BaseException) -> str:
    """A failing check as one short line: its reason, or the error's type and message."""
    text = str(exc).strip()
    if isinstance(exc, NotReady) and text:
        reason = text
    else:
        reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    if len(reason) > MAX_REASON:
        reason = reason[: MAX_REASON - 3] + "..."
    return f"failing: {reason}"


async def _outcome(awaitable: Awaitable[str | None]) -> str:
    try:
        note = await awaitable
    except Exception as exc:  # noqa: BLE001 - any failure means: not ready, and says why
        return describe(exc)
    return ready(note)


@dataclass(slots=True)
class _Entry:
    check: ReadyCheck
    result: str | None = None
    at: float = -math.inf
    task: asyncio.Task[str] | None = None
    deadline: float = math.inf
    abandoned: asyncio.Task[str] | None = None  # timed out, cancelled, still winding down


log = structlog.get_logger("switchboard.health")


class Readiness:
    """Evaluates a role's readiness checks within ``timeout_s``, reusing results younger
    than ``ttl_s``.

    A check still running at its deadline is cancelled and reported ``failing: timeout``;
    until its cancellation has finished, no second run of it is started.
    """

    def __init__(
        self,
        checks: Callable[[], Mapping[str, ReadyCheck]],
        *,
        timeout_s: float = CHECK_TIMEOUT_S,
        ttl_s: float = CACHE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._checks = checks
        self._timeout_s = timeout_s
        self._ttl_s = ttl_s
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._failing: set[str] = set()  # the checks that failed when last evaluated
        self._passed: set[str] = set()  # the checks that passed once: the start is over

    async def evaluate(self) -> dict[str, str]:
        """name -> ``ok`` (or ``ok (note)``) or ``failing: <reason>``, in the order the
        checks are listed."""
        current = dict(self._checks())
        for name in set(self._entries) - set(current):
            self._forget(self._entries.pop(name))
        waiting: list[_Entry] = []
        for name, check in current.items():
            entry = self._entries.get(name)
            if entry is None or entry.check is not check:
                if entry is not None:
                    self._forget(entry)
                entry = self._entries[name] = _Entry(check)
            if entry.result is not None and self._clock() - entry.at < self._ttl_s:
                continue
            if entry.task is None:
                self._start(entry)
            elif entry.deadline <= self._clock():  # a run nobody collected, or winding down
                self._collect(entry)
            if entry.task is not None and entry.deadline > self._clock():
                waiting.append(entry)
        if waiting:
            budget = max(e.deadline for e in waiting) - self._clock()
            tasks = {e.task for e in waiting if e.task is not None}
            await asyncio.wait(tasks, timeout=max(0.0, min(budget, self._timeout_s)))
            for entry in waiting:
                self._collect(entry)
        results = {name: self._entries[name].result or TIMED_OUT for name in current}
        self._log_changes(results)
        return results

    def _log_changes(self, results: Mapping[str, str]) -> None:
        """One line when a check starts failing and one when it passes again: a broker
        paused for seconds had turned ``/readyz`` 503 with no line in any log."""
        failing = {
            name
            for name, result in results.items()
            if not is_ready(result) and name in self._passed  # not a start still under way
        }
        self._passed |= {name for name, result in results.items() if is_ready(result)}
        for name in sorted(failing - self._failing):
            log.warning("not_ready", check=name, reason=results[name][:200])
        for name in sorted((self._failing - failing) & set(results)):
            log.info("ready_again", check=name)
        self._failing = failing

    def _start(self, entry: _Entry) -> None:
        try:
            maybe = entry.check()
        except Exception as exc:  # noqa: BLE001 - a sync check said no, in its own words
            self._finish(entry, describe(exc))
            return
        if not inspect.isawaitable(maybe):
            self._finish(entry, ready(maybe))
            return
        task = asyncio.ensure_future(_outcome(maybe))
        entry.task, entry.deadline = task, self._clock() + self._timeout_s

    def _collect(self, entry: _Entry) -> None:
        """Record the run's outcome; several concurrent probes may collect the same run."""
        task = entry.task
        if task is None:
            return
        if task.done():
            entry.task = entry.abandoned = None
            self._finish(entry, TIMED_OUT if task.cancelled() else task.result())
            return
        if entry.abandoned is not task:
            entry.abandoned = task
            task.cancel()
            task.add_done_callback(lambda _: self._release(entry, task))
        self._finish(entry, TIMED_OUT)

    def _finish(self, entry: _Entry, result: str) -> None:
        entry.result, entry.at = result, self._clock()

    @staticmethod
    def _release(entry: _Entry, task: asyncio.Task[str]) -> None:
        if entry.task is task:
            entry.task = entry.abandoned = None

    @staticmethod
    def _forget(entry: _Entry) -> None:
        if entry.task is not None:
            entry.task.cancel()


class HeadRoute(APIRoute):
    """A route whose ``GET`` answers ``HEAD`` too (RFC 9110, 9.1): the same status and
    headers, no body. Load balancers, uptime checks and scrapers may probe with HEAD.
    The operation is documented once, as its GET; a ``405`` names HEAD in ``Allow``
    wherever GET is (``channels.problems``)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and scope["method"] == "HEAD" and "GET" in (self.methods or ()):
            return super().matches({**scope, "method": "GET"})
        return super().matches(scope)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "HEAD" and "GET" in (self.methods or ()):
            await super().handle({**scope, "method": "GET"}, receive, headers_only(send))
        else:
            await super().handle(scope, receive, send)


def headers_only(send: Send) -> Send:
    """``send``, without the body: what a HEAD is answered."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return sending


class ReadyBody(BaseModel):
    """What ``/readyz`` answers, 200 or 503 alike: a probe reads the status, an operator
    the checks."""

    status: Literal["ready", "not ready"]
    checks: dict[str, str] = Field(
        description='Per check: "ok", "ok (note)" or "failing: <reason>".'
    )


def add_health_routes(
    app: FastAPI,
    telemetry: Telemetry,
    checks: Callable[[], Mapping[str, ReadyCheck]],
    *,
    timeout_s: float = CHECK_TIMEOUT_S,
    ttl_s: float = CACHE_S,
) -> Readiness:
    readiness = Readiness(checks, timeout_s=timeout_s, ttl_s=ttl_s)
    router = APIRouter(tags=["operations"], route_class=HeadRoute)

    @router.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        summary="Readiness: Kafka, Redis, rules loaded",
        description=f"Each check runs with a {timeout_s:g} s timeout, all at once; results "
        f"are reused for {ttl_s:g} s. 503 when any check fails.",
        responses={
            200: {"model": ReadyBody, "description": "Every check passed"},
            503: {"model": ReadyBody, "description": "A check failed; `checks` says which"},
        },
    )
    async def readyz() -> Response:
        results = await readiness.evaluate()
        ok = all(is_ready(v) for v in results.values())
        body: dict[str, Any] = {"status": "ready" if ok else "not ready", "checks": results}
        return Response(orjson.dumps(body), 200 if ok else 503, media_type="application/json")

    @router.get(
        "/metrics",
        summary="Prometheus text format",
        response_class=PlainTextResponse,
        responses={200: {"description": "Prometheus text exposition format, version 0.0.4"}},
    )
    async def metrics() -> Response:
        return Response(telemetry.render(), media_type="text/plain; version=0.0.4")

    app.include_router(router)
    return readiness


def ops_app(telemetry: Telemetry, checks: Callable[[], Mapping[str, ReadyCheck]]) -> FastAPI:
    """The HTTP surface of a role without ingress (router, metrics): probes and metrics."""
    app = FastAPI(title="Switchboard", docs_url=None, redoc_url=None)
    add_health_routes(app, telemetry, checks)
    app.add_middleware(Measure, telemetry=telemetry)
    return app
