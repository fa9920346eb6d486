"""Two metrics processes on the real broker and valkey: both count, one at a time
publishes. What a reader of the compacted topic relies on: in offset order the revisions
of every window strictly increase, so compaction keeps the newest, and the newest record
of every window says what Redis counted, also after the publisher died and the other
process took over."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord

from consumers import metrics
from consumers.domain.windows import CONTRIBUTORS
from consumers.metrics import MetricsHandler
from consumers.state.counters import COUNTER
from router.app import roles
from router.events import iso
from router.keys import Keys
from router.redis import RedisClient, text
from router.settings import Settings
from router.topics import OutRecord, Topic
from tests.component.cli.test_metrics_verify import ev
from tests.conftest import read_topic

pytestmark = pytest.mark.component

NOW = datetime(2026, 12, 5, 5, 3, 30, tzinfo=UTC)
LATENESS_S = 180


class Process:
    """One metrics process: its own producer, a clock, and acks that can be held back."""

    def __init__(self, redis: RedisClient, settings: Settings) -> None:
        self.now = NOW
        self.acks = asyncio.Event()
        self.acks.set()
        self.sending = asyncio.Event()
        self.producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
        send = roles.sender(self.producer, settings, "metrics")

        async def slow_send(records: list[OutRecord]) -> None:
            self.sending.set()
            await self.acks.wait()
            await send(records)

        self.handler = MetricsHandler(
            redis,
            slow_send,
            list(CONTRIBUTORS),
            window_s=60,
            lateness_s=LATENESS_S,
            ttl_s=3600,
            prefix=settings.topic_prefix,
            clock=self.clock,
        )

    def clock(self) -> float:
        return self.now.timestamp()

    async def handle(self, *events: dict[str, Any]) -> None:
        ms = int(self.now.timestamp() * 1000)
        records = []
        for offset, event in enumerate(events):
            raw = orjson.dumps(event)
            records.append(
                ConsumerRecord("tickets", 0, offset, ms, 0, b"T-1", raw, None, 3, len(raw), ())
            )
        await self.handler.handle(records)


def created(n: int) -> dict[str, Any]:
    event = ev(n, "created", NOW)
    event["data"]["ticket"]["id"] = f"T-{n}"
    return event


CHAT = f"workload/{iso(NOW.replace(second=0))}/channel=chat,queue=general"


async def published_records(settings: Settings) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    """Key -> (revision, record) of every workload record, in offset order."""
    records = await read_topic(settings, Topic.METRICS_WORKLOAD, expect=1)
    by_key: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        value = orjson.loads(record.value or b"")
        by_key.setdefault(record.key.decode(), []).append((value["revision"], value))
    return by_key


async def latest_records(settings: Settings) -> dict[str, dict[str, Any]]:
    return {key: records[-1][1] for key, records in (await published_records(settings)).items()}


async def test_two_processes_publish_every_window_in_revision_order_and_up_to_date(
    redis: RedisClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics, "HOLD_S", 1.0)  # a dead publisher is replaced in 1 s
    first, second = Process(redis, settings), Process(redis, settings)
    await first.producer.start()
    await second.producer.start()
    try:
        first.acks.clear()  # the first publishes what it counted, its acks slow in coming
        counting = asyncio.create_task(first.handle(created(1)))
        await first.sending.wait()
        await second.handle(created(2))  # meanwhile the second counts and flushes
        await asyncio.sleep(1.2)  # acks slower than the lease: it is held all the while
        await second.handler.tick()
        first.acks.set()
        await counting
        await second.handler.tick()
        await first.handler.tick()
        latest = await latest_records(settings)
        assert latest[CHAT]["counters"]["created"] == 2  # not the first's stale count

        await second.handle(created(3))  # the first dies holding the lease
        await asyncio.sleep(1.2)
        await second.handler.tick()  # takes over
        await second.handle(created(4))
        second.now = NOW + timedelta(seconds=60 + LATENESS_S + 1)
        await second.handler.tick()  # the lateness passed: final
    finally:
        await first.producer.stop()
        await second.producer.stop()

    by_key = await published_records(settings)
    assert by_key
    keys = Keys(settings.topic_prefix)
    for key, published in by_key.items():
        revisions = [revision for revision, _ in published]
        assert revisions == sorted(set(revisions)), key
        last = published[-1][1]
        window = await redis.hgetall(keys.metric_window(key))
        fields = {text(k): text(v) for k, v in window.items()}
        counted = {k[len(COUNTER) :]: int(v) for k, v in fields.items() if k.startswith(COUNTER)}
        assert {k: v for k, v in last["counters"].items() if v} == {
            k: v for k, v in counted.items() if v
        }, key
        assert last["final"] is (key.split("/")[1] == iso(NOW.replace(second=0))), key
    assert by_key[CHAT][-1][1]["counters"]["created"] == 4
