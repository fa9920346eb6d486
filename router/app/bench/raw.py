"""Raw Kafka, no Switchboard code in the path: the produce rate and the passthrough
ceiling the pipeline is compared with."""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer

from router.app.bench.clients import running
from router.codec import CONTENT_TYPE_HEADER
from router.kafka import client_options, make_producer
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


async def passthrough(settings: Settings, source: str, sink: str, n: int) -> float:
    """Consume every record once, produce two per record, wait for acks, commit: the
    least work a consumer that writes its effects can do. Seconds from the first record."""
    consumer = AIOKafkaConsumer(
        source,
        **client_options(settings.kafka),
        group_id=f"{settings.topic_prefix}.passthrough",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=settings.kafka.fetch_max_wait_ms,
        max_poll_records=settings.kafka.max_poll_records,
    )
    producer = make_producer(settings)
    async with running(consumer, producer):
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
