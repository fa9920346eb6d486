from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from consumers.domain.assignment import (
    assigned,
    named_offer_id,
    offer_pending,
    queued,
    skipped,
    waiting_member,
)
from consumers.domain.decisions import apply_decision
from consumers.domain.escalation import Timer, fire, schedule
from consumers.sweep import request_for
from consumers.timers import fired_at
from router.events import SlaClock, Ticket
from router.vocabulary import EventType
from rules import load_ruleset, loads_ruleset

pytestmark = pytest.mark.unit

RULES = load_ruleset(Path(__file__).resolve().parents[2] / "fixtures" / "rules" / "basic.yaml")
AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
DUE = AT + timedelta(hours=4)
WARN = DUE - timedelta(minutes=15)


def ticket(**kw: object) -> Ticket:
    base: dict[str, object] = {
        "id": "T-1",
        "channel": "chat",
        "customer_id": "C-1",
        "status": "new",
        "queue": "general",
        "sla_policy": "standard",
        "created_at": AT,
        "updated_at": AT,
        "sla": {"first_response": SlaClock(due=DUE, warn_at=WARN)},
    }
    return Ticket.model_validate({**base, **kw})


def test_schedule_lists_warning_and_breach_until_settled() -> None:
    assert schedule(ticket()) == {
        "T-1|first_response|warning": WARN.timestamp(),
        "T-1|first_response|breached": DUE.timestamp(),
    }
    met = ticket(sla={"first_response": SlaClock(due=DUE, met_at=AT)})
    assert schedule(met) == {}
    assert schedule(ticket(status="resolved")) == {}
    later = AT + timedelta(days=1)
    assert set(schedule(ticket(postponed_until=later)).values()) == {later.timestamp()}


def test_breach_fires_once_and_runs_the_escalation_rules() -> None:
    change = fire(ticket(), "first_response", "breached", RULES, DUE + timedelta(seconds=1))
    assert change is not None
    kinds = [etype for etype, _ in change.events]
    assert kinds == [EventType.TICKET_SLA_BREACHED, EventType.TICKET_ESCALATED]
    assert change.events[0][1] == {
        "target": "first_response",
        "policy": "standard",
        "due": DUE,
        "queue": "general",
        "priority": "normal",  # what it fired under: the sla metric counts it there
    }
    assert change.ticket.priority == "urgent"  # as the escalation left it
    assert change.ticket.sla["first_response"].breached is True
    assert fire(change.ticket, "first_response", "breached", RULES, DUE) is None


@pytest.mark.parametrize(
    ("kw", "now"),
    [
        ({}, WARN - timedelta(seconds=1)),  # not yet due
        ({"status": "closed"}, DUE),
        ({"postponed_until": DUE + timedelta(hours=1)}, DUE),
        ({"sla": {"first_response": SlaClock(due=DUE, warn_at=WARN, warned=True)}}, DUE),
    ],
)
def test_stale_or_early_warnings_do_nothing(kw: dict[str, object], now: datetime) -> None:
    assert fire(ticket(**kw), "first_response", "warning", RULES, now) is None


def test_timer_event_ids_are_deterministic() -> None:
    a = Timer.parse("T-1|first_response|breached", DUE.timestamp())
    b = Timer.parse("T-1|first_response|breached", DUE.timestamp())
    c = Timer.parse("T-1|first_response|warning", WARN.timestamp())
    assert a.event_id == b.event_id != c.event_id


def test_unaccepted_assignment_times_out_back_into_line() -> None:
    assigned_at = AT + timedelta(minutes=1)
    held = ticket(assignee="a1", assigned_at=assigned_at)
    timeout = RULES.assignment.accept_timeout
    timers = schedule(held, timeout)
    assert timers["T-1|assignment|timeout"] == (assigned_at + timeout).timestamp()
    assert fire(held, "assignment", "timeout", RULES, assigned_at + timeout / 2) is None
    change = fire(held, "assignment", "timeout", RULES, assigned_at + timeout)
    assert change is not None
    assert (change.ticket.assignee, change.ticket.assignment_round) == (None, 1)
    [(etype, data)] = change.events
    assert etype is EventType.TICKET_QUEUED
    assert data == {"queue": "general", "reason": "accept_timeout", "agent_id": "a1"}
    accepted = held.model_copy(update={"accepted": True})
    assert "T-1|assignment|timeout" not in schedule(accepted, timeout)
    assert fire(accepted, "assignment", "timeout", RULES, AT + timedelta(days=1)) is None


def test_waiting_line_is_priority_then_age() -> None:
    from consumers.domain.assignment import waiting_member

    old_normal = ticket(created_at=AT)
    new_urgent = ticket(id="T-2", priority="urgent", created_at=AT + timedelta(hours=1))
    new_normal = ticket(id="T-3", created_at=AT + timedelta(hours=1))
    order = sorted(
        (waiting_member(t) for t in (new_normal, old_normal, new_urgent)),
        key=lambda m: m[1] if m else 0,
    )
    assert [m[0] for m in order if m] == ["T-2|0", "T-1|0", "T-3|0"]
    assert waiting_member(ticket(assignee="a1")) is None
    assert waiting_member(ticket(status="resolved")) is None


def test_free_seats_pick_the_tickets_someone_could_take_in_line_order() -> None:
    from consumers.domain.assignment import FreeAgent, Seats, worth_offering

    seats = Seats(
        [
            FreeAgent("a1", frozenset({"billing"}), {"email": 1, "chat": 0}),
            FreeAgent("a2", frozenset(), {"email": 1}),
        ]
    )
    skills = {"billing": frozenset({"billing"}), "general": frozenset()}
    line = [
        ("T-1|0", "chat|general"),  # nobody has a chat seat
        ("T-2|0", "email|general"),  # books a2, who could take nothing else
        ("T-3|0", "email|billing"),  # only a1 has the skill
        ("T-4|0", "email|billing"),  # a1's one seat is booked by T-3: stop here, the
        # choice may give T-3 another seat, and T-4 comes before those behind it
        ("T-5|0", None),  # written by an older version: read it to learn
        ("T-6|0", "email|general"),  # both email seats are booked
    ]
    assert worth_offering(line, seats, skills) == ["T-2|0", "T-3|0"]
    assert worth_offering(line[3:], seats, skills) == ["T-4|0", "T-5|0", "T-6|0"]
    ahead = {"chat|general": 3, "email|billing": 1, "email|general": 0}
    assert seats.serve_any(ahead, skills)  # booking was a dry run: a1 still has its seat
    seats.take("a1", "email")
    assert not seats.serve_any(ahead, skills)  # a2's seat fits nothing still ahead
    assert seats.serve_any({**ahead, "email|general": 1}, skills)
    seats.take("a2", "email")
    assert worth_offering(line, seats, skills) == ["T-5|0"]
    assert not Seats([]).serve_any(ahead, skills)


def test_an_escalations_notify_becomes_notification_events_as_in_routing() -> None:
    source = (Path(__file__).resolve().parents[2] / "fixtures" / "rules" / "basic.yaml").read_text()
    rules = loads_ruleset(
        source.replace(
            "then: {priority: urgent, tags: [escalated]}",
            "then: {priority: urgent, notify: [team-lead, on-call]}",
        )
    )
    change = fire(ticket(), "first_response", "breached", rules, DUE + timedelta(seconds=1))
    assert change is not None
    kinds = [etype for etype, _ in change.events]
    assert kinds == [
        EventType.TICKET_SLA_BREACHED,
        EventType.TICKET_ESCALATED,
        EventType.TICKET_NOTIFICATION,
        EventType.TICKET_NOTIFICATION,
    ]
    sent = [data for etype, data in change.events if etype is EventType.TICKET_NOTIFICATION]
    assert sent == [
        {"template": "team-lead", "kind": "notify"},
        {"template": "on-call", "kind": "notify"},
    ]


TIMEOUT_RULES = loads_ruleset(
    """
version: 1
queues: {general: {}}
defaults: {queue: general}
assignment: {accept_timeout: 2m}
escalations:
  - name: nobody accepts
    on: assignment.timeout
    then: {priority: high, notify: [team-lead]}
"""
)


def test_a_timed_out_agent_is_skipped_and_the_escalation_fires_once_per_cycle() -> None:
    first = ticket(assignee="a1", assigned_at=AT)
    later = AT + timedelta(minutes=2)
    change = fire(first, "assignment", "timeout", TIMEOUT_RULES, later)
    assert change is not None
    skip = later + 5 * TIMEOUT_RULES.assignment.accept_timeout
    assert change.ticket.skipped_until == {"a1": skip}  # the next offer goes to someone else
    assert change.ticket.lapsed == ["a1"]
    assert skipped(change.ticket, later) == ((), ("a1",))  # passed over, not barred
    assert [e for e, _ in change.events] == [
        EventType.TICKET_QUEUED,
        EventType.TICKET_ESCALATED,
        EventType.TICKET_NOTIFICATION,
    ]
    # offered to a2, who lets it time out too: back in line, no second escalation
    second = change.ticket.model_copy(update={"assignee": "a2", "assigned_at": later})
    again = fire(second, "assignment", "timeout", TIMEOUT_RULES, later + timedelta(minutes=2))
    assert again is not None
    assert [e for e, _ in again.events] == [EventType.TICKET_QUEUED]
    assert (sorted(again.ticket.skipped_until), again.ticket.unaccepted) == (["a1", "a2"], 2)
    assert again.ticket.assignee is None  # nobody accepts: it waits in line


def test_a_skip_ends_with_a_new_round_that_offers_the_ticket_to_that_agent_again() -> None:
    until = AT + timedelta(minutes=10)
    waiting = ticket(skipped_until={"a1": until}, assignment_round=1, queued_at=AT)
    timers = schedule(waiting, TIMEOUT_RULES.assignment.accept_timeout)
    assert timers["T-1|assignment|retry"] == until.timestamp()
    assert skipped(waiting, until - timedelta(seconds=1)) == (("a1",), ())
    assert skipped(waiting, until) == ((), ())
    assert fire(waiting, "assignment", "retry", TIMEOUT_RULES, until - timedelta(seconds=1)) is None
    retried = fire(waiting, "assignment", "retry", TIMEOUT_RULES, until)
    assert retried is not None
    assert retried.events == [
        (EventType.TICKET_QUEUED, {"queue": "general", "reason": "skip_ended", "agent_id": None})
    ]  # a new round in line: the sweep offers it again
    assert (retried.ticket.skipped_until, retried.ticket.assignment_round) == ({}, 2)
    assert "T-1|assignment|retry" not in schedule(retried.ticket, timedelta(minutes=2))
    # a decline is for good
    declined = ticket(declined_by=["a2"], skipped_until={"a1": until}, lapsed=["a1"])
    request = request_for(declined, TIMEOUT_RULES, until - timedelta(seconds=1))
    assert (request.exclude, request.avoid) == (("a2",), ("a1",))
    assert request_for(declined, TIMEOUT_RULES, until).avoid == ()


def test_the_timers_changes_move_updated_at_to_when_they_happened() -> None:
    breached_at = DUE + timedelta(seconds=1)
    breach = fire(ticket(), "first_response", "breached", RULES, breached_at)
    assert breach is not None
    assert breach.ticket.updated_at == breached_at
    offered_at = AT + timedelta(minutes=1)
    offered = assigned(ticket(), "a1", "least_loaded", offered_at)
    assert offered.ticket.updated_at == offered_at
    assert queued(ticket(), offered_at).ticket.updated_at == offered_at
    timed_out_at = offered_at + RULES.assignment.accept_timeout
    back = fire(offered.ticket, "assignment", "timeout", RULES, timed_out_at)
    assert back is not None
    assert back.ticket.updated_at == timed_out_at
    skip_ends_at = back.ticket.skipped_until["a1"]
    retried = fire(back.ticket, "assignment", "retry", RULES, skip_ends_at)
    assert retried is not None
    assert retried.ticket.updated_at == skip_ends_at
    # never backwards: a timer fired late, after a newer change, keeps the newer time
    newer = ticket(updated_at=DUE + timedelta(hours=1))
    late = fire(newer, "first_response", "breached", RULES, breached_at)
    assert late is not None
    assert late.ticket.updated_at == newer.updated_at


ASSIGN_RULES = loads_ruleset(
    """
version: 1
queues: {general: {}}
defaults: {queue: general}
assignment: {accept_timeout: 2m}
rules:
  - name: maria takes vip
    if: {text: {contains: [vip]}}
    then: {assign: agent-maria}
escalations:
  - name: to the lead
    on: assignment.timeout
    then: {assign: agent-lead}
"""
)


def test_a_rules_assign_is_offered_and_times_out_as_any_offer() -> None:
    decision = ASSIGN_RULES.evaluate({"text": "vip here"}, trigger="ticket.created", now=AT)
    named = apply_decision(ticket(queued_at=AT), decision, ASSIGN_RULES, fill_defaults=True)
    assert (named.assignee, named.assigned_at, named.accepted, named.queued_at) == (
        "agent-maria",
        None,
        False,
        None,
    )
    assert offer_pending(named)  # the timers role makes the offer
    assert waiting_member(named) is None  # not in the line meanwhile
    offered_at = AT + timedelta(seconds=1)
    offer = assigned(named, "agent-maria", "named", offered_at)
    assert offer.events == [
        (
            EventType.TICKET_ASSIGNED,
            {"agent_id": "agent-maria", "queue": "general", "strategy": "named"},
        )
    ]
    assert not offer_pending(offer.ticket)
    timeout = ASSIGN_RULES.assignment.accept_timeout
    timers = schedule(offer.ticket, timeout)
    assert timers["T-1|assignment|timeout"] == (offered_at + timeout).timestamp()
    # not accepted in time: back in line without maria; the escalation names the lead,
    # whose offer the timers role makes in turn
    back = fire(offer.ticket, "assignment", "timeout", ASSIGN_RULES, offered_at + timeout)
    assert back is not None
    assert back.ticket.assignee == "agent-lead"
    assert "agent-maria" in back.ticket.skipped_until
    assert offer_pending(back.ticket)
    # the same agent named again keeps the offer (and its acceptance) as it is
    held = offer.ticket.model_copy(update={"accepted": True})
    again = apply_decision(held, decision, ASSIGN_RULES, fill_defaults=False)
    assert (again.assigned_at, again.accepted) == (offered_at, True)
    assert named_offer_id(named) != named_offer_id(back.ticket)


def test_an_offer_deadline_passed_while_resolved_fires_on_reopening_dated_then() -> None:
    """Offered at 10:00 (2 minutes to accept), resolved by someone else, reopened at 10:30:
    the re-armed deadline sends the ticket back in line as of the reopening, not from
    10:02, before the reopening it follows (its place in line, its records' order)."""
    reopened_at = AT + timedelta(minutes=30)
    offered = ticket(status="open", assignee="a1", assigned_at=AT, updated_at=reopened_at)
    deadline = AT + RULES.assignment.accept_timeout
    change = fire(offered, "assignment", "timeout", RULES, deadline)
    assert change is not None
    assert change.ticket.assignee is None
    assert change.ticket.queued_at == reopened_at
    assert change.ticket.skipped_until["a1"] > reopened_at


def test_a_warning_a_priority_change_made_due_is_dated_at_that_change() -> None:
    """Re-timed to urgent at 13:50, the warning's time (13:45) has passed: it fires at
    once and is dated 13:50, in the window of the change that caused it, not before.
    A catch-up after an outage (the ticket unchanged since 10:00) still dates it at its
    warn time, and a breach is dated at its due time whatever changed since."""
    retimed_at = WARN + timedelta(minutes=5)
    retimed = ticket(priority="urgent", updated_at=retimed_at)
    warning = Timer.parse("T-1|first_response|warning", WARN.timestamp())
    assert fired_at(warning, retimed) == retimed_at
    assert fired_at(warning, ticket()) == WARN  # caught up late: still its warn time
    breach = Timer.parse("T-1|first_response|breached", DUE.timestamp())
    assert fired_at(breach, ticket(updated_at=DUE + timedelta(minutes=5))) == DUE


def test_a_warning_is_never_dated_after_its_breach() -> None:
    """The ticket changed after the due time (queued, offered) and the warning fires late,
    with the breach: it is dated at the due time at the latest, where the breach is, not
    at the change (it had been counted in a later window than its own breach)."""
    warning = Timer.parse("T-1|first_response|warning", WARN.timestamp())
    changed = ticket(updated_at=DUE + timedelta(seconds=30))
    assert fired_at(warning, changed) == DUE
    breach = Timer.parse("T-1|first_response|breached", DUE.timestamp())
    assert fired_at(breach, changed) == DUE


def test_a_breach_the_schedule_held_at_a_superseded_time_is_dated_at_the_tickets_due() -> None:
    """A priority change brought the due time forward, but the schedule never heard of it
    (the process that made the change died before publishing it): the breach fires at the
    old time, late, and is dated at the due time its record names, in that window."""
    earlier = DUE - timedelta(minutes=15)
    stale = Timer.parse("T-1|first_response|breached", DUE.timestamp())
    assert fired_at(stale, ticket(), earlier.timestamp()) == earlier
    assert fired_at(stale, ticket(), DUE.timestamp()) == DUE
