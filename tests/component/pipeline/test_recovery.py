"""kill -9 of the router and metrics roles mid-stream, then restart: counts stay exact."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from router.app.embedded import free_port
from router.codec import CONTENT_TYPE_HEADER, encode_event
from router.events import CloudEvent, Customer, Interaction
from router.ids import event_id
from router.settings import Settings
from router.topics import Topic, TopicNames
from router.vocabulary import EventType
from tests.conftest import read_topic, settings_env

pytestmark = pytest.mark.component

RULES = Path(__file__).resolve().parents[2] / "fixtures" / "rules" / "basic.yaml"
EVENTS = 3000
CUSTOMERS = 300


def role_process(settings: Settings) -> subprocess.Popen[bytes]:
    env = {
        **settings_env(settings),
        "SWITCHBOARD_RULES_PATH": str(RULES),
        "SWITCHBOARD_HTTP_PORT": str(free_port()),
        "SWITCHBOARD_KAFKA_MAX_POLL_RECORDS": "20",
        "SWITCHBOARD_LOG_LEVEL": "warning",
    }
    cmd = [sys.executable, "-m", "router.app", "run", "--role", "router", "--role", "metrics"]
    return subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL)


async def produce_events(settings: Settings) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers, max_batch_size=1 << 20, linger_ms=5
    )
    await producer.start()
    base = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    try:
        futures = []
        for i in range(EVENTS):
            data = Interaction(
                channel="chat",
                customer=Customer(email=f"c{i % CUSTOMERS}@example.com"),
                text=f"message {i}",
            )
            event = CloudEvent(
                id=event_id("/recovery", str(i)),
                source="/recovery",
                type=EventType.INTERACTION_RECEIVED,
                time=base + timedelta(milliseconds=10 * i),
                data=data.model_dump(mode="json", exclude_none=True),
            )
            futures.append(
                await producer.send(
                    TopicNames(settings.topic_prefix)(Topic.INBOUND),
                    encode_event(event),
                    key=data.sender_key().encode(),
                    headers=[CONTENT_TYPE_HEADER],
                )
            )
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def handled(records: list[dict[str, object]]) -> set[str]:
    """Inbound event ids that have their lifecycle record."""
    return {
        r["data"]["interaction"]["event_id"]  # type: ignore[index]
        for r in records
        if r["type"] in (EventType.TICKET_CREATED, EventType.TICKET_MESSAGE_ADDED)
    }


async def lifecycle(settings: Settings, timeout: float = 10) -> list[dict[str, object]]:
    """Everything on the tickets topic so far (until it has been quiet for a moment)."""
    records = await read_topic(settings, Topic.TICKETS, expect=1, timeout=timeout, settle=0.3)
    return [orjson.loads(r.value) for r in records if r.value]


async def follow_handled(
    settings: Settings, under_way: asyncio.Event, stop: asyncio.Event, threshold: int = 100
) -> None:
    """Set ``under_way`` once ``threshold`` inbound events have their lifecycle record."""
    seen: set[str] = set()
    consumer = AIOKafkaConsumer(
        TopicNames(settings.topic_prefix)(Topic.TICKETS),
        bootstrap_servers=settings.kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=10,
    )
    await consumer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=20)
            records = [orjson.loads(r.value) for rs in batch.values() for r in rs if r.value]
            seen |= handled(records)
            if len(seen) >= threshold:
                under_way.set()
    finally:
        await consumer.stop()


@pytest.mark.slow
async def test_kill_9_mid_stream_then_restart_keeps_counts_exact(settings: Settings) -> None:
    await produce_events(settings)
    under_way, stop_following = asyncio.Event(), asyncio.Event()
    follower = asyncio.create_task(follow_handled(settings, under_way, stop_following))
    first = role_process(settings)
    try:
        await asyncio.wait_for(under_way.wait(), 60)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
        stop_following.set()
        await follower
    done_at_kill = len(handled(await lifecycle(settings)))
    assert 0 < done_at_kill < EVENTS, "the kill must land mid-stream for this test to mean much"

    second = role_process(settings)
    try:
        records = await lifecycle(settings)
        deadline = asyncio.get_running_loop().time() + 90
        while len(handled(records)) < EVENTS and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.5)
            records = await lifecycle(settings)
        assert len(handled(records)) == EVENTS

        unique = {str(r["id"]): r for r in records}  # re-published copies share their id
        created = [r for r in unique.values() if r["type"] == EventType.TICKET_CREATED]
        per_customer = Counter(r["data"]["ticket"]["customer_id"] for r in created)  # type: ignore[index]
        assert len(created) == CUSTOMERS
        assert set(per_customer.values()) == {1}
        added = [r for r in unique.values() if r["type"] == EventType.TICKET_MESSAGE_ADDED]
        assert len(added) == EVENTS - CUSTOMERS

        async def created_total() -> int:
            metric = await read_topic(settings, Topic.METRICS_WORKLOAD, expect=1, timeout=5)
            latest: dict[bytes, dict[str, object]] = {}
            for r in metric:  # the topic is compacted: the last value per key counts
                latest[r.key or b""] = orjson.loads(r.value or b"{}")
            return sum(v["counters"].get("created", 0) for v in latest.values())  # type: ignore[union-attr,attr-defined]

        for _ in range(50):
            if await created_total() >= CUSTOMERS:
                break
            await asyncio.sleep(0.2)
        assert await created_total() == CUSTOMERS
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(20) == 0, "SIGTERM is a graceful stop with exit code 0"
