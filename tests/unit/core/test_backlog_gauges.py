"""The waiting line is on ``/metrics`` beside the open count: ``waiting`` and the age of
the oldest wait per queue, set from the same snapshot the workload metric publishes."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis

from consumers.metrics import MetricsHandler
from consumers.state.counters import Gauges, WindowState
from router.observability import Telemetry
from router.topics import OutRecord

pytestmark = pytest.mark.unit

NOW = 1_700_000_000.0


class FixedBacklog:
    async def gauges(self, now: float) -> dict[str, dict[str, int]]:
        assert now == NOW
        return {
            "billing": {"open": 3, "waiting": 2, "oldest_waiting_seconds": 95},
            "general": {"open": 1, "waiting": 0, "oldest_waiting_seconds": 0},
        }


class MemoryCounters:
    """Just enough of ``WindowCounters`` for a tick with nothing else to publish."""

    def __init__(self) -> None:
        self.gauges: list[Gauges] = []

    async def lead(self, _owner: str, _hold_s: float) -> bool:
        return True  # the one metrics process publishes

    async def dirty(self) -> dict[str, str]:
        return {}

    async def due(self, _horizon: float) -> list[str]:
        return []

    async def claim_snapshot(self, _window: str) -> bool:
        return True  # the first process to tick in the window

    async def set_gauges(self, windows: list[Gauges]) -> None:
        self.gauges.extend(windows)

    async def revise(self, windows: list[str], *, final: bool) -> list[WindowState | None]:
        by_key = {g.window: g for g in self.gauges}
        return [
            WindowState(meta=by_key[w].meta, counters=by_key[w].values, revision=1, final=final)
            for w in windows
        ]

    async def sent(self, _states: dict[str, WindowState]) -> None:
        pass


async def test_backlog_waiting_gauges_are_scraped() -> None:
    telemetry = Telemetry()
    sent: list[OutRecord] = []

    async def send(records: list[OutRecord]) -> None:
        sent.extend(records)

    handler = MetricsHandler(
        aioredis.Redis(),  # never reached: the stores below stand in for it
        send,
        [],
        window_s=60,
        lateness_s=3600,
        ttl_s=3600,
        telemetry=telemetry,
        clock=lambda: NOW,
    )
    stores: dict[str, Any] = {"_backlog": FixedBacklog(), "_counters": MemoryCounters()}
    for name, store in stores.items():
        setattr(handler, name, store)
    await handler.tick()

    scraped = telemetry.render().decode()
    assert 'switchboard_backlog_open{queue="billing"} 3.0' in scraped
    assert 'switchboard_backlog_waiting{queue="billing"} 2.0' in scraped
    assert 'switchboard_backlog_oldest_waiting_seconds{queue="billing"} 95.0' in scraped
    assert 'switchboard_backlog_waiting{queue="general"} 0.0' in scraped
    assert 'switchboard_backlog_oldest_waiting_seconds{queue="general"} 0.0' in scraped
    assert len(sent) == 2  # the same snapshot went to the workload topic


class GrowingBacklog:
    """No queue known at the window's first tick; the first ticket arrives a tick later."""

    def __init__(self) -> None:
        self.seen: dict[str, dict[str, int]] = {}

    async def gauges(self, _now: float) -> dict[str, dict[str, int]]:
        return dict(self.seen)


async def test_a_window_whose_first_tick_saw_no_queue_still_gets_its_snapshot() -> None:
    """The first tickets came seconds into the window: the window still gets its backlog
    record, rather than a gap until the next window."""
    sent: list[OutRecord] = []

    async def send(records: list[OutRecord]) -> None:
        sent.extend(records)

    handler = MetricsHandler(
        aioredis.Redis(), send, [], window_s=60, lateness_s=3600, ttl_s=3600, clock=lambda: NOW
    )
    backlog = GrowingBacklog()
    stores: dict[str, Any] = {"_backlog": backlog, "_counters": MemoryCounters()}
    for name, store in stores.items():
        setattr(handler, name, store)
    await handler.tick()
    assert sent == []
    backlog.seen["general"] = {"open": 1, "waiting": 1, "oldest_waiting_seconds": 2}
    await handler.tick()  # the same window
    assert len(sent) == 1
