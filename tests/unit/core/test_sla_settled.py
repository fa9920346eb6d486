"""SLA clocks do not run while a ticket is resolved: a reopen resumes them with the time
they had left, so no warning or breach is ever dated before the reopening (contract
section 8: ``warned`` in the window of the warning, ``breached`` in that of the due time).
And a public reply answers a customer only when one waits: a second reply in a row is no
response the ``switchboard_response_seconds`` histogram observes. Pure, on a fixed clock,
through the functions the router, the timers and the metrics role run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from consumers.domain.decisions import apply_decision
from consumers.domain.escalation import fire, schedule
from consumers.domain.lifecycle import apply_action
from consumers.domain.threading import place
from consumers.domain.windows import sla as sla_metric
from consumers.domain.windows import workload
from consumers.metrics import response_of
from router.actions import (
    Action,
    AgentReplied,
    TicketClosed,
    TicketReopened,
    TicketResolved,
)
from router.events import CloudEvent, Customer, Interaction, Ticket, iso
from router.vocabulary import EventType
from rules import loads_ruleset
from rules.facts import facts

pytestmark = pytest.mark.unit

RULES = loads_ruleset(
    """
version: 1
calendars:
  office:
    timezone: UTC
    hours: {mon: ["09:00-17:00"], tue: ["09:00-17:00"], wed: ["09:00-17:00"],
            thu: ["09:00-17:00"], fri: ["09:00-17:00"]}
queues:
  general: {}
sla:
  fast:
    first_response: {urgent: 30s, normal: 1m}
    warn_before: 30s
  office:
    calendar: office
    first_response: 2h
    warn_before: 30m
defaults: {queue: general, priority: normal, sla: fast}
rules:
  - name: office hours
    if: {text: {contains: [office]}}
    then: {sla: office}
  - name: reopened in a hurry
    on: ticket.reopened
    if: {text: {contains: [urgent]}}
    then: {priority: urgent}
""",
    "settled.yaml",
)
FIRST = "first_response"
CREATED = datetime(2026, 11, 23, 13, 29, 49, 570000, tzinfo=UTC)  # a Monday
_events = iter(range(10**6))


def write(ticket: Ticket | None, at: datetime, text: str = "hello") -> Ticket:
    """A customer message, as the router handles it: placed, the rules, then applied."""
    message = Interaction(channel="chat", customer=Customer(email="c@example.com"), text=text)
    placed = place(
        message,
        ticket,
        event_id=f"e{next(_events)}",
        customer_id="C-1",
        at=at,
        reopen_window=timedelta(days=7),
        rules=RULES,
    )
    assert placed.ticket is not None
    trigger = {"new": "ticket.created", "join": "message.received", "reopen": "ticket.reopened"}
    decision = RULES.evaluate(facts(placed.ticket, message), trigger=trigger[placed.kind], now=at)
    return apply_decision(placed.ticket, decision, RULES, fill_defaults=placed.kind == "new")


def act(ticket: Ticket, action: Action, at: datetime) -> tuple[Ticket, list[tuple[Any, Any]]]:
    change = apply_action(ticket, action, at, RULES)
    assert change is not None
    return change.ticket, list(change.events)


def resolved_early() -> Ticket:
    """The audit's repro: a chat opens T at 13:29:49.57 (first response due 13:30:49.57,
    warning at 13:30:19.57); resolved at 13:29:54 without a public reply."""
    opened = write(None, CREATED)
    assert (opened.sla[FIRST].due, opened.sla[FIRST].warn_at) == (
        CREATED + timedelta(minutes=1),
        CREATED + timedelta(seconds=30),
    )
    resolved, _ = act(opened, TicketResolved(ticket_id=opened.id, agent_id="z"), _at(13, 29, 54))
    return resolved


def _at(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2026, 11, 23, hour, minute, second, tzinfo=UTC)


def fired_times(ticket: Ticket) -> dict[str, datetime]:
    """When the timers role fires (and dates) each SLA timer of the ticket."""
    return {
        member.split("|", 1)[1]: datetime.fromtimestamp(when, UTC)
        for member, when in schedule(ticket).items()
        if "|assignment|" not in member
    }


@pytest.mark.parametrize("by", ["agent", "customer"])
def test_a_reopen_resumes_the_first_response_clock_with_the_time_it_had_left(by: str) -> None:
    """Resolved with 55.57 s of 60 left and reopened 75 s later: the warning and the due
    move on by those 75 s, after the reopening; nothing is dated back in the 13:30 window
    the ticket spent resolved."""
    resolved = resolved_early()
    assert fired_times(resolved) == {}  # no clock runs while resolved
    reopened_at = _at(13, 31, 9)
    if by == "agent":
        reopened, _ = act(resolved, TicketReopened(ticket_id=resolved.id), reopened_at)
    else:
        reopened = write(resolved, reopened_at, "it happened again")
    assert reopened.status == "open"
    clock = reopened.sla[FIRST]
    settled = reopened_at - _at(13, 29, 54)
    assert (clock.due, clock.warn_at) == (
        CREATED + timedelta(minutes=1) + settled,
        CREATED + timedelta(seconds=30) + settled,
    )
    assert clock.due - reopened_at == CREATED + timedelta(minutes=1) - _at(13, 29, 54)
    assert (clock.breached, clock.warned) == (False, False)
    times = fired_times(reopened)
    assert times == {f"{FIRST}|warning": clock.warn_at, f"{FIRST}|breached": clock.due}
    assert min(times.values()) > reopened_at
    # the old times fire nothing: not yet due
    assert fire(reopened, FIRST, "breached", RULES, CREATED + timedelta(minutes=1)) is None
    assert fire(reopened, FIRST, "warning", RULES, reopened_at) is None
    # left unanswered, the breach counts in the window of the moved due time
    breached = fire(reopened, FIRST, "breached", RULES, clock.due)
    assert breached is not None
    etype, data = breached.events[0]
    assert (etype, data["due"]) == (EventType.TICKET_SLA_BREACHED, clock.due)
    as_published = {
        **data,
        "due": iso(data["due"]),
        "ticket": breached.ticket.model_dump(mode="json"),
    }
    [counted] = sla_metric(etype, as_published)
    assert counted.at == clock.due
    assert breached.ticket.sla[FIRST].breached is True


def test_a_first_reply_after_the_reopen_is_within_the_time_left() -> None:
    resolved = resolved_early()
    reopened_at = _at(13, 31, 9)
    reopened, _ = act(resolved, TicketReopened(ticket_id=resolved.id), reopened_at)
    # 50 s after the reopening: 4.43 s counted before the resolve, 50 since, under 60
    _, events = act(
        reopened, AgentReplied(ticket_id=resolved.id, agent_id="z", public=True), _at(13, 31, 59)
    )
    data = events[-1][1]
    assert (data["response"], data["within_sla"]) == ("first", True)
    assert data["business_seconds"] == pytest.approx(54.43)


def test_a_reopen_rule_that_raises_the_priority_keeps_the_time_spent_resolved_out() -> None:
    """Reopened at 13:31:09 by a message a rule makes urgent (30 s): the clock is re-timed
    from when it started counting, resolved time left out: 4.43 s were counted, 25.57 s
    are left; re-timed from creation, it would be due at 13:30:19.57, in the minute the
    ticket spent resolved."""
    reopened_at = _at(13, 31, 9)
    reopened = write(resolved_early(), reopened_at, "urgent: it happened again")
    assert reopened.priority == "urgent"
    clock = reopened.sla[FIRST]
    assert clock.due == reopened_at + timedelta(seconds=30) - (_at(13, 29, 54) - CREATED)
    assert min(fired_times(reopened).values()) > reopened_at


def test_a_warning_due_before_the_resolve_but_not_fired_is_given_by_the_resolve() -> None:
    """Resolved at 13:30:20, just after the warning was due (13:30:19.57), before the
    timers fired it: the resolve gives the warning first (it was due), so the reopening
    owes none; the breach keeps its 29.57 s. Before, the warning fired at the reopening."""
    opened = write(None, CREATED)
    resolved, events = act(opened, TicketResolved(ticket_id=opened.id), _at(13, 30, 20))
    assert [etype for etype, _ in events] == [
        EventType.TICKET_SLA_WARNING,
        EventType.TICKET_RESOLVED,
    ]
    reopened_at = _at(14, 0)
    reopened, _ = act(resolved, TicketReopened(ticket_id=opened.id), reopened_at)
    clock = reopened.sla[FIRST]
    assert clock.warned
    assert clock.due == reopened_at + (CREATED + timedelta(minutes=1) - _at(13, 30, 20))
    assert fire(reopened, FIRST, "warning", RULES, _at(14, 0, 1)) is None


def test_a_target_breached_before_the_resolve_stays_breached_once() -> None:
    opened = write(None, CREATED)
    due = CREATED + timedelta(minutes=1)
    breached = fire(opened, FIRST, "breached", RULES, due)
    assert breached is not None
    resolved, _ = act(breached.ticket, TicketResolved(ticket_id=opened.id), _at(13, 35))
    reopened, _ = act(resolved, TicketReopened(ticket_id=opened.id), _at(14, 0))
    assert (reopened.sla[FIRST].breached, reopened.sla[FIRST].due) == (True, due)
    assert fired_times(reopened) == {}
    assert fire(reopened, FIRST, "breached", RULES, _at(15, 0)) is None


def test_business_time_spent_resolved_is_given_back_in_business_time() -> None:
    """Office hours: opened Friday 15:00 (2 business hours: due 17:00), resolved at 16:00
    with one hour left, reopened on Saturday: the hour left runs on Monday, 9:00-10:00;
    reopened Monday 10:00 instead, it runs until 11:00."""
    friday = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
    opened = write(None, friday, "office question")
    assert (opened.sla_policy, opened.sla[FIRST].due) == ("office", friday + timedelta(hours=2))
    resolved, _ = act(opened, TicketResolved(ticket_id=opened.id), friday + timedelta(hours=1))
    monday = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    saturday = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    for reopened_at, due, warn_at in (
        (saturday, monday + timedelta(hours=1), monday + timedelta(minutes=30)),
        (monday + timedelta(hours=1), monday + timedelta(hours=2), monday + timedelta(hours=1.5)),
    ):
        reopened, _ = act(resolved, TicketReopened(ticket_id=opened.id), reopened_at)
        assert (reopened.sla[FIRST].due, reopened.sla[FIRST].warn_at) == (due, warn_at)


def test_closing_a_resolved_ticket_leaves_its_clocks_as_they_stopped() -> None:
    resolved = resolved_early()
    closed, _ = act(resolved, TicketClosed(ticket_id=resolved.id), _at(15, 0))
    assert closed.sla[FIRST] == resolved.sla[FIRST]
    assert fired_times(closed) == {}


def responded(data: dict[str, Any], ticket: Ticket, at: datetime) -> CloudEvent:
    return CloudEvent(
        id=f"r{next(_events)}",
        source="test",
        type=EventType.TICKET_RESPONDED,
        time=at,
        data={**data, "ticket": ticket.model_dump(mode="json")},
    )


def test_a_second_reply_in_a_row_is_no_response_the_histogram_observes() -> None:
    """The audit's repro: a chat at 13:24:03, public replies at 13:24:22 and 13:24:24 with
    no customer message between: the second waited for by nobody (it had been observed as
    21 s of waiting); still counted as handled work. The customer's next message starts a
    wait that the next reply answers, measured from that message."""
    opened = write(None, _at(13, 24, 3))
    reply = AgentReplied(ticket_id=opened.id, agent_id="a1", public=True, handle_seconds=40)
    first, events = act(opened, reply, _at(13, 24, 22))
    assert events[-1][1]["response"] == "first"
    assert response_of(responded(events[-1][1], first, _at(13, 24, 22)), first, _at(13, 24, 22))
    second, events = act(first, reply, _at(13, 24, 24))
    etype, data = events[-1]
    assert etype is EventType.TICKET_RESPONDED
    assert (data["response"], data["business_seconds"], data["within_sla"]) == (None, None, None)
    assert response_of(responded(data, second, _at(13, 24, 24)), second, _at(13, 24, 24)) is None
    assert sla_metric(etype, data) == []
    handled = workload(etype, {**data, "ticket": second.model_dump(mode="json")})
    assert {c.counter: c.amount for c in handled} == {"handled": 1, "handle_ms_sum": 40_000}
    assert second.agent_replies == 2
    # the customer writes again at 13:25:00; answered at 13:25:30: a 30 s next response
    chased = write(second, _at(13, 25))
    third, events = act(chased, reply, _at(13, 25, 30))
    data = events[-1][1]
    assert (data["response"], data["business_seconds"]) == ("next", 30.0)
    observed = response_of(responded(data, third, _at(13, 25, 30)), third, _at(13, 25, 30))
    assert observed is not None
    assert (observed.target, observed.seconds) == ("next_response", 30.0)
