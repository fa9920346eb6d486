"""A stopping process waits for its roles to finish what they hold, then cancels what is
still running: a consumer that never joined its group (a broker whose group is stuck)
had kept a stopped process alive until it was killed."""

from __future__ import annotations

import asyncio
import time

import pytest
from structlog.testing import capture_logs

from router.app.roles import DRAIN_S, _drain, drain_s
from router.settings import Settings

pytestmark = pytest.mark.unit


async def test_a_role_still_running_after_the_drain_is_cancelled() -> None:
    async def stuck() -> None:
        await asyncio.Event().wait()  # a join that never completes

    async def quick() -> None:
        await asyncio.sleep(0.01)

    tasks = [asyncio.create_task(stuck(), name="timers"), asyncio.create_task(quick())]
    started = time.monotonic()
    with capture_logs() as logs:
        await _drain(tasks, 0.2)
    assert time.monotonic() - started < 2
    assert tasks[0].cancelled()
    assert not tasks[1].cancelled()
    [line] = [e for e in logs if e["event"] == "role_stop_timed_out"]
    assert line["tasks"] == ["timers"]


def test_the_drain_covers_what_each_role_may_wait_for() -> None:
    settings = Settings()
    assert drain_s(settings, {"router", "timers"}) == DRAIN_S
    assert drain_s(settings, {"ingress"}) >= settings.http_shutdown_timeout_s
    notifier = drain_s(settings, {"notifier"})
    assert notifier > settings.smtp_data_timeout_s + settings.smtp_timeout_s
