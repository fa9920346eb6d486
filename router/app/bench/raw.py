"""Raw Kafka, no Switchboard code in the path: the produce rate and the passthrough
ceiling the pipeline is compared with."""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from router.app.bench.clients import running
from router.codec import CONTENT_TYPE_HEADER
from router.kafka import client_options, group_options, make_producer
from router.settings import Settings


async def produce_all(
    settings: Settings, topic: str, records: list[tuple[bytes, bytes]]
) -> tuple[float, list[int]]:
    """Seconds to produce and ack every record, and each record's timestamp (ms)."""
    producer = make_producer(settings, linger_ms=5)
    async with running(producer):
        began = time.perf_counter()
        futures = [
            await producer.send(topic, value=v, key=k, headers=[CONTENT_TYPE_HEADER])
            for k, v in records
        ]
        metadata = await asyncio.gather(*futures)
        return time.perf_counter() - began, [m.timestamp for m in metadata]


async def passthrough(
    settings: Settings, source: str, sink: str, n: int, *, assign: bool = False
) -> float:
    """Consume every record once, produce two per record, wait for acks, commit: the
    least work a consumer that writes its effects can do. Seconds from the first record.

    With ``assign`` it takes every partition itself instead of joining the group (the
    same work per record and batch, commits included, without the wait for a join)."""
    consumer = AIOKafkaConsumer(
        *(() if assign else (source,)),
        **client_options(settings.kafka),
        **group_options(settings.kafka),
        # a group of its own when assigning: the broker refuses a non-member's commits
        # to a group that has had members
        group_id=f"{settings.topic_prefix}.passthrough{'-assigned' if assign else ''}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=settings.kafka.fetch_max_wait_ms,
        max_poll_records=settings.kafka.max_poll_records,
    )
    producer = make_producer(settings)
    async with running(consumer, producer):
        if assign:
            # aiokafka has no public metadata refresh for a manually assigned consumer
            await consumer._client.force_metadata_update()  # noqa: SLF001
            parts = sorted(consumer.partitions_for_topic(source) or {0})
            tps = [TopicPartition(source, p) for p in parts]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
        seen = 0
        began: float | None = None  # from the first record: joining the group is not work
        while seen < n:
            batch = await consumer.getmany(timeout_ms=100)
            if batch and began is None:
                began = time.perf_counter()
            futures = []
            for records in batch.values():
                for r in records:
                    for _ in range(2):
                        futures.append(await producer.send(sink, value=r.value, key=r.key))
                    seen += 1
            await asyncio.gather(*futures)
            if batch:
                await consumer.commit()
        return time.perf_counter() - (began or time.perf_counter())
