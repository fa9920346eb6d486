"""Redis comes back empty under a running router: the router stops with one line naming
the repair instead of opening a second ticket for every customer, refuses to start again
until told, and runs with ``--accept-empty-state``."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from router.settings import Settings
from router.topics import Topic
from router.vocabulary import EventType
from tests.conftest import read_topic, values
from tests.faults.harness import (
    ChildServer,
    Deployment,
    Scale,
    chat_event,
    error_lines,
    line_text,
    produce,
    wait_until,
)

pytestmark = pytest.mark.faults

REBUILD = "switchboard state rebuild"
ACCEPT = "--accept-empty-state"


async def created(settings: Settings, expect: int) -> list[dict[str, Any]]:
    """The distinct ``ticket.created`` events on the tickets topic (re-published copies
    share their id)."""
    records = values(await read_topic(settings, Topic.TICKETS, expect=expect, timeout=5))
    unique = {r["id"]: r for r in records if r["type"] == EventType.TICKET_CREATED}
    return list(unique.values())


def names_the_repair(line: dict[str, Any]) -> bool:
    text = line_text(line)
    return REBUILD in text and ACCEPT in text and ("marker" in text or "epoch" in text)


@pytest.mark.slow
async def test_router_stops_when_redis_lost_its_state(
    deployment: Deployment, valkey: ChildServer, scale: Scale
) -> None:
    customers = scale.pick(5, 100)
    settings = deployment.settings()
    router = deployment.spawn("router")
    await router.wait_ready()

    first = [chat_event(f"a{i}", f"c{i}@example.com", "first") for i in range(customers)]
    await produce(settings, Topic.INBOUND, first)

    async def all_created() -> bool:
        return len(await created(settings, customers)) >= customers

    await wait_until(all_created, 30, "a ticket for every customer")

    valkey.restart_empty()
    restarted = time.monotonic()
    second = [chat_event(f"b{i}", f"c{i}@example.com", "second") for i in range(customers)]
    await produce(settings, Topic.INBOUND, second)

    code = await router.wait_exit(12)
    assert code is not None, f"still running 12 s after Redis lost its data: {router.describe()}"
    assert code != 0, router.describe()
    assert time.monotonic() - restarted < 12
    lines = router.log_lines()
    repair = [line for line in error_lines(lines) if names_the_repair(line)]
    assert len(repair) == 1, f"one error line naming the repair: {router.describe()}"

    tickets = await created(settings, customers)
    per_customer = Counter(t["data"]["ticket"]["customer_id"] for t in tickets)
    assert len(per_customer) == customers
    assert set(per_customer.values()) == {1}, "no second ticket for a customer who had one"

    again = deployment.spawn("router")
    assert await again.wait_exit(30) == 2, again.describe()
    stderr = again.stderr_lines()
    assert len(stderr) == 1, again.describe()
    assert ACCEPT in stderr[0], stderr[0]

    accepted = deployment.spawn("router", args=[ACCEPT])
    await accepted.wait_ready()
    assert accepted.returncode is None
    assert accepted.terminate() == 0, accepted.describe()
