"""A rebalance waits for the batch in flight: a process joining the group while another
handles a batch does not read that batch again.

Effects in Redis are deduped by event id, so a re-read batch changes nothing there; but
what leaves the system cannot be taken back (a notifier's email was sent twice when a
notifier joined or left). The member giving partitions up finishes its batch and commits
it first (``consumers.runner.InFlight``), on the real embedded broker."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from aiokafka import AIOKafkaProducer

from consumers.runner import ConsumerState, InFlight, Record, run_consumer
from router.kafka import make_consumer
from router.settings import Settings
from router.topics import Topic, TopicNames

pytestmark = pytest.mark.component

RECORDS = 40


@dataclass
class Slow:
    """A handler whose first batch takes ``first_s``: the rebalance lands in it."""

    name: str
    everyone: list[tuple[int, int]]  # what every member handled
    all_seen: asyncio.Event  # set once ``expect`` records were handled by someone
    expect: list[int]
    first_s: float = 0.0
    seen: list[tuple[int, int]] = field(default_factory=list)
    busy: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, records: list[Record]) -> None:
        self.busy.set()
        if self.first_s:
            first, self.first_s = self.first_s, 0.0
            await asyncio.sleep(first)
        self.seen += [(r.partition, r.offset) for r in records]
        self.everyone += [(r.partition, r.offset) for r in records]
        if len(self.everyone) >= self.expect[0]:
            self.all_seen.set()

    async def tick(self) -> None:
        return None


async def member(settings: Settings, handler: Slow, stop: asyncio.Event) -> None:
    in_flight = InFlight()
    consumer = make_consumer(settings, "rebalance-test", Topic.INBOUND, listener=in_flight)
    await consumer.start()
    try:
        await run_consumer(consumer, handler, stop, in_flight=in_flight, max_records=RECORDS)
    finally:
        await consumer.stop()


async def produce(settings: Settings, first: int) -> None:
    topic = TopicNames(settings.topic_prefix)(Topic.INBOUND)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        for n in range(first, first + RECORDS):
            await producer.send_and_wait(topic, b"x", key=str(n).encode(), partition=n % 2)
    finally:
        await producer.stop()


async def test_a_member_joining_mid_batch_does_not_read_that_batch_again(
    settings: Settings,
) -> None:
    await produce(settings, 0)
    stop = asyncio.Event()
    everyone: list[tuple[int, int]] = []
    all_seen, expect = asyncio.Event(), [RECORDS]
    first = Slow("first", everyone, all_seen, expect, first_s=8.0)
    second = Slow("second", everyone, all_seen, expect)
    running = [asyncio.create_task(member(settings, first, stop))]
    async with asyncio.timeout(90):
        await first.busy.wait()  # the first member holds both partitions, mid-batch
        running.append(asyncio.create_task(member(settings, second, stop)))
        await all_seen.wait()
        all_seen.clear()
        expect[0] = 2 * RECORDS  # more, once the partitions are shared
        await produce(settings, RECORDS)
        await all_seen.wait()
        await asyncio.sleep(2.0)  # and nothing more arrives
    stop.set()
    await asyncio.gather(*running)

    assert sorted(everyone) == sorted(set(everyone))  # nothing handled twice
    assert len(everyone) == 2 * RECORDS
    assert first.seen
    assert second.seen  # the second member did take a partition over


async def test_a_member_the_group_gives_no_partition_is_joined_as_a_standby(
    settings: Settings,
) -> None:
    """Three members of a group on two partitions: the third gets none. It is joined (a
    standby, ready to take over), not "not joined yet" for as long as the others run: a
    rolling update's extra pod was never ready, and the rollout stalled."""
    stop = asyncio.Event()
    states = [ConsumerState(f"member-{n}") for n in range(3)]

    async def one(state: ConsumerState) -> None:
        in_flight = InFlight()
        consumer = make_consumer(settings, "standby-test", Topic.INBOUND, listener=in_flight)
        await consumer.start()
        handler = Slow(state.name, [], asyncio.Event(), [RECORDS])
        try:
            await run_consumer(consumer, handler, stop, in_flight=in_flight, state=state)
        finally:
            await consumer.stop()

    members = [asyncio.create_task(one(state)) for state in states]
    try:
        for _ in range(600):
            if all(state.joined for state in states):
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.gather(*members)
    assert [state.joined for state in states] == [True, True, True]
