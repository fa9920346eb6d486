"""Latency at fixed offered loads: events sent at a steady rate, each timed from its send
to the moment its effect is consumed. For the pipeline the effect is the ticket's
``routed`` record on the tickets topic; for the passthrough it is its first copy on the
sink topic. Both are measured with the same paced producer and clock (this process).

Every load uses new customers, so each event opens a ticket and is routed. Each event
is stamped with the moment it is sent, as the ingress stamps what it receives: its SLA
clocks start then, so the timers role schedules them as in production instead of
firing a warning and a breach for every ticket at once (the roles-alone rows measure
that worst case). A short warm-up first proves the consumers have joined and pays for
their first connections.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import NewTopic

from router.app.bench.clients import running
from router.app.bench.events import inbound_events
from router.app.bench.http_probe import in_background
from router.app.bench.raw import passthrough
from router.codec import CONTENT_TYPE_HEADER
from router.kafka import client_options, make_admin, make_producer
from router.settings import Settings
from router.topics import Topic, TopicNames
from router.vocabulary import EventType

LOADS = (500, 1000, 2000)
WARMUP = 20
WARMUP_TIMEOUT_S = 60.0
UNIQUE = 10**9  # customers: as many as events, so each event opens a ticket
FIRST_INDEX = 10**8  # event ids apart from the bulk's
TICK_S = 0.002
CAUSES = frozenset({EventType.TICKET_CREATED, EventType.TICKET_MESSAGE_ADDED})


@dataclass(frozen=True)
class LoadPlan:
    """Offered loads (events/s) and how long each is offered."""

    rates: list[int]
    seconds: float

    @classmethod
    def for_events(cls, n: int) -> LoadPlan:
        """The contract's loads for a full bench; a small ``--events`` run scales the
        loads and their duration down with it, so it stays quick."""
        scale = min(1.0, n / 2000)
        return cls([max(25, round(r * scale)) for r in LOADS], min(10.0, max(1.0, n / 1000)))


@dataclass(frozen=True)
class LoadLatency:
    """Send -> effect consumed, ms, of every event that arrived while waiting."""

    offered_per_s: int
    sent: int
    latencies_ms: list[float]


class Arrivals:
    """When each sent event was sent and, once its effect is consumed, its latency."""

    def __init__(self) -> None:
        self.sent_ms: dict[str, float] = {}
        self.latency_ms: dict[str, float] = {}

    def arrived(self, cause: str) -> None:
        if cause in self.sent_ms and cause not in self.latency_ms:
            self.latency_ms[cause] = time.time() * 1000 - self.sent_ms[cause]

    async def wait(self, ids: Iterable[str], timeout_s: float) -> None:
        pending = [i for i in ids if i not in self.latency_ms]
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            pending = [i for i in pending if i not in self.latency_ms]


async def follow_routed(consumer: AIOKafkaConsumer, arrivals: Arrivals) -> None:
    """A ``routed`` record follows the record that names its cause, on the ticket's key."""
    cause_of: dict[str, str] = {}
    while True:
        batch = await consumer.getmany(timeout_ms=100)
        for records in batch.values():
            for r in records:
                value = orjson.loads(r.value or b"{}")
                kind, ticket = value.get("type"), value.get("subject", "")
                if kind in CAUSES:
                    cause_of[ticket] = value["data"]["interaction"]["event_id"]
                elif kind == EventType.TICKET_ROUTED and ticket in cause_of:
                    arrivals.arrived(cause_of.pop(ticket))


async def follow_copies(consumer: AIOKafkaConsumer, arrivals: Arrivals) -> None:
    while True:
        batch = await consumer.getmany(timeout_ms=100)
        for records in batch.values():
            for r in records:
                arrivals.arrived(orjson.loads(r.value or b"{}").get("id", ""))


async def assign_at_end(consumer: AIOKafkaConsumer, topic: str) -> None:
    """Read ``topic`` from what is written after now on, without a group."""
    # aiokafka has no public metadata refresh for a manually assigned consumer
    await consumer._client.force_metadata_update()  # noqa: SLF001
    tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or {0})]
    consumer.assign(tps)
    await consumer.seek_to_end(*tps)
    for tp in tps:
        await consumer.position(tp)


def _tail_consumer(settings: Settings) -> AIOKafkaConsumer:
    """No group; the roles' fetch wait, so the measurement adds no more than they do."""
    return AIOKafkaConsumer(
        **client_options(settings.kafka),
        enable_auto_commit=False,
        fetch_max_wait_ms=settings.kafka.fetch_max_wait_ms,
    )


async def offer(
    producer: AIOKafkaProducer,
    topic: str,
    events: list[tuple[bytes, bytes]],
    rate: float,
    arrivals: Arrivals,
) -> list[str]:
    """Send ``events`` at ``rate`` per second; their ids, once every one is acked."""
    ids = [orjson.loads(v)["id"] for _, v in events]
    futures = []
    began = time.perf_counter()
    i = 0
    while i < len(events):
        due = min(len(events), int((time.perf_counter() - began) * rate) + 1)
        for j in range(i, due):
            key, value = events[j]
            arrivals.sent_ms[ids[j]] = time.time() * 1000
            value = stamped(value, arrivals.sent_ms[ids[j]])
            futures.append(
                await producer.send(topic, value=value, key=key, headers=[CONTENT_TYPE_HEADER])
            )
        i = due
        await asyncio.sleep(TICK_S)
    await asyncio.gather(*futures)
    return ids


def stamped(value: bytes, at_ms: float) -> bytes:
    """The event with its ``time`` set to ``at_ms`` (epoch milliseconds)."""
    event = orjson.loads(value)
    event["time"] = datetime.fromtimestamp(at_ms / 1000, UTC)
    return orjson.dumps(event, option=orjson.OPT_UTC_Z)


async def run_loads(
    settings: Settings,
    topic: str,
    arrivals: Arrivals,
    plan: LoadPlan,
    *,
    say: Callable[[str], None],
    label: str,
) -> list[LoadLatency]:
    producer = make_producer(settings)
    results = []
    async with running(producer):
        warm = await offer(
            producer,
            topic,
            inbound_events(WARMUP, UNIQUE, FIRST_INDEX),
            WARMUP * 10,
            arrivals,
        )
        await arrivals.wait(warm, WARMUP_TIMEOUT_S)
        if not all(i in arrivals.latency_ms for i in warm):
            raise TimeoutError(f"{label}: the warm-up events got no answer in time")
        start = FIRST_INDEX + WARMUP
        for rate in plan.rates:
            n = max(1, round(rate * plan.seconds))
            events = inbound_events(n, UNIQUE, start)
            start += n
            say(f"      {label}: {rate} events/s for {plan.seconds:g} s ...")
            ids = await offer(producer, topic, events, rate, arrivals)
            await arrivals.wait(ids, max(30.0, plan.seconds * 5))
            done = [arrivals.latency_ms[i] for i in ids if i in arrivals.latency_ms]
            results.append(LoadLatency(rate, n, done))
    return results


async def pipeline_loads(
    settings: Settings, plan: LoadPlan, say: Callable[[str], None]
) -> list[LoadLatency]:
    """The loads through the running pipeline: inbound record -> its ``routed`` record."""
    names = TopicNames(settings.topic_prefix)
    arrivals = Arrivals()
    consumer = _tail_consumer(settings)
    async with running(consumer):
        await assign_at_end(consumer, names(Topic.TICKETS))
        async with in_background(follow_routed(consumer, arrivals)):
            return await run_loads(
                settings, names(Topic.INBOUND), arrivals, plan, say=say, label="pipeline"
            )


async def passthrough_loads(
    settings: Settings, plan: LoadPlan, say: Callable[[str], None]
) -> list[LoadLatency]:
    """The same loads through the raw passthrough: record -> its first copy consumed."""
    source, sink = f"{settings.topic_prefix}.lat-in", f"{settings.topic_prefix}.lat-out"
    admin = make_admin(settings)
    try:
        await admin.start()
        kafka = settings.kafka
        await admin.create_topics(
            [NewTopic(t, kafka.partitions, kafka.replication_factor) for t in (source, sink)]
        )
    finally:
        await admin.close()
    arrivals = Arrivals()
    consumer = _tail_consumer(settings)
    async with running(consumer):
        await assign_at_end(consumer, sink)
        async with (
            in_background(follow_copies(consumer, arrivals)),
            in_background(_passthrough(settings, source, sink)),
        ):
            return await run_loads(settings, source, arrivals, plan, say=say, label="passthrough")


async def _passthrough(settings: Settings, source: str, sink: str) -> None:
    """Until cancelled."""
    await passthrough(settings, source, sink, 10**12, assign=True)
