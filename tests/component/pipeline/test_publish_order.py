"""One ticket, two writers: the router has committed a change and not yet published it
(its poll is still running) when the ticket's SLA warning falls due. Published first, the
timers role's record would be overtaken by the router's older snapshot, and the compacted
``ticket-state`` topic would keep a ticket that was never warned. The timers role waits
for the router's records instead: the warning fires at the next tick after them, on top
of the router's change, and the last snapshot is the newest."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import orjson
import pytest

from consumers.domain.outputs import LifecycleOutputs
from consumers.outbox import Delivery
from consumers.state import threads
from consumers.state.threads import Commit, RedisThreadStore, ViewRequest
from router.events import Ticket
from router.topics import OutRecord, Topic
from router.vocabulary import EventType
from tests.component.pipeline.test_agent_offline import offered, reasons
from tests.component.pipeline.test_timers_rounds import Timers, overdue_ticket
from tests.component.pipeline.test_unknown_agent import named_to, story
from tests.component.pipeline.test_waiting_line import routed_record

pytestmark = pytest.mark.component


def ticket_state(records: list[OutRecord]) -> list[Ticket]:
    """The snapshots published on ``ticket-state``, in order."""
    return [
        Ticket.model_validate(orjson.loads(r.value or b"{}")["data"]["ticket"])
        for r in records
        if r.topic is Topic.TICKET_STATE
    ]


async def routers_change(
    timers: Timers, router: RedisThreadStore, ticket: Ticket, event: str = "note-1"
) -> Delivery:
    """A note the router applied to ``ticket`` and has not published yet."""
    [view] = await router.views([ViewRequest(ticket.customer_id, event, ticket_id=ticket.id)])
    assert view.ticket is not None
    noted = view.ticket.model_copy(update={"handle_seconds": view.ticket.handle_seconds + 30})
    at = datetime.now(UTC)
    out = LifecycleOutputs(event, noted, at)
    out.add(EventType.TICKET_NOTE_ADDED, agent_id="a-1", text="internal")
    out.snapshot()
    delivery = Delivery(router, timers.outbox.send)
    commit = Commit(ticket.customer_id, event, noted, view.ticket_version, out.records)
    assert await delivery.commit([commit]) == ["OK"]
    return delivery


async def test_a_timer_due_while_the_router_publishes_fires_after_it(timers: Timers) -> None:
    ticket = overdue_ticket(11)
    record = await timers.open(ticket)
    router = RedisThreadStore(timers.redis, ttl_s=3600, prefix=timers.keys.prefix)
    handler = timers.handler()
    timers.lag = datetime.now(UTC) - datetime(2020, 1, 1, tzinfo=UTC)  # no tick fires yet
    await handler.handle([record])  # the timers are scheduled (and the ticket queued)
    timers.lag = timers.lag * 0
    timers.outbox.records.clear()
    delivery = await routers_change(timers, router, ticket)

    await handler.tick()  # the warning is due, and the router has not published
    assert timers.outbox.records == []  # nothing fired, nothing published

    await delivery.flush()  # the router's poll ends: its records go out
    await handler.tick()
    snapshots = ticket_state(timers.outbox.records)
    assert timers.outbox.types()[:3] == [
        EventType.TICKET_NOTE_ADDED,
        EventType.TICKET_SLA_WARNING,
        EventType.TICKET_SLA_BREACHED,
    ]
    assert [s.handle_seconds for s in snapshots] == [30, 30, 30]  # the router's, then on it
    last = snapshots[-1].sla["first_response"]
    assert (last.warned, last.breached) == (True, True)  # the last is the newest
    assert await timers.scheduled() == {}  # warning and breach both fired


async def test_a_writer_that_died_holds_the_ticket_no_longer_than_its_lease(
    timers: Timers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(threads, "PUBLISH_LEASE_MS", 300)
    ticket = overdue_ticket(12)
    await timers.open(ticket)
    router = RedisThreadStore(timers.redis, ttl_s=3600, prefix=timers.keys.prefix)
    await routers_change(timers, router, ticket)  # ... and the router dies unpublished
    other = RedisThreadStore(timers.redis, ttl_s=3600, prefix=timers.keys.prefix)
    moved = ticket.model_copy(update={"priority": "high"})
    late = Commit(ticket.customer_id, "prio-1", moved, 2, [])
    assert await other.commit_many([late], waits=True) == ["PENDING"]
    assert await other.commit_many([late]) == ["CONFLICT"]  # callers that do not wait
    assert await router.commit_many([Commit(ticket.customer_id, "own-1", moved, 2, [])]) == [
        "OK"
    ]  # never held up by its own change
    await asyncio.sleep(0.4)  # the lease lapsed
    later = Commit(ticket.customer_id, "prio-2", moved, 3, [])
    assert await other.commit_many([later], waits=True) == ["OK"]


async def test_a_named_offer_read_before_the_routers_mark_is_gone_is_still_made(
    timers: Timers,
) -> None:
    """The router's record naming an agent is on the topic and read by the timers role a
    moment before the router clears its mark (its records acknowledged, the clear one
    round trip later). The offer waits for that, briefly, and is made: had it counted
    the seat without the offer, nothing would ever offer the ticket again."""
    await timers.agents.presence("maria", "online", [], {"email": 5})
    base = named_to("nobody-yet", 7).model_copy(update={"assignee": None, "assigned_at": None})
    await timers.open(base)
    router = RedisThreadStore(timers.redis, ttl_s=3600, prefix=timers.keys.prefix, defers=False)
    ticket = named_to("maria", 7)
    [view] = await router.views([ViewRequest(ticket.customer_id, "xfer-1", ticket_id=ticket.id)])
    out = LifecycleOutputs("xfer-1", ticket, datetime.now(UTC))
    out.snapshot()
    delivery = Delivery(router, timers.outbox.send)
    change = Commit(ticket.customer_id, "xfer-1", ticket, view.ticket_version, out.records)
    assert await delivery.commit([change]) == ["OK"]

    async def clear_soon() -> None:
        await asyncio.sleep(0.05)
        await delivery.flush()  # the router's clear lands

    clearing = asyncio.create_task(clear_soon())
    await timers.handler().handle([routed_record(ticket)])
    await clearing
    assert story(timers, ticket.id) == [("assigned", "maria")]
    assert await timers.agents.holders([ticket.id]) == ["maria"]


async def test_the_router_goes_over_another_writers_mark(timers: Timers) -> None:
    """The router publishes at the end of its poll, after the records of any change it
    read: it never waits on a mark (two routers waiting on each other's marks inside
    their polls would each hold the other up for the lease)."""
    ticket = overdue_ticket(13)
    await timers.open(ticket)
    one = RedisThreadStore(timers.redis, ttl_s=3600, prefix=timers.keys.prefix)
    await routers_change(timers, one, ticket)  # marked, not published
    router = RedisThreadStore(timers.redis, ttl_s=3600, prefix=timers.keys.prefix, defers=False)
    moved = ticket.model_copy(update={"priority": "high"})
    changed = Commit(ticket.customer_id, "prio-9", moved, 2, [])
    assert await router.commit_many([changed], waits=True) == ["OK"]


async def test_a_writer_clears_only_its_own_mark(timers: Timers) -> None:
    """The timers role commits, the router goes over its mark with its own, and the timers
    role's records are out: its flush must leave the router's mark, or a third change
    could be published before the router's."""
    ticket = overdue_ticket(14)
    await timers.open(ticket)
    first = RedisThreadStore(timers.redis, ttl_s=3600, prefix=timers.keys.prefix)
    router = RedisThreadStore(timers.redis, ttl_s=3600, prefix=timers.keys.prefix, defers=False)
    ours = await routers_change(timers, first, ticket, "t-1")
    theirs = await routers_change(timers, router, ticket, "r-1")
    await ours.flush()
    mark = timers.keys.publishing(ticket.customer_id, ticket.id)
    assert await timers.redis.get(mark) == router.writer.encode()
    third = RedisThreadStore(timers.redis, ttl_s=3600, prefix=timers.keys.prefix)
    moved = ticket.model_copy(update={"priority": "high"})
    assert await third.commit_many([Commit(ticket.customer_id, "x", moved, 3, [])], waits=True) == [
        "PENDING"
    ]
    await theirs.flush()
    assert await timers.redis.exists(mark) == 0


async def test_an_offer_to_an_agent_gone_offline_is_taken_back_past_the_routers_mark(
    timers: Timers,
) -> None:
    """The router's change of a ticket offered to an agent now offline is read a moment
    before the router clears its mark: the offer is still taken back (``agent_offline``)
    at once, not left to wait out its accept time."""
    await timers.agents.presence("bob", "online", [], {"email": 1})
    await timers.agents.presence("bob", "offline", [], {"email": 1})
    ticket = offered("T-reo", "bob")
    await timers.open(ticket)
    router = RedisThreadStore(timers.redis, ttl_s=3600, prefix=timers.keys.prefix, defers=False)
    delivery = await routers_change(timers, router, ticket, "r-reopen")
    [view] = await router.views([ViewRequest(ticket.customer_id, "x", ticket_id=ticket.id)])
    assert view.ticket is not None
    timers.outbox.records.clear()

    async def clear_soon() -> None:
        await asyncio.sleep(0.05)
        await delivery.flush()

    clearing = asyncio.create_task(clear_soon())
    await timers.handler().handle([routed_record(view.ticket)])
    await clearing
    assert reasons(timers.outbox.records) == ["agent_offline"]
