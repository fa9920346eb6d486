"""Two router processes share 6 partitions; a third joins mid-stream, takes its share,
and leaves (SIGTERM) before the stream ends. Rebalancing twice under load must assign no
event twice (no effect under two ids, one ticket per customer) and lose none."""

from __future__ import annotations

import asyncio
import functools
import os
import re
import time
from pathlib import Path

import httpx
import pytest

from router.codec import decode_event
from router.topic_admin import ensure_topics
from router.topics import Topic
from tests.conftest import read_topic, values
from tests.faults.harness import (
    ChildServer,
    Deployment,
    RoleProcess,
    Scale,
    chat_event,
    effects,
    produce,
    wait_until,
)

pytestmark = [
    pytest.mark.faults,
    pytest.mark.skipif(
        not Scale.from_env().large,
        reason="two rebalances under a paced stream take ~30 s: make faults only",
    ),
]


async def records_handled(process: RoleProcess) -> float:
    """What the process's /metrics says it handled as the router (0 before it listens)."""
    assert process.returncode is None, process.describe()
    async with httpx.AsyncClient(timeout=5) as http:
        try:
            text = (await http.get(f"{process.url}/metrics")).text
        except httpx.TransportError:
            return 0.0
    found = re.findall(
        r'^switchboard_consumer_records_total\{consumer="router"[^}]*\} (\S+)$', text, re.M
    )
    return sum(float(v) for v in found)


async def test_a_third_router_joining_and_leaving_mid_stream_assigns_nothing_twice(
    broker: ChildServer, valkey: ChildServer, scale: Scale, tmp_path: Path
) -> None:
    deployment = Deployment(broker, valkey, f"r{os.getpid()}", tmp_path, partitions=6)
    settings = deployment.settings()
    await ensure_topics(settings)
    total, customers = scale.pick(900, 10_000), scale.pick(150, 1_000)
    events = [
        chat_event(f"rb-{n}", f"rb{n % customers}@example.com", f"m {n}") for n in range(total)
    ]
    accepted = {decode_event(value).id for _, value in events}
    env = {"SWITCHBOARD_KAFKA_MAX_POLL_RECORDS": "20"}
    try:
        pair = [deployment.spawn("router", env=env) for _ in range(2)]
        await asyncio.gather(*(p.wait_ready(60) for p in pair))
        sent = 0
        chunk, pause = 30, scale.pick(0.5, 0.1)  # the stream lasts ~15 s small, ~35 s large

        async def stream() -> None:
            nonlocal sent
            for start in range(0, total, chunk):
                await produce(settings, Topic.INBOUND, events[start : start + chunk])
                sent = start + chunk
                await asyncio.sleep(pause)

        started = time.monotonic()
        load = asyncio.create_task(stream())
        try:

            async def fifth() -> bool:
                return sent >= total // 5

            await wait_until(fifth, 60, "a fifth of the stream")
            third = deployment.spawn("router", env=env)
            joined_at = sent
            # Mid-stream, the third router takes its share of partitions and works...
            handled = await wait_until(
                functools.partial(records_handled, third), 60, "the third router working"
            )
            # ...then leaves (SIGTERM: a graceful leave), while the stream goes on.
            assert third.terminate(20) == 0, third.describe()
            left_at = sent
            assert left_at < total, "the third router must leave mid-stream"
            await asyncio.wait_for(load, 120)
        finally:
            load.cancel()
        produced_s = time.monotonic() - started

        async def all_done() -> list[dict[str, object]] | None:
            records = values(
                await read_topic(settings, Topic.TICKETS, expect=1, timeout=10, settle=0.5)
            )
            return records if not effects(records, accepted).lost else None

        records = await wait_until(
            all_done, scale.pick(120, 600), "every event's effect", every=1.0
        )
        found = effects(records, accepted)
        assert not found.stray
        assert not found.doubled, f"{len(found.doubled)} events handled twice under new ids"
        assert len(found.tickets_per_customer) == customers
        assert set(found.tickets_per_customer.values()) == {1}, "one ticket per customer"
        for process in pair:
            assert process.returncode is None, process.describe()
        print(  # the figures of the closing note, shown with -s
            f"rebalance: {total} events on 6 partitions in {produced_s:.1f}s, third router "
            f"joined after {joined_at}, handled {handled:.0f}, left after {left_at}; 0 lost, "
            f"0 doubled, {found.republished} re-published copies under the same id"
        )
    finally:
        deployment.stop_all()
