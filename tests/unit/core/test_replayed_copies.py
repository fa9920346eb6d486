"""A dead letter that ``deadletter replay`` sent back to a topic several roles read is for
the role that set it aside: the others took the original the first time, so they skip
the copy (counted as ``skipped``) and its offset is committed with the rest."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from consumers.runner import Record, addressed, run_consumer
from router.kafka import REPLAY_FOR
from router.observability import Telemetry
from tests.unit.core.test_consumer_lag import ScriptedConsumer

pytestmark = pytest.mark.unit

TP = TopicPartition("switchboard.tickets", 0)


def record(offset: int, *headers: tuple[str, bytes]) -> Record:
    return ConsumerRecord(TP.topic, 0, offset, 0, 0, b"T-1", b"{}", None, 1, 1, headers)


class Seen:
    name = "metrics"

    def __init__(self) -> None:
        self.offsets: list[int] = []

    async def handle(self, records: list[Record]) -> None:
        self.offsets += [r.offset for r in records]

    async def tick(self) -> None:
        pass


class Committing(ScriptedConsumer):
    def __init__(self, batch: list[Record]) -> None:
        super().__init__([{TP: batch}], {TP})
        self.committed: dict[TopicPartition, int] = {}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.committed.update(offsets)


def test_only_copies_for_another_consumer_are_left_out() -> None:
    content = ("content-type", b"application/cloudevents+json")
    batch = [
        record(0, content),
        record(1, content, (REPLAY_FOR, b"notifier")),
        record(2, (REPLAY_FOR, b"metrics"), content),
        record(3),
    ]
    assert [r.offset for r in addressed(batch, "metrics")] == [0, 2, 3]
    assert [r.offset for r in addressed(batch, "notifier")] == [0, 1, 3]


async def test_the_runner_hands_over_its_own_records_and_commits_them_all() -> None:
    consumer = Committing(
        [record(0), record(1, (REPLAY_FOR, b"notifier")), record(2, (REPLAY_FOR, b"metrics"))]
    )
    handler = Seen()
    telemetry = Telemetry()
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_consumer(
            cast(AIOKafkaConsumer, consumer), handler, stop, telemetry=telemetry, poll_ms=10
        )
    )
    try:
        await asyncio.wait_for(consumer.drained.wait(), 5)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    assert handler.offsets == [0, 2]
    assert consumer.committed == {TP: 3}
    skipped = {"consumer": "metrics", "outcome": "skipped"}
    assert telemetry.registry.get_sample_value("switchboard_consumer_records_total", skipped) == 1


async def test_a_poll_of_copies_for_others_only_is_committed_without_the_handler() -> None:
    consumer = Committing([record(5, (REPLAY_FOR, b"notifier"))])

    class Refusing(Seen):
        async def handle(self, records: list[Record]) -> None:
            raise AssertionError(f"handed {len(records)} records that are not its own")

    stop = asyncio.Event()
    task = asyncio.create_task(
        run_consumer(cast(AIOKafkaConsumer, consumer), Refusing(), stop, poll_ms=10)
    )
    try:
        await asyncio.wait_for(consumer.drained.wait(), 5)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    assert consumer.committed == {TP: 6}


def test_the_notifier_tries_again_only_the_delivery_its_copy_names() -> None:
    from consumers.notifier import _replayed
    from router.kafka import REPLAY_DELIVERY

    assert _replayed(record(0)) is None  # no copy: nothing to try again
    named = record(1, (REPLAY_FOR, b"notifier"), (REPLAY_DELIVERY, b"d-2"))
    assert _replayed(named) == "d-2"
    # a dead letter of an earlier version said no delivery: each one that failed
    assert _replayed(record(2, (REPLAY_FOR, b"notifier"))) == ""
