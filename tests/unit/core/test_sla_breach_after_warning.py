"""A warning escalation that raises the priority re-times the running clock: a due time
the new priority puts before the change is due at the change, so the breach is dated
then, never before the warning that caused it. Pure, on a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from consumers.domain.decisions import apply_decision
from consumers.domain.escalation import Timer, fire, schedule
from consumers.timers import fired_at
from router.events import SlaClock, Ticket
from router.vocabulary import EventType
from rules import Decision, loads_ruleset
from rules.facts import facts

pytestmark = pytest.mark.unit

RULES = loads_ruleset(
    """
version: 1
queues: {general: {}}
sla:
  std:
    first_response: {urgent: 30m, normal: 1h}
    warn_before: 15m
defaults: {queue: general, sla: std}
escalations:
  - name: hurry
    on: sla.first_response.warning
    then: {priority: urgent}
""",
    "rules.yaml",
)
AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
WARNED_AT = AT + timedelta(minutes=45)
FIRST = "first_response"


def normal_ticket() -> Ticket:
    """Opened at 10:00 on ``std``, normal: due 11:00, warning at 10:45."""
    clock = SlaClock(due=AT + timedelta(hours=1), warn_at=WARNED_AT)
    return Ticket(
        id="T-1",
        status="open",
        channel="email",
        customer_id="C-1",
        queue="general",
        sla_policy="std",
        sla={FIRST: clock},
        created_at=AT,
        updated_at=AT,
    )


def hurried(ticket: Ticket) -> Decision:
    """The warning escalation's decision for ``ticket`` (priority urgent)."""
    trigger = "sla.first_response.warning"
    decision = RULES.evaluate(facts(ticket, None), trigger=trigger, now=ticket.updated_at)
    assert decision.matched
    return decision


def test_a_breach_made_due_by_a_warning_escalation_is_dated_at_that_warning() -> None:
    """Urgent allows 30 minutes: due 10:30, a quarter of an hour before the warning at
    10:45 that raised the priority. The breach is due at 10:45 and dated then (it was
    dated 10:30, before the warning, in an earlier metric window)."""
    warned = fire(normal_ticket(), FIRST, "warning", RULES, WARNED_AT)
    assert warned is not None
    assert EventType.TICKET_ESCALATED in [e for e, _ in warned.events]
    ticket = warned.ticket
    assert ticket.priority == "urgent"
    assert ticket.sla[FIRST].due == WARNED_AT

    member = "T-1|first_response|breached"
    when = schedule(ticket)[member]
    breached = fire(ticket, FIRST, "breached", RULES, WARNED_AT + timedelta(seconds=1))
    assert breached is not None
    kind, data = breached.events[0]
    assert kind is EventType.TICKET_SLA_BREACHED
    assert data["due"] == WARNED_AT
    assert fired_at(Timer.parse(member, when), ticket, when) == WARNED_AT


def test_a_clock_overdue_before_the_change_keeps_its_due_time() -> None:
    """Already overdue at 11:00 when a change at 11:10 (the timers were down) raises the
    priority: it breached at 11:00 under the old priority, and stays due then."""
    late = normal_ticket().model_copy(update={"updated_at": AT + timedelta(minutes=70)})
    raised = apply_decision(late, hurried(late), RULES, fill_defaults=False)
    assert raised.priority == "urgent"
    assert raised.sla[FIRST].due == AT + timedelta(hours=1)


def test_a_raise_whose_due_is_still_ahead_is_timed_as_before() -> None:
    """At 10:10 the urgent due time, 10:30, is still ahead: nothing to move."""
    early = normal_ticket().model_copy(update={"updated_at": AT + timedelta(minutes=10)})
    raised = apply_decision(early, hurried(early), RULES, fill_defaults=False)
    assert raised.sla[FIRST].due == AT + timedelta(minutes=30)
