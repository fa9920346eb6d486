"""Handle time is summed exactly: three replies of 0.4 s, 2.5 s and 0.4 s are 3.3 s of
work (the ticket snapshot's ``handle_seconds``), not 2 s (each rounded, 2.5 to even).
The metrics role on the real valkey, its ``/metrics`` counters and ``metrics verify``'s
recount all agree; a window an older version counted whole seconds into keeps them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from router.app.recount import Recount
from router.app.verify import Period, Published, compare
from router.events import iso
from router.keys import Keys
from router.observability import Telemetry
from router.redis import RedisClient
from router.settings import Settings
from tests.component.cli.test_metrics_verify import ev
from tests.component.state.test_metric_windows import Role

pytestmark = pytest.mark.component

NOW = datetime(2026, 12, 5, 5, 3, 30, tzinfo=UTC)
KEY = f"workload/{iso(NOW.replace(second=0))}/channel=chat,queue=general"
REPLIES = [
    ev(n, "responded", NOW, handle_seconds=seconds, response=None)
    for n, seconds in enumerate([0.4, 2.5, 0.4], start=1)
]


def latest(role: Role) -> dict[str, Any]:
    return role.published(KEY)[-1][1]


async def test_handle_times_with_fractions_sum_exactly(
    redis: RedisClient, settings: Settings
) -> None:
    telemetry = Telemetry()
    role = Role(redis, settings, telemetry)
    await role.handle(*REPLIES)
    await role.handle(*REPLIES)  # redelivered: counted once

    record = latest(role)
    assert (record["counters"]["handled"], record["counters"]["handle_seconds_sum"]) == (3, 3)
    assert "handle_ms_sum" not in record["counters"]
    assert record["values"]["aht_seconds"] == pytest.approx(1.1)

    labels = {"metric": "workload", "counter": "handle_seconds_sum", "queue": "general"}
    exposed = telemetry.registry.get_sample_value(
        "switchboard_metric_total", {**labels, "channel": "chat", "target": ""}
    )
    assert exposed == pytest.approx(3.3)
    histogram_sum = telemetry.registry.get_sample_value(
        "switchboard_handle_seconds_sum", {"queue": "general"}
    )
    assert histogram_sum == pytest.approx(3.3)


async def test_metrics_verify_agrees_with_the_exact_sum(
    redis: RedisClient, settings: Settings
) -> None:
    role = Role(redis, settings)
    await role.handle(*REPLIES)
    recount = Recount(60)
    for event in REPLIES:
        recount.add_record(orjson.dumps(event), 0)
    published = Published()
    for record in role.sent:
        published.add_record(record.key_bytes, record.value)
    differences, recounted, found = compare(
        recount.windows,
        published.windows(),
        Period(NOW - timedelta(hours=1), NOW + timedelta(hours=1)),
    )
    assert differences == []
    assert recounted == found == 1


async def test_whole_seconds_an_older_version_counted_are_kept(
    redis: RedisClient, settings: Settings
) -> None:
    """A window counted by a version that stored whole seconds under
    ``handle_seconds_sum``: its seconds are added to the milliseconds counted since,
    not read as milliseconds."""
    role = Role(redis, settings)
    await role.handle(REPLIES[0])
    window = Keys(settings.topic_prefix).metric_window(KEY)
    await redis.hincrby(window, "c:handle_seconds_sum", 10)  # as the older version did
    await role.handle(REPLIES[1], REPLIES[2])
    record = latest(role)
    assert (record["counters"]["handled"], record["counters"]["handle_seconds_sum"]) == (3, 13)
    assert record["values"]["aht_seconds"] == pytest.approx(13.3 / 3)


async def test_a_call_reported_in_two_parts_is_one_observation_of_handle_time(
    redis: RedisClient, settings: Settings
) -> None:
    """Talk time at ``answered`` and wrap-up at ``ended`` are one handled call: the
    histogram counts it once, as the workload records do, so its count is ``handled``."""
    telemetry = Telemetry()
    role = Role(redis, settings, telemetry)
    talk = ev(1, "message_added", NOW, handle_seconds=60, handled=True)
    wrap = ev(2, "message_added", NOW, handle_seconds=30, handled=False)
    await role.handle(talk, wrap)

    record = latest(role)
    assert (record["counters"]["handled"], record["counters"]["handle_seconds_sum"]) == (1, 90)
    observed = telemetry.registry.get_sample_value(
        "switchboard_handle_seconds_count", {"queue": "general"}
    )
    assert observed == 1
