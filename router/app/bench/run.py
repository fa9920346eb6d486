"""One bench run, top to bottom: the backends, a fresh topic prefix, the measurements in
order (each announced by a progress line), the report. Ctrl-C or SIGTERM (``stop``) ends
it within seconds, with every process it started stopped."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

from rich.console import Console
from rich.markup import escape

from router.app.bench import fs_passthrough
from router.app.bench.events import inbound_events
from router.app.bench.ingress_load import measure_ingress
from router.app.bench.latency import LoadPlan, passthrough_loads
from router.app.bench.pipeline import measure_pipeline
from router.app.bench.processes import RoleProcesses
from router.app.bench.raw import passthrough, produce_all
from router.app.bench.redis_usage import redis_counts
from router.app.bench.report import Measured, build_report, print_report
from router.app.bench.scale import PROCESSES, scale_out
from router.app.bench.soak import soak as soak_run
from router.app.bench.solo import role_alone
from router.app.bench.staffed import AGENTS, staffed_timers
from router.app.console import done_or_stopped
from router.app.embedded import EmbeddedServices, on_embedded_broker
from router.kafka import make_admin
from router.settings import Settings
from router.topic_admin import ensure_topics
from router.topics import Topic, TopicNames

T = TypeVar("T")
GRACE_S = 3.0  # for the cancelled measurement to close its Kafka clients
CANCEL_EVERY_S = 0.5


class BenchInterrupted(Exception):
    """``stop`` was set before the report; everything the bench started is stopped."""


async def run_bench(
    settings: Settings,
    n: int,
    stop: asyncio.Event,
    console: Console,
    *,
    as_json: bool = False,
    soak: int = 0,
    progress: Console | None = None,
) -> dict[str, Any]:
    """Measure ``n`` events (and a soak of ``soak`` events when not 0), print the report
    and return it. Progress lines go to ``progress`` (default: ``console``; with
    ``as_json``, give stderr's: stdout holds the one JSON object). Without configured
    Kafka or Redis it embeds them, like ``dev``. Raises BenchInterrupted once ``stop`` is
    set."""
    services = EmbeddedServices()
    roles = RoleProcesses()
    try:
        settings = _fresh_prefix(_with_backends(settings, services))
        work = _measure(
            settings, n, roles, console, progress or console, as_json=as_json, soak=soak
        )
        return await _unless_stopped(work, stop)
    finally:
        roles.stop()
        services.stop()


def _with_backends(settings: Settings, services: EmbeddedServices) -> Settings:
    if not settings.kafka.bootstrap_servers:
        services.start_kafka()
        kafka = on_embedded_broker(settings.kafka, services.bootstrap_servers)
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
    task = await done_or_stopped(work, stop)
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
    settings: Settings,
    n: int,
    roles: RoleProcesses,
    console: Console,
    progress: Console,
    *,
    as_json: bool,
    soak: int,
) -> dict[str, Any]:
    began = time.monotonic()

    def say(message: str) -> None:
        line = f"{time.monotonic() - began:6.1f} s  {message}"
        progress.print(line, highlight=False, soft_wrap=True)

    with_faststream = fs_passthrough.available()
    steps = 9 + bool(soak) + with_faststream
    step = iter(range(1, steps + 1))
    await ensure_topics(settings)
    raw_topic, sink_topic = f"{settings.topic_prefix}.raw", f"{settings.topic_prefix}.raw-out"
    events = inbound_events(n, customers=max(1, n // 4))
    size = sum(len(v) for _, v in events) / n
    plan = LoadPlan.for_events(n)
    broker = settings.kafka.bootstrap_servers
    progress.print(
        f"[bold]switchboard bench[/]: {n} events of {size:.0f} B, broker {escape(str(broker))}"
    )
    say(f"{next(step)}/{steps} raw produce ...")
    raw_produce_s, _ = await produce_all(settings, raw_topic, events)
    say(f"{next(step)}/{steps} raw passthrough (consume 1, produce 2, ack, commit) ...")
    passthrough_s = await passthrough(settings, raw_topic, sink_topic, n)
    faststream_s = None
    if with_faststream:
        say(f"{next(step)}/{steps} FastStream batch subscriber, the same passthrough ...")
        fs_sink = f"{settings.topic_prefix}.fs-out"
        faststream_s = await fs_passthrough.faststream_passthrough(settings, raw_topic, fs_sink, n)
    say(f"{next(step)}/{steps} pipeline: ingress, router and metrics roles, one process each ...")
    pipeline = await measure_pipeline(settings, events, roles, plan, say)
    say(f"{next(step)}/{steps} passthrough at the same steady loads ...")
    raw_loads = await passthrough_loads(settings, plan, say)
    solo = await _side_prefix(settings, "solo")
    say(f"{next(step)}/{steps} router alone on {n} events pre-filled in inbound ...")
    await produce_all(solo, TopicNames(solo.topic_prefix)(Topic.INBOUND), events)
    before = await redis_counts(solo)
    alone = {"router": await role_alone(solo, roles, "router", Topic.INBOUND, say)}
    after = await redis_counts(solo)
    redis_per_event = before.per(after, n) if before and after else None
    say(f"{next(step)}/{steps} timers alone, then metrics alone, on the router's tickets ...")
    for role in ("timers", "metrics"):
        alone[role] = await role_alone(solo, roles, role, Topic.TICKETS, say)
    say(f"{next(step)}/{steps} timers with {AGENTS:,} agents online, on new tickets ...")
    staffed = await staffed_timers(await _side_prefix(settings, "staffed"), roles, events, say)
    say(
        f"{next(step)}/{steps} scale-out: router, then timers, {PROCESSES} processes each, "
        f"on the same {n} events ..."
    )
    scaled = await scale_out(await _side_prefix(settings, "scale"), roles, events, alone, say)
    say(f"{next(step)}/{steps} ingress (webform, email) next to a minimal ASGI app ...")
    ingress = await measure_ingress(solo, roles, max(300, min(6000, n)), say)
    soaked = None
    if soak:
        say(f"{next(step)}/{steps} soak: {soak} events, RSS of each role at every 10 % ...")
        soaked = await soak_run(await _side_prefix(settings, "soak"), roles, soak, say)
    measured = Measured(
        n,
        size,
        raw_produce_s,
        passthrough_s,
        pipeline,
        faststream_s=faststream_s,
        alone=alone,
        ingress=ingress,
        passthrough_loads=raw_loads,
        load_seconds=plan.seconds,
        soak=soaked,
        redis_per_event=redis_per_event,
        scale=scaled,
        staffed=staffed,
    )
    report = build_report(measured)
    print_report(report, console, as_json=as_json)
    await _drop_topics(settings)
    return report


async def _side_prefix(settings: Settings, tag: str) -> Settings:
    """Topics, groups and Redis keys apart from the pipeline's, for a measurement that must
    not see its events (the same ids would be duplicates there)."""
    prefix = f"{settings.topic_prefix}{tag}"
    side = settings.model_copy(update={"topic_prefix": prefix, "consumer_group_prefix": prefix})
    await ensure_topics(side)
    return side


async def _drop_topics(settings: Settings) -> None:
    """The embedded broker keeps everything in memory: free what the bench wrote."""
    admin = make_admin(settings)
    try:
        await admin.start()
        # the pipeline's topics and those of the side prefixes (``_side_prefix``)
        mine = [t for t in await admin.list_topics() if t.startswith(settings.topic_prefix)]
        await admin.delete_topics(mine)
    finally:
        await admin.close()
