"""What fires when: SLA warnings and breaches, assignments not accepted in time, and the
escalation rules they run. Pure: the ``timers`` role keeps the schedule in Redis and
commits what these return.

A timer is named ``ticket|target|kind`` and fires under an event id derived from (ticket,
target, kind, due time), so it fires exactly once however often it is retried. A
next_response clock runs in cycles (one from the first customer message after each
public reply): a met or breached cycle schedules nothing, and the next cycle is a fresh
clock with its own due time, so the same member moves to the new time and fires under a
new event id.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, TypeAlias

from consumers.domain.assignment import requeued, skip_ends, unassigned
from consumers.domain.decisions import apply_decision, notifications, routed_data
from consumers.domain.outputs import Change
from router.events import Ticket, iso
from router.ids import derived_id
from router.vocabulary import (
    ASSIGNMENT_TIMEOUT,
    SETTLED,
    SLA_PHASES,
    SLA_TARGETS,
    EventType,
    sla_trigger,
)
from rules import RuleSet
from rules.facts import facts

SKIP_TIMEOUTS = 5
"""An agent who let an offer time out is skipped for the ticket for this many accept
timeouts (10 minutes with the default 2 m): long enough to offer it to the others."""
KINDS = {"warning": EventType.TICKET_SLA_WARNING, "breached": EventType.TICKET_SLA_BREACHED}
# what escalation rules see besides the ticket: its last customer message and the profile
Seen: TypeAlias = tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]


class Timer(NamedTuple):
    """A claimed timer, with the event id it fires under (derived once: it is a UUIDv5
    the firing needs for the read, the commit and the log alike)."""

    member: str
    when: float
    ticket_id: str
    target: str
    kind: str
    event_id: str

    @classmethod
    def parse(cls, member: str, when: float) -> Timer:
        ticket_id, target, kind = member.split("|")
        at = iso(datetime.fromtimestamp(when, UTC))
        event_id = derived_id(ticket_id, "sla", target, kind, at)
        return cls(member, when, ticket_id, target, kind, event_id)


def schedule(ticket: Ticket, accept_timeout: timedelta | None = None) -> dict[str, float]:
    """The timers a ticket needs now: ``ticket|target|kind`` -> when (epoch seconds):
    SLA warnings and breaches, and the deadline for accepting an assignment. A postponed
    ticket's SLA timers wait until the postponement ends."""
    if ticket.status in SETTLED:
        return {}
    out: dict[str, float] = {}
    if accept_timeout is not None and ticket.assigned_at and not ticket.accepted:
        out[f"{ticket.id}|assignment|timeout"] = (ticket.assigned_at + accept_timeout).timestamp()
    retry = skip_ends(ticket) if ticket.assignee is None else None
    if retry is not None:  # an agent's skip ends: offer the ticket to them again
        out[f"{ticket.id}|assignment|retry"] = retry.timestamp()
    resume = ticket.postponed_until.timestamp() if ticket.postponed_until else 0.0
    for target, clock in ticket.sla.items():
        if clock.met_at or clock.breached or clock.due is None:
            continue
        if clock.warn_at and not clock.warned:
            out[f"{ticket.id}|{target}|warning"] = max(clock.warn_at.timestamp(), resume)
        out[f"{ticket.id}|{target}|breached"] = max(clock.due.timestamp(), resume)
    return out


def ticket_timers(ticket_id: str) -> list[str]:
    """Every member ``schedule`` may give a ticket: its SLA warnings and breaches, and its
    assignment's accept timeout and skip retry (not its archive timer)."""
    sla = [f"{ticket_id}|{target}|{kind}" for target in SLA_TARGETS for kind in SLA_PHASES]
    return [*sla, f"{ticket_id}|assignment|timeout", f"{ticket_id}|assignment|retry"]


def fire(
    ticket: Ticket,
    target: str,
    kind: str,
    rules: RuleSet,
    now: datetime,
    *,
    seen: Seen | None = None,
    since: datetime | None = None,
) -> Change | None:
    """The ticket after an SLA warning or breach, or an assignment not accepted in time,
    and the escalation rules for it; None when the timer is stale (met, settled, warned
    already, accepted, postponed, or not yet due).

    A warning's record says when it counts (``warned_at``): its warning time, or the
    ticket's last change before it (``since``, else the ticket's ``updated_at``) when a
    change re-timed the clock past it, never after the clock's due time. Whoever fires it,
    the timers role on time or the router at a late reply, it counts in that window."""
    if target == "assignment":
        if kind == "retry":
            return skip_ended(ticket, now)
        return accept_timeout(ticket, rules, now, seen=seen)
    clock = ticket.sla.get(target)
    if clock is None or clock.met_at or clock.breached or ticket.status in SETTLED:
        return None
    when = clock.warn_at if kind == "warning" else clock.due
    postponed = ticket.postponed_until is not None and now < ticket.postponed_until
    if when is None or when > now or postponed or (kind == "warning" and clock.warned):
        return None
    marked = clock.model_copy(update={"warned": True} if kind == "warning" else {"breached": True})
    fired = ticket.model_copy(
        update={"sla": {**ticket.sla, target: marked}, "updated_at": max(now, ticket.updated_at)}
    )
    # The queue and priority the clock fired under, before any escalation it causes:
    # what the sla metric counts the warning or breach under.
    fired_under = {"queue": ticket.queue, "priority": ticket.priority}
    data: dict[str, Any] = {"target": target, "policy": ticket.sla_policy, "due": clock.due}
    if kind == "warning":
        data["warned_at"] = min(max(when, since or ticket.updated_at), clock.due or when)
    events: list[tuple[EventType, dict[str, Any]]] = [(KINDS[kind], {**data, **fired_under})]
    return escalate(fired, events, sla_trigger(target, kind), rules, now, seen=seen)


def breached_by(
    ticket: Ticket, rules: RuleSet, at: datetime, *, seen: Seen | None = None
) -> Change | None:
    """The ticket with every clock already due at ``at`` breached (and warned first, when
    its warning was due too and not given yet), as the timers role does when its timers
    fire (the ``.sla_warning`` and ``.sla_breached``, and the escalation rules), for an
    action that settles or pauses clocks: a reply, a
    resolution, a close or a postponement at ``at``. A clock is breached at its due time
    whether or not its timer has fired yet (it fires about once a second): a late reply
    in between would otherwise meet the clock late and leave its breach uncounted, and a
    postponement would move an overdue clock on. Whichever commits first, the action or
    the timer, the other finds the clock breached. None when no clock is overdue."""
    current, events = ticket, list[tuple[EventType, dict[str, Any]]]()
    since = ticket.updated_at  # each firing below moves the ticket's on to ``at``
    due = sorted(
        (clock.due, target) for target, clock in ticket.sla.items() if clock.due is not None
    )
    for _, target in due:
        for kind in ("warning", "breached"):  # a warning due by then was given first
            change = fire(current, target, kind, rules, at, seen=seen, since=since)
            if change is not None:
                current, events = change.ticket, [*events, *change.events]
    return Change(current, events) if events else None


def accept_timeout(
    ticket: Ticket, rules: RuleSet, now: datetime, *, seen: Seen | None = None
) -> Change | None:
    """An offer not accepted in time: the ticket goes back in line without that agent,
    and the ``assignment.timeout`` escalation rules run once per cycle (the first timeout
    since an offer was last accepted), so a ticket nobody takes does not notify anew
    every round. The timers role also sets that agent away (``timers.lapsed_offer``)."""
    deadline = ticket.assigned_at + rules.assignment.accept_timeout if ticket.assigned_at else None
    if ticket.status in SETTLED or ticket.accepted or deadline is None or deadline > now:
        return None
    # a reopen gives the offer back the accept time it had left (``sla.resumed``); one
    # that ran out before the ticket was settled fires at the reopen, dated then
    now = max(now, ticket.updated_at)
    skip = rules.assignment.accept_timeout * SKIP_TIMEOUTS
    back = unassigned(ticket, "accept_timeout", now, skip_for=skip)
    if back.ticket.unaccepted > 1:  # escalated at the first timeout of this cycle already
        return back
    return escalate(back.ticket, list(back.events), ASSIGNMENT_TIMEOUT, rules, now, seen=seen)


def skip_ended(ticket: Ticket, now: datetime) -> Change | None:
    """The skips that have ended are dropped and the ticket starts a new round in line
    (``.queued``, reason ``skip_ended``: the timers role follows the tickets topic), so
    the line offers it again, to those agents too. None while it is not waiting or no
    skip has ended yet."""
    ended = {a for a, until in ticket.skipped_until.items() if until <= now}
    if not ended or ticket.assignee is not None or ticket.status in SETTLED:
        return None
    kept = {a: u for a, u in ticket.skipped_until.items() if a not in ended}
    back = ticket.model_copy(
        update={
            "skipped_until": kept,
            "lapsed": [a for a in ticket.lapsed if a in kept],
            "assignment_round": ticket.assignment_round + 1,
            "queued_at": now,
            "updated_at": max(now, ticket.updated_at),
        }
    )
    data = {"queue": ticket.queue, "reason": "skip_ended", "agent_id": None}
    return Change(back, [(EventType.TICKET_QUEUED, data)])


def escalate(
    ticket: Ticket,
    events: list[tuple[EventType, dict[str, Any]]],
    trigger: str,
    rules: RuleSet,
    now: datetime,
    *,
    seen: Seen | None = None,
) -> Change:
    """Run the escalation rules for ``trigger`` over the same facts routing sees (the
    ticket, its last customer message, the customer's profile); a match adds an
    ``.escalated`` event, and the ``.notification`` events its ``notify`` asks for.

    An escalation to another queue is a transfer there (``requeued``, reason
    ``escalated``): the assignee may lack the new queue's skills, so the ticket leaves
    them for the new queue's line, unless the escalation names an agent (``assign``).
    One that keeps the queue (priority, tags) keeps the assignee. A ticket this change
    already put back in line (``assignment.timeout``) waits in the new queue's line with
    the one ``.queued`` record that says so."""
    fired = ticket
    if not rules.rules_for(trigger):  # nothing listens: no facts to build, nothing to run
        return Change(fired, events)
    message, profile = seen or (None, None)
    decision = rules.evaluate(facts(ticket, message, profile), trigger=trigger, now=now)
    if decision.matched:
        escalated = apply_decision(fired, decision, rules, fill_defaults=False)
        events.append(
            (
                EventType.TICKET_ESCALATED,
                {
                    "reason": trigger,
                    "from": {"queue": fired.queue, "priority": fired.priority},
                    "to": {"queue": escalated.queue, "priority": escalated.priority},
                    **routed_data(decision),
                },
            )
        )
        back_in_line = next((d for e, d in events if e is EventType.TICKET_QUEUED), None)
        if back_in_line is not None and not decision.assign:
            # this change put it back in line already (an offer not accepted in time):
            # one ``.queued``, naming the line it now waits in, and one new round
            back_in_line["queue"] = escalated.queue
        elif not decision.assign:
            moved = requeued(fired, escalated, "escalated", now)
            escalated = moved.ticket
            events.extend(moved.events)
        events.extend(notifications(decision))  # "notify the team lead", as in routing
        fired = escalated
    return Change(fired, events)
