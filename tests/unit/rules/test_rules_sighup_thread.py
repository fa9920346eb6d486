"""A SIGHUP reload runs off the event loop: a large ruleset takes seconds to load, and
Kafka heartbeats and ``/healthz`` must keep being served meanwhile. One reload runs at a
time; SIGHUPs during it queue one more, not one each."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from structlog.testing import capture_logs

import rules.holder
from router.app.reload import install_sighup
from rules import RuleSet, RuleSetHolder

pytestmark = pytest.mark.unit

GOOD = "version: 1\nqueues: {general: {}, billing: {}}\ndefaults: {queue: general}\n"
BILLING = GOOD.replace("queue: general}", "queue: billing}")


class SlowLoader:
    """Stands in for the loader: each load waits until the test lets it go (at most 2 s,
    so code that loads on the loop fails instead of hanging)."""

    def __init__(self) -> None:
        self.inside = threading.Event()
        self.release = threading.Event()
        self.started = 0
        self.finished = 0
        self._load = rules.holder.load_ruleset

    def __call__(self, path: str | Path) -> RuleSet:
        self.started += 1
        self.inside.set()
        self.release.wait(timeout=2)
        try:
            return self._load(path)
        finally:
            self.finished += 1


@pytest.fixture
def holder(tmp_path: Path) -> RuleSetHolder:
    path = tmp_path / "rules.yaml"
    path.write_text(GOOD, encoding="utf-8")
    return RuleSetHolder(path)


@pytest.fixture
def slow(monkeypatch: pytest.MonkeyPatch) -> SlowLoader:
    loader = SlowLoader()
    monkeypatch.setattr(rules.holder, "load_ruleset", loader)
    return loader


@pytest.fixture
async def on_sighup(holder: RuleSetHolder) -> AsyncIterator[None]:
    loop = asyncio.get_running_loop()
    assert install_sighup(holder, loop)
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGHUP)


async def _wait_for(predicate: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.01)
    return False


@pytest.mark.usefixtures("on_sighup")
async def test_the_loop_keeps_serving_while_a_sighup_reload_loads(
    holder: RuleSetHolder, slow: SlowLoader
) -> None:
    ticks = 0

    async def ticking() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(ticking())
    try:
        holder.path.write_text(BILLING, encoding="utf-8")
        os.kill(os.getpid(), signal.SIGHUP)
        assert await _wait_for(slow.inside.is_set)
        before = ticks
        assert await _wait_for(lambda: ticks >= before + 5)
        assert slow.finished == 0, "the loop was stalled for the whole load"
        slow.release.set()
        assert await _wait_for(lambda: holder.current.defaults.queue == "billing")
    finally:
        slow.release.set()
        ticker.cancel()


@pytest.mark.usefixtures("on_sighup")
async def test_sighups_during_a_reload_queue_one_more(
    holder: RuleSetHolder, slow: SlowLoader
) -> None:
    os.kill(os.getpid(), signal.SIGHUP)
    assert await _wait_for(slow.inside.is_set)
    holder.path.write_text(BILLING, encoding="utf-8")
    with capture_logs() as logs:
        for _ in range(3):
            os.kill(os.getpid(), signal.SIGHUP)
        assert await _wait_for(lambda: [e["event"] for e in logs].count("rules.reload_queued") == 3)
    slow.release.set()
    assert await _wait_for(lambda: slow.finished == 2)
    assert holder.current.defaults.queue == "billing", "the queued reload read the new file"
    await asyncio.sleep(0.2)
    assert slow.started == 2, "one reload queued, not one per SIGHUP"
