"""Seats follow the ticket as it is now, not a snapshot older than that.

The line's offer (``.assigned``, committed by the timers role) and the router's
``.resolved`` of the same ticket, committed just after it, are each published after their
commit, so the ``.resolved`` can reach ``tickets`` first. The timers role then read the
older ``.assigned`` last and held the agent's seat again for a resolved ticket, forever
(found by an audit: an agent left with ``load whatsapp: 2`` on two resolved tickets).
Here the records are fed to the handler in that order, deterministically."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import ConsumerRecord

from consumers.state.threads import Commit, ViewRequest
from router.codec import TYPE_HEADER, encode_event
from router.events import CloudEvent, Ticket
from router.topics import OutRecord, Topic
from router.vocabulary import EventType
from tests.component.pipeline.test_timers_rounds import Timers

pytestmark = pytest.mark.component

AGENT = "ada"
ASSIGNED = "switchboard.ticket.assigned"


def waiting(ticket_id: str) -> Ticket:
    """A WhatsApp ticket nobody has been offered yet, opened five minutes ago."""
    at = datetime.now(UTC) - timedelta(minutes=5)
    return Ticket(
        id=ticket_id,
        channel="whatsapp",
        customer_id=f"C-{ticket_id}",
        queue="general",
        created_at=at,
        updated_at=at,
    )


def consumed(record: OutRecord) -> ConsumerRecord[bytes, bytes]:
    """``record`` as the timers role reads it back from ``tickets``."""
    key, value = record.key_bytes, record.value or b""
    return ConsumerRecord(
        "tickets", 0, 0, 0, 0, key, value, None, len(key or b""), len(value), record.headers
    )


def lifecycle(kind: EventType, ticket: Ticket) -> ConsumerRecord[bytes, bytes]:
    """A lifecycle record of ``ticket`` as the router writes it (keyed, typed header)."""
    event = CloudEvent(
        id=f"{kind.value}-{ticket.id}-{ticket.updated_at.timestamp()}",
        source="/test",
        type=kind,
        data={"ticket": ticket.model_dump(mode="json")},
    )
    return consumed(
        OutRecord(
            Topic.TICKETS,
            ticket.id,
            encode_event(event),
            ((TYPE_HEADER, kind.value.encode()),),
        )
    )


async def offered_by_the_line(timers: Timers, ticket: Ticket) -> ConsumerRecord[bytes, bytes]:
    """``ticket`` waiting, then offered to the online agent by the handler's own sweep:
    its ``.assigned`` record, as published."""
    routed = await timers.open(ticket)
    await timers.handler().handle([routed])  # follows the line, then sweeps: the offer
    assert await timers.agents.holders([ticket.id]) == [AGENT]
    [offer] = [
        r
        for r in timers.outbox.records
        if r.topic == Topic.TICKETS and dict(r.headers).get(TYPE_HEADER) == ASSIGNED.encode()
    ]
    return consumed(offer)


async def resolve(timers: Timers, ticket_id: str) -> ConsumerRecord[bytes, bytes]:
    """The router's resolve, committed on the ticket as it is now: its ``.resolved``."""
    [current] = await timers.store.tickets([ticket_id])
    assert current is not None
    owner = current.customer_id
    [view] = await timers.store.views(
        [ViewRequest(owner, f"resolve-{ticket_id}", ticket_id=ticket_id)]
    )
    at = max(datetime.now(UTC), current.updated_at)
    resolved = current.model_copy(
        update={"status": "resolved", "resolved_at": at, "updated_at": at}
    )
    commit = Commit(owner, f"resolve-{ticket_id}", resolved, view.ticket_version)
    assert await timers.store.commit_many([commit]) == ["OK"]
    return lifecycle(EventType.TICKET_RESOLVED, resolved)


async def test_an_older_offer_read_after_the_resolve_takes_no_seat_back(timers: Timers) -> None:
    await timers.agents.presence(AGENT, "online", [], {"whatsapp": 30})
    offer = await offered_by_the_line(timers, waiting("T-stale-1"))
    resolved = await resolve(timers, "T-stale-1")

    handler = timers.handler()
    await handler.handle([resolved])  # published first: frees the seat
    assert await timers.agents.load(AGENT, "whatsapp") == 0
    await handler.handle([offer])  # the older snapshot, published second

    assert await timers.agents.holders(["T-stale-1"]) == [None]
    assert await timers.agents.load(AGENT, "whatsapp") == 0
    await handler.handle([offer])  # redelivered: still nothing
    assert await timers.agents.held([AGENT]) == {AGENT: []}


async def test_an_older_offer_in_the_same_poll_as_the_resolve_frees_the_seat(
    timers: Timers,
) -> None:
    """Read in one poll, the older ``.assigned`` comes last and hides the ``.resolved``:
    the seat the line claimed for the offer is freed by the ticket as it is now."""
    await timers.agents.presence(AGENT, "online", [], {"whatsapp": 30})
    offer = await offered_by_the_line(timers, waiting("T-stale-2"))
    resolved = await resolve(timers, "T-stale-2")

    await timers.handler().handle([resolved, offer])

    assert await timers.agents.holders(["T-stale-2"]) == [None]
    assert await timers.agents.held([AGENT]) == {AGENT: []}


async def test_the_lapsed_older_offer_leaves_its_agent_online(timers: Timers) -> None:
    """The older ``.assigned`` schedules its accept timeout; when it is due, the ticket as
    it is now (resolved) has no offer to take back, so the agent is not set away."""
    await timers.agents.presence(AGENT, "online", [], {"whatsapp": 30})
    offer = await offered_by_the_line(timers, waiting("T-stale-3"))
    resolved = await resolve(timers, "T-stale-3")
    handler = timers.handler()
    await handler.handle([resolved])
    await handler.handle([offer])

    timers.lag = -timers.rules.assignment.accept_timeout * 2  # the clock past the timeout
    await handler.tick()

    assert await timers.agents.statuses([AGENT]) == {AGENT: "online"}
    assert await timers.agents.held([AGENT]) == {AGENT: []}


async def test_an_older_resolve_read_after_a_reopen_keeps_the_seat(timers: Timers) -> None:
    """The other way round: a ``.resolved`` read after the ticket was reopened and offered
    again frees no seat the ticket holds now."""
    await timers.agents.presence(AGENT, "online", [], {"whatsapp": 30})
    offer = await offered_by_the_line(timers, waiting("T-stale-4"))
    resolved = await resolve(timers, "T-stale-4")
    [current] = await timers.store.tickets(["T-stale-4"])
    assert current is not None
    [view] = await timers.store.views(
        [ViewRequest(current.customer_id, "reopen-T-stale-4", ticket_id="T-stale-4")]
    )
    at = max(datetime.now(UTC), current.updated_at) + timedelta(seconds=1)
    reopened = current.model_copy(update={"status": "open", "resolved_at": None, "updated_at": at})
    commit = Commit(current.customer_id, "reopen-T-stale-4", reopened, view.ticket_version)
    assert await timers.store.commit_many([commit]) == ["OK"]
    handler = timers.handler()
    await handler.handle([lifecycle(EventType.TICKET_REOPENED, reopened)])  # the seat again
    assert await timers.agents.holders(["T-stale-4"]) == [AGENT]

    await handler.handle([resolved])  # the older resolve, read after the reopen
    assert await timers.agents.holders(["T-stale-4"]) == [AGENT]
    await handler.handle([offer])

    assert await timers.agents.holders(["T-stale-4"]) == [AGENT]
    assert await timers.agents.held([AGENT]) == {AGENT: ["T-stale-4"]}
