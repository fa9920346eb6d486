"""The router role alone, then the timers and the metrics roles alone, each on a pre-filled
topic, next to the raw passthrough ceiling of the same broker in the same run.

    .venv/bin/python -m bench.router_alone [--events 20000] [--customers 5000]
        [--no-passthrough] [--agents N] [--profile /tmp/router.svg]
        [--profile-timers F] [--profile-metrics F]

Starts its own embedded Tansu + valkey, writes ``--events`` 1 kB interaction events to
``inbound``, runs the router role in this process and times it from its first committed
offset until the consumer group's committed offsets reach the end of ``inbound``. Then
the timers role, and then the metrics role, do the same on the ``tickets`` topic the
router wrote. ``--profile`` (``--profile-timers``, ``--profile-metrics``) records that
role's phase with py-spy (an SVG flame graph; speedscope for ``.json``, collapsed
stacks for ``.txt``). ``--agents N`` puts N agents online (skills spread over the example
rules' queues, the rules' capacities) before the timers role runs, and times it until the
waiting line is also empty: assignment at the size of a contact centre. Last, what the
three roles wrote to each topic per inbound event (records, and the bytes of keys and
values): the figures a deployment's Kafka is sized by.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from router.app.bench.events import inbound_events
from router.app.bench.raw import passthrough, produce_all
from router.app.bench.staffed import Floor
from router.app.console import loop_factory
from router.app.embedded import EmbeddedServices
from router.app.roles import Shared, run_metrics, run_router, run_timers
from router.kafka import client_options, make_admin
from router.logs import configure_logging
from router.observability import Telemetry
from router.redis import RedisClient, make_redis
from router.settings import Settings
from router.topic_admin import ensure_topics
from router.topic_watch import TopicWatch
from router.topics import Topic, TopicNames
from rules import RuleSetHolder

Role = Callable[[Settings, asyncio.Event, Shared, RuleSetHolder], Coroutine[Any, Any, None]]


async def end_offsets(settings: Settings, topic: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(**client_options(settings.kafka))
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        if not parts:
            await consumer._client.force_metadata_update()  # noqa: SLF001 - a fresh client
            parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        return dict(await consumer.end_offsets(tps))
    finally:
        await consumer.stop()


async def volume(settings: Settings, topic: str) -> tuple[int, int]:
    """Records on ``topic`` and the bytes of their keys and values: what a deployment
    stores and moves per event (the embedded broker keeps every record, so all are read)."""
    ends = await end_offsets(settings, topic)
    consumer = AIOKafkaConsumer(**client_options(settings.kafka), enable_auto_commit=False)
    await consumer.start()
    records = size = 0
    try:
        consumer.assign(list(ends))
        await consumer.seek_to_beginning(*ends)
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            for batch in (await consumer.getmany(timeout_ms=200, max_records=5000)).values():
                records += len(batch)
                size += sum(len(r.key or b"") + len(r.value or b"") for r in batch)
    finally:
        await consumer.stop()
    return records, size


async def committed(admin: AIOKafkaAdminClient, group: str, ends: dict[TopicPartition, int]) -> int:
    """Records of the run done: committed offsets up to the ends measured at its start (a
    role that also writes its topic, as the timers role writes ``tickets``, commits past
    them: counted, that had made the figures negative)."""
    offsets = await admin.list_consumer_group_offsets(group, partitions=list(ends))
    return sum(min(max(o.offset, 0), ends[tp]) for tp, o in offsets.items() if tp in ends)


def restamped(events: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The same events, timed from now on (one per millisecond): their SLA clocks run in
    the future, so the timers role follows the tickets instead of firing every breach."""
    base = datetime.now(UTC)
    out = []
    for i, (key, value) in enumerate(events):
        event = orjson.loads(value)
        event["time"] = base + timedelta(milliseconds=i)
        out.append((key, orjson.dumps(event, option=orjson.OPT_UTC_Z)))
    return out


async def timed_role(
    settings: Settings,
    role: Role,
    name: str,
    topic: Topic,
    profile: str | None,
    *,
    until: Callable[[], Awaitable[bool]] | None = None,
) -> tuple[int, float, float]:
    """Run ``role`` until its group committed the end of ``topic`` (and ``until`` says
    done): (records, seconds, CPU seconds of this process) from its first commit (joining
    the group is not work). The CPU figure is the steadier one on a machine shared with
    the broker."""
    names = TopicNames(settings.topic_prefix)
    ends = await end_offsets(settings, names(topic))
    total = sum(ends.values())
    group = f"{settings.consumer_group_prefix}.{name}"
    stop = asyncio.Event()
    shared = Shared(Telemetry(), TopicWatch(settings))
    holder = RuleSetHolder(settings.rules_path)
    task = asyncio.create_task(role(settings, stop, shared, holder))
    spy = None
    if profile:
        kind = {"json": "speedscope", "txt": "raw"}.get(profile.rsplit(".", 1)[-1], "flamegraph")
        spy = subprocess.Popen(  # noqa: ASYNC220 - py-spy on this very process
            [
                os.path.join(os.path.dirname(sys.executable), "py-spy"),
                "record",
                "--rate",
                "500",
                "-o",
                profile,
                "--format",
                kind,
                "--pid",
                str(os.getpid()),
            ],
            stdout=subprocess.DEVNULL,
        )
    first: tuple[int, float] | None = None
    cpu = time.process_time()
    deadline = time.monotonic() + max(120.0, total / 100)  # as role_alone's
    admin = make_admin(settings)
    await admin.start()
    try:
        while True:
            await asyncio.sleep(0.1)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} did not finish (or the line did not empty) in time")
            if task.done():
                task.result()
                raise RuntimeError(f"{name} stopped early")
            done = await committed(admin, group, ends)
            now = time.perf_counter()
            if first is None and done > 0:
                first = (done, now)
                cpu = time.process_time()
            if done >= total and (until is None or await until()):
                break
    finally:
        await admin.close()
        if spy is not None:
            spy.send_signal(2)
            spy.wait()
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
    start_n, start_t = first or (0, now)
    return total - start_n, max(now - start_t, 1e-9), time.process_time() - cpu


async def main(args: argparse.Namespace) -> None:
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    configure_logging("json", args.log_level)
    with EmbeddedServices() as services:
        prefix = f"ra{int(time.time())}"
        settings = Settings(
            kafka={"bootstrap_servers": services.bootstrap_servers},
            redis={"url": services.redis_url},
            topic_prefix=prefix,
            consumer_group_prefix=prefix,
        )
        await ensure_topics(settings)
        names = TopicNames(prefix)
        events = inbound_events(args.events, customers=args.customers)
        if not args.past:
            events = restamped(events)
        await produce_all(settings, names(Topic.INBOUND), events)
        if args.passthrough:
            raw, sink = f"{prefix}.raw", f"{prefix}.raw-out"
            await produce_all(settings, raw, events)
            seconds = await passthrough(settings, raw, sink, args.events)
            print(f"passthrough   {args.events / seconds:>9,.0f} msg/s")
        n, seconds, cpu = await timed_role(
            settings, run_router, "router", Topic.INBOUND, args.profile
        )
        print(
            f"router alone  {n / seconds:>9,.0f} events/s  ({n} in {seconds:.2f} s, "
            f"{cpu / n * 1e6:.0f} CPU us/event, {n / cpu:,.0f} events per CPU second)"
        )
        line = None
        client = make_redis(settings)
        if args.agents:
            line = await agents_online(settings, client, args.agents)
        n, seconds, cpu = await timed_role(
            settings,
            run_timers,
            "timers",
            Topic.TICKETS,
            args.profile_timers,
            until=line.empty if line else None,
        )
        print(
            f"timers alone  {n / seconds:>9,.0f} records/s ({n} in {seconds:.2f} s, "
            f"{cpu / n * 1e6:.0f} CPU us/record, {n / cpu:,.0f} records per CPU second)"
        )
        if line:
            assigned, waiting = await line.assigned(), await line.waiting()
            print(f"{'':14}{assigned:,} assigned to {args.agents:,} agents, {waiting:,} waiting")
        await client.aclose()
        n, seconds, cpu = await timed_role(
            settings, metrics_role, "metrics", Topic.TICKETS, args.profile_metrics
        )
        print(
            f"metrics alone {n / seconds:>9,.0f} records/s ({n} in {seconds:.2f} s, "
            f"{cpu / n * 1e6:.0f} CPU us/record, {n / cpu:,.0f} records per CPU second)"
        )
        print(f"written per inbound event by the three roles ({args.events:,} events):")
        for topic in Topic:
            if topic is not Topic.INBOUND:
                records, size = await volume(settings, names(topic))
                print(
                    f"  {topic.value:<21}{records / args.events:>6.2f} records "
                    f"{size / args.events / 1024:>7.2f} KiB"
                )


async def agents_online(settings: Settings, client: RedisClient, n: int) -> Floor:
    floor = Floor(client, settings, n)
    await floor.online()
    return floor


async def metrics_role(
    settings: Settings, stop: asyncio.Event, shared: Shared, _rules: RuleSetHolder
) -> None:
    """The metrics role reads no rules."""
    await run_metrics(settings, stop, shared)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument(
        "--past", action="store_true", help="keep the events' 2026-11-23 times (timers fire)"
    )
    parser.add_argument("--no-passthrough", dest="passthrough", action="store_false")
    parser.add_argument("--agents", type=int, default=0, help="agents online for the timers")
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--profile", default=None)
    parser.add_argument("--profile-timers", default=None)
    parser.add_argument("--profile-metrics", default=None)
    args = parser.parse_args()
    with asyncio.Runner(loop_factory=loop_factory()) as runner:  # as `switchboard run`
        runner.run(main(args))
