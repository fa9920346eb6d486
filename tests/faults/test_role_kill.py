"""``kill -9`` of each role, one at a time, mid-stream, then a restart: every event the
ingress acknowledged (``202``) has its lifecycle effect, none has it twice under another
id, every SLA timer fires exactly once, and the metric windows equal the recount.

Clients post web forms (each with an Idempotency-Key) to whichever ingress is up,
retrying until they get a ``202``; the rules' SLA clocks run for seconds, so the timers
role fires a warning, a breach and an escalation for every ticket while the test runs.
``make test`` kills all four roles in turn in one stream of a few hundred events;
``make faults`` kills each role on its own in a stream of 5,000.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from router.app.verify import Period, verify
from router.events import utcnow
from router.topics import Topic
from router.vocabulary import EventType
from tests.conftest import read_topic, values
from tests.faults.harness import (
    Deployment,
    RoleProcess,
    Scale,
    effects,
    end_offsets,
    wait_consumed,
    wait_until,
)

pytestmark = pytest.mark.faults

RULES = Path(__file__).with_name("fast-sla.yaml")
ROLES = ("ingress", "router", "timers", "metrics")
EFFECTS = (EventType.TICKET_CREATED, EventType.TICKET_MESSAGE_ADDED)
TIMERS = (EventType.TICKET_SLA_WARNING, EventType.TICKET_SLA_BREACHED)
SCALE = Scale.from_env()
VICTIMS = [ROLES] if not SCALE.large else [(role,) for role in ROLES]


@dataclass
class Stream:
    """The load: ``total`` web forms from ``customers`` customers, posted by ``clients``
    concurrent clients at about ``rate`` per second, each retried until acknowledged."""

    total: int
    customers: int
    clients: int
    rate: float
    accepted: dict[int, str] = field(default_factory=dict)  # form -> acknowledged event id
    retries: int = 0
    next: int = 0

    def form(self, n: int) -> dict[str, str]:
        return {
            "email": f"k{n % self.customers}@example.com",
            "subject": f"order {n % self.customers}",
            "message": f"message {n}",
        }


async def post_all(stream: Stream, ingress: dict[str, RoleProcess]) -> None:
    """Every form to the ingress that is up now (a restarted one has a new port)."""

    async def client(http: httpx.AsyncClient) -> None:
        while stream.next < stream.total:
            n = stream.next
            stream.next += 1
            started = time.monotonic()
            while True:
                try:
                    resp = await http.post(
                        f"{ingress['now'].url}/v1/channels/webform",
                        json=stream.form(n),
                        headers={"Idempotency-Key": f"form-{n}"},
                    )
                    if resp.status_code == 202:
                        stream.accepted[n] = str(resp.json()["id"])
                        break
                    assert resp.status_code == 503, resp.text
                except httpx.TransportError:
                    pass  # the ingress is down: retry against its successor
                stream.retries += 1
                assert time.monotonic() - started < 90, f"form {n} never accepted"
                await asyncio.sleep(0.2)
            await asyncio.sleep(stream.clients / stream.rate)

    async with httpx.AsyncClient(timeout=15) as http:
        await asyncio.gather(*(client(http) for _ in range(stream.clients)))


@pytest.mark.slow
@pytest.mark.parametrize("victims", VICTIMS, ids="+".join)
async def test_kill_9_of_a_role_mid_stream_loses_and_doubles_nothing(
    deployment: Deployment, scale: Scale, victims: tuple[str, ...]
) -> None:
    env = {"SWITCHBOARD_RULES_PATH": str(RULES), "SWITCHBOARD_KAFKA_MAX_POLL_RECORDS": "50"}
    started_at = utcnow()
    running = {role: deployment.spawn(role, env=env) for role in ROLES}
    await asyncio.gather(*(p.wait_ready(60) for p in running.values()))
    stream = Stream(
        total=scale.pick(240, 5_000),
        customers=scale.pick(40, 500),
        clients=scale.pick(4, 16),
        rate=scale.pick(30.0, 150.0),
    )
    ingress = {"now": running["ingress"]}
    load = asyncio.create_task(post_all(stream, ingress))
    figures: list[str] = []
    recovering: list[asyncio.Task[None]] = []

    async def recovered(role: str, process: RoleProcess, at_kill: int, killed: float) -> None:
        # A consumer role is ready once its group has rebalanced past the dead member
        # (about its session timeout): the stream and the next kill go on meanwhile.
        await process.wait_ready(90)
        figures.append(f"{role}: killed at {at_kill} acknowledged, ready again after "
                       f"{time.monotonic() - killed:.1f}s")  # fmt: skip

    try:
        for i, role in enumerate(victims):
            threshold = (i + 1) * stream.total // (len(victims) + 1)

            async def reached(threshold: int = threshold) -> bool:
                assert not load.done() or load.exception() is None, load.exception()
                return len(stream.accepted) >= threshold

            await wait_until(reached, scale.pick(60, 300), f"{threshold} forms before {role}")
            at_kill = len(stream.accepted)
            assert at_kill < stream.total, f"the kill of {role} must land mid-stream"
            running[role].kill9()
            killed = time.monotonic()
            running[role] = deployment.spawn(role, env=env)
            if role == "ingress":
                await running[role].wait_ready(60)  # the clients wait for it anyway
                ingress["now"] = running[role]
            recovering.append(asyncio.create_task(recovered(role, running[role], at_kill, killed)))
        await asyncio.wait_for(load, scale.pick(120, 600))
        await asyncio.gather(*recovering)
    finally:
        for task in [load, *recovering]:
            task.cancel()
    assert len(stream.accepted) == stream.total

    settings = deployment.settings()
    accepted = set(stream.accepted.values())
    assert len(accepted) == stream.total, "one event id per distinct form"

    async def lifecycle() -> list[dict[str, Any]]:
        return values(await read_topic(settings, Topic.TICKETS, expect=1, timeout=10, settle=0.5))

    async def all_effects_and_timers() -> list[dict[str, Any]] | None:
        records = await lifecycle()
        unique = {r["id"]: r for r in records}.values()
        effects = {r["data"]["interaction"]["event_id"] for r in unique if r["type"] in EFFECTS}
        tickets = {r["data"]["ticket"]["id"] for r in unique if r["type"] in EFFECTS}
        breached = {r["data"]["ticket"]["id"] for r in unique if r["type"] in TIMERS[1:]}
        return records if accepted <= effects and tickets <= breached else None

    records = await wait_until(
        all_effects_and_timers, scale.pick(90, 300), "every effect and every breach", every=1.0
    )
    unique = {r["id"]: r for r in records}
    found = effects(records, accepted)
    assert not found.lost, f"{len(found.lost)} acknowledged events without their effect"
    assert not found.stray, f"{len(found.stray)} effects of events no client was told about"
    assert not found.doubled, f"{len(found.doubled)} events with effects under different ids"
    assert len(found.tickets_per_customer) == stream.customers
    assert set(found.tickets_per_customer.values()) == {1}, "one ticket per customer"

    fired: defaultdict[tuple[str, str, str], set[str]] = defaultdict(set)
    for r in unique.values():
        if r["type"] in TIMERS:
            fired[(r["data"]["ticket"]["id"], r["data"]["target"], r["type"])].add(r["id"])
    twice = {k: ids for k, ids in fired.items() if len(ids) > 1}
    assert not twice, f"timers fired twice under different ids: {list(twice.items())[:5]}"
    breaches = sum(1 for (_, _, kind) in fired if kind == EventType.TICKET_SLA_BREACHED)
    assert breaches == stream.customers

    # the metric windows, once the metrics role has read all of it
    everything = await read_topic(settings, Topic.TICKETS, expect=len(records), settle=1.0)
    await wait_consumed(settings, "metrics", Topic.TICKETS, end_offsets(everything), 120)
    period = Period(started_at - timedelta(hours=1), utcnow() + timedelta(hours=1))
    # every window as documented, breaches in the window of their due time
    for _ in range(10):  # a record the metrics role has yet to count: once more, shortly
        result = await verify(settings, period)
        if result.ok:
            break
        await asyncio.sleep(2)
    shown = "\n".join(str(d) for d in result.differences[:25])
    assert result.ok, f"{len(result.differences)} metric differences:\n{shown}"
    print(  # the figures of the closing note, shown with -s
        f"kill -9 {'+'.join(victims)}: {stream.total} sent, {len(stream.accepted)} "
        f"acknowledged ({stream.retries} retries), 0 lost, 0 doubled, "
        f"{found.republished} re-published copies under the same id, "
        f"{breaches} breaches once each, "
        f"{result.windows_recounted} metric windows equal; " + "; ".join(figures)
    )
