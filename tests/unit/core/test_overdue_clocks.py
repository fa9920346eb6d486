"""A clock is breached at its due time, whether or not its timer has fired yet.

The timers role fires due clocks about once a second, and an action can land in between:
a late reply, a late resolution, a postponement of a ticket already overdue. Before, the
late reply met the clock late and the breach timer then found it met: no breach was
counted and no breach escalation ran; a postponement moved the overdue clock on, so a
late reply counted as met. Now such an action breaches the overdue clock first (the same
``.sla_breached``, dated by its due time, and escalation), then applies. Pure, on a fixed
clock, through the functions the router and the timers run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from consumers.domain.decisions import apply_decision
from consumers.domain.escalation import fire
from consumers.domain.lifecycle import apply_action
from consumers.domain.threading import place
from consumers.domain.windows import sla as sla_metric
from router.actions import Action, AgentReplied, TicketPostponed, TicketResolved
from router.app.simulate.tally import Outcome, sla_compliance
from router.events import Customer, Interaction, Ticket
from router.vocabulary import EventType
from rules import RuleSet, loads_ruleset
from rules.facts import facts

pytestmark = pytest.mark.unit

RULES = loads_ruleset(
    """
version: 1
queues:
  general: {}
  tier2: {}
sla:
  standard:
    first_response: 30m
    resolution: 4h
defaults: {queue: general, priority: normal, sla: standard}
escalations:
  - name: late first answer
    on: sla.first_response.breached
    then: {queue: tier2, priority: urgent, tags: [escalated]}
""",
    "overdue.yaml",
)
AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
FIRST = "first_response"


def minutes(n: float) -> datetime:
    return AT + timedelta(minutes=n)


def opened(rules: RuleSet = RULES) -> Ticket:
    """A web form's ticket opened at AT, its first response due at 10:30."""
    message = Interaction(channel="webform", customer=Customer(email="c@example.com"), text="hi")
    placed = place(
        message,
        None,
        event_id="e1",
        customer_id="C-1",
        at=AT,
        reopen_window=timedelta(days=7),
        rules=rules,
    )
    assert placed.ticket is not None
    decision = rules.evaluate(facts(placed.ticket, message), trigger="ticket.created", now=AT)
    return apply_decision(placed.ticket, decision, rules, fill_defaults=True)


def act(ticket: Ticket, action: Action, at: datetime) -> tuple[Ticket, list[tuple[Any, Any]]]:
    change = apply_action(ticket, action, at, RULES)
    assert change is not None
    return change.ticket, list(change.events)


def reply(ticket: Ticket, at: datetime) -> tuple[Ticket, list[tuple[Any, Any]]]:
    return act(ticket, AgentReplied(ticket_id=ticket.id, agent_id="a1", public=True), at)


def counted(events: list[tuple[Any, Any]]) -> list[tuple[str, str]]:
    """What the sla metric counts of these events: (counter, target)."""
    return [
        (c.counter, c.dimensions["target"])
        for etype, data in events
        for c in sla_metric(etype, data)
    ]


def test_a_reply_after_the_due_time_before_the_timer_fires_counts_the_breach() -> None:
    ticket = opened()
    assert ticket.sla[FIRST].due == minutes(30)
    replied, events = reply(ticket, minutes(30.005))  # the timer had not fired yet
    types = [etype for etype, _ in events]
    assert types[:2] == [EventType.TICKET_SLA_BREACHED, EventType.TICKET_ESCALATED]
    assert types[-1] == EventType.TICKET_RESPONDED
    breach = events[0][1]
    assert (breach["target"], breach["due"], breach["queue"]) == (FIRST, minutes(30), "general")
    responded = events[-1][1]
    assert responded["within_sla"] is False
    assert responded["business_seconds"] == pytest.approx(30.005 * 60)  # the wait as it ran
    assert counted(events) == [("breached", FIRST)]  # once, and no met
    assert replied.sla[FIRST].breached
    assert replied.sla[FIRST].met_at == minutes(30.005)
    assert "escalated" in replied.tags
    # the breach timer, firing now, finds the breach on record: nothing twice
    assert fire(replied, FIRST, "breached", RULES, minutes(30.02)) is None


def test_a_reply_at_the_due_time_itself_is_late_in_every_record() -> None:
    replied, events = reply(opened(), minutes(30))
    assert counted(events) == [("breached", FIRST)]
    assert events[-1][1]["within_sla"] is False
    # the staffing simulation counts it as the router does: settled, not met
    outcome = Outcome("t", "general", "email", 0.0, replied)
    assert sla_compliance([outcome], minutes(60))[FIRST] == 0.0


def test_a_reply_before_the_due_time_counts_it_met_and_breaches_nothing() -> None:
    replied, events = reply(opened(), minutes(29.9))
    assert [etype for etype, _ in events][-1] == EventType.TICKET_RESPONDED
    assert counted(events) == [("met", FIRST)]
    assert fire(replied, FIRST, "breached", RULES, minutes(30.02)) is None


def test_a_late_resolution_before_the_timer_fires_counts_the_breaches_due_by_then() -> None:
    ticket, _ = reply(opened(), minutes(10))  # first response met
    resolved, events = act(ticket, TicketResolved(ticket_id=ticket.id), minutes(240.01))
    assert counted(events) == [("breached", "resolution")]
    assert resolved.status == "resolved"
    assert [etype for etype, _ in events][-1] == EventType.TICKET_RESOLVED
    assert events[-1][1]["within_sla"] is False


def test_postponing_an_overdue_ticket_breaches_it_and_pauses_only_running_clocks() -> None:
    ticket = opened()
    until = minutes(90)
    postponed, events = act(
        ticket, TicketPostponed(ticket_id=ticket.id, until=until), minutes(30.005)
    )
    assert counted(events) == [("breached", FIRST)]
    assert postponed.sla[FIRST].due == minutes(30)  # not moved on: it was due already
    assert postponed.sla["resolution"].due > ticket.sla["resolution"].due  # paused
    replied, later = reply(postponed, minutes(31))
    responded = later[-1][1]
    assert responded["within_sla"] is False
    assert counted(later) == []
    # the wait is what the customer waited: the rest of the pause is not added to it
    assert responded["business_seconds"] == pytest.approx(31 * 60)
    assert replied.sla[FIRST].breached


def test_a_reply_to_a_breached_then_postponed_ticket_reports_the_real_wait() -> None:
    ticket = opened()
    fired = fire(ticket, FIRST, "breached", RULES, minutes(30.01))  # the timer, in time
    assert fired is not None
    breached = fired.ticket
    postponed, _ = act(
        breached, TicketPostponed(ticket_id=ticket.id, until=minutes(95)), minutes(35)
    )
    _, events = reply(postponed, minutes(36))
    responded = events[-1][1]
    assert responded["business_seconds"] == pytest.approx(36 * 60)
    assert responded["within_sla"] is False


WARNED = loads_ruleset(
    """
version: 1
queues: {general: {}}
sla:
  standard:
    first_response: 30m
    warn_before: 10m
defaults: {queue: general, priority: normal, sla: standard}
""",
    "warned.yaml",
)


def test_a_reply_after_the_warning_time_before_the_timer_fires_keeps_the_warning() -> None:
    """Warned at 10:20 by the clock, answered at 10:20:01 before the warning timer fired:
    the warning is counted, then the reply meets the target."""
    ticket = opened(WARNED)
    reply_action = AgentReplied(ticket_id=ticket.id, agent_id="a1", public=True)
    change = apply_action(ticket, reply_action, minutes(20.02), WARNED)
    assert change is not None
    events = list(change.events)
    assert events[0][0] == EventType.TICKET_SLA_WARNING
    assert counted(events) == [("warned", FIRST), ("met", FIRST)]
    assert fire(change.ticket, FIRST, "warning", WARNED, minutes(20.05)) is None


def windows_of(events: list[tuple[Any, Any]]) -> list[tuple[str, datetime | None]]:
    return [(c.counter, c.at) for etype, data in events for c in sla_metric(etype, data)]


def test_a_warning_counts_in_the_window_of_its_warning_time_whoever_fires_it() -> None:
    """Warned at 10:20, due at 10:30, answered at 10:31 before either timer fired: the
    router gives the warning and the breach. Its warning had counted at the reply
    (10:31), where the timers role, on time, counts it at 10:20: the same lifecycle
    counted in two windows by who got there first."""
    ticket = opened(WARNED)
    reply_action = AgentReplied(ticket_id=ticket.id, agent_id="a1", public=True)
    late = apply_action(ticket, reply_action, minutes(31), WARNED)
    assert late is not None
    assert windows_of(list(late.events)) == [("warned", minutes(20)), ("breached", minutes(30))]
    on_time = fire(ticket, FIRST, "warning", WARNED, minutes(20.01))
    assert on_time is not None
    assert windows_of(list(on_time.events)) == [("warned", minutes(20))]


def test_a_reply_to_a_resolved_ticket_is_judged_as_of_the_resolution() -> None:
    """No clock runs while a ticket is resolved: resolved at 10:10 unanswered (due 10:30),
    then answered at 11:00, the first response is met, and the wait counted is the ten
    minutes until the resolution. Before, it was neither met nor breached."""
    ticket = opened()
    resolved, _ = act(ticket, TicketResolved(ticket_id=ticket.id), minutes(10))
    _, events = reply(resolved, minutes(60))
    responded = events[-1][1]
    assert responded["within_sla"] is True
    assert responded["business_seconds"] == pytest.approx(600)
    assert counted(events) == [("met", FIRST)]
