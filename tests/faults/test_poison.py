"""Poison records on ``inbound``, ``actions`` and ``tickets``: invalid JSON, an empty
value, an unknown type, a schema violation and a record over the broker's maximum size
(1 MiB, Kafka's default ``message.max.bytes``; the embedded broker does not enforce it).
Each goes to the dead-letter topic with its own headers and where it came from, once per
consumer that reads it, nothing is retried forever, and the good records written after
them are handled."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from router.app import roles
from router.codec import CONTENT_TYPE_HEADER
from router.events import utcnow
from router.kafka import make_producer
from router.observability import Telemetry
from router.redis import make_redis
from router.settings import Settings
from router.topics import Topic, TopicNames
from router.vocabulary import EventType
from rules.holder import RuleSetHolder
from tests.conftest import read_topic, values
from tests.faults.harness import RULES, Deployment, chat_event, wait_until

pytestmark = pytest.mark.faults

READERS = {
    Topic.INBOUND: ("router",),
    Topic.ACTIONS: ("router",),
    Topic.TICKETS: ("timers", "metrics"),
}
OVER_MAX = 1_100_000  # bytes: over 1 MiB


def envelope(kind: str, data: Any, n: str) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"poison-{n}",
        "source": "/faults/poison",
        "type": kind,
        "time": utcnow().isoformat(),
        "data": data,
    }


def ticket_snapshot(tid: str) -> dict[str, Any]:
    now = utcnow().isoformat()
    return {"id": tid, "channel": "chat", "customer_id": f"C-{tid}", "queue": "general",
            "status": "new", "created_at": now, "updated_at": now}  # fmt: skip


def poisons(topic: Topic) -> dict[str, bytes]:
    """The five kinds of poison for one topic, by name."""
    n = topic.value
    if topic is Topic.INBOUND:
        unknown = envelope("switchboard.interaction.teleported", {"text": "hi"}, f"{n}-u")
        invalid = envelope(EventType.INTERACTION_RECEIVED, {"channel": "pigeon"}, f"{n}-s")
        big = envelope(
            EventType.INTERACTION_RECEIVED,
            {"channel": "chat", "customer": {"email": "big@example.com"}, "text": "x" * OVER_MAX},
            f"{n}-b",
        )
    elif topic is Topic.ACTIONS:
        unknown = envelope("ticket.teleported", {"ticket_id": "T-1"}, f"{n}-u")
        invalid = envelope("ticket.resolved", {"agent_id": 7}, f"{n}-s")
        big = envelope("ticket.note_added", {"ticket_id": "T-1", "text": "x" * OVER_MAX}, f"{n}-b")
    else:
        unknown = envelope(
            "switchboard.ticket.teleported", {"ticket": ticket_snapshot("T-u")}, f"{n}-u"
        )
        invalid = envelope(EventType.TICKET_CREATED, {"ticket": {"id": "T-s"}}, f"{n}-s")
        big = envelope(
            EventType.TICKET_CREATED,
            {"ticket": {**ticket_snapshot("T-b"), "subject": "x" * OVER_MAX}},
            f"{n}-b",
        )
    return {
        "invalid-json": b'{"specversion": "1.0", "id": ',
        "empty-value": b"",
        "unknown-type": orjson.dumps(unknown),
        "schema-violation": orjson.dumps(invalid),
        "over-max-size": orjson.dumps(big),
    }


def readable(records: list[Any]) -> list[dict[str, Any]]:
    """The records that are JSON objects (the topic holds the poison too)."""
    out = []
    for record in records:
        try:
            value = orjson.loads(record.value or b"")
        except orjson.JSONDecodeError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out


def good_lifecycle(n: int) -> tuple[str, bytes]:
    tid = f"T-good-{n}"
    return tid, orjson.dumps(
        envelope(EventType.TICKET_CREATED, {"ticket": ticket_snapshot(tid)}, f"good-{n}")
    )


async def write(settings: Settings, topic: Topic, records: list[tuple[str, bytes, str]]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers, max_request_size=4 << 20
    )
    await producer.start()
    try:
        name = TopicNames(settings.topic_prefix)(topic)
        for key, value, tag in records:
            headers = (
                [CONTENT_TYPE_HEADER, ("x-poison", tag.encode())] if tag else [CONTENT_TYPE_HEADER]
            )
            await producer.send_and_wait(name, value, key=key.encode(), headers=headers)
    finally:
        await producer.stop()


async def test_poison_records_are_deadlettered_with_their_headers_and_the_stream_goes_on(
    deployment: Deployment,
) -> None:
    roles = [deployment.spawn(role) for role in ("router", "timers", "metrics")]
    await asyncio.gather(*(p.wait_ready(60) for p in roles))
    settings = deployment.settings()

    expected: Counter[tuple[str, str, str]] = Counter()  # (topic, poison, consumer)
    for topic, readers in READERS.items():
        batch = [
            ("poison-key", value, f"{topic.value}/{name}") for name, value in poisons(topic).items()
        ]
        for _, _, tag in batch:
            for consumer in readers:
                expected[(TopicNames(settings.topic_prefix)(topic), tag, consumer)] += 1
        await write(settings, topic, batch)
    # the good records written after the poison
    customers = [chat_event(f"after-{i}", f"after{i}@example.com") for i in range(5)]
    await write(settings, Topic.INBOUND, [(k, v, "") for k, v in customers])
    await write(settings, Topic.TICKETS, [(*good_lifecycle(i), "") for i in range(3)])

    async def routed() -> list[dict[str, Any]] | None:
        records = readable(await read_topic(settings, Topic.TICKETS, expect=1, timeout=5))
        made = [r for r in records if r.get("type") == EventType.TICKET_CREATED and
                not str(r.get("id")).startswith(("poison-", "good-"))]  # fmt: skip
        return made if len(made) >= len(customers) else None

    await wait_until(routed, 60, "the customers after the poison routed")

    async def counted() -> bool:
        metric = values(await read_topic(settings, Topic.METRICS_WORKLOAD, expect=1, timeout=5))
        latest = {(m["window"]["start"], tuple(sorted(m["dimensions"].items()))): m for m in metric}
        total: int = sum(m["counters"].get("created", 0) for m in latest.values())
        return total >= len(customers) + 3

    await wait_until(counted, 60, "the metrics role counting the records after the poison")

    async def deadlettered() -> Counter[tuple[str, str, str]] | None:
        dead = await read_topic(
            settings, Topic.DEADLETTER, expect=sum(expected.values()), timeout=5
        )
        found: Counter[tuple[str, str, str]] = Counter()
        for record in dead:
            headers = {k: v.decode(errors="replace") for k, v in record.headers}
            found[
                (
                    headers.get("dlq.topic", ""),
                    headers.get("x-poison", ""),
                    headers.get("dlq.consumer", ""),
                )
            ] += 1
        return found if sum(found.values()) >= sum(expected.values()) else None

    found = await wait_until(deadlettered, 30, "every poison record dead-lettered")
    missing, extra = expected - found, found - expected
    assert not missing, f"not dead-lettered: {sorted(missing)}"
    assert not extra, f"dead-lettered more than once: {sorted(extra)}"
    for record in await read_topic(settings, Topic.DEADLETTER, expect=1, timeout=3):
        headers = dict(record.headers)
        for name in ("dlq.topic", "dlq.partition", "dlq.offset", "dlq.consumer", "dlq.error"):
            assert headers.get(name), (name, headers)
        # the original headers kept; a value cut to fit is bytes, its original type beside
        cut = headers.get("dlq.truncated") == b"true"
        original = headers["dlq.original_content_type" if cut else "content-type"]
        assert original == CONTENT_TYPE_HEADER[1], "the original headers kept"
        assert not cut or headers["content-type"] == b"application/octet-stream"
    for process in roles:
        assert process.returncode is None, process.describe()


async def test_unknown_types_and_oversized_records_on_tickets_are_deadlettered(
    deployment: Deployment,
) -> None:
    """The two kinds of poison the test above leaves out on ``tickets``, through the
    timers and metrics roles' own handlers."""
    settings = deployment.settings(rules_path=RULES)
    kinds = ("unknown-type", "over-max-size", "snapshot-with-pii")
    leaky = {"id": "T-p", "subject": "secret@person.example"}  # no channel, no times...
    snapshot = envelope(EventType.TICKET_CREATED, {"ticket": leaky}, "tickets-p")
    poison = {**poisons(Topic.TICKETS), "snapshot-with-pii": orjson.dumps(snapshot)}
    batch = [("k", poison[name], f"tickets/{name}") for name in kinds]
    await write(settings, Topic.TICKETS, batch)
    records = await read_topic(settings, Topic.TICKETS, expect=len(batch))
    redis = make_redis(settings)
    producer = make_producer(settings)
    await producer.start()
    telemetry = Telemetry()
    try:
        holder = RuleSetHolder(RULES)
        await roles.timers_handler(settings, redis, producer, holder, telemetry).handle(records)
        await roles.metrics_handler(settings, redis, producer, telemetry).handle(records)
    finally:
        await producer.stop()
        await redis.aclose()
    dead = await read_topic(settings, Topic.DEADLETTER, expect=6, timeout=3)
    found = Counter(
        (dict(r.headers).get("x-poison", b"").decode(), dict(r.headers)["dlq.consumer"].decode())
        for r in dead
    )
    assert found == Counter({(f"tickets/{k}", c): 1 for k in kinds for c in ("timers", "metrics")})
    for role in ("timers", "metrics"):  # what the documented dead-letter alert reads
        count = telemetry.registry.get_sample_value(
            "switchboard_consumer_records_total", {"consumer": role, "outcome": "deadlettered"}
        )
        assert count == len(kinds), role
    for record in dead:  # why, by field path: never the record's content
        error = dict(record.headers)["dlq.error"].decode()
        assert "secret@person.example" not in error
        assert "\n" not in error
