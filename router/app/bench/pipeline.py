"""The pipeline under load: the events through the ingress, router and metrics roles,
with the end-to-end latency of each (inbound record timestamp -> its lifecycle record
timestamp, both stamped by the broker)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from router.app.bench.clients import running
from router.app.bench.http_probe import HTTP_SAMPLES, http_latencies
from router.app.bench.latency import LoadLatency, LoadPlan, pipeline_loads
from router.app.bench.processes import RoleProcesses
from router.app.bench.raw import produce_all
from router.app.embedded import free_port
from router.kafka import client_options
from router.settings import Settings
from router.topics import Topic, TopicNames
from router.vocabulary import EventType


@dataclass(frozen=True)
class PipelineRun:
    """Broker timestamps (ms) of the first event sent and the last one done, the latency of
    every event done, and the webform probe (``accepted`` and ``e2e`` samples, ms)."""

    first_sent_ms: int
    last_done_ms: int
    latencies_ms: list[float]
    http_ms: dict[str, list[float]]
    loads: list[LoadLatency] = field(default_factory=list)


async def measure_pipeline(
    settings: Settings,
    events: list[tuple[bytes, bytes]],
    roles: RoleProcesses,
    plan: LoadPlan | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> PipelineRun:
    """Start the roles, probe one webform at a time while idle, then push every event and
    wait until each has its lifecycle record; then offer the ``plan``'s steady loads.
    The roles are stopped before returning."""
    port = free_port()
    roles.spawn(settings, "router")
    roles.spawn(settings, "metrics")
    roles.spawn(settings, "ingress", port)
    try:
        await roles.wait_ready()  # every consumer has joined its group before the load
        http_ms = await http_latencies(settings, f"http://127.0.0.1:{port}", HTTP_SAMPLES)
        _, stamps = await produce_all(
            settings, TopicNames(settings.topic_prefix)(Topic.INBOUND), events
        )
        ids = [orjson.loads(v)["id"] for _, v in events]
        last_ms, latencies = await pipeline_latencies(
            settings, dict(zip(ids, stamps, strict=True)), timeout_s=max(60.0, len(events) / 50)
        )
        loads = await pipeline_loads(settings, plan, say) if plan else []
    finally:
        roles.stop()
    return PipelineRun(stamps[0], last_ms, latencies, http_ms, loads)


async def pipeline_latencies(
    settings: Settings, sent_ms: dict[str, int], timeout_s: float
) -> tuple[int, list[float]]:
    """Wait until every inbound event has its lifecycle record: the last record's
    timestamp (ms) and the latency per event (ms)."""
    names = TopicNames(settings.topic_prefix)
    consumer = AIOKafkaConsumer(**client_options(settings.kafka), enable_auto_commit=False)
    async with running(consumer):
        # aiokafka has no public metadata refresh for a manually assigned consumer
        await consumer._client.force_metadata_update()  # noqa: SLF001
        tps = [
            TopicPartition(names(Topic.TICKETS), p)
            for p in sorted(consumer.partitions_for_topic(names(Topic.TICKETS)) or {0})
        ]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        first_seen: dict[str, float] = {}
        latencies: list[float] = []
        started = time.perf_counter()
        last = 0
        n = len(sent_ms)
        while len(latencies) < n and time.perf_counter() - started < timeout_s:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for r in records:
                    value = orjson.loads(r.value or b"{}")
                    if value.get("type") not in (
                        EventType.TICKET_CREATED,
                        EventType.TICKET_MESSAGE_ADDED,
                    ):
                        continue
                    cause = value["data"]["interaction"]["event_id"]
                    if cause in first_seen or cause not in sent_ms:
                        continue
                    first_seen[cause] = r.timestamp
                    latencies.append(r.timestamp - sent_ms.get(cause, r.timestamp))
                    last = max(last, r.timestamp)
        return last, latencies
