"""/readyz answers within a fixed budget: checks run at once, each with a timeout, and
their results are reused for a moment."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from structlog.testing import capture_logs

from router.health import CHECK_TIMEOUT_S, NotReady, Readiness, ReadyCheck, ops_app
from router.observability import Telemetry

pytestmark = pytest.mark.unit


async def probe(checks: dict[str, ReadyCheck]) -> tuple[httpx.Response, float]:
    app = ops_app(Telemetry(), lambda: checks)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://ops"
    ) as client:
        started = time.monotonic()
        resp = await client.get("/readyz")
        return resp, time.monotonic() - started


async def test_hanging_checks_answer_503_within_the_budget() -> None:
    hung = asyncio.Event()

    async def hangs() -> None:
        await hung.wait()

    async def also_hangs() -> None:
        await hung.wait()

    async def fine() -> None:
        return None

    checks = {"kafka": hangs, "redis": also_hangs, "topics": hangs, "rules": fine}
    resp, took = await probe(checks)
    assert resp.status_code == 503
    # one after another, three hanging checks would take three timeouts; at once, one
    # (the margin is for a loaded machine, where the loop may wait for the CPU)
    assert took < 2.5 * CHECK_TIMEOUT_S, "checks run concurrently, each within its timeout"
    assert took >= CHECK_TIMEOUT_S * 0.9
    assert resp.json() == {
        "status": "not ready",
        "checks": {
            "kafka": "failing: timeout",
            "redis": "failing: timeout",
            "topics": "failing: timeout",
            "rules": "ok",
        },
    }


async def test_sync_checks_and_reasons() -> None:
    def joined() -> None:
        return None

    def not_joined() -> None:
        raise NotReady("consumers have not joined their groups")

    def broken() -> None:
        raise ValueError("bad")

    async def refused() -> None:
        raise ConnectionRefusedError

    resp, _ = await probe({"joined": joined, "groups": not_joined, "odd": broken, "redis": refused})
    assert resp.status_code == 503
    assert resp.json()["checks"] == {
        "joined": "ok",
        "groups": "failing: consumers have not joined their groups",
        "odd": "failing: ValueError: bad",
        "redis": "failing: ConnectionRefusedError",
    }
    resp, _ = await probe({"joined": joined})
    assert resp.status_code == 200
    assert resp.json() == {"status": "ready", "checks": {"joined": "ok"}}


async def test_results_are_reused_within_the_cache_window() -> None:
    now = [100.0]
    calls = {"async": 0, "sync": 0}

    async def counted() -> None:
        calls["async"] += 1

    def counted_sync() -> None:
        calls["sync"] += 1

    readiness = Readiness(
        lambda: {"a": counted, "s": counted_sync}, ttl_s=1.0, clock=lambda: now[0]
    )
    for _ in range(3):
        assert await readiness.evaluate() == {"a": "ok", "s": "ok"}
        now[0] += 0.3
    assert calls == {"async": 1, "sync": 1}
    now[0] += 0.2  # 1.1 s after the first run
    await readiness.evaluate()
    assert calls == {"async": 2, "sync": 2}


async def test_concurrent_probes_share_one_run() -> None:
    calls = 0

    async def slow() -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.2)

    readiness = Readiness(lambda: {"slow": slow})
    results = await asyncio.gather(*(readiness.evaluate() for _ in range(5)))
    assert results == [{"slow": "ok"}] * 5
    assert calls == 1


async def test_a_run_that_winds_down_slowly_is_not_started_twice() -> None:
    calls = 0
    wound_down = asyncio.Event()

    async def stubborn() -> None:
        nonlocal calls
        calls += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await asyncio.sleep(0.6)  # e.g. closing a client on a hung connection
            wound_down.set()
            raise

    readiness = Readiness(lambda: {"kafka": stubborn}, timeout_s=0.5, ttl_s=0.1)
    assert await readiness.evaluate() == {"kafka": "failing: timeout"}
    await asyncio.sleep(0.15)  # past the cache window, the first run still winding down
    started = time.monotonic()
    assert await readiness.evaluate() == {"kafka": "failing: timeout"}
    assert time.monotonic() - started < 0.25, "answered at once, nothing new to wait for"
    assert calls == 1
    await asyncio.wait_for(wound_down.wait(), 2)
    wound_down.clear()
    await asyncio.sleep(0.01)  # the done callback releases the run
    assert await readiness.evaluate() == {"kafka": "failing: timeout"}
    assert calls == 2, "once the first run is gone, the next probe tries again"
    await asyncio.wait_for(wound_down.wait(), 2)  # leave no task behind


async def test_a_check_removed_from_the_registry_is_dropped() -> None:
    checks: dict[str, ReadyCheck] = {}

    def ready() -> None:
        return None

    readiness = Readiness(lambda: checks)
    assert await readiness.evaluate() == {}
    checks["late"] = ready
    assert await readiness.evaluate() == {"late": "ok"}
    del checks["late"]
    assert await readiness.evaluate() == {}


async def test_a_check_that_starts_failing_and_passes_again_is_logged_once_each() -> None:
    """A broker paused for seconds had turned /readyz 503 with no line in any log."""
    now = [100.0]
    down = [False]

    def kafka() -> None:
        if down[0]:
            raise NotReady("broker not answering")

    readiness = Readiness(lambda: {"kafka": kafka}, ttl_s=0.0, clock=lambda: now[0])
    with capture_logs() as logs:
        down[0] = True
        await readiness.evaluate()  # a start still under way: not worth a line
        down[0] = False
        await readiness.evaluate()
        down[0] = True
        for _ in range(3):  # probed again and again while it fails: one line
            await readiness.evaluate()
        down[0] = False
        await readiness.evaluate()
        await readiness.evaluate()
    assert [(e["event"], e["check"]) for e in logs] == [
        ("not_ready", "kafka"),
        ("ready_again", "kafka"),
    ]
    assert "broker not answering" in logs[0]["reason"]
