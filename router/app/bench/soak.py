"""``--soak N``: N events through the router, timers, metrics and (idle) ingress roles, with
the resident memory (VmRSS) of each role process at every 10 %.

The events are made and produced a tenth at a time, so the bench's own memory stays
small for a million events; after each tenth the bench waits until the router has
committed everything so far, and the timers and metrics roles every ``tickets`` record
written by then, then reads each role's RSS (``settled_rss``). The broker's memory is not
measured (the embedded one keeps every record).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import TopicPartition

from router.app.bench.events import inbound_events
from router.app.bench.processes import RoleProcesses
from router.app.bench.raw import produce_all
from router.app.bench.solo import TopicEnds
from router.app.embedded import free_port
from router.kafka import make_admin
from router.settings import Settings
from router.topics import Topic, TopicNames

STEPS = 10
ROLES = ("router", "timers", "metrics", "ingress")
FOLLOWERS = ("timers", "metrics")
"""The roles that read what the router writes (``tickets``), waited for at each step."""
RSS_READINGS, RSS_READING_GAP_S = 5, 0.2


@dataclass(frozen=True)
class SoakSample:
    events: int
    seconds: float
    rss_mb: dict[str, float]


async def soak(
    settings: Settings, roles: RoleProcesses, n: int, say: Callable[[str], None]
) -> list[SoakSample]:
    inbound = TopicNames(settings.topic_prefix)(Topic.INBOUND)
    for role in ROLES:
        roles.spawn(settings, role, free_port() if role == "ingress" else None)
    samples = []
    ends = TopicEnds(settings, inbound)
    written = TopicEnds(settings, TopicNames(settings.topic_prefix)(Topic.TICKETS))
    try:
        await ends.consumer.start()
        await written.consumer.start()
        await roles.wait_ready()
        samples.append(SoakSample(0, 0.0, await settled_rss(roles)))
        began = time.perf_counter()
        done = 0
        for step in range(1, STEPS + 1):
            size = n * step // STEPS - done
            if size:
                events = inbound_events(size, max(1, n // 4), start=done)
                await produce_all(settings, inbound, events)
                del events
                done += size
                await _caught_up(settings, roles, "router", await ends.read())
                tickets = await written.read()
                for role in FOLLOWERS:
                    await _caught_up(settings, roles, role, tickets)
            sample = SoakSample(done, time.perf_counter() - began, await settled_rss(roles))
            samples.append(sample)
            rss = ", ".join(f"{role} {mb:.0f}" for role, mb in sample.rss_mb.items())
            say(f"      soak {step * 100 // STEPS:>3} % ({done} events): RSS MB {rss}")
    finally:
        roles.stop()
        await ends.consumer.stop()
        await written.consumer.stop()
    return samples


async def settled_rss(roles: RoleProcesses) -> dict[str, float]:
    """Each role's least VmRSS of ``RSS_READINGS`` readings ``RSS_READING_GAP_S`` apart.
    A poll's records and models are returned to the system within milliseconds of the
    poll, so one reading may catch a role at the top of one (the timers role read 168 MB
    and, a tenth of a second later, 128 MB): a growth figure from single readings says
    when they were taken more than how the role's memory grows. What a role keeps, a
    leak included, stays in every reading."""
    least = roles.rss_mb()
    for _ in range(RSS_READINGS - 1):
        await asyncio.sleep(RSS_READING_GAP_S)
        for role, mb in roles.rss_mb().items():
            least[role] = min(least.get(role, mb), mb)
    return least


async def _caught_up(
    settings: Settings, roles: RoleProcesses, role: str, ends: dict[TopicPartition, int]
) -> None:
    """Until ``role``'s consumer group has committed ``ends``."""
    group = f"{settings.consumer_group_prefix}.{role}"
    admin = make_admin(settings)
    try:
        await admin.start()
        while True:
            roles.check_alive()
            committed = await admin.list_consumer_group_offsets(group, partitions=list(ends))
            offsets = {tp: max(meta.offset, 0) for tp, meta in committed.items()}
            if all(offsets.get(tp, 0) >= end for tp, end in ends.items()):
                return
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


def growth_after_warmup(samples: list[SoakSample]) -> dict[str, float]:
    """Per role: RSS at the end over RSS at 20 % (the warm-up), minus one."""
    if len(samples) < 3:
        return {}
    warm, last = samples[min(2, len(samples) - 1)].rss_mb, samples[-1].rss_mb
    return {r: round(last[r] / warm[r] - 1, 3) for r in last if warm.get(r)}
