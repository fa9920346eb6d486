"""What third-party producers write to `inbound` as any Kafka client may: compressed
batches (gzip, snappy, lz4, zstd) are routed; a batch the router cannot read stops it with
one line naming where, never skipped; an event time with an offset is written in UTC."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from router.app.embedded import free_port
from router.codec import CONTENT_TYPE_HEADER
from router.events import Customer, Interaction, iso
from router.ids import event_id
from router.settings import Settings
from router.topics import Topic, TopicNames
from router.vocabulary import EventType
from tests.component.pipeline.conftest import Running, run_switchboard
from tests.conftest import read_topic, settings_env, values

pytestmark = pytest.mark.component

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "tests" / "fixtures" / "rules" / "basic.yaml"
CODECS = ("gzip", "snappy", "lz4", "zstd")


def inbound_event(
    name: str, *, sender: str | None = None, time: str | None = None
) -> tuple[bytes, bytes]:
    """A valid inbound interaction in structured mode, as a third party writes it."""
    email = f"{sender or name}@example.com"
    data = Interaction(channel="chat", customer=Customer(email=email), text=name)
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id("/third-party", name),
        "source": "/third-party",
        "type": EventType.INTERACTION_RECEIVED,
        "data": data.model_dump(mode="json", exclude_none=True),
    }
    if time is not None:
        event["time"] = time
    return data.sender_key().encode(), orjson.dumps(event)


async def produce(settings: Settings, key: bytes, value: bytes, compression: str | None) -> int:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers, compression_type=compression
    )
    await producer.start()
    try:
        inbound = TopicNames(settings.topic_prefix)(Topic.INBOUND)
        meta = await producer.send_and_wait(inbound, value, key=key, headers=[CONTENT_TYPE_HEADER])
        return int(meta.offset)
    finally:
        await producer.stop()


def created_for(records: list[dict[str, Any]]) -> set[str]:
    return {
        v["data"]["ticket"]["customer_id"] for v in records if v["type"] == EventType.TICKET_CREATED
    }


async def test_compressed_inbound_batches_are_routed(switchboard: Running) -> None:
    """librdkafka and Java producers commonly compress: every codec the broker accepts is
    read, and each event opens its ticket."""
    settings = switchboard.settings
    for codec in CODECS:
        key, value = inbound_event(f"compressed-{codec}")
        await produce(settings, key, value, codec)
    tickets = values(await read_topic(settings, Topic.TICKETS, expect=2 * len(CODECS)))
    assert len(created_for(tickets)) == len(CODECS)


async def test_an_event_time_with_an_offset_is_written_in_utc(switchboard: Running) -> None:
    """Consumers compare and sort the `time` strings on `tickets`: every record says them
    in UTC, whatever offset the sender gave, and means the same instant."""
    settings = switchboard.settings
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    plus_two = at.astimezone(timezone(timedelta(hours=2))).isoformat()
    assert plus_two.endswith("+02:00")
    key, value = inbound_event("offset-time", time=plus_two)
    await produce(settings, key, value, None)
    zulu_key, zulu_value = inbound_event("zulu-time", time=iso(at))
    await produce(settings, zulu_key, zulu_value, None)
    tickets = values(await read_topic(settings, Topic.TICKETS, expect=4))
    by_sender: dict[str, list[dict[str, Any]]] = {}
    for v in tickets:
        by_sender.setdefault(v["data"]["ticket"]["customer_id"], []).append(v)
    assert len(by_sender) == 2

    def times(records: list[dict[str, Any]]) -> list[str]:
        snapshot = [r["data"]["ticket"] for r in records]
        return [
            *(r["time"] for r in records),
            *(s["created_at"] for s in snapshot),
            *(s["updated_at"] for s in snapshot),
        ]

    offset_times, zulu_times = (times(recs) for recs in by_sender.values())
    assert offset_times == zulu_times  # the same strings as for a sender who said Z
    assert set(offset_times) == {iso(at)}
    assert iso(at).endswith("Z")


def role_without_cramjam(settings: Settings) -> subprocess.Popen[str]:
    """The router as a deployment without the codec library runs it: snappy, lz4 and zstd
    batches cannot be decompressed."""
    env = {
        **settings_env(settings),
        "SWITCHBOARD_RULES_PATH": str(RULES),
        "SWITCHBOARD_HTTP_PORT": str(free_port()),
        "SWITCHBOARD_LOG_FORMAT": "json",
        "SWITCHBOARD_LOG_LEVEL": "warning",
    }
    code = (
        "import sys; sys.modules['cramjam'] = None; "
        "sys.argv = ['switchboard', 'run', '--role', 'router']; "
        "from router.app.cli import main; main()"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


async def committed(settings: Settings, tp: TopicPartition) -> int | None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        group_id=f"{settings.consumer_group_prefix}.router",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        offset: int | None = await consumer.committed(tp)
        return offset
    finally:
        await consumer.stop()


async def message_added(settings: Settings, *, within_s: float) -> list[dict[str, Any]]:
    """The `message_added` records on `tickets`, once there is one (or the time is up)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        records = values(await read_topic(settings, Topic.TICKETS, expect=0, timeout=1))
        added = [v for v in records if v["type"] == EventType.TICKET_MESSAGE_ADDED]
        if added or loop.time() > deadline:
            return added
        await asyncio.sleep(0.5)


@pytest.mark.slow
async def test_a_batch_the_router_cannot_read_stops_it_with_one_line(
    settings: Settings,
) -> None:
    """The audit's wedge: a snappy batch without the codec library. The role logs one
    error line naming topic, partition, offset and cause, exits 1 without a traceback, and
    commits nothing past the batch: with the library, the same batch is routed."""
    role = role_without_cramjam(settings)
    try:
        key, value = inbound_event("plain-first", sender="ada")
        first = await produce(settings, key, value, None)
        tickets = values(await read_topic(settings, Topic.TICKETS, expect=2, timeout=40))
        assert len(created_for(tickets)) == 1
        # the same sender: the same partition, right after the record routed above
        snappy_key, snappy_value = inbound_event("snappy-second", sender="ada")
        assert snappy_key == key
        offset = await produce(settings, key, snappy_value, "snappy")
        assert offset == first + 1
        code = await asyncio.wait_for(asyncio.to_thread(role.wait), 60)
        _, stderr = role.communicate()
    finally:
        if role.poll() is None:
            role.kill()
            role.wait()
    assert code == 1, stderr
    assert "Traceback" not in stderr
    lines = [orjson.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    errors = [line for line in lines if line["level"] in {"error", "critical"}]
    assert len(errors) == 1, stderr
    [stopped] = errors
    assert stopped["event"] == "role_stopped"
    assert stopped["role"] == "router"  # written after the role's task ended
    inbound = TopicNames(settings.topic_prefix)(Topic.INBOUND)
    reason = stopped["reason"]
    assert inbound in reason
    assert f"at offset {offset}" in reason
    assert "snappy" in reason
    assert "cramjam" in stopped["repair"]
    partition = int(reason.split(" partition ")[1].split()[0])
    assert await committed(settings, TopicPartition(inbound, partition)) == offset
    async with run_switchboard(settings.model_copy(update={"rules_path": RULES})):
        added = await message_added(settings, within_s=40)
    assert len(added) == 1  # the batch it stopped on, routed once the codec is there
