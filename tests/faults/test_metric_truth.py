"""Metric truth at the scale of a busy day: the metrics role counts a day of lifecycle
records (replies, resolutions, reopens, transfers, postponements, feedback, late events
and redeliveries), is ``kill -9``ed in the middle and restarted, and the compacted metric
topics then equal an independent recount (``switchboard metrics verify``) key by key."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from router.app.verify import Period, verify
from router.topics import Topic
from tests.faults.busyday import DAY, busy_day, write_day
from tests.faults.harness import Deployment, Scale, committed, wait_consumed, wait_until

pytestmark = pytest.mark.faults
SCALE = Scale.from_env()


@pytest.mark.slow
@pytest.mark.timeout(2400 if SCALE.large else 300)  # the 100,000-ticket day takes minutes
async def test_a_busy_day_counted_through_a_kill_9_equals_the_recount(
    deployment: Deployment, scale: Scale
) -> None:
    # make test: 1,500 tickets (~8k records), inside make test's time budget (a restarted
    # member waits ~20 s for the group to drop the killed one, whatever the size);
    # make faults: the full 100,000 (~530k records).
    tickets = scale.pick(1_500, 100_000)
    settings = deployment.settings()
    day = busy_day(tickets)
    ends = await write_day(settings, day)
    total = sum(ends.values())

    async def progress() -> int:
        offsets = await committed(settings, "metrics", Topic.TICKETS)
        return sum(max(0, o) for o in offsets.values())

    metrics = deployment.spawn("metrics", env={"SWITCHBOARD_KAFKA_MAX_POLL_RECORDS": "200"})

    async def under_way() -> bool:
        assert metrics.returncode is None, metrics.describe()
        return await progress() >= total // 3

    await wait_until(under_way, scale.pick(90, 600), "a third of the day counted")
    metrics.kill9()  # mid-stream
    at_kill = await progress()
    assert at_kill < total, "the kill must land mid-stream for this test to mean much"

    killed = time.monotonic()
    again = deployment.spawn("metrics")

    await wait_consumed(settings, "metrics", Topic.TICKETS, ends, scale.pick(120, 1800))
    assert again.returncode is None, again.describe()
    recovered_s = time.monotonic() - killed

    result = await verify(settings, Period(DAY, DAY + timedelta(days=3)))
    shown = "\n".join(str(d) for d in result.differences[:25])
    assert result.ok, f"{len(result.differences)} differences:\n{shown}"
    assert result.events == day.events
    assert result.duplicates == day.redelivered
    assert result.windows_recounted > 0
    assert result.windows_recounted == result.windows_found
    print(  # the figures of the closing note, shown with -s
        f"busy day: {tickets} tickets, {len(day.records)} records ({day.redelivered} "
        f"redelivered, {day.late} late), killed at {at_kill}/{total} committed, caught up "
        f"{recovered_s:.1f}s after the kill, {result.windows_recounted} windows, 0 differences"
    )
