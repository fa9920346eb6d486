"""When a customer's message changes a ticket: never before the ticket's last change.

A chat's ``sent_at`` or an email's ``Date`` can be a little older than the resolution it
reopens (the customer wrote while the agent was resolving). The reopen, and the metrics
counted from it, belong after the resolution they take back (contract section 8: "in
the reopen's window"), as an action dated too early is taken as of the ticket's last
change.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from consumers.domain.windows import CONTRIBUTORS, window_of
from consumers.state.memory import InMemoryThreadStore
from router.topics import Topic
from router.vocabulary import EventType
from tests.unit.core.test_routing_handler import (
    ALICE,
    AT,
    Broker,
    action_record,
    event,
    handler,
    inbound,
    snapshot,
    snapshot_of,
)

pytestmark = pytest.mark.unit

WINDOW_S = 60


def acted(kind: str, data: dict[str, Any], at: datetime, offset: int) -> Any:
    """An action written to Kafka at ``at`` (a time later than its record's would be
    taken for a wrong clock)."""
    return replace(action_record(kind, data, at, offset), timestamp=int(at.timestamp() * 1000))


def windows_of(lifecycle: dict[str, Any], counter: str) -> set[str]:
    """The window starts where the metrics count ``counter`` for one lifecycle event."""
    at = datetime_of(lifecycle)
    return {
        window_of(c.at or at, WINDOW_S)[0].isoformat()
        for contribute in CONTRIBUTORS
        for c in contribute(lifecycle["type"], lifecycle["data"])
        if c.counter == counter
    }


def datetime_of(lifecycle: dict[str, Any]) -> datetime:
    """The event time a lifecycle record is counted at."""
    return datetime.fromisoformat(lifecycle["time"])


async def test_a_message_sent_before_the_resolution_reopens_it_in_the_resolutions_window() -> None:
    store, broker = InMemoryThreadStore(), Broker()
    await handler(store, broker).handle([inbound(ALICE, "printer broken", 0)])
    ticket = snapshot(broker.take())
    resolve = {"ticket_id": ticket.id, "agent_id": "a1"}
    resolved_at = AT + timedelta(minutes=5)
    await handler(store, broker).handle([acted("ticket.resolved", resolve, resolved_at, 1)])
    [resolved] = [event(r) for r in broker.take() if r.topic is Topic.TICKETS]

    # written a minute before the resolution, arriving after it
    await handler(store, broker).handle([inbound(ALICE, "it broke again", 4)])
    [reopened] = [event(r) for r in broker.take() if r.topic is Topic.TICKETS]

    assert reopened["type"] == EventType.TICKET_REOPENED
    assert reopened["data"]["was_first_contact"] is True
    assert datetime_of(reopened) == resolved_at
    assert snapshot_of(reopened).updated_at == resolved_at
    assert windows_of(reopened, "reopened_after_first_contact") == windows_of(
        resolved, "resolved_first_contact"
    )
    assert windows_of(reopened, "reopened") == windows_of(resolved, "resolved")


async def test_a_message_dated_before_the_tickets_last_change_joins_it_as_of_then() -> None:
    store, broker = InMemoryThreadStore(), Broker()
    await handler(store, broker).handle([inbound(ALICE, "printer broken", 0)])
    ticket = snapshot(broker.take())
    reply = {"ticket_id": ticket.id, "agent_id": "a1", "public": True}
    replied_at = AT + timedelta(minutes=5)
    await handler(store, broker).handle([acted("agent.replied", reply, replied_at, 1)])
    broker.take()

    await handler(store, broker).handle([inbound(ALICE, "thanks, also", 3)])
    [added] = [event(r) for r in broker.take() if r.topic is Topic.TICKETS]

    assert added["type"] == EventType.TICKET_MESSAGE_ADDED
    assert datetime_of(added) == replied_at
    assert snapshot_of(added).last_customer_at == replied_at


async def test_a_message_that_opens_a_new_ticket_keeps_its_own_time() -> None:
    """A message to a closed ticket opens a new one: it changes no existing ticket, so
    it is not moved to the closed ticket's last change."""
    store, broker = InMemoryThreadStore(), Broker()
    await handler(store, broker).handle([inbound(ALICE, "printer broken", 0)])
    ticket = snapshot(broker.take())
    close = {"ticket_id": ticket.id, "agent_id": "a1"}
    closed_at = AT + timedelta(minutes=5)
    await handler(store, broker).handle([acted("ticket.closed", close, closed_at, 1)])
    broker.take()

    await handler(store, broker).handle([inbound(ALICE, "another thing", 3)])
    created = [event(r) for r in broker.take() if r.topic is Topic.TICKETS]

    assert created[0]["type"] == EventType.TICKET_CREATED
    assert snapshot_of(created[0]).id != ticket.id
    assert datetime_of(created[0]) == AT + timedelta(minutes=3)


async def test_whether_a_message_reopens_is_judged_by_when_the_customer_wrote() -> None:
    """Resolved, then rated eight days later (the ticket's last change); a message the
    customer wrote on day six, within the seven-day reopen window, arrives after the
    rating: it reopens the ticket (as of the rating), not a new one."""
    store, broker = InMemoryThreadStore(), Broker()
    await handler(store, broker).handle([inbound(ALICE, "printer broken", 0)])
    ticket = snapshot(broker.take())
    resolve = {"ticket_id": ticket.id, "agent_id": "a1"}
    await handler(store, broker).handle([acted("ticket.resolved", resolve, AT, 1)])
    rated_at = AT + timedelta(days=8)
    rating = {"ticket_id": ticket.id, "score": 2}
    await handler(store, broker).handle([acted("feedback.csat", rating, rated_at, 2)])
    broker.take()

    await handler(store, broker).handle([inbound(ALICE, "still broken", 6 * 24 * 60)])
    [reopened] = [event(r) for r in broker.take() if r.topic is Topic.TICKETS]

    assert reopened["type"] == EventType.TICKET_REOPENED
    assert snapshot_of(reopened).id == ticket.id
    assert datetime_of(reopened) == rated_at
