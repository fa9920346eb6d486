from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from consumers.domain.assignment import AgentState, choose_agent, offer_pending, waiting_member
from consumers.domain.escalation import SKIP_TIMEOUTS, fire, schedule
from consumers.domain.lifecycle import apply_action, first_contact, reopen_takes_back
from consumers.domain.windows import fcr, workload
from consumers.sweep import request_for
from router.actions import (
    Action,
    AgentReplied,
    AssignmentDeclined,
    FeedbackNps,
    NoteAdded,
    TicketClosed,
    TicketPostponed,
    TicketReopened,
    TicketResolved,
    TicketTransferred,
)
from router.errors import InvalidEvent
from router.events import SlaClock, Ticket
from router.vocabulary import EventType
from rules import load_ruleset, loads_ruleset

pytestmark = pytest.mark.unit

RULES = load_ruleset(Path(__file__).resolve().parents[2] / "fixtures" / "rules" / "basic.yaml")
AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def ticket(**kw: object) -> Ticket:
    base: dict[str, object] = {
        "id": "T-1",
        "channel": "email",
        "channels_seen": ["email"],
        "customer_id": "C-1",
        "status": "new",
        "contacts": 1,
        "created_at": AT,
        "updated_at": AT,
        "last_customer_at": AT,
        "queue": "general",
        "sla_policy": "standard",
        "sla": {"first_response": SlaClock(due=AT + timedelta(hours=4))},
    }
    return Ticket.model_validate({**base, **kw})


def test_first_public_reply_meets_first_response_and_waits_on_the_customer() -> None:
    change = apply_action(
        ticket(),
        AgentReplied(ticket_id="T-1", agent_id="a1", public=True, handle_seconds=90),
        AT + timedelta(minutes=30),
        RULES,
    )
    assert change is not None
    [_, (etype, data)] = change.events  # the replier took it first: see below
    assert etype is EventType.TICKET_RESPONDED
    assert data["response"] == "first"
    assert data["within_sla"] is True
    assert data["business_seconds"] == 1800
    assert data["handle_seconds"] == 90
    assert change.ticket.status == "pending"
    assert change.ticket.agent_replies == 1
    assert change.ticket.assignee == "a1"
    assert change.ticket.sla["first_response"].met_at == AT + timedelta(minutes=30)


def test_a_reply_to_a_customer_waiting_again_is_a_next_response() -> None:
    # answered once, then the customer wrote: a next_response cycle runs
    replied = ticket(agent_replies=1, sla={"next_response": SlaClock()})
    change = apply_action(
        replied, AgentReplied(ticket_id="T-1", agent_id="a1", public=True), AT, RULES
    )
    assert change is not None
    assert change.events[-1][1]["response"] == "next"


def test_an_internal_reply_is_recorded_as_a_note_with_its_handle_time() -> None:
    """It published nothing: the agent's 300 s were lost to the ticket and to AHT."""
    t = ticket(handle_seconds=60)
    later = AT + timedelta(minutes=5)
    internal = AgentReplied.model_validate(
        {"ticket_id": "T-1", "agent_id": "a", "public": False, "handle_seconds": 300,
         "text": "checked the invoice"}
    )  # fmt: skip
    change = apply_action(t, internal, later, RULES)
    assert change is not None
    note = {
        "ticket_id": "T-1",
        "agent_id": "a",
        "text": "checked the invoice",
        "handle_seconds": 300,
    }
    assert change.events == [(EventType.TICKET_NOTE_ADDED, note)]  # never a .responded
    assert change.ticket.handle_seconds == 360
    assert (change.ticket.agent_replies, change.ticket.last_reply_at) == (0, None)
    assert (change.ticket.status, change.ticket.sla) == ("new", t.sla)  # no response met
    assert change.ticket.updated_at == later
    assert counted(change.events) == {"workload.handled": 1, "workload.handle_ms_sum": 300_000}


def test_an_internal_reply_without_handle_time_is_a_note_that_counts_no_work() -> None:
    internal = AgentReplied(ticket_id="T-1", agent_id="a", public=False)
    change = apply_action(ticket(), internal, AT, RULES)
    assert change is not None
    [(etype, note)] = change.events
    assert (etype, note) == (
        EventType.TICKET_NOTE_ADDED,
        {"ticket_id": "T-1", "agent_id": "a", "text": ""},
    )
    assert change.ticket.handle_seconds == 0
    assert counted(change.events) == {}
    zero = AgentReplied(ticket_id="T-1", agent_id="a", public=False, handle_seconds=0)
    zeroed = apply_action(ticket(), zero, AT, RULES)
    assert zeroed is not None
    assert counted(zeroed.events) == {}


def test_a_note_is_an_internal_event_that_meets_no_sla_and_counts_no_reply() -> None:
    t = ticket()
    later = AT + timedelta(minutes=5)
    change = apply_action(
        t, NoteAdded(ticket_id="T-1", agent_id="a", text="call back"), later, RULES
    )
    assert change is not None
    note = {"ticket_id": "T-1", "agent_id": "a", "text": "call back"}  # contract section 10
    assert change.events == [(EventType.TICKET_NOTE_ADDED, note)]
    assert change.ticket.agent_replies == 0
    assert change.ticket.sla == t.sla
    assert change.ticket.status == "new"
    assert change.ticket.updated_at == later


def test_public_replies_add_up_their_handling_time_on_the_ticket() -> None:
    first = apply_action(
        ticket(),
        AgentReplied(ticket_id="T-1", agent_id="a", public=True, handle_seconds=90),
        AT,
        RULES,
    )
    assert first is not None
    second = apply_action(
        first.ticket,
        AgentReplied(ticket_id="T-1", agent_id="a", public=True, handle_seconds=30.5),
        AT,
        RULES,
    )
    assert second is not None
    assert second.ticket.handle_seconds == 120.5


def test_resolve_records_first_contact_then_reopen_and_close() -> None:
    later = AT + timedelta(hours=1)
    resolved = apply_action(ticket(agent_replies=1), TicketResolved(ticket_id="T-1"), later, RULES)
    assert resolved is not None
    assert first_contact(ticket(agent_replies=1))
    fcr = RULES.metrics.fcr.hash
    assert resolved.events == [
        (
            EventType.TICKET_RESOLVED,
            {"agent_id": None, "first_contact": True, "fcr_definition": fcr, "within_sla": None},
        )
    ]
    assert (resolved.ticket.status, resolved.ticket.resolved_at) == ("resolved", later)
    assert apply_action(resolved.ticket, TicketResolved(ticket_id="T-1"), later, RULES) is None
    reopened = apply_action(resolved.ticket, TicketReopened(ticket_id="T-1"), later, RULES)
    assert reopened is not None
    assert reopened.ticket.reopen_count == 1
    assert reopened.events[0][1]["was_first_contact"] is True
    closed = apply_action(reopened.ticket, TicketClosed(ticket_id="T-1"), later, RULES)
    assert closed is not None
    assert closed.ticket.status == "closed"


def test_a_resolution_meets_its_sla_once_per_ticket() -> None:
    """Resolved, reopened and resolved again: the second resolution meets nothing (the
    resolution target was met by the first, and ``met`` counts once per ticket)."""
    clocks = {"resolution": SlaClock(due=AT + timedelta(days=3))}
    first = apply_action(ticket(sla=clocks), TicketResolved(ticket_id="T-1"), AT, RULES)
    assert first is not None
    assert first.events[0][1]["within_sla"] is True
    reopened = apply_action(first.ticket, TicketReopened(ticket_id="T-1"), AT, RULES)
    assert reopened is not None
    again = apply_action(reopened.ticket, TicketResolved(ticket_id="T-1"), AT, RULES)
    assert again is not None
    assert again.events[0][1]["within_sla"] is None


def test_the_first_response_wait_leaves_out_postponed_time() -> None:
    """Postponed for 40 minutes, answered an hour after it came in: the customer waited
    20 minutes of SLA time, as the clock (moved by the pause) counted."""
    pause = TicketPostponed(ticket_id="T-1", until=AT + timedelta(minutes=50))
    postponed = apply_action(ticket(), pause, AT + timedelta(minutes=10), RULES)
    assert postponed is not None
    reply = AgentReplied(ticket_id="T-1", agent_id="a1", public=True)
    answered = apply_action(postponed.ticket, reply, AT + timedelta(hours=1), RULES)
    assert answered is not None
    assert answered.events[-1][1]["business_seconds"] == 20 * 60
    assert answered.events[-1][1]["within_sla"] is True


def test_a_reply_while_postponed_leaves_out_only_the_pause_that_passed() -> None:
    """Postponed at 0:10 until 0:50, answered at 0:40: 40 minutes passed, 30 of them
    postponed, so the customer waited 10 (not 40 - 40 = 0: the last 10 minutes of the
    pause never happened)."""
    pause = TicketPostponed(ticket_id="T-1", until=AT + timedelta(minutes=50))
    postponed = apply_action(ticket(), pause, AT + timedelta(minutes=10), RULES)
    assert postponed is not None
    reply = AgentReplied(ticket_id="T-1", agent_id="a1", public=True)
    answered = apply_action(postponed.ticket, reply, AT + timedelta(minutes=40), RULES)
    assert answered is not None
    assert answered.events[-1][1]["business_seconds"] == 10 * 60


def test_a_reply_dated_before_a_recorded_breach_is_not_met() -> None:
    """The breach is counted already: a helpdesk time from before the due time (sent
    late) does not count the same target as met too."""
    clocks = {"first_response": SlaClock(due=AT + timedelta(hours=1), breached=True)}
    reply = AgentReplied(ticket_id="T-1", agent_id="a1", public=True)
    late = apply_action(ticket(sla=clocks), reply, AT + timedelta(minutes=30), RULES)
    assert late is not None
    assert late.events[-1][1]["within_sla"] is False


def test_the_assignee_who_replies_or_resolves_has_accepted_the_offer() -> None:
    """An offer the agent works (a public reply, a resolution) is accepted: its accept
    timeout, re-armed when the ticket is reopened, must not take it from them."""
    offered = ticket(assignee="a1", assigned_at=AT, accepted=False)
    reply = AgentReplied(ticket_id="T-1", agent_id="a1", public=True)
    replied = apply_action(offered, reply, AT + timedelta(minutes=1), RULES)
    resolved = apply_action(offered, TicketResolved(ticket_id="T-1", agent_id="a1"), AT, RULES)
    other = apply_action(
        offered, AgentReplied(ticket_id="T-1", agent_id="a2", public=True), AT, RULES
    )
    assert replied is not None
    assert resolved is not None
    assert other is not None
    assert (replied.ticket.accepted, resolved.ticket.accepted) == (True, True)
    assert [e for e, _ in replied.events] == [EventType.TICKET_RESPONDED]  # still a1's


def test_another_agent_who_answers_an_unaccepted_offer_takes_the_ticket() -> None:
    """Offered to a1, answered by a2: a2 works it now (accepted), so a1's offer cannot
    time out and send the answered ticket back to the line; an accepted ticket stays."""
    offered = ticket(assignee="a1", assigned_at=AT, accepted=False)
    reply = AgentReplied(ticket_id="T-1", agent_id="a2", public=True)
    other = apply_action(offered, reply, AT + timedelta(minutes=1), RULES)
    assert other is not None
    assert (other.ticket.assignee, other.ticket.accepted) == ("a2", True)
    assert [e for e, _ in other.events] == [EventType.TICKET_ASSIGNED, EventType.TICKET_RESPONDED]
    assert other.events[0][1]["strategy"] == "replied"
    held = ticket(assignee="a1", assigned_at=AT, accepted=True)
    helped = apply_action(held, reply, AT + timedelta(minutes=1), RULES)
    assert helped is not None
    assert (helped.ticket.assignee, [e for e, _ in helped.events]) == (
        "a1",
        [EventType.TICKET_RESPONDED],
    )


def test_the_offered_agent_who_writes_internally_has_accepted_the_offer() -> None:
    """An internal reply or a note by the offered agent is work on the ticket: the
    accept timeout must not take it from them; another agent's note accepts nothing."""
    offered = ticket(assignee="a1", assigned_at=AT, accepted=False)
    internal = AgentReplied(ticket_id="T-1", agent_id="a1", public=False, handle_seconds=60)
    note = NoteAdded(ticket_id="T-1", agent_id="a1", text="asked finance")
    others = NoteAdded(ticket_id="T-1", agent_id="a2", text="fyi")
    changes = [apply_action(offered, action, AT, RULES) for action in (internal, note, others)]
    assert [change.ticket.accepted for change in changes if change] == [True, True, False]


def test_transfer_to_a_known_queue_only() -> None:
    moved = apply_action(ticket(), TicketTransferred(ticket_id="T-1", queue="billing"), AT, RULES)
    assert moved is not None
    assert moved.ticket.queue == "billing"
    assert moved.events[0][1]["from"] == {"queue": "general", "agent_id": None}
    with pytest.raises(InvalidEvent, match="unknown queue 'nope'"):
        apply_action(ticket(), TicketTransferred(ticket_id="T-1", queue="nope"), AT, RULES)


def test_a_transfer_to_a_queue_found_in_other_rules_is_taken() -> None:
    """The ingress found the queue in newer rules than these (a rules change reaches
    the ingress and the router at different moments): the transfer is taken, not lost."""
    transfer = TicketTransferred(ticket_id="T-1", queue="vip")
    moved = apply_action(ticket(), transfer, AT, RULES, queue_checked=True)
    assert moved is not None
    assert moved.ticket.queue == "vip"


def test_a_reply_to_an_unassigned_ticket_assigns_it_to_the_replier_with_a_record() -> None:
    later = AT + timedelta(minutes=30)
    reply = AgentReplied(ticket_id="T-1", agent_id="a1", public=True)
    change = apply_action(ticket(queued_at=AT), reply, later, RULES)
    assert change is not None
    [(assigned, data), (responded, _)] = change.events
    assert (assigned, responded) == (EventType.TICKET_ASSIGNED, EventType.TICKET_RESPONDED)
    assert data == {"agent_id": "a1", "queue": "general", "strategy": "replied"}
    taken = change.ticket
    assert (taken.assignee, taken.assigned_at, taken.accepted) == ("a1", later, True)
    assert taken.queued_at is None  # out of the waiting line
    assert taken.updated_at == later
    # already someone's: a reply by another agent leaves the assignment as it is
    other = AgentReplied(ticket_id="T-1", agent_id="a2", public=True)
    again = apply_action(taken, other, later + timedelta(minutes=5), RULES)
    assert again is not None
    assert [e for e, _ in again.events] == [EventType.TICKET_RESPONDED]
    assert (again.ticket.assignee, again.ticket.assigned_at) == ("a1", later)


def test_a_transfer_to_another_queue_puts_the_ticket_back_in_line_for_its_agents() -> None:
    later = AT + timedelta(minutes=30)
    held = ticket(assignee="a1", assigned_at=AT, accepted=True, assignment_round=2)
    moved = apply_action(held, TicketTransferred(ticket_id="T-1", queue="billing"), later, RULES)
    assert moved is not None
    [(transferred, data), (queued, why)] = moved.events
    assert (transferred, queued) == (EventType.TICKET_TRANSFERRED, EventType.TICKET_QUEUED)
    assert data == {
        "from": {"queue": "general", "agent_id": "a1"},
        "to": {"queue": "billing", "agent_id": None},
    }
    assert why == {"queue": "billing", "reason": "transferred", "agent_id": "a1"}
    back = moved.ticket
    assert (back.queue, back.assignee, back.assigned_at, back.accepted) == (
        "billing",
        None,
        None,
        False,
    )
    assert (back.assignment_round, back.queued_at, back.updated_at) == (3, later, later)
    assert waiting_member(back) is not None  # in the billing line, in a new round


def test_a_transfer_that_names_an_agent_offers_it_to_them() -> None:
    held = ticket(assignee="a1", assigned_at=AT, accepted=True)
    to_agent = TicketTransferred(ticket_id="T-1", queue="billing", agent_id="a2")
    moved = apply_action(held, to_agent, AT, RULES)
    assert moved is not None
    assert [e for e, _ in moved.events] == [EventType.TICKET_TRANSFERRED]
    assert moved.events[0][1]["to"] == {"queue": "billing", "agent_id": "a2"}
    assert (moved.ticket.assignee, moved.ticket.assigned_at) == ("a2", None)
    assert offer_pending(moved.ticket)  # the timers role offers it to a2


def test_a_transfer_that_moves_nothing_changes_nothing() -> None:
    """It published ``.transferred`` with ``from`` equal to ``to``."""
    held = ticket(assignee="a1", assigned_at=AT, accepted=True)
    for nowhere in (
        TicketTransferred(ticket_id="T-1", queue="general"),
        TicketTransferred(ticket_id="T-1", agent_id="a1"),
        TicketTransferred(ticket_id="T-1", queue="general", agent_id="a1"),
    ):
        assert apply_action(held, nowhere, AT, RULES) is None, nowhere
    assert (
        apply_action(ticket(), TicketTransferred(ticket_id="T-1", queue="general"), AT, RULES)
        is None
    )
    # the agent stays, the queue changes: a move
    moved = apply_action(
        held, TicketTransferred(ticket_id="T-1", queue="billing", agent_id="a1"), AT, RULES
    )
    assert moved is not None
    assert moved.events[0][1]["to"] == {"queue": "billing", "agent_id": "a1"}


def test_a_transfer_away_passes_over_the_agent_who_held_it() -> None:
    """a1 (with billing's skills too) transferred the ticket to billing and was offered it
    straight back. Another agent with a seat gets it; with nobody else it waits in line,
    and comes back to a1 through the line only once their skip ends."""
    held = ticket(assignee="a1", assigned_at=AT, accepted=True)
    moved = apply_action(held, TicketTransferred(ticket_id="T-1", queue="billing"), AT, RULES)
    assert moved is not None
    back = moved.ticket
    skills = frozenset({"billing"})
    a1, a2 = AgentState("a1", skills), AgentState("a2", skills, load={"email": 0})
    request = request_for(back, RULES, AT)
    assert choose_agent(request, [a1, a2], None) == "a2"
    assert choose_agent(replace(request, strategy="round_robin"), [a1, a2], None) == "a2"
    assert choose_agent(request, [a1], None) is None  # waits in billing's line
    ends = AT + RULES.assignment.accept_timeout * SKIP_TIMEOUTS
    assert schedule(back)["T-1|assignment|retry"] == ends.timestamp()
    again = fire(back, "assignment", "retry", RULES, ends)
    assert again is not None
    assert [e for e, _ in again.events] == [EventType.TICKET_QUEUED]
    assert choose_agent(request_for(again.ticket, RULES, ends), [a1], None) == "a1"


def test_postpone_and_feedback() -> None:
    until = AT + timedelta(days=2)
    postponed = apply_action(ticket(), TicketPostponed(ticket_id="T-1", until=until), AT, RULES)
    assert postponed is not None
    assert (postponed.ticket.status, postponed.ticket.postponed_until) == ("pending", until)
    # the SLA clock pauses: it is due two days later than before
    assert postponed.ticket.sla["first_response"].due == AT + timedelta(hours=4, days=2)
    assert postponed.events[0][1]["sla_paused_seconds"] == 2 * 86400
    assert apply_action(ticket(), TicketPostponed(ticket_id="T-1", until=AT), AT, RULES) is None
    nps = apply_action(ticket(assignee="a9"), FeedbackNps(ticket_id="T-1", score=9), AT, RULES)
    assert nps is not None
    assert nps.events == [
        (EventType.TICKET_FEEDBACK_RECEIVED, {"kind": "nps", "score": 9, "agent_id": "a9"})
    ]


def test_postponing_again_extends_the_pause_and_never_counts_it_twice() -> None:
    until = AT + timedelta(hours=5)
    first = apply_action(ticket(), TicketPostponed(ticket_id="T-1", until=until), AT, RULES)
    assert first is not None
    due = first.ticket.sla["first_response"].due
    assert due == AT + timedelta(hours=4 + 5)
    later = AT + timedelta(seconds=1)
    same = TicketPostponed(ticket_id="T-1", until=until)
    assert apply_action(first.ticket, same, later, RULES) is None  # a repeat changes nothing
    shorter = TicketPostponed(ticket_id="T-1", until=until - timedelta(hours=1))
    assert apply_action(first.ticket, shorter, later, RULES) is None
    longer = TicketPostponed(ticket_id="T-1", until=until + timedelta(hours=2))
    extended = apply_action(first.ticket, longer, later, RULES)
    assert extended is not None
    assert extended.ticket.sla["first_response"].due == due + timedelta(hours=2)  # not 7
    assert extended.events[0][1]["sla_paused_seconds"] == 2 * 3600
    assert extended.ticket.postponed_until == until + timedelta(hours=2)


FCR_RULES = loads_ruleset(
    """
version: 1
queues: {general: {}}
defaults: {queue: general}
metrics:
  fcr: {max_customer_contacts: 2, max_public_replies: 2, reopen_window: 1d, channels: [email]}
"""
)


def test_fcr_follows_the_definition_in_the_rules_and_names_it() -> None:
    later = AT + timedelta(hours=1)
    two_and_two = ticket(contacts=2, agent_replies=2)
    by_default = apply_action(two_and_two, TicketResolved(ticket_id="T-1"), later, RULES)
    configured = apply_action(two_and_two, TicketResolved(ticket_id="T-1"), later, FCR_RULES)
    assert by_default is not None
    assert configured is not None
    assert by_default.events[0][1]["first_contact"] is False
    assert configured.events[0][1]["first_contact"] is True
    assert configured.events[0][1]["fcr_definition"] == FCR_RULES.metrics.fcr.hash
    assert FCR_RULES.metrics.fcr.hash != RULES.metrics.fcr.hash
    # a chat is not on the definition's channels
    chat = apply_action(
        ticket(channels_seen=["email", "chat"]), TicketResolved(ticket_id="T-1"), later, FCR_RULES
    )
    assert chat is not None
    assert chat.events[0][1]["first_contact"] is False
    # a reopen takes the first contact back only inside the definition's reopen window
    resolved = configured.ticket
    soon = apply_action(
        resolved, TicketReopened(ticket_id="T-1"), later + timedelta(hours=23), FCR_RULES
    )
    late = apply_action(
        resolved, TicketReopened(ticket_id="T-1"), later + timedelta(hours=25), FCR_RULES
    )
    assert soon is not None
    assert late is not None
    assert soon.events[0][1]["was_first_contact"] is True
    assert late.events[0][1]["was_first_contact"] is False


def journey(start: Ticket, *steps: tuple[Action, datetime]) -> tuple[Ticket, list[Any]]:
    """The ticket after each action in turn, and every event published on the way (an
    action that changes nothing publishes none)."""
    events: list[Any] = []
    for action, at in steps:
        change = apply_action(start, action, at, RULES)
        if change is not None:
            start, events = change.ticket, [*events, *change.events]
    return start, events


def counted(events: list[Any]) -> dict[str, int]:
    """The workload and fcr counters (``metric.counter``) the metric consumer adds up
    from these events."""
    totals: dict[str, int] = {}
    for etype, data in events:
        for c in [*workload(etype.value, data), *fcr(etype.value, data)]:
            name = f"{c.metric}.{c.counter}"
            totals[name] = totals.get(name, 0) + c.amount
    return totals


def test_a_closed_ticket_is_not_postponed_back_to_life() -> None:
    """Postponing a closed ticket changes nothing: it stays closed, nobody's seat or
    open count takes it back, and its unmet resolution clock stays stopped."""
    clocks = {"resolution": SlaClock(due=AT + timedelta(days=3))}
    closed, _ = journey(
        ticket(sla=clocks, assignee="a1", accepted=True), (TicketClosed(ticket_id="T-1"), AT)
    )
    pause = TicketPostponed(ticket_id="T-1", until=AT + timedelta(days=1))
    assert apply_action(closed, pause, AT + timedelta(hours=1), RULES) is None
    assert (closed.status, schedule(closed)) == ("closed", {})


def test_a_resolved_ticket_postponed_and_resolved_again_counts_one_resolution() -> None:
    pause = TicketPostponed(ticket_id="T-1", until=AT + timedelta(days=1))
    resolve = TicketResolved(ticket_id="T-1", agent_id="a1")
    final, events = journey(
        ticket(agent_replies=1),
        (resolve, AT),
        (pause, AT + timedelta(minutes=5)),
        (resolve, AT + timedelta(minutes=10)),
    )
    assert [e for e, _ in events] == [EventType.TICKET_RESOLVED]
    assert (final.status, final.postponed_until) == ("resolved", None)
    assert counted(events) == {
        "workload.resolved": 1,
        "fcr.resolved": 1,
        "fcr.resolved_first_contact": 1,
    }


@pytest.mark.parametrize("settle", [TicketResolved(ticket_id="T-1"), TicketClosed(ticket_id="T-1")])
def test_resolving_or_closing_ends_a_postponement(settle: Action) -> None:
    pause = TicketPostponed(ticket_id="T-1", until=AT + timedelta(days=1))
    settled, _ = journey(ticket(), (pause, AT), (settle, AT + timedelta(hours=1)))
    assert settled.postponed_until is None


def test_a_reopen_takes_back_the_first_contact_decided_at_the_resolution() -> None:
    """Resolved as first contact after one reply; a courtesy reply on the resolved
    ticket ("let me know if...") makes two, but the reopen still takes back what the
    resolution counted, so fcr_rate is not overstated."""
    reply = AgentReplied(ticket_id="T-1", agent_id="a1", public=True)
    resolved, events = journey(
        ticket(channel="webform", channels_seen=["webform"]),
        (reply, AT),
        (TicketResolved(ticket_id="T-1", agent_id="a1"), AT + timedelta(minutes=5)),
        (reply, AT + timedelta(minutes=6)),
    )
    assert (resolved.agent_replies, resolved.resolved_first_contact) == (2, True)
    later = AT + timedelta(hours=1)
    assert reopen_takes_back(resolved, later, RULES.metrics.fcr)
    reopened, more = journey(resolved, (TicketReopened(ticket_id="T-1"), later))
    assert more[0][1]["was_first_contact"] is True
    assert reopened.resolved_first_contact is None
    totals = counted([*events, *more])
    assert totals["fcr.resolved_first_contact"] == totals["fcr.reopened_after_first_contact"] == 1
    # a snapshot stored before the decision was recorded: judged as it is now
    stored = resolved.model_copy(update={"resolved_first_contact": None})
    assert not reopen_takes_back(stored, later, RULES.metrics.fcr)
    assert reopen_takes_back(stored.model_copy(update={"agent_replies": 1}), later)


def test_a_closed_ticket_is_not_reopened_by_an_agent() -> None:
    closed, _ = journey(ticket(agent_replies=1), (TicketClosed(ticket_id="T-1"), AT))
    reopen = TicketReopened(ticket_id="T-1", agent_id="a1")
    assert apply_action(closed, reopen, AT + timedelta(minutes=1), RULES) is None
    resolved, _ = journey(ticket(agent_replies=1), (TicketResolved(ticket_id="T-1"), AT))
    assert apply_action(resolved, reopen, AT + timedelta(minutes=1), RULES) is not None


def test_a_reply_on_a_closed_ticket_changes_nothing_on_a_resolved_one_is_recorded() -> None:
    reply = AgentReplied(ticket_id="T-1", agent_id="a1", public=True, handle_seconds=60)
    held = ticket(agent_replies=1, assignee="a1", accepted=True)
    closed, _ = journey(held, (TicketClosed(ticket_id="T-1"), AT))
    assert apply_action(closed, reply, AT + timedelta(minutes=1), RULES) is None
    resolved, _ = journey(held, (TicketResolved(ticket_id="T-1"), AT))
    _, events = journey(resolved, (reply, AT + timedelta(minutes=1)))
    assert [e for e, _ in events] == [EventType.TICKET_RESPONDED]
    assert counted(events) == {"workload.handled": 1, "workload.handle_ms_sum": 60_000}


def test_a_closed_ticket_is_neither_transferred_nor_declined() -> None:
    """Closed is final: a transfer or a decline on it published ``.transferred`` and
    ``.queued`` of a closed ticket, moved to another queue and agent."""
    held = ticket(agent_replies=1, assignee="a1", accepted=True)
    closed, _ = journey(held, (TicketClosed(ticket_id="T-1"), AT))
    later = AT + timedelta(minutes=1)
    for action in (
        TicketTransferred(ticket_id="T-1", queue="billing"),
        TicketTransferred(ticket_id="T-1", agent_id="a2"),
        AssignmentDeclined(ticket_id="T-1", agent_id="a1"),
    ):
        assert apply_action(closed, action, later, RULES) is None, action
    resolved, _ = journey(held, (TicketResolved(ticket_id="T-1"), AT))
    assert (
        apply_action(resolved, AssignmentDeclined(ticket_id="T-1", agent_id="a1"), later, RULES)
        is None
    )
    moved = apply_action(
        resolved, TicketTransferred(ticket_id="T-1", queue="billing"), later, RULES
    )
    assert moved is not None
    assert moved.ticket.queue == "billing"
