"""``switchboard metrics verify`` on a running system: lifecycle events keep arriving and
the metrics role keeps counting and publishing while the check reads the topics. The
check compares at the cut-off the role had committed when it began: no false difference
for what was still being counted (those windows are reported as not compared), and a
record that lies in a window counted before the cut-off still fails it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import orjson
import pytest
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from router.app import roles, verify
from router.app.rebuild import read_all
from router.app.verify import Period
from router.observability import Telemetry
from router.redis import make_redis
from router.settings import RedisSettings, Settings
from router.topics import Topic, TopicNames
from tests.component.cli.test_metrics_verify import count_with_the_metrics_role, verify_cli
from tests.faults.busyday import DAY, busy_day, write_day

pytestmark = pytest.mark.component


async def commit_metrics_group(settings: Settings, ends: dict[int, int]) -> None:
    """What the metrics role does after each batch it counted and published."""
    name = TopicNames(settings.topic_prefix)(Topic.TICKETS)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        group_id=f"{settings.consumer_group_prefix}.metrics",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        tps = {TopicPartition(name, p): end for p, end in ends.items()}
        consumer.assign(list(tps))
        await consumer.commit(tps)
    finally:
        await consumer.stop()


class RunningSystem:
    """New lifecycle events, each counted, published and committed by the metrics role
    as soon as it is written: a copy of one of the day's ``created`` events under a new
    id, so it counts in a window the day already has."""

    def __init__(self, settings: Settings, template: dict[str, Any], ends: dict[int, int]):
        self.settings = settings
        self.template = template
        self.ends = dict(ends)
        self.added = 0

    async def moves_on(self) -> None:
        self.added += 1
        event = {**self.template, "id": f"live-{self.added}"}
        name = TopicNames(self.settings.topic_prefix)(Topic.TICKETS)
        producer = AIOKafkaProducer(bootstrap_servers=self.settings.kafka.bootstrap_servers)
        await producer.start()
        redis = make_redis(self.settings)
        try:
            meta = await producer.send_and_wait(name, orjson.dumps(event), key=b"live")
            [record] = [
                r
                for r in await read_all(self.settings, Topic.TICKETS)
                if (r.partition, r.offset) == (meta.partition, meta.offset)
            ]
            handler = roles.metrics_handler(self.settings, redis, producer, Telemetry())
            await handler.handle([record])
        finally:
            await producer.stop()
            await redis.aclose()
        self.ends[meta.partition] = max(self.ends.get(meta.partition, 0), meta.offset + 1)
        await commit_metrics_group(self.settings, self.ends)


@pytest.mark.slow
async def test_verify_while_the_system_runs_compares_at_the_cut_off(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    ends = await write_day(settings, busy_day(60, seed=5))
    await count_with_the_metrics_role(settings)
    await commit_metrics_group(settings, ends)
    created = next(
        orjson.loads(r.value)
        for r in await read_all(settings, Topic.TICKETS)
        if r.value and orjson.loads(r.value)["type"] == "switchboard.ticket.created"
    )
    system = RunningSystem(settings, created, ends)
    read_topic = verify.read_topic

    async def read_while_running(
        settings_: Settings,
        topic: Topic,
        each: Callable[[ConsumerRecord[bytes, bytes]], None],
        progress: Any = None,
    ) -> int:
        read = await read_topic(settings_, topic, each, progress)
        await system.moves_on()  # between any two reads the role counts one more
        return read

    monkeypatch.setattr(verify, "read_topic", read_while_running)
    period = Period(DAY, DAY + timedelta(days=3))
    with structlog.testing.capture_logs() as logs:
        done = await verify.verify(settings, period)
    shown = "\n".join(str(d) for d in done.differences[:10])
    assert done.ok, shown
    assert done.windows_open == 1  # the window the new events count in
    assert done.windows_recounted == done.windows_found > 0
    [note] = [line for line in logs if line["event"] == "metric_windows_not_compared"]
    assert note["windows"] == 1
    assert "still being counted" in note["reason"]

    # a record that lies about a window counted before the cut-off is still named
    fcr = next(
        r
        for r in await read_all(settings, Topic.METRICS_FCR)
        if r.value and orjson.loads(r.value)["counters"].get("resolved")
    )
    lying = orjson.loads(fcr.value or b"{}")
    lying["revision"] += 100
    lying["counters"]["resolved"] += 1
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        name = TopicNames(settings.topic_prefix)(Topic.METRICS_FCR)
        await producer.send_and_wait(name, orjson.dumps(lying), key=fcr.key)
    finally:
        await producer.stop()
    done = await verify.verify(settings, period)
    key = (fcr.key or b"").decode()
    assert [d.what for d in done.differences if d.key == key] == ["resolved"]
    assert not done.ok


async def test_a_window_counted_but_not_yet_published_is_not_a_difference(
    settings: Settings,
) -> None:
    """With several metrics processes one publishes what all count: a window another
    process counted (committed) but the publisher has not sent yet is marked dirty in
    Redis. The check leaves it out as still being counted; once it is no longer dirty,
    what its topic holds is compared again."""
    ends = await write_day(settings, busy_day(40, seed=9))
    await count_with_the_metrics_role(settings)
    await commit_metrics_group(settings, ends)
    fcr = next(
        r
        for r in await read_all(settings, Topic.METRICS_FCR)
        if r.value and orjson.loads(r.value)["counters"].get("resolved")
    )
    stale = orjson.loads(fcr.value or b"{}")
    stale["revision"] += 100
    stale["counters"]["resolved"] -= 1  # what the topic holds before the publisher's send
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        name = TopicNames(settings.topic_prefix)(Topic.METRICS_FCR)
        await producer.send_and_wait(name, orjson.dumps(stale), key=fcr.key)
    finally:
        await producer.stop()
    key = (fcr.key or b"").decode()
    redis = make_redis(settings)
    dirty = f"{settings.topic_prefix}:m:dirty"
    period = Period(DAY, DAY + timedelta(days=3))
    try:
        await redis.hset(dirty, key, 1)  # counted by another process, not yet published
        done = await verify.verify(settings, period)
        assert done.ok, "\n".join(str(d) for d in done.differences[:10])
        assert done.windows_open == 1
        assert done.caveat is None  # with Redis it can tell
        await redis.hdel(dirty, key)
        done = await verify.verify(settings, period)
        assert [d.what for d in done.differences if d.key == key] == ["resolved"]
    finally:
        await redis.aclose()


async def test_without_redis_the_check_runs_and_says_what_it_cannot_tell(
    settings: Settings,
) -> None:
    """Redis is optional: without it a window counted but not yet published cannot be
    told from a difference, so the check says so in one line of its output and runs.
    Here it then names the stale window as a difference (gone once published)."""
    ends = await write_day(settings, busy_day(40, seed=11))
    await count_with_the_metrics_role(settings)
    await commit_metrics_group(settings, ends)
    no_redis = settings.model_copy(update={"redis": RedisSettings()})
    period = Period(DAY, DAY + timedelta(days=3))
    done = await verify.verify(no_redis, period)
    assert done.ok, "\n".join(str(d) for d in done.differences[:10])
    assert done.caveat is not None
    assert "cannot be told apart" in done.caveat

    # the CLI, in the metrics role's group, with SWITCHBOARD_REDIS_URL unset
    shown = verify_cli(no_redis, "--from", "2026-11-24", "--to", "2026-11-26")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    notes = [line for line in shown.stdout.splitlines() if line.startswith("note: ")]
    assert notes == [f"note: {verify.NO_REDIS}"], shown.stdout
    assert ": 0 differences" in shown.stdout
