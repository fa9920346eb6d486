"""One bench run, top to bottom: the backends, a fresh topic prefix, the three
measurements in order, the report. Ctrl-C or SIGTERM (``stop``) ends it within seconds,
with every process it started stopped."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

from rich.console import Console

from router.app.bench.events import inbound_events
from router.app.bench.pipeline import measure_pipeline
from router.app.bench.processes import RoleProcesses
from router.app.bench.raw import passthrough, produce_all
from router.app.bench.report import Measured, build_report, print_report
from router.app.embedded import EmbeddedServices
from router.kafka import ensure_topics, make_admin
from router.settings import Settings

T = TypeVar("T")
GRACE_S = 3.0  # for the cancelled measurement to close its Kafka clients
CANCEL_EVERY_S = 0.5


class BenchInterrupted(Exception):
    """``stop`` was set before the report; everything the bench started is stopped."""


async def run_bench(
    settings: Settings, n: int, stop: asyncio.Event, console: Console, *, as_json: bool = False
) -> dict[str, Any]:
    """Measure ``n`` events, print the report and return it. Without configured Kafka or
    Redis it embeds them, like ``dev``. Raises BenchInterrupted once ``stop`` is set."""
    services = EmbeddedServices()
    roles = RoleProcesses()
    try:
        settings = _fresh_prefix(_with_backends(settings, services))
        return await _unless_stopped(_measure(settings, n, roles, console, as_json=as_json), stop)
    finally:
        roles.stop()
        services.stop()


def _with_backends(settings: Settings, services: EmbeddedServices) -> Settings:
    if not settings.kafka.bootstrap_servers:
        services.start_kafka()
        kafka = settings.kafka.model_copy(update={"bootstrap_servers": services.bootstrap_servers})
        settings = settings.model_copy(update={"kafka": kafka})
    if not settings.redis.url:
        services.start_redis()
        redis = settings.redis.model_copy(update={"url": services.redis_url})
        settings = settings.model_copy(update={"redis": redis})
    return settings


def _fresh_prefix(settings: Settings) -> Settings:
    """Topics and consumer groups of their own: nothing of an earlier run is read."""
    prefix = f"bench{int(time.time())}"
    return settings.model_copy(update={"topic_prefix": prefix, "consumer_group_prefix": prefix})


async def _unless_stopped(work: Coroutine[Any, Any, T], stop: asyncio.Event) -> T:
    """``work``'s result, unless ``stop`` is set first: then ``work`` is cancelled, given
    GRACE_S to close its clients, and BenchInterrupted is raised. A failure once ``stop``
    is set (say, Ctrl-C stopped the embedded broker too) is part of the interruption."""
    task = asyncio.create_task(work)
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if not stop.is_set():
        return task.result()
    # The Kafka clients' complaints about a broker that Ctrl-C stopped too are noise now.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    await _cancel(task)
    if task.done() and not task.cancelled() and task.exception() is None:
        return task.result()  # it had finished when the signal came
    raise BenchInterrupted


async def _cancel(task: asyncio.Task[Any]) -> None:
    """Cancel ``task``, and cancel again whatever its clean-up then waits on (a producer
    flushing to a stopped broker, a group join), for GRACE_S at most."""
    deadline = time.monotonic() + GRACE_S
    while not task.done() and time.monotonic() < deadline:
        task.cancel()
        await asyncio.wait({task}, timeout=CANCEL_EVERY_S)


async def _measure(
    settings: Settings, n: int, roles: RoleProcesses, console: Console, *, as_json: bool
) -> dict[str, Any]:
    def say(message: str) -> None:
        if not as_json:
            console.print(message)

    await ensure_topics(settings)
    raw_topic, sink_topic = f"{settings.topic_prefix}.raw", f"{settings.topic_prefix}.raw-out"
    events = inbound_events(n, customers=max(1, n // 4))
    size = sum(len(v) for _, v in events) / n
    broker = settings.kafka.bootstrap_servers
    say(f"[bold]switchboard bench[/]: {n} events of {size:.0f} B, broker {broker}")
    say("1/3 raw produce ...")
    raw_produce_s, _ = await produce_all(settings, raw_topic, events)
    say("2/3 raw passthrough (consume 1, produce 2, ack, commit) ...")
    passthrough_s = await passthrough(settings, raw_topic, sink_topic, n)
    say("3/3 pipeline: ingress, router and metrics roles, one process each ...")
    pipeline = await measure_pipeline(settings, events, roles)
    report = build_report(Measured(n, size, raw_produce_s, passthrough_s, pipeline))
    print_report(report, console, as_json=as_json)
    await _drop_topics(settings)
    return report


async def _drop_topics(settings: Settings) -> None:
    """The embedded broker keeps everything in memory: free what the bench wrote."""
    admin = make_admin(settings)
    try:
        await admin.start()
        mine = [t for t in await admin.list_topics() if t.startswith(settings.topic_prefix + ".")]
        await admin.delete_topics(mine)
    finally:
        await admin.close()
