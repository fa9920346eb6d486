"""One role alone on a pre-filled topic: how fast it works through a backlog.

The role runs as its own ``switchboard run --role`` process (or several, in one consumer
group, for the scale-out figures), the only consumer at work;
the bench watches its consumer group's committed offsets (the role commits only after
its effects are durable) and stops the clock when they reach the topic's end. The clock
starts when the role is ready (its consumer joined the group: ``/readyz``) or at its
first commit if that is seen first, so starting the interpreter and joining are not
counted; a backlog done before either was seen is timed from the spawn instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from router.app.bench.clients import running
from router.app.bench.processes import RoleProcesses
from router.app.embedded import free_port
from router.kafka import client_options, make_admin
from router.settings import Settings
from router.topics import Topic, TopicNames

POLL_S = 0.05
READY_TIMEOUT_S = 0.5
QUIET_POLLS = 2
QUIET_POLL_MS = 500


@dataclass(frozen=True)
class Solo:
    """Of the ``total`` records, ``records`` (those after the first commit) were worked
    through in ``seconds``."""

    role: str
    total: int
    records: int
    seconds: float
    from_spawn: bool = False  # done before it could be timed alone: start-up included
    processes: int = 1
    before_all_joined: int = 0  # with several: done by the first ones, then rebalanced

    @property
    def per_s(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


class TopicEnds:
    """The end offset of each partition of a topic (last record's offset + 1), found by
    reading the topic through, since the broker's own answer cannot be relied on:
    embedded Tansu answers ListOffsets(latest) with a count of batches, not of records.
    ``read()`` goes on from where the last one stopped; open within ``running``."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.topic = topic
        self.consumer = AIOKafkaConsumer(
            **client_options(settings.kafka), enable_auto_commit=False, max_poll_records=10_000
        )
        self._ends: dict[TopicPartition, int] = {}

    async def read(self) -> dict[TopicPartition, int]:
        """Until two polls in a row find nothing new: call it when nothing is written."""
        if not self._ends:
            # aiokafka has no public metadata refresh for a consumer without a subscription
            await self.consumer._client.force_metadata_update()  # noqa: SLF001
            parts = sorted(self.consumer.partitions_for_topic(self.topic) or {0})
            tps = [TopicPartition(self.topic, p) for p in parts]
            self.consumer.assign(tps)
            await self.consumer.seek_to_beginning(*tps)
            self._ends = dict.fromkeys(tps, 0)
        quiet = 0
        while quiet < QUIET_POLLS:
            batch = await self.consumer.getmany(timeout_ms=QUIET_POLL_MS)
            quiet = 0 if batch else quiet + 1
            for tp, records in batch.items():
                self._ends[tp] = max(self._ends[tp], records[-1].offset + 1)
        return dict(self._ends)


async def end_offsets(settings: Settings, topic: str) -> dict[TopicPartition, int]:
    ends = TopicEnds(settings, topic)
    async with running(ends.consumer):
        return await ends.read()


async def _ready(port: int) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        async with httpx.AsyncClient(timeout=READY_TIMEOUT_S) as http:
            return (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
    return False


async def role_alone(
    settings: Settings,
    roles: RoleProcesses,
    role: str,
    topic: Topic,
    say: Callable[[str], None],
    *,
    processes: int = 1,
    until: Callable[[], Awaitable[bool]] | None = None,
    label: str | None = None,
) -> Solo:
    """Spawn ``processes`` of ``role`` (one consumer group) and time them through
    everything now in ``topic`` (and until ``until`` says done). With several, the clock
    starts at the first commit after every one is ready: what the first did alone before
    the others joined, and the batch it had in hand then, are not counted."""
    ends = await end_offsets(settings, TopicNames(settings.topic_prefix)(topic))
    total = sum(ends.values())
    group = f"{settings.consumer_group_prefix}.{role}"
    timeout_s = max(60.0, total / 100)
    admin = make_admin(settings)
    ports = [free_port() for _ in range(processes)]
    name = label or (role if processes == 1 else f"{role} x{processes}")
    try:
        await admin.start()
        for port in ports:
            roles.spawn(settings, role, port)
        spawned = time.perf_counter()
        first: tuple[float, int] | None = None
        joined: int | None = None  # records done when the last one was ready
        waiting = list(ports)
        done, shown = 0, 0
        while done < total or (until is not None and not await until()):
            await asyncio.sleep(POLL_S)
            roles.check_alive()
            if time.perf_counter() - spawned > timeout_s:
                raise TimeoutError(f"{name} did not finish {total} records in {timeout_s:.0f}s")
            if first is None:
                waiting = [port for port in waiting if not await _ready(port)]
            committed = await admin.list_consumer_group_offsets(group, partitions=list(ends))
            done = sum(
                min(max(meta.offset, 0), ends[tp]) for tp, meta in committed.items() if tp in ends
            )
            if joined is None and not waiting and processes > 1:
                joined = done
            if first is None and (
                (processes == 1 and (not waiting or done > 0))
                or (joined is not None and done > joined)
            ):
                first = (time.perf_counter(), done)
            if total and done * 4 // total > shown:
                shown = done * 4 // total
                say(f"      {name}: {done}/{total} records")
        finished = time.perf_counter()
    finally:
        roles.stop()
        await admin.close()
    if first is None or first[1] >= total:
        return Solo(role, total, total, finished - spawned, from_spawn=True, processes=processes)
    alone = joined or 0
    return Solo(
        role,
        total,
        total - first[1],
        finished - first[0],
        processes=processes,
        before_all_joined=alone,
    )
