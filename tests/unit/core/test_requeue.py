"""A ticket leaves its assignee for the line when the timers role moves it to another
queue (an escalation, as a transfer does), or when the agent it was offered to goes away
or offline before accepting it; work an agent accepted stays theirs. A skip that ended
while the ticket was held ends with its return to the line, adding no round."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from consumers.domain.assignment import needs, requeued, waiting_member, withdrawn
from consumers.domain.escalation import fire, schedule
from consumers.domain.lifecycle import apply_action
from consumers.outbox import commit_for
from router.actions import AssignmentAccepted, TicketReopened, TicketTransferred
from router.events import SlaClock, Ticket
from router.vocabulary import EventType
from rules import loads_ruleset

pytestmark = pytest.mark.unit

RULES = loads_ruleset(
    """
version: 1
queues:
  general: {}
  tech: {skills: [tech]}
  tech-t2: {skills: [tech, tier2]}
sla:
  standard:
    first_response: 1h
defaults: {queue: general, priority: normal, sla: standard}
assignment: {accept_timeout: 2m}
escalations:
  - name: breach to tier 2
    on: sla.first_response.breached
    if: {queue: tech}
    then: {queue: tech-t2, priority: urgent, tags: [escalated]}
  - name: late in general
    on: sla.first_response.breached
    if: {queue: general}
    then: {priority: urgent}
  - name: nobody accepted
    on: assignment.timeout
    then: {notify: [team-lead]}
"""
)
AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
DUE = AT + timedelta(hours=1)


def ticket(**kw: object) -> Ticket:
    base: dict[str, object] = {
        "id": "T-1",
        "channel": "chat",
        "customer_id": "C-1",
        "status": "open",
        "queue": "tech",
        "sla_policy": "standard",
        "created_at": AT,
        "updated_at": AT,
        "sla": {"first_response": SlaClock(due=DUE)},
    }
    return Ticket.model_validate({**base, **kw})


def test_an_escalation_to_another_queue_takes_the_ticket_to_that_queues_line() -> None:
    held = ticket(assignee="tt", assigned_at=AT, accepted=True)
    change = fire(held, "first_response", "breached", RULES, DUE)
    assert change is not None
    moved = change.ticket
    assert (moved.queue, moved.priority) == ("tech-t2", "urgent")
    assert (moved.assignee, moved.accepted, moved.assignment_round) == (None, False, 1)
    assert [e for e, _ in change.events] == [
        EventType.TICKET_SLA_BREACHED,
        EventType.TICKET_ESCALATED,
        EventType.TICKET_QUEUED,
    ]
    queued = change.events[-1][1]
    assert queued == {"queue": "tech-t2", "reason": "escalated", "agent_id": "tt"}
    assert waiting_member(moved) is not None  # in the tier-2 line, for its agents
    assert needs(moved) == "chat|tech-t2"


def test_an_escalation_that_keeps_the_queue_keeps_the_assignee() -> None:
    held = ticket(queue="general", assignee="tt", assigned_at=AT, accepted=True)
    change = fire(held, "first_response", "breached", RULES, DUE)
    assert change is not None
    assert (change.ticket.priority, change.ticket.assignee) == ("urgent", "tt")
    assert change.ticket.accepted is True
    assert EventType.TICKET_QUEUED not in [e for e, _ in change.events]


def test_an_escalation_to_another_queue_that_names_an_agent_offers_it_to_them() -> None:
    rules = loads_ruleset(
        """
version: 1
queues: {general: {}, vip: {}}
sla: {standard: {first_response: 1h}}
defaults: {queue: general, sla: standard}
escalations:
  - name: to the lead
    on: sla.first_response.breached
    then: {queue: vip, assign: lead}
"""
    )
    held = ticket(queue="general", assignee="tt", assigned_at=AT, accepted=True)
    change = fire(held, "first_response", "breached", rules, DUE)
    assert change is not None
    assert (change.ticket.queue, change.ticket.assignee) == ("vip", "lead")
    assert EventType.TICKET_QUEUED not in [e for e, _ in change.events]


@pytest.mark.parametrize("status", ["offline", "away"])
def test_an_offer_is_withdrawn_when_its_agent_leaves_without_skip_or_escalation(
    status: str,
) -> None:
    offered = ticket(assignee="a1", assigned_at=AT)
    left_at = AT + timedelta(seconds=30)
    change = withdrawn(offered, "a1", status, left_at)
    assert change is not None
    back = change.ticket
    assert change.events == [
        (EventType.TICKET_QUEUED, {"queue": "tech", "reason": f"agent_{status}", "agent_id": "a1"})
    ]
    assert (back.assignee, back.assignment_round, back.queued_at) == (None, 1, left_at)
    assert (back.skipped_until, back.declined_by, back.unaccepted) == ({}, [], 0)
    assert waiting_member(back) is not None
    # the accept timeout is gone with the offer: nothing escalates as "nobody accepted"
    assert "T-1|assignment|timeout" not in schedule(back, RULES.assignment.accept_timeout)
    assert fire(back, "assignment", "timeout", RULES, AT + timedelta(minutes=2)) is None


def test_accepted_or_others_tickets_stay_when_an_agent_leaves() -> None:
    assert (
        withdrawn(ticket(assignee="a1", assigned_at=AT, accepted=True), "a1", "offline", AT) is None
    )
    assert withdrawn(ticket(assignee="a2", assigned_at=AT), "a1", "offline", AT) is None
    resolved = ticket(assignee="a1", assigned_at=AT, status="resolved")
    assert withdrawn(resolved, "a1", "offline", AT) is None


def test_a_skip_that_ended_while_the_ticket_was_held_adds_no_round_when_it_returns() -> None:
    """The audit's two ``.queued`` in one instant (``rerouted`` in round 13, then
    ``skip_ended`` in round 14): a1's skip ended while carol held the ticket, so the new
    round of its return to the line offers it to a1 already. The ended skip goes with
    that ``.queued``: no retry is due, no second record, no extra round; a2's skip, still
    running, is kept and ends later as usual."""
    a1_until, a2_until = AT + timedelta(minutes=5), AT + timedelta(hours=1)
    held = ticket(
        queue="general",
        assignee="carol",
        assigned_at=AT,
        accepted=True,
        assignment_round=13,
        skipped_until={"a1": a1_until, "a2": a2_until},
    )
    moved_at = AT + timedelta(minutes=20)
    change = requeued(held, held.model_copy(update={"queue": "tech"}), "rerouted", moved_at)
    back = change.ticket
    assert [e for e, _ in change.events] == [EventType.TICKET_QUEUED]
    assert (back.assignment_round, back.skipped_until) == (14, {"a2": a2_until})
    assert schedule(back)["T-1|assignment|retry"] == a2_until.timestamp()
    assert fire(back, "assignment", "retry", RULES, moved_at) is None


def test_a_resolved_ticket_moved_to_another_queue_waits_in_its_line_when_reopened() -> None:
    """A transfer while the ticket is resolved is recorded; the agent who had it (without
    the new queue's skills) does not get it back with the reopen: it waits in the new
    queue's line."""
    resolved = ticket(queue="general", assignee="a2", accepted=True, status="resolved")
    moved = apply_action(resolved, TicketTransferred(ticket_id="T-1", queue="tech"), AT, RULES)
    assert moved is not None
    assert [etype for etype, _ in moved.events] == [EventType.TICKET_TRANSFERRED]
    assert moved.events[0][1]["to"] == {"queue": "tech", "agent_id": None}
    reopened = apply_action(moved.ticket, TicketReopened(ticket_id="T-1"), AT, RULES)
    assert reopened is not None
    assert (reopened.ticket.status, reopened.ticket.assignee) == ("open", None)
    assert waiting_member(reopened.ticket) is not None


def test_an_accept_of_a_closed_tickets_old_offer_changes_nothing() -> None:
    offered = ticket(assignee="a1", assigned_at=AT)
    for status in ("resolved", "closed"):
        settled = offered.model_copy(update={"status": status})
        accept = AssignmentAccepted(ticket_id="T-1", agent_id="a1")
        assert apply_action(settled, accept, AT, RULES) is None


def test_what_the_timers_role_publishes_names_it_as_the_source() -> None:
    """CloudEvents ``source`` says which producer wrote a record: the breach, its
    escalation and the re-queue come from the timers role, not the router."""
    change = fire(ticket(), "first_response", "breached", RULES, DUE)
    assert change is not None
    commit = commit_for("C-1", "breach-1", change, 1, DUE)
    sources = {orjson.loads(r.value or b"")["source"] for r in commit.outbox}
    assert sources == {"/switchboard/timers"}


def test_an_unaccepted_offer_escalated_to_another_queue_is_queued_once_in_that_queue() -> None:
    rules = loads_ruleset(
        """
version: 1
queues: {tech: {skills: [tech]}, tech-t2: {skills: [tech, tier2]}}
sla: {standard: {first_response: 1h}}
defaults: {queue: tech, sla: standard}
assignment: {accept_timeout: 2m}
escalations:
  - name: nobody accepted
    on: assignment.timeout
    then: {queue: tech-t2}
"""
    )
    offered = ticket(assignee="tt", assigned_at=AT)
    change = fire(offered, "assignment", "timeout", rules, AT + timedelta(minutes=2))
    assert change is not None
    assert [e for e, _ in change.events] == [EventType.TICKET_QUEUED, EventType.TICKET_ESCALATED]
    assert change.events[0][1] == {"queue": "tech-t2", "reason": "accept_timeout", "agent_id": "tt"}
    moved = change.ticket
    assert (moved.queue, moved.assignee, moved.assignment_round) == ("tech-t2", None, 1)
    assert "tt" in moved.skipped_until  # the agent who let it lapse is still passed over
    assert needs(moved) == "chat|tech-t2"
