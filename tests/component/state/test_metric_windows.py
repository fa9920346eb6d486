"""The metrics role's records as a reader of the compacted topics sees them, on the real
valkey with a fixed clock: a revision is published only when the window changed (and
once more as final when its lateness passes), the backlog snapshot is taken once per
window across processes, and keys escape what would make them ambiguous."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiokafka import ConsumerRecord

from consumers.domain.windows import CONTRIBUTORS, HANDLE_MS, Contribution, Contributor
from consumers.metrics import MetricsHandler
from router.events import iso
from router.observability import Telemetry
from router.redis import RedisClient
from router.settings import Settings
from router.topics import OutRecord
from router.vocabulary import EventType
from tests.component.cli.test_metrics_verify import ev

pytestmark = pytest.mark.component

NOW = datetime(2026, 12, 5, 5, 3, 30, tzinfo=UTC)
LATENESS_S = 180


class Role:
    """One metrics process: its handler, the clock it reads and what it published."""

    def __init__(
        self,
        redis: RedisClient,
        settings: Settings,
        telemetry: Telemetry | None = None,
        contributors: Sequence[Contributor] = CONTRIBUTORS,
    ) -> None:
        self.now = NOW
        self.sent: list[OutRecord] = []

        async def send(records: list[OutRecord]) -> None:
            self.sent.extend(records)

        self.handler = MetricsHandler(
            redis,
            send,
            list(contributors),
            window_s=60,
            lateness_s=LATENESS_S,
            ttl_s=3600,
            prefix=settings.topic_prefix,
            clock=self.clock,
            telemetry=telemetry,
        )

    def clock(self) -> float:
        return self.now.timestamp()

    async def handle(self, *events: dict[str, Any]) -> None:
        records = []
        for offset, event in enumerate(events):
            raw = orjson.dumps(event)
            ms = int(self.now.timestamp() * 1000)
            records.append(
                ConsumerRecord("tickets", 0, offset, ms, 0, b"T-1", raw, None, 3, len(raw), ())
            )
        await self.handler.handle(records)

    def published(self, prefix: str) -> list[tuple[str, dict[str, Any]]]:
        """(key, record) of every record whose key starts with ``prefix``, in order."""
        return [
            (r.key, orjson.loads(r.value or b""))
            for r in self.sent
            if isinstance(r.key, str) and r.key.startswith(prefix)
        ]


def shown(records: list[tuple[str, dict[str, Any]]]) -> list[tuple[int, bool, int]]:
    """(revision, final, created) of each record."""
    return [(r["revision"], r["final"], r["counters"]["created"]) for _, r in records]


async def test_a_window_opened_after_its_lateness_is_published_once_as_final(
    redis: RedisClient, settings: Settings
) -> None:
    """A chat sent an hour ago (lateness 180 s): its window is already past its lateness,
    so its one record says ``final: true``; the next tick has nothing new to say."""
    role = Role(redis, settings)
    hour_ago = NOW - timedelta(hours=1)
    await role.handle(ev(1, "created", hour_ago))
    await role.handler.tick()
    key = f"workload/{iso(hour_ago.replace(second=0))}/channel=chat,queue=general"
    assert shown(role.published(key)) == [(1, True, 1)]


async def test_a_late_event_into_a_final_window_is_one_more_final_revision(
    redis: RedisClient, settings: Settings
) -> None:
    role = Role(redis, settings)
    await role.handle(ev(1, "created", NOW))
    role.now = NOW + timedelta(seconds=60 + LATENESS_S + 1)
    await role.handler.tick()  # the lateness passed: once more, final
    await role.handle(ev(2, "created", NOW))  # a late event
    await role.handler.tick()
    await role.handler.tick()
    key = f"workload/{iso(NOW.replace(second=0))}/channel=chat,queue=general"
    assert shown(role.published(key)) == [(1, False, 1), (2, True, 1), (3, True, 2)]


async def test_a_redelivered_record_gives_its_windows_no_new_revision_and_no_second_final(
    redis: RedisClient, settings: Settings
) -> None:
    """A router re-publishing after a crash sends the same record (same id) again: it is
    not counted, and its windows, open or already final, are not sent again saying the
    same; a reader acting on ``final`` had seen a second one after every crash."""
    role = Role(redis, settings)
    await role.handle(ev(1, "created", NOW))
    await role.handler.tick()
    await role.handle(ev(1, "created", NOW))  # redelivered while the window is open
    await role.handler.tick()
    role.now = NOW + timedelta(seconds=60 + LATENESS_S + 1)
    await role.handler.tick()  # the lateness passed: once more, final
    await role.handle(ev(1, "created", NOW))  # redelivered after the final
    await role.handler.tick()
    await role.handler.tick()
    key = f"workload/{iso(NOW.replace(second=0))}/channel=chat,queue=general"
    assert shown(role.published(key)) == [(1, False, 1), (2, True, 1)]


async def test_a_publisher_taking_over_mid_window_does_not_snapshot_the_backlog_again(
    redis: RedisClient, settings: Settings
) -> None:
    """Two processes: the one holding the publisher's lease snapshots the backlog once per
    window. When it stops, the other takes over in the same window: the snapshot was
    taken, so no second revision of the gauges; it snapshots the next window."""
    first, second = Role(redis, settings), Role(redis, settings)
    await first.handle(ev(1, "created", NOW))
    await first.handler.tick()
    gauges = f"workload/{iso(NOW.replace(second=0))}/queue=general"
    assert [r["counters"]["open"] for _, r in first.published(gauges)] == [1]

    another = ev(2, "created", NOW)
    another["data"]["ticket"]["id"] = "T-2"
    await second.handle(another)  # the backlog moved within the window
    await second.handler.tick()
    assert second.sent == []  # counted, not published: the first holds the lease
    await first.handler.close()  # stops: the lease is let go at once
    await second.handler.tick()
    assert second.published(gauges) == []
    assert len(first.published(gauges)) == 1
    created = f"workload/{iso(NOW.replace(second=0))}/channel=chat,queue=general"
    assert shown(second.published(created)) == [(2, False, 2)]

    second.now = NOW + timedelta(seconds=60)
    await second.handler.tick()
    following = f"workload/{iso(second.now.replace(second=0))}/queue=general"
    assert [r["counters"]["open"] for _, r in second.published(following)] == [2]


async def test_a_process_that_measured_a_window_while_another_led_publishes_it_on_taking_over(
    redis: RedisClient, settings: Settings
) -> None:
    """The publisher snapshots 05:03. At 05:04 the other process measures the backlog for
    its own ``/metrics``, then the publisher stops: the other takes over within 05:04 and
    publishes that window's snapshot. It had taken the window for done once measured, so
    the window of the failover had no backlog record."""
    first, second = Role(redis, settings), Role(redis, settings)
    await first.handle(ev(1, "created", NOW))
    await first.handler.tick()
    first.now = second.now = NOW + timedelta(seconds=30)  # 05:04:00
    await second.handler.tick()  # the first leads: gauges on its /metrics only
    assert second.sent == []
    await first.handler.close()
    second.now += timedelta(seconds=5)
    await second.handler.tick()  # takes over
    gauges = f"workload/{iso(second.now.replace(second=0))}/queue=general"
    assert [r["counters"]["open"] for _, r in second.published(gauges)] == [1]
    assert first.published(gauges) == []


async def test_a_dimension_value_with_separators_is_escaped_in_the_key_only(
    redis: RedisClient, settings: Settings
) -> None:
    role = Role(redis, settings)
    await role.handle(ev(1, "resolved", NOW, agent_id="x/y,z=1"))
    [(key, record)] = role.published("fcr/")
    assert key == f"fcr/{iso(NOW.replace(second=0))}/agent=x%2Fy%2Cz%3D1,channel=chat,queue=general"
    assert record["dimensions"]["agent"] == "x/y,z=1"


async def test_a_lifecycle_record_without_its_ticket_is_dead_lettered_not_counted(
    redis: RedisClient, settings: Settings
) -> None:
    """Every lifecycle record carries the ticket (contract section 7): one written by
    something else without it is parked, not counted under made-up dimensions."""
    role = Role(redis, settings)
    bare = {**ev(1, "created", NOW), "data": {}}
    await role.handle(bare, ev(2, "created", NOW))
    await role.handler.tick()
    parked = [r for r in role.sent if r.topic.value == "deadletter"]
    assert len(parked) == 1
    records = [
        orjson.loads(r.value or b"") for r in role.sent if r.key_bytes.startswith(b"workload/")
    ]
    counted = [c for c in records if "channel" in c["dimensions"]]  # not the backlog's
    assert {tuple(sorted(c["dimensions"].items())) for c in counted} == {
        (("channel", "chat"), ("queue", "general"))
    }
    assert max(c["counters"].get("created", 0) for c in counted) == 1


async def test_response_times_are_observed_once_per_reply_by_every_process(
    redis: RedisClient, settings: Settings
) -> None:
    """``switchboard_response_seconds``: a first reply after 1.5 business hours and a next
    one after 2 days, each observed once, however often its record is delivered (again
    here, and to another process after a rebalance); summed over processes, exact."""
    one, other = Telemetry(), Telemetry()
    first, second = Role(redis, settings, one), Role(redis, settings, other)
    quick = ev(1, "responded", NOW, response="first", business_seconds=5400.0)
    slow = ev(2, "responded", NOW, response="next", business_seconds=172_800.0)
    await first.handle(quick, slow)
    await first.handle(quick)
    await second.handle(quick, slow)

    def sample(telemetry: Telemetry, name: str, target: str, **more: str) -> float:
        labels = {"target": target, "queue": "general", "channel": "chat", **more}
        return telemetry.registry.get_sample_value(name, labels) or 0.0

    count = "switchboard_response_seconds_count"
    assert sample(one, count, "first_response") + sample(other, count, "first_response") == 1
    assert sample(one, count, "next_response") + sample(other, count, "next_response") == 1
    bucket = "switchboard_response_seconds_bucket"
    assert sample(one, bucket, "first_response", le="3600.0") == 0
    assert sample(one, bucket, "first_response", le="7200.0") == 1
    assert sample(one, bucket, "next_response", le="86400.0") == 0
    assert sample(one, bucket, "next_response", le="172800.0") == 1


async def test_every_counter_of_a_metric_is_scraped_from_its_first_count(
    redis: RedisClient, settings: Settings
) -> None:
    """A window's record names every counter of its metric, 0 when nothing counted it:
    ``/metrics`` shows the same series, so a ratio (breached over created, satisfied over
    responses) is 0, not "no data", before its first increment."""
    telemetry = Telemetry()
    role = Role(redis, settings, telemetry)
    await role.handle(ev(1, "created", NOW))
    scraped = telemetry.render().decode()
    series = 'switchboard_metric_total{channel="chat",counter="%s",metric="workload",'
    assert series % "created" + 'queue="general",target=""} 1.0' in scraped
    for counter in ("resolved", "reopened", "escalated", "handled", "handle_seconds_sum"):
        assert series % counter + 'queue="general",target=""} 0.0' in scraped


async def test_a_negative_handle_time_counts_nothing_and_its_batch_counts_on_metrics(
    redis: RedisClient, settings: Settings
) -> None:
    """Another producer's reply with ``handle_seconds: -5``, in a batch with a creation
    and a resolution: no handled item, no AHT of -5 s. It had counted both, then
    Prometheus refused to count down after Redis had counted the batch, and the retry
    found it all counted: the creation and resolution never reached ``/metrics``."""
    telemetry = Telemetry()
    role = Role(redis, settings, telemetry)
    reply = ev(1, "responded", NOW, response="first", within_sla=True, handle_seconds=-5)
    await role.handle(reply, ev(2, "created", NOW), ev(3, "resolved", NOW, first_contact=True))
    key = f"workload/{iso(NOW.replace(second=0))}/channel=chat,queue=general"
    [(_, record)] = role.published(key)
    assert record["counters"]["handled"] == record["counters"]["handle_seconds_sum"] == 0
    assert record["values"]["aht_seconds"] is None

    def scraped(counter: str) -> float | None:
        labels = {"metric": "workload", "counter": counter, "queue": "general"}
        return telemetry.registry.get_sample_value(
            "switchboard_metric_total", {**labels, "channel": "chat", "target": ""}
        )

    assert [scraped(c) for c in ("created", "resolved", "handled")] == [1.0, 1.0, 0.0]


def counts_down(event_type: str, data: dict[str, Any]) -> list[Contribution]:
    """A contributor with a bug: T-2's creation takes 5 s of handle time back."""
    if event_type != EventType.TICKET_CREATED or data["ticket"]["id"] != "T-2":
        return []
    return [Contribution("workload", {"queue": "general", "channel": "chat"}, HANDLE_MS, -5000)]


async def test_an_event_that_would_count_down_is_dead_lettered_and_its_batch_counts_on_metrics(
    redis: RedisClient, settings: Settings
) -> None:
    """Prometheus counters only go up. Such a count had been refused by Prometheus after
    Redis had counted the whole batch: the batch failed, its retry found every count
    made, and none of it reached ``/metrics``. Now the event is dead-lettered before
    anything of it is counted, and the rest of its batch counts in both."""
    telemetry = Telemetry()
    role = Role(redis, settings, telemetry, [*CONTRIBUTORS, counts_down])
    other = ev(2, "created", NOW)
    other["data"]["ticket"]["id"] = "T-2"
    await role.handle(ev(1, "created", NOW), other, ev(3, "resolved", NOW))
    assert [r.topic.value for r in role.sent].count("deadletter") == 1
    key = f"workload/{iso(NOW.replace(second=0))}/channel=chat,queue=general"
    [(_, record)] = role.published(key)
    counters = record["counters"]
    assert (counters["created"], counters["resolved"], counters["handle_seconds_sum"]) == (1, 1, 0)
    labels = {"metric": "workload", "queue": "general", "channel": "chat", "target": ""}
    scraped = [
        telemetry.registry.get_sample_value(
            "switchboard_metric_total", {**labels, "counter": counter}
        )
        for counter in ("created", "resolved")
    ]
    assert scraped == [1.0, 1.0]
