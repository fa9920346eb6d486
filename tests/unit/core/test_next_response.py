"""The next_response SLA target: one clock per customer message after a public agent reply,
met by the next public reply, warned, breached and escalated like the other targets,
paused by a postponement and stopped by a resolution. Pure, on a fixed clock: every step
goes through the same functions the router and the timers run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from consumers.domain.decisions import apply_decision
from consumers.domain.escalation import Timer, fire, schedule
from consumers.domain.lifecycle import apply_action
from consumers.domain.threading import place
from consumers.domain.windows import sla as sla_metric
from router.actions import (
    Action,
    AgentReplied,
    TicketClosed,
    TicketPostponed,
    TicketReopened,
    TicketResolved,
)
from router.events import Customer, Interaction, Ticket
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
  tier2: {}
sla:
  standard:
    first_response: 4h
    next_response: {urgent: 30m, high: 1h, normal: 2h}
    warn_before: 15m
  office:
    calendar: office
    next_response: 2h
  quick-only:
    first_response: 4h
defaults: {queue: general, priority: normal, sla: standard}
rules:
  - name: chased
    on: [message.received]
    if: {text: {contains: [still waiting]}}
    then: {priority: high, tags: [chased]}
escalations:
  - name: late next answer
    on: sla.next_response.breached
    then: {queue: tier2, priority: urgent, tags: [escalated]}
""",
    "next-response.yaml",
)
AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday
WEEK = timedelta(days=7)
NEXT = "next_response"
_events = iter(range(10**6))


def minutes(n: float) -> datetime:
    return AT + timedelta(minutes=n)


def write(ticket: Ticket | None, at: datetime, text: str = "any news?") -> Ticket:
    """A customer message, as the router handles it: placed, then the rules, then applied."""
    message = Interaction(channel="email", customer=Customer(email="c@example.com"), text=text)
    placed = place(
        message,
        ticket,
        event_id=f"e{next(_events)}",
        customer_id="C-1",
        at=at,
        reopen_window=WEEK,
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


def reply(ticket: Ticket, at: datetime) -> tuple[Ticket, dict[str, Any]]:
    replied, events = act(ticket, AgentReplied(ticket_id=ticket.id, agent_id="a1", public=True), at)
    etype, data = events[-1]  # after the ``.assigned`` of a ticket nobody held yet
    assert etype is EventType.TICKET_RESPONDED
    return replied, data


def answered_once(policy: str = "standard") -> Ticket:
    """A ticket opened at AT and answered ten minutes later."""
    ticket = write(None, AT)
    if policy != "standard":
        ticket = ticket.model_copy(update={"sla_policy": policy, "sla": {}})
    return reply(ticket, minutes(10))[0]


def waiting() -> Ticket:
    """Answered at 10:10, then the customer wrote again at 11:00: next reply due 13:00."""
    return write(answered_once(), minutes(60))


def test_no_next_response_before_the_first_reply() -> None:
    ticket = write(write(None, AT), minutes(5))
    assert NEXT not in ticket.sla
    assert ticket.contacts == 2


def test_a_customer_message_after_a_public_reply_starts_the_clock() -> None:
    answered = answered_once()
    assert NEXT not in answered.sla  # nobody is waiting yet
    ticket = write(answered, minutes(60))
    clock = ticket.sla[NEXT]
    assert (clock.due, clock.warn_at) == (minutes(180), minutes(165))
    assert (clock.met_at, clock.breached, clock.warned) == (None, False, False)
    assert schedule(ticket) == {
        f"{ticket.id}|{NEXT}|warning": minutes(165).timestamp(),
        f"{ticket.id}|{NEXT}|breached": minutes(180).timestamp(),
    }


def test_a_private_reply_does_not_count_as_an_answer() -> None:
    ticket = write(None, AT)
    private = AgentReplied(ticket_id=ticket.id, agent_id="a1", public=False)
    noted = apply_action(ticket, private, AT, RULES)  # internal work: a note, no response
    assert noted is not None
    assert [e for e, _ in noted.events] == [EventType.TICKET_NOTE_ADDED]
    assert (noted.ticket.agent_replies, noted.ticket.last_reply_at) == (0, None)
    assert NEXT not in write(noted.ticket, minutes(60)).sla


def test_the_priority_a_message_rule_sets_decides_the_due_time() -> None:
    ticket = write(answered_once(), minutes(60), text="I am still waiting")
    assert ticket.priority == "high"
    assert ticket.sla[NEXT].due == minutes(120)


def test_a_second_message_while_waiting_does_not_restart_the_clock() -> None:
    first = waiting()
    again = write(first, minutes(90))
    assert again.contacts == first.contacts + 1
    assert again.sla[NEXT] == first.sla[NEXT]
    breached = fire(again, NEXT, "breached", RULES, minutes(181))
    assert breached is not None
    # still unanswered after the breach: a third message starts nothing new either
    assert write(breached.ticket, minutes(200)).sla[NEXT] == breached.ticket.sla[NEXT]


def test_a_chase_that_raises_the_priority_retimes_the_running_clock_from_its_start() -> None:
    chased = write(waiting(), minutes(90), text="still waiting!")
    assert chased.priority == "high"
    # high is 1h from the first unanswered message (11:00), not from the chase (11:30)
    assert (chased.sla[NEXT].due, chased.sla[NEXT].warn_at) == (minutes(120), minutes(105))


def test_the_next_public_reply_meets_it_within_sla() -> None:
    ticket = write(waiting(), minutes(90))  # a second message does not shorten the wait
    replied, data = reply(ticket, minutes(150))
    assert data["response"] == "next"
    assert data["within_sla"] is True
    assert data["business_seconds"] == 90 * 60  # since 11:00, the first unanswered message
    assert replied.sla[NEXT].met_at == minutes(150)
    assert replied.agent_replies == 2
    assert schedule(replied) == {}
    assert fire(replied, NEXT, "breached", RULES, minutes(181)) is None
    assert [c.counter for c in sla_metric(EventType.TICKET_RESPONDED, data)] == ["met"]
    assert sla_metric(EventType.TICKET_RESPONDED, data)[0].dimensions["target"] == NEXT


def test_a_late_reply_is_not_within_sla_and_counts_no_met() -> None:
    replied, data = reply(waiting(), minutes(181))
    assert data["within_sla"] is False
    assert data["business_seconds"] == 121 * 60
    assert replied.sla[NEXT].met_at == minutes(181)
    assert sla_metric(EventType.TICKET_RESPONDED, data) == []


def test_a_second_reply_in_a_row_meets_nothing_more() -> None:
    replied, _ = reply(waiting(), minutes(90))
    again, data = reply(replied, minutes(100))
    # no customer waited for it: no response, no wait, no verdict
    assert (data["response"], data["business_seconds"], data["within_sla"]) == (None, None, None)
    assert again.sla[NEXT] == replied.sla[NEXT]
    assert again.agent_replies == replied.agent_replies + 1
    assert sla_metric(EventType.TICKET_RESPONDED, data) == []


def test_each_cycle_gets_a_fresh_clock_and_new_timer_ids() -> None:
    first = waiting()
    warned = fire(first, NEXT, "warning", RULES, minutes(166))
    assert warned is not None
    answered, _ = reply(warned.ticket, minutes(170))
    second = write(answered, minutes(240))
    clock = second.sla[NEXT]
    assert (clock.due, clock.warned, clock.met_at) == (minutes(360), False, None)
    timers = schedule(second)
    member = f"{second.id}|{NEXT}|breached"
    assert timers[member] == minutes(360).timestamp()
    old = Timer.parse(member, minutes(180).timestamp())
    assert Timer.parse(member, timers[member]).event_id != old.event_id
    # the old cycle's timer, if still in the schedule, fires nothing on the new cycle
    assert fire(second, NEXT, "breached", RULES, minutes(181)) is None
    again = fire(second, NEXT, "warning", RULES, minutes(346))
    assert again is not None
    assert again.events[0][0] is EventType.TICKET_SLA_WARNING


UNDER = {"queue": "general", "priority": "normal"}  # what the clocks fire under


def test_warning_then_breach_fire_once_each_and_run_the_escalation() -> None:
    ticket = waiting()
    assert fire(ticket, NEXT, "warning", RULES, minutes(164)) is None  # not yet
    warned = fire(ticket, NEXT, "warning", RULES, minutes(165))
    assert warned is not None
    assert warned.events == [
        (
            EventType.TICKET_SLA_WARNING,
            {
                **UNDER,
                "target": NEXT,
                "policy": "standard",
                "due": minutes(180),
                "warned_at": minutes(165),
            },
        )
    ]
    assert fire(warned.ticket, NEXT, "warning", RULES, minutes(170)) is None
    assert fire(warned.ticket, NEXT, "breached", RULES, minutes(179)) is None
    breached = fire(warned.ticket, NEXT, "breached", RULES, minutes(180))
    assert breached is not None
    kinds = [etype for etype, _ in breached.events]
    # moved to another queue: it waits in that queue's line, as after a transfer
    assert kinds == [
        EventType.TICKET_SLA_BREACHED,
        EventType.TICKET_ESCALATED,
        EventType.TICKET_QUEUED,
    ]
    assert breached.events[2][1]["reason"] == "escalated"
    assert breached.events[0][1] == {
        **UNDER,
        "target": NEXT,
        "policy": "standard",
        "due": minutes(180),
    }
    escalated = breached.events[1][1]
    assert escalated["reason"] == "sla.next_response.breached"
    assert escalated["matched"] == ["late next answer"]
    assert (breached.ticket.queue, breached.ticket.priority) == ("tier2", "urgent")
    assert breached.ticket.sla[NEXT].breached is True
    assert breached.ticket.sla[NEXT].due == minutes(180)  # a settled clock is not retimed
    assert fire(breached.ticket, NEXT, "breached", RULES, minutes(200)) is None
    assert schedule(breached.ticket) == {}
    counted = sla_metric(EventType.TICKET_SLA_BREACHED, {**breached.events[0][1]})
    assert [(c.counter, c.dimensions["target"]) for c in counted] == [("breached", NEXT)]


def test_a_postponement_moves_the_clock_and_its_timers() -> None:
    until = minutes(60 + 24 * 60)
    postponed, _ = act(waiting(), TicketPostponed(ticket_id="x", until=until), minutes(60))
    clock = postponed.sla[NEXT]
    due = minutes(180 + 24 * 60)
    assert (clock.due, clock.warn_at) == (due, minutes(165 + 24 * 60))
    assert fire(postponed, NEXT, "breached", RULES, minutes(181)) is None
    assert schedule(postponed)[f"{postponed.id}|{NEXT}|breached"] == due.timestamp()
    # the customer waited 30 minutes of unpostponed time when the reply comes
    _, data = reply(postponed, until + timedelta(minutes=30))
    assert (data["within_sla"], data["business_seconds"]) == (True, 30 * 60)


def test_a_customer_message_ends_a_postponement_and_is_owed_a_reply_from_then() -> None:
    """Postponed at 10:20 until tomorrow; the customer writes at 11:00: the ticket is off
    hold, and the next reply is due two hours after the message, not after tomorrow."""
    until = minutes(24 * 60)
    postponed, _ = act(answered_once(), TicketPostponed(ticket_id="x", until=until), minutes(20))
    ticket = write(postponed, minutes(60))
    assert (ticket.status, ticket.postponed_until) == ("open", None)
    assert ticket.sla[NEXT].due == minutes(180)
    assert schedule(ticket)[f"{ticket.id}|{NEXT}|breached"] == minutes(180).timestamp()


def test_a_customer_message_gives_back_the_postponement_still_to_come() -> None:
    """Postponed at 10:10 until 10:50; the customer writes at 10:20, which ends it: the
    first response clock paused 10 minutes, not 40. Answered at 11:00, the customer
    waited 50 minutes (10 before the pause, 40 since the message)."""
    opened = write(None, AT)
    postponed, _ = act(opened, TicketPostponed(ticket_id="x", until=minutes(50)), minutes(10))
    ticket = write(postponed, minutes(20))
    assert ticket.sla["first_response"].due == minutes(4 * 60 + 10)
    _, data = reply(ticket, minutes(60))
    assert (data["response"], data["business_seconds"]) == ("first", 50 * 60)
    # a message dated before the postponement (delivered late) gives back the whole
    # pause, never more: the clock is due as if nothing had been postponed
    assert write(postponed, minutes(5)).sla["first_response"].due == minutes(4 * 60)


def test_a_message_ending_a_postponement_gives_back_business_time_only() -> None:
    """Office hours: waiting since Friday 16:35 (due Monday 10:35), postponed at 16:40
    until Monday 12:00 (3h20m of business time: due 13:55). The customer chases on Monday
    at 9:30: the clock paused 50 business minutes, so 115 are left: due 11:25."""
    friday = datetime(2026, 11, 27, 16, 30, tzinfo=UTC)
    answered = reply(write(None, friday).model_copy(update={"sla_policy": "office"}), friday)[0]
    ticket = write(answered, friday + timedelta(minutes=5))
    monday = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    pause = TicketPostponed(ticket_id="x", until=monday + timedelta(hours=3))
    postponed, _ = act(ticket, pause, friday + timedelta(minutes=10))
    assert postponed.sla[NEXT].due == monday + timedelta(hours=4, minutes=55)
    chased = write(postponed, monday + timedelta(minutes=30))
    assert chased.postponed_until is None
    assert chased.sla[NEXT].due == monday + timedelta(hours=2, minutes=25)


def test_a_resolution_ends_a_postponement_and_a_reopen_starts_clean() -> None:
    """Postponed until tomorrow, resolved, then the customer writes: the new cycle is due
    two hours from the reopening message, not from the end of the old postponement."""
    until = minutes(24 * 60)
    postponed, _ = act(waiting(), TicketPostponed(ticket_id="x", until=until), minutes(70))
    resolved, _ = act(postponed, TicketResolved(ticket_id="x"), minutes(80))
    assert resolved.postponed_until is None
    reopened = write(resolved, minutes(120))
    assert (reopened.status, reopened.postponed_until) == ("open", None)
    assert reopened.sla[NEXT].due == minutes(240)
    assert schedule(reopened)[f"{reopened.id}|{NEXT}|breached"] == minutes(240).timestamp()
    # a snapshot resolved before resolving ended postponements starts clean as well
    stored = resolved.model_copy(update={"postponed_until": until})
    assert write(stored, minutes(120)).sla[NEXT].due == minutes(240)


@pytest.mark.parametrize("settle", [TicketResolved(ticket_id="x"), TicketClosed(ticket_id="x")])
def test_resolving_pauses_a_running_clock_and_closing_stops_it(settle: Action) -> None:
    ticket = waiting()
    assert schedule(ticket)
    settled, _ = act(ticket, settle, minutes(90))
    assert (NEXT in settled.sla) is isinstance(settle, TicketResolved)
    assert schedule(settled) == {}
    assert fire(settled, NEXT, "breached", RULES, minutes(500)) is None


def test_a_breached_cycle_stays_on_record_after_resolution() -> None:
    breached = fire(waiting(), NEXT, "breached", RULES, minutes(180))
    assert breached is not None
    resolved, _ = act(breached.ticket, TicketResolved(ticket_id="x"), minutes(200))
    assert resolved.sla[NEXT].breached is True


def test_a_customer_reopen_starts_a_fresh_clock_an_agent_reopen_resumes_the_waiting_one() -> None:
    breached = fire(waiting(), NEXT, "breached", RULES, minutes(180))
    assert breached is not None
    resolved, _ = act(breached.ticket, TicketResolved(ticket_id="x"), minutes(200))
    reopened = write(resolved, minutes(300))
    assert reopened.status == "open"
    assert reopened.reopen_count == 1
    clock = reopened.sla[NEXT]
    # tier2/urgent since the escalation: 30 minutes from the reopening message
    assert (clock.due, clock.breached, clock.warned) == (minutes(330), False, False)
    # the customer who waited when the ticket was resolved waits still: due at 180 before,
    # 10 minutes resolved, so due at 190, and the reply is timed without those 10 minutes
    by_agent, _ = act(
        act(waiting(), TicketResolved(ticket_id="x"), minutes(90))[0],
        TicketReopened(ticket_id="x"),
        minutes(100),
    )
    assert by_agent.status == "open"
    assert (by_agent.sla[NEXT].due, by_agent.sla[NEXT].warn_at) == (minutes(190), minutes(175))
    _, data = reply(by_agent, minutes(130))
    assert (data["response"], data["within_sla"]) == ("next", True)
    assert data["business_seconds"] == 60 * 60  # 60 to 130, less the 10 resolved
    # nobody waiting when resolved (answered): the agent's reopen starts no cycle
    answered, _ = reply(waiting(), minutes(80))
    quiet, _ = act(
        act(answered, TicketResolved(ticket_id="x"), minutes(90))[0],
        TicketReopened(ticket_id="x"),
        minutes(100),
    )
    assert not [member for member in schedule(quiet) if NEXT in member]


def test_a_policy_without_next_response_starts_no_clock_but_answers_the_customer() -> None:
    """No target, so nothing is due, warned or breached; but the customer waits, and the
    reply that answers them is a next response (the one after it is none)."""
    ticket = write(answered_once("quick-only"), minutes(60))
    assert NEXT not in ticket.sla
    answered, data = reply(ticket, minutes(90))
    assert (data["response"], data["within_sla"], data["business_seconds"]) == (
        "next",
        None,
        30 * 60,
    )
    _, again = reply(answered, minutes(95))
    assert again["response"] is None
    later, data = reply(write(answered, minutes(100)), minutes(110))
    assert (data["response"], data["business_seconds"]) == ("next", 10 * 60)
    assert NEXT not in later.sla


def test_business_hours_count_only_while_the_calendar_is_open() -> None:
    friday = datetime(2026, 11, 27, 16, 30, tzinfo=UTC)
    ticket = reply(write(None, friday).model_copy(update={"sla_policy": "office"}), friday)[0]
    waiting_over_weekend = write(ticket, friday + timedelta(minutes=5))
    monday = datetime(2026, 11, 30, 10, 35, tzinfo=UTC)
    assert waiting_over_weekend.sla[NEXT].due == monday  # 25m on Friday, 95m on Monday
    _, data = reply(waiting_over_weekend, datetime(2026, 11, 30, 9, 30, tzinfo=UTC))
    assert (data["within_sla"], data["business_seconds"]) == (True, 55 * 60)


def test_a_warned_clock_re_timed_by_a_priority_change_is_not_warned_again() -> None:
    """Warned at 12:45 (due 13:00, normal); a customer's chase raises the priority, which
    re-times the running clock to 12:00 (high: 1h), already passed: due at the chase
    (12:50), never before the change that made it due. One warning per ticket, target and
    cycle: no second, back-dated warning, no second escalation or metric count."""
    warned = fire(waiting(), NEXT, "warning", RULES, minutes(166))
    assert warned is not None
    assert warned.ticket.sla[NEXT].warned
    chased = write(warned.ticket, minutes(170), text="still waiting for an answer")
    assert chased.priority == "high"
    clock = chased.sla[NEXT]
    assert clock.due == minutes(170)  # an hour from the 11:00 message passed: the chase
    assert clock.warned
    assert fire(chased, NEXT, "warning", RULES, minutes(171)) is None
    assert fire(chased, NEXT, "breached", RULES, minutes(171)) is not None


def test_a_reply_after_a_breach_that_raised_the_priority_reports_the_real_wait() -> None:
    """The timers role breaches the cycle first, and the breach's escalation makes the
    ticket urgent (30 minutes instead of 2 hours). The reply after it still reports the
    121 minutes the customer waited, counted by the priority the clock was timed for;
    before, it was rebuilt from the urgent target: 31 minutes."""
    ticket = waiting()
    breached = fire(ticket, NEXT, "breached", RULES, minutes(180.5))
    assert breached is not None
    assert breached.ticket.priority == "urgent"
    _, data = reply(breached.ticket, minutes(181))
    assert data["within_sla"] is False
    assert data["business_seconds"] == 121 * 60
