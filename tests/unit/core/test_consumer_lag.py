"""``switchboard_consumer_lag`` is what operators alert on when a role falls behind: it must
show the backlog while a batch is stuck in retries (Redis paused), and forget partitions a
rebalance gave to another process, else their last value would alert for ever."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import cast

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from consumers import runner
from consumers.runner import ConsumerState, Record, run_consumer
from router.errors import BackendUnavailable
from router.observability import Telemetry

pytestmark = pytest.mark.unit

P0 = TopicPartition("switchboard.inbound", 0)
P1 = TopicPartition("switchboard.inbound", 1)
Batch = dict[TopicPartition, list[Record]]


def records(tp: TopicPartition, first: int, count: int) -> list[Record]:
    return [
        ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, b"k", b"v", None, 1, 1, ())
        for offset in range(first, first + count)
    ]


class ScriptedConsumer:
    """Just enough of ``AIOKafkaConsumer`` for the runner: each poll takes the next step of
    the script (a batch, or a change to make before an empty poll); highwater is what the
    last fetch reported, set by the test."""

    def __init__(self, steps: list[Batch | Callable[[], None]], assigned: set[TopicPartition]):
        self.steps = steps
        self.assigned = assigned
        self.highwaters: dict[TopicPartition, int] = {}
        self.drained = asyncio.Event()

    def subscription(self) -> set[str]:
        return {P0.topic}

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    def highwater(self, tp: TopicPartition) -> int | None:
        assert tp in self.assigned, "aiokafka asserts the partition is assigned"
        return self.highwaters.get(tp)

    async def getmany(self, timeout_ms: int, max_records: int) -> Batch:  # noqa: ARG002 - the script sizes batches
        if not self.steps:
            self.drained.set()
            await asyncio.sleep(timeout_ms / 1000)
            return {}
        step = self.steps.pop(0)
        if callable(step):
            step()
            return {}
        return step

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        pass


class Handler:
    """Handles the first batch; every later one fails as with Redis paused."""

    name = "router"

    def __init__(self, on_first_failure: Callable[[], None] = lambda: None) -> None:
        self.batches = 0
        self.failures = 0
        self.retried = asyncio.Event()
        self.on_first_failure = on_first_failure

    async def handle(self, _records: list[Record]) -> None:
        self.batches += 1
        if self.batches == 1:
            return
        self.failures += 1
        if self.failures == 1:
            self.on_first_failure()
        else:
            self.retried.set()  # the first failure's backoff, and its lag report, are past
        raise BackendUnavailable("redis", "connection refused")

    async def tick(self) -> None:
        pass


def lag(telemetry: Telemetry, tp: TopicPartition) -> float | None:
    labels = {"consumer": "router", "topic": tp.topic, "partition": str(tp.partition)}
    return telemetry.registry.get_sample_value("switchboard_consumer_lag", labels)


async def run(
    consumer: ScriptedConsumer, handler: Handler, telemetry: Telemetry
) -> tuple[asyncio.Event, asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_consumer(
            cast(AIOKafkaConsumer, consumer), handler, stop, telemetry=telemetry, poll_ms=10
        )
    )
    return stop, task


async def test_lag_shows_the_backlog_while_a_batch_is_retried() -> None:
    # Partition 1 has a committed position (offset 5); partition 0's first batch is the
    # one stuck. While it is retried, new records arrive and a fetch reports them.
    consumer = ScriptedConsumer(
        [{P1: records(P1, 0, 5)}, {P0: records(P0, 0, 3), P1: records(P1, 5, 2)}],
        assigned={P0, P1},
    )
    consumer.highwaters = {P0: 3, P1: 7}

    def backlog_arrives() -> None:
        consumer.highwaters = {P0: 60, P1: 57}

    handler = Handler(on_first_failure=backlog_arrives)
    telemetry = Telemetry()
    stop, task = await run(consumer, handler, telemetry)
    try:
        await asyncio.wait_for(handler.retried.wait(), 5)
        assert lag(telemetry, P0) == 60  # highwater - first offset in flight (0)
        assert lag(telemetry, P1) == 57 - 5  # the batch in flight starts at offset 5
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_a_revoked_partition_leaves_the_lag_gauge() -> None:
    telemetry = Telemetry()
    seen_before_revoke: list[float | None] = []

    def rebalance() -> None:
        seen_before_revoke.append(lag(telemetry, P1))
        consumer.assigned.discard(P1)

    consumer = ScriptedConsumer(
        [{P0: records(P0, 0, 2), P1: records(P1, 0, 4)}, rebalance], {P0, P1}
    )
    consumer.highwaters = {P0: 10, P1: 30}
    stop, task = await run(consumer, Handler(), telemetry)
    try:
        await asyncio.wait_for(consumer.drained.wait(), 5)
        assert seen_before_revoke == [26]
        assert lag(telemetry, P1) is None
        assert lag(telemetry, P0) == 8
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


class FetchlessConsumer(ScriptedConsumer):
    """No fetch happens while a batch is retried, so the high watermark stays as it was;
    the broker answers ``end_offsets`` with the log as it grows."""

    def __init__(self, steps: list[Batch | Callable[[], None]], assigned: set[TopicPartition]):
        super().__init__(steps, assigned)
        self.ends: dict[TopicPartition, int] = {}

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self.ends[tp] for tp in tps if tp in self.ends}


async def test_a_batch_retried_asks_for_the_end_offsets_and_the_consumer_is_not_ready(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A router whose Redis answers pings but not its work retried for minutes with a
    frozen lag gauge and a ready ``/readyz``: the backlog now shows, and readiness says
    which consumer is stuck on what."""
    monkeypatch.setattr(runner, "STUCK_AFTER_S", 0.05)
    consumer = FetchlessConsumer([{P1: records(P1, 0, 5)}, {P0: records(P0, 0, 3)}], {P0, P1})
    consumer.highwaters = {P0: 3, P1: 5}
    consumer.ends = {P0: 175, P1: 5}
    handler = Handler()
    state = ConsumerState("router")
    stop = asyncio.Event()
    telemetry = Telemetry()
    task = asyncio.create_task(
        run_consumer(
            cast(AIOKafkaConsumer, consumer),
            handler,
            stop,
            telemetry=telemetry,
            poll_ms=10,
            state=state,
        )
    )
    try:
        await asyncio.wait_for(handler.retried.wait(), 5)
        assert lag(telemetry, P0) == 175  # the end offset, not the stale highwater (3)
        await asyncio.sleep(0.1)
        why = state.stuck(time.monotonic())
        assert why is not None
        assert why.startswith("router: a batch retried for")
        assert "connection refused" in why
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
