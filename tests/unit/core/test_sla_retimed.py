"""SLA clocks re-timed by a policy or priority change (a rule or an escalation): a breach
or a met target stays on record even when a rules reload removed the ticket's policy, and
a clock re-timed to a new warning time still ahead warns for it. Pure, on a fixed clock,
through the functions the router and the timers role run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from consumers.domain.decisions import apply_decision
from consumers.domain.escalation import fire, schedule
from consumers.domain.lifecycle import apply_action
from consumers.domain.threading import place
from router.actions import AgentReplied
from router.events import Customer, Interaction, SlaClock, Ticket
from router.vocabulary import EventType
from rules import RuleSet, loads_ruleset
from rules.facts import facts

pytestmark = pytest.mark.unit

RULES = """
version: 1
queues: {general: {}}
sla:
  POLICY:
    first_response: 1m
    resolution: 1h
  biz:
    first_response: 2h
    warn_before: 15m
  std:
    first_response: 1h
    warn_before: 15m
defaults: {queue: general, sla: POLICY}
rules:
  - name: urgent
    on: message.received
    if: {text: {contains: [urgent]}}
    then: {priority: urgent}
escalations:
  - name: late resolution
    on: sla.resolution.breached
    then: {priority: high}
  - name: running late
    on: sla.first_response.warning
    then: {sla: biz}
"""
BEFORE = loads_ruleset(RULES.replace("POLICY", "fast"), "v1.yaml")
RENAMED = loads_ruleset(RULES.replace("POLICY", "fast2"), "v2.yaml")  # hot reload: fast is gone
AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
FIRST, RESOLUTION = "first_response", "resolution"


def write(ticket: Ticket | None, at: datetime, rules: RuleSet, text: str = "hello") -> Ticket:
    """A customer message, as the router handles it: placed, the rules, then applied."""
    message = Interaction(channel="chat", customer=Customer(email="c@example.com"), text=text)
    placed = place(
        message,
        ticket,
        event_id=f"e{at.timestamp()}",
        customer_id="C-1",
        at=at,
        reopen_window=timedelta(days=7),
        rules=rules,
    )
    assert placed.ticket is not None
    trigger = "ticket.created" if placed.kind == "new" else "message.received"
    decision = rules.evaluate(facts(placed.ticket, message), trigger=trigger, now=at)
    return apply_decision(placed.ticket, decision, rules, fill_defaults=placed.kind == "new")


def breached_first_response() -> Ticket:
    """Opened on ``fast`` at 10:00; the first response breached at 10:01, unanswered."""
    opened = write(None, AT, BEFORE)
    assert opened.sla_policy == "fast"
    breached = fire(opened, FIRST, "breached", BEFORE, AT + timedelta(minutes=1))
    assert breached is not None
    return breached.ticket


def test_breaches_stay_on_record_when_a_ticket_of_a_removed_policy_escalates() -> None:
    """The audit's repro: after the reload renamed ``fast``, the resolution breach (timed
    under ``fast``) escalates to priority high. Both breaches stay on the snapshot (they
    had read ``sla: {}``): counted once, never warned or breached again."""
    ticket = breached_first_response()
    escalated = fire(ticket, RESOLUTION, "breached", RENAMED, AT + timedelta(hours=1))
    assert escalated is not None
    assert [e for e, _ in escalated.events] == [
        EventType.TICKET_SLA_BREACHED,
        EventType.TICKET_ESCALATED,
    ]
    after = escalated.ticket
    assert (after.sla_policy, after.priority) == ("fast", "high")
    assert (after.sla[FIRST].breached, after.sla[RESOLUTION].breached) == (True, True)
    assert after.sla[FIRST].due == AT + timedelta(minutes=1)
    assert schedule(after) == {}


def test_a_running_clock_of_a_removed_policy_is_kept_as_it_was_timed() -> None:
    """A rule raises the priority of a ticket whose policy a reload removed: its targets
    are unknown, so the running resolution clock keeps the due time ``fast`` gave it and
    still breaches then."""
    ticket = breached_first_response()
    resolution = ticket.sla[RESOLUTION]
    chased = write(ticket, AT + timedelta(minutes=5), RENAMED, "urgent please")
    assert chased.priority == "urgent"
    assert chased.sla == {FIRST: ticket.sla[FIRST], RESOLUTION: resolution}
    assert resolution.due is not None
    assert schedule(chased) == {f"{chased.id}|resolution|breached": resolution.due.timestamp()}


def std_ticket() -> Ticket:
    """On ``std`` from 10:00: first response due 11:00, warning at 10:45."""
    return write(None, AT, BEFORE).model_copy(
        update={
            "id": "T-1",
            "sla_policy": "std",
            "sla": {
                FIRST: SlaClock(due=AT + timedelta(hours=1), warn_at=AT + timedelta(minutes=45))
            },
        }
    )


def test_a_policy_switched_by_the_warning_warns_again_before_its_new_due_time() -> None:
    """The warning at 10:45 escalates to ``biz`` (2 h): the clock is re-timed, due 12:00,
    warning at 11:45. The warning given for 11:00 says nothing about 12:00: the new one
    is scheduled and fires (it had stayed ``warned`` and never warned again)."""
    warned = fire(std_ticket(), FIRST, "warning", BEFORE, AT + timedelta(minutes=45))
    assert warned is not None
    assert EventType.TICKET_ESCALATED in [e for e, _ in warned.events]
    clock = warned.ticket.sla[FIRST]
    assert (warned.ticket.sla_policy, clock.due) == ("biz", AT + timedelta(hours=2))
    new_warning = AT + timedelta(minutes=105)
    assert (clock.warn_at, clock.warned) == (new_warning, False)
    assert schedule(warned.ticket)["T-1|first_response|warning"] == new_warning.timestamp()
    again = fire(warned.ticket, FIRST, "warning", BEFORE, new_warning)
    assert again is not None
    assert again.events[0][0] is EventType.TICKET_SLA_WARNING
    assert again.events[0][1]["due"] == AT + timedelta(hours=2)


def test_a_clock_re_timed_to_a_warning_time_already_passed_warns_once() -> None:
    """Re-timed at 11:50 (after a warning at 10:45), its new warning time 11:45 has passed:
    the warning given stands, none is given twice. Not warned before, it warns at once."""
    ticket = std_ticket()
    for was_warned in (True, False):
        clock = ticket.sla[FIRST].model_copy(update={"warned": was_warned})
        late = ticket.model_copy(
            update={"sla": {FIRST: clock}, "updated_at": AT + timedelta(minutes=110)}
        )
        decision = BEFORE.evaluate(
            facts(late, None), trigger="sla.first_response.warning", now=late.updated_at
        )
        switched = apply_decision(late, decision, BEFORE, fill_defaults=False)
        assert switched.sla[FIRST].warned is was_warned
        assert ("T-1|first_response|warning" in schedule(switched)) is not was_warned


TIMED = """
version: 1
queues: {general: {}}
sla:
  std:
    first_response: {urgent: 30m, high: 1h, normal: NORMAL}
    warn_before: 15m
defaults: {queue: general, sla: std}
rules:
  - name: raised
    on: message.received
    if: {text: {contains: [urgent]}}
    then: {priority: high}
escalations:
  - name: running late
    on: sla.first_response.warning
    then: {priority: urgent}
"""
FOUR_HOURS = loads_ruleset(TIMED.replace("NORMAL", "4h"), "v1.yaml")


def replied(ticket: Ticket, at: datetime, rules: RuleSet) -> float | None:
    """``.responded``'s business seconds for a public reply at ``at``."""
    reply = AgentReplied(ticket_id=ticket.id, agent_id="a", public=True)
    change = apply_action(ticket, reply, at, rules)
    assert change is not None
    [responded] = [d for t, d in change.events if t is EventType.TICKET_RESPONDED]
    return responded["business_seconds"]


@pytest.mark.parametrize("normal", ["2h", "8h"])
def test_a_reload_that_changes_a_target_leaves_running_clocks_counted_as_timed(normal: str) -> None:
    """Opened at 10:00 under a 4 h first response, then the rules reloaded with 2 h (or
    8 h): the clock's start had been read back from its due time by the new target, so a
    reply at 11:00 waited 0 s (or 5 h), and a priority raised at 10:20 was due at 13:00
    (or at once) instead of 11:00."""
    reloaded = loads_ruleset(TIMED.replace("NORMAL", normal), "v2.yaml")
    opened = write(None, AT, FOUR_HOURS)
    assert replied(opened, AT + timedelta(hours=1), reloaded) == 3600
    raised = write(opened, AT + timedelta(minutes=20), reloaded, text="urgent please")
    assert raised.sla[FIRST].due == AT + timedelta(hours=1)


def test_a_clock_made_due_at_its_warning_counts_the_wait_from_the_start() -> None:
    """Opened at 10:00 (4 h), warned at 13:45 and escalated to urgent (30 min): due at the
    warning, as a breach cannot be dated before the change that caused it. A reply at
    14:00 had reported 2,700 s (from the due time less 30 min), not the 4 h waited."""
    opened = write(None, AT, FOUR_HOURS)
    warned = fire(opened, FIRST, "warning", FOUR_HOURS, AT + timedelta(hours=3, minutes=45))
    assert warned is not None
    assert warned.ticket.priority == "urgent"
    assert warned.ticket.sla[FIRST].due == AT + timedelta(hours=3, minutes=45)
    assert replied(warned.ticket, AT + timedelta(hours=4), FOUR_HOURS) == 4 * 3600
