"""An offer's accept window does not run while the ticket is resolved, as its SLA clocks
do not: a reopen gives an offer not yet accepted the accept time it had left, so the
agent is neither taken off the ticket nor skipped (and nobody notified) the moment it is
reopened. The audit's repro: offered to tt, resolved 3 s later, reopened 24 s after that,
with a 20 s accept timeout. Pure, on a fixed clock, through the functions the router and
the timers role run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from consumers.domain.escalation import fire, schedule
from consumers.domain.lifecycle import apply_action
from consumers.domain.threading import place
from router.actions import AssignmentAccepted, TicketReopened, TicketResolved
from router.events import Customer, Interaction, Ticket
from router.vocabulary import EventType
from rules import loads_ruleset

pytestmark = pytest.mark.unit

RULES = loads_ruleset(
    """
version: 1
queues: {general: {}}
sla:
  fast:
    first_response: 10m
defaults: {queue: general, sla: fast}
assignment: {accept_timeout: 20s}
escalations:
  - name: nobody accepts
    on: assignment.timeout
    then: {priority: high, notify: [team-lead]}
""",
    "offer.yaml",
)
TIMEOUT = RULES.assignment.accept_timeout
OFFERED = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
RESOLVED = OFFERED + timedelta(seconds=3)
REOPENED = RESOLVED + timedelta(seconds=24)  # the 20 s deadline passed while resolved
TIMER = "T-1|assignment|timeout"


def offered_then_resolved() -> Ticket:
    offered = Ticket(
        id="T-1",
        status="open",
        channel="chat",
        channels_seen=["chat"],
        customer_id="C-1",
        contacts=1,
        queue="general",
        assignee="tt",
        assigned_at=OFFERED,
        accepted=False,
        created_at=OFFERED,
        updated_at=OFFERED,
        last_customer_at=OFFERED,
    )
    change = apply_action(offered, TicketResolved(ticket_id="T-1", agent_id="z"), RESOLVED, RULES)
    assert change is not None
    assert change.ticket.accepted is False  # z's resolution accepts nothing for tt
    return change.ticket


def reopened(by: str) -> Ticket:
    resolved = offered_then_resolved()
    if by == "customer":
        message = Interaction(channel="chat", customer=Customer(email="c@example.com"), text="hi")
        placed = place(
            message,
            resolved,
            event_id="e1",
            customer_id="C-1",
            at=REOPENED,
            reopen_window=timedelta(days=7),
            rules=RULES,
        )
        assert placed.kind == "reopen"
        assert placed.ticket is not None
        return placed.ticket
    change = apply_action(resolved, TicketReopened(ticket_id="T-1", agent_id=by), REOPENED, RULES)
    assert change is not None
    return change.ticket


@pytest.mark.parametrize("by", ["customer", "z"])
def test_a_reopen_gives_the_offer_the_accept_time_it_had_left(by: str) -> None:
    """3 s of the 20 s had passed when the ticket was resolved: after the reopen, tt has
    17 s to accept. Nothing times out at the reopening; at the new deadline the offer
    times out as any other, with its escalation."""
    ticket = reopened(by)
    assert (ticket.status, ticket.assignee, ticket.accepted) == ("open", "tt", False)
    deadline = REOPENED + TIMEOUT - (RESOLVED - OFFERED)
    assert schedule(ticket, TIMEOUT)[TIMER] == deadline.timestamp()
    assert fire(ticket, "assignment", "timeout", RULES, REOPENED) is None
    assert fire(ticket, "assignment", "timeout", RULES, deadline - timedelta(seconds=1)) is None
    # accepted in the time left: it stays with tt
    accepted = apply_action(
        ticket, AssignmentAccepted(ticket_id="T-1", agent_id="tt"), deadline, RULES
    )
    assert accepted is not None
    assert TIMER not in schedule(accepted.ticket, TIMEOUT)
    # not accepted: back in line at the new deadline, tt skipped from then
    timed_out = fire(ticket, "assignment", "timeout", RULES, deadline)
    assert timed_out is not None
    assert [e for e, _ in timed_out.events] == [
        EventType.TICKET_QUEUED,
        EventType.TICKET_ESCALATED,
        EventType.TICKET_NOTIFICATION,
    ]
    assert timed_out.ticket.skipped_until == {"tt": deadline + 5 * TIMEOUT}


def test_the_offered_agent_who_reopens_the_ticket_has_accepted_it() -> None:
    """tt reopening the ticket offered to them takes it up, as a reply or a resolution
    by them does: no accept timeout is left to take it from them or to skip them."""
    ticket = reopened("tt")
    assert (ticket.assignee, ticket.accepted) == ("tt", True)
    assert TIMER not in schedule(ticket, TIMEOUT)
    assert fire(ticket, "assignment", "timeout", RULES, REOPENED + TIMEOUT) is None


def test_an_offer_already_timed_out_before_the_resolution_times_out_at_the_reopen() -> None:
    """A deadline passed while the ticket was open, not fired before the resolution, is
    not forgotten: it is due at the reopening, as an SLA breach due then would be."""
    resolved = offered_then_resolved().model_copy(
        update={"assigned_at": OFFERED - TIMEOUT - timedelta(seconds=1)}
    )
    change = apply_action(resolved, TicketReopened(ticket_id="T-1"), REOPENED, RULES)
    assert change is not None
    assert schedule(change.ticket, TIMEOUT)[TIMER] <= REOPENED.timestamp()
    assert fire(change.ticket, "assignment", "timeout", RULES, REOPENED) is not None
