"""What a helpdesk action does to a ticket (contract sections 6 and 7). Pure.

``apply_action`` returns the ticket after the action and the lifecycle events to
publish, or None when the action changes nothing (a repeated answer, a transfer that
moves nothing, an action that does not apply to the ticket's status). An internal reply
is recorded as a note. A closed ticket is final: no public reply, reopen, postponement or
transfer changes it. A resolved one may still be reopened, replied to and transferred,
never postponed; neither can be declined.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from consumers.domain.assignment import assigned, named, requeued, unassigned, worked_by
from consumers.domain.escalation import SKIP_TIMEOUTS, Seen, breached_by
from consumers.domain.outputs import Change
from consumers.domain.sla import answers, met, paused, resumed, stopped, waited, within
from router.actions import (
    Action,
    AgentReplied,
    AssignmentAccepted,
    AssignmentDeclined,
    FeedbackCes,
    FeedbackCsat,
    FeedbackNps,
    NoteAdded,
    TicketClosed,
    TicketPostponed,
    TicketReopened,
    TicketResolved,
    TicketTransferred,
)
from router.errors import InvalidEvent
from router.events import Ticket
from router.vocabulary import SETTLED, EventType
from rules import RuleSet
from rules.model import FcrDefinition

DEFAULT_FCR = FcrDefinition()

RESPONSES = {"first_response": "first", "next_response": "next"}  # ``.responded``'s response

FEEDBACK: dict[type[Action], str] = {FeedbackCsat: "csat", FeedbackNps: "nps", FeedbackCes: "ces"}


def first_contact(ticket: Ticket, fcr: FcrDefinition = DEFAULT_FCR) -> bool:
    """FCR as the rules define it (by default: one customer interaction, at most one
    public agent reply, never reopened)."""
    return (
        ticket.contacts <= fcr.max_customer_contacts
        and ticket.agent_replies <= fcr.max_public_replies
        and ticket.reopen_count == 0
        and (fcr.channels is None or fcr.channels.issuperset(ticket.channels_seen))
    )


def reopen_takes_back(ticket: Ticket, at: datetime, fcr: FcrDefinition = DEFAULT_FCR) -> bool:
    """Whether reopening ``ticket`` at ``at`` takes back its first-contact resolution:
    it was one when resolved (``resolved_first_contact``: a public reply after the
    resolution does not change what was counted), and the reopen comes within the
    definition's reopen window. A snapshot stored before that was recorded is judged
    as it is now."""
    resolved = ticket.resolved_at
    decided = ticket.resolved_first_contact
    was = first_contact(ticket, fcr) if decided is None else decided
    return was and resolved is not None and at - resolved <= fcr.reopen_window


def apply_action(
    ticket: Ticket,
    action: Action,
    at: datetime,
    rules: RuleSet,
    *,
    seen: Seen | None = None,
    queue_checked: bool = False,
) -> Change | None:
    """The ticket after ``action`` at ``at`` and its lifecycle events; None when the
    action changes nothing. An action that settles or pauses clocks (a public reply, a
    resolution, a close, a postponement) first breaches every clock already due
    (``breached_by``): the breach came first, at its due time. ``seen``: the ticket's
    last customer message and the customer's profile, for the escalation rules.
    ``queue_checked``: the queue a transfer names was found in other rules (newer, in a
    rules change that has not reached these yet), so it is taken though these lack it."""
    if _settles_clocks(action) and ticket.status not in SETTLED:
        overdue = breached_by(ticket, rules, at, seen=seen)
        if overdue is not None:
            # the wait a reply ends is timed by the clock as it ran, before an escalation
            # of the breach re-prioritised the ticket
            change = _apply(overdue.ticket, action, at, rules, timed_by=ticket)
            if change is None:
                return overdue
            return Change(change.ticket, [*overdue.events, *change.events])
    return _apply(ticket, action, at, rules, queue_checked=queue_checked)


def _settles_clocks(action: Action) -> bool:
    if isinstance(action, AgentReplied):
        return action.public
    return isinstance(action, TicketResolved | TicketClosed | TicketPostponed)


def _apply(  # noqa: PLR0911, PLR0912 - one branch per action type reads best
    ticket: Ticket,
    action: Action,
    at: datetime,
    rules: RuleSet,
    timed_by: Ticket | None = None,
    *,
    queue_checked: bool = False,
) -> Change | None:
    base = {"updated_at": max(at, ticket.updated_at)}
    if isinstance(action, AgentReplied):
        if not action.public:
            return _internal(ticket, action, at)
        if ticket.status == "closed":
            return None
        return _replied(ticket, action, at, rules, timed_by or ticket)
    if isinstance(action, NoteAdded):
        note = {"ticket_id": ticket.id, "agent_id": action.agent_id, "text": action.text or ""}
        noted = ticket.model_copy(update={**base, **worked_by(ticket, action.agent_id)})
        return Change(noted, [(EventType.TICKET_NOTE_ADDED, note)])
    if isinstance(action, TicketResolved):
        if ticket.status in SETTLED:
            return None
        return _resolved(ticket, action.agent_id, at, rules)
    if isinstance(action, TicketReopened):
        if ticket.status != "resolved":  # closed is final: a reply opens a follow-up
            return None
        # resolving ends a postponement; a snapshot stored before that did may hold one.
        # An offer not yet accepted gets back the accept time it had left (``resumed``)
        reopened = resumed(ticket, rules, at).model_copy(
            update={
                **base,
                **worked_by(ticket, action.agent_id),
                "status": "open",
                "resolved_at": None,
                "resolved_first_contact": None,
                "reopen_count": ticket.reopen_count + 1,
            }
        )
        why = {
            "by": "agent",
            "agent_id": action.agent_id,
            "reason": action.reason,
            "was_first_contact": reopen_takes_back(ticket, at, rules.metrics.fcr),
            "fcr_definition": rules.metrics.fcr.hash,
        }
        return Change(reopened, [(EventType.TICKET_REOPENED, why)])
    if isinstance(action, TicketClosed):
        if ticket.status == "closed":
            return None
        return _closed(ticket, action.agent_id, at, rules)
    if isinstance(action, TicketTransferred):
        if ticket.status == "closed":  # final: a follow-up is where new work goes
            return None
        return _transferred(ticket, action, at, rules, queue_checked=queue_checked)
    if isinstance(action, AssignmentAccepted):
        if ticket.assignee != action.agent_id or ticket.accepted or ticket.status in SETTLED:
            return None  # a settled ticket is no offer: a closed one is final
        return Change(ticket.model_copy(update={**base, "accepted": True, "unaccepted": 0}))
    if isinstance(action, AssignmentDeclined):
        if ticket.assignee != action.agent_id or ticket.status in SETTLED:
            return None  # a settled ticket is no offer to decline: it waits for no one
        declined = ticket.model_copy(
            update={**base, "declined_by": [*ticket.declined_by, action.agent_id]}
        )
        return unassigned(declined, "declined", at, decline_reason=action.reason)
    if isinstance(action, TicketPostponed):
        # A settled ticket has no clock to pause and no work to put off: no change (it
        # would come back to life). A postponement still running is extended, not paid
        # for twice: the clocks pause from where the current one ends. Until no later
        # than that: no change.
        start = max(at, ticket.postponed_until or at)
        if ticket.status in SETTLED or action.until <= start:
            return None
        clocks, pause = paused(ticket, rules, start, action.until)
        postponed = ticket.model_copy(
            update={**base, "status": "pending", "postponed_until": action.until, "sla": clocks}
        )
        data = {"until": action.until, "sla_paused_seconds": pause.total_seconds()}
        return Change(postponed, [(EventType.TICKET_POSTPONED, data)])
    if isinstance(action, FeedbackCsat | FeedbackNps | FeedbackCes):
        feedback = {
            "kind": FEEDBACK[type(action)],
            "score": action.score,
            "agent_id": ticket.assignee,
        }
        return Change(
            ticket.model_copy(update=base), [(EventType.TICKET_FEEDBACK_RECEIVED, feedback)]
        )
    return None


def _resolved(ticket: Ticket, agent_id: str | None, at: datetime, rules: RuleSet) -> Change:
    """The ticket resolved by ``agent_id`` (None: nobody said who): its first contact
    judged, the resolution SLA met or missed, whom and where the FCR credit goes."""
    fcr = first_contact(ticket, rules.metrics.fcr)
    ended = resumed(ticket, rules, at)  # resolving ends a postponement
    resolved = ended.model_copy(
        update={
            "updated_at": max(at, ticket.updated_at),
            **worked_by(ticket, agent_id),
            "status": "resolved",
            "resolved_at": at,
            "resolved_first_contact": fcr,
            "resolved_by": agent_id or ticket.assignee,  # whom fcr credits
            "resolved_queue": ticket.queue,  # and where
            # a customer still owed a reply stays owed: the clock pauses while the
            # ticket is resolved, and an agent's reopen resumes it (``resumed``)
            "sla": met(ended.sla, "resolution", at),
        }
    )
    outcome = {
        "agent_id": agent_id,
        "first_contact": fcr,
        "fcr_definition": rules.metrics.fcr.hash,
        "within_sla": within(ticket.sla.get("resolution"), at),  # after a reopen: None
    }
    return Change(resolved, [(EventType.TICKET_RESOLVED, outcome)])


def _closed(ticket: Ticket, agent_id: str | None, at: datetime, rules: RuleSet) -> Change:
    """The ticket closed, final. A ticket closed while still being worked (new, open or
    pending) is resolved by the close first, as the large helpdesks count a close as
    solved: ``.resolved`` then ``.closed`` in one change, so the resolution metrics
    (workload and FCR ``resolved``, the resolution SLA met or missed) count it and
    created minus resolved stays the backlog. Closing ends a postponement; a resolved
    ticket's clocks stopped with it and are not resumed (that is for a reopen)."""
    events: list[tuple[EventType, dict[str, Any]]] = []
    if ticket.status not in SETTLED:
        resolution = _resolved(ticket, agent_id, at, rules)
        ticket, events = resolution.ticket, resolution.events
    ended = ticket.model_copy(update={"postponed_until": None})
    closed = ended.model_copy(
        update={
            "updated_at": max(at, ticket.updated_at),
            "status": "closed",
            "sla": stopped(ended.sla),
        }
    )
    return Change(closed, [*events, (EventType.TICKET_CLOSED, {"agent_id": agent_id})])


def abandoned(ticket: Ticket, at: datetime, rules: RuleSet) -> Change | None:
    """The customer stopped waiting and left (the staffing simulation's abandonment, as
    contact centres count it): closed, but nobody resolved it, so unlike an agent's
    close (``_closed``) no resolution is counted and no target is met by it; its clocks
    stop as they were. None when it is already closed."""
    if ticket.status == "closed":
        return None
    ended = resumed(ticket, rules, at) if ticket.status not in SETTLED else ticket
    closed = ended.model_copy(
        update={
            "updated_at": max(at, ticket.updated_at),
            "status": "closed",
            "postponed_until": None,
            "sla": stopped(ended.sla),
        }
    )
    return Change(closed, [(EventType.TICKET_CLOSED, {"agent_id": None})])


def _internal(ticket: Ticket, action: AgentReplied, at: datetime) -> Change:
    """An internal reply is internal work, recorded as a note: never a public reply (no
    response, nothing to the customer, no SLA met), but the time the agent reports is
    handle time all the same: on the ticket, and in the workload metric's ``handled``
    and ``handle_seconds_sum`` (the note carries it). The offered agent who writes one
    works the ticket: they have accepted it, as with a public reply."""
    note: dict[str, Any] = {
        "ticket_id": ticket.id,
        "agent_id": action.agent_id,
        "text": action.text or "",
    }
    if action.handle_seconds is not None:
        note["handle_seconds"] = action.handle_seconds
    noted = ticket.model_copy(
        update={
            "updated_at": max(at, ticket.updated_at),
            "handle_seconds": ticket.handle_seconds + (action.handle_seconds or 0),
            **worked_by(ticket, action.agent_id),
        }
    )
    return Change(noted, [(EventType.TICKET_NOTE_ADDED, note)])


def _replied(
    ticket: Ticket, action: AgentReplied, at: datetime, rules: RuleSet, timed_by: Ticket
) -> Change:
    """A public reply meets the first response, or the running next_response cycle (a
    customer message after the previous reply started it). ``within_sla`` is judged
    against a clock still running; ``business_seconds`` is how long the customer waited:
    since creation for the first response, since the cycle started for a next one,
    postponed time and the time resolved before a reopen excluded. A further reply in a
    row answers no waiting customer: its ``.responded`` has ``response``,
    ``business_seconds`` and ``within_sla`` null, so no metric takes it for a response
    (it is handled work all the same: ``handle_seconds``). An agent who answers a ticket
    nobody holds, or one offered to another agent who has not accepted it, takes it
    (``.assigned``, accepted: they work it); left with the offered agent, the offer would
    time out and send the answered ticket back to the line, away from who answered it."""
    target = answers(ticket)
    # no clock runs while the ticket is resolved: a reply then is judged, and its wait
    # counted, as of the resolution (an agent's reopen would resume the clock there)
    judged = ticket.resolved_at if ticket.status == "resolved" and ticket.resolved_at else at
    elapsed = None if target is None else _waited(timed_by, rules, judged, target)
    events: list[tuple[EventType, dict[str, Any]]] = []
    if _taken_by_replier(ticket, action.agent_id):
        taken = assigned(ticket, action.agent_id, "replied", at, accepted=True)
        ticket, events = taken.ticket, taken.events
    replied = ticket.model_copy(
        update={
            "updated_at": max(at, ticket.updated_at),
            "agent_replies": ticket.agent_replies + 1,
            "last_reply_at": max(at, ticket.last_reply_at or at),
            "status": "pending" if ticket.status in ("new", "open") else ticket.status,
            "sla": ticket.sla if target is None else met(ticket.sla, target, at),
            "handle_seconds": ticket.handle_seconds + (action.handle_seconds or 0),
            **worked_by(ticket, action.agent_id),
        }
    )
    data = {
        "response": RESPONSES.get(target or ""),
        "agent_id": action.agent_id,
        "business_seconds": None if elapsed is None else elapsed.total_seconds(),
        "within_sla": None if target is None else within(ticket.sla.get(target), judged),
        "handle_seconds": action.handle_seconds,
    }
    return Change(replied, [*events, (EventType.TICKET_RESPONDED, data)])


def _taken_by_replier(ticket: Ticket, agent_id: str) -> bool:
    """Whether a public reply by ``agent_id`` takes the ticket: nobody holds it, or it
    waits on an offer to someone else that was never accepted."""
    if ticket.assignee is None:
        return True
    return ticket.assignee != agent_id and not ticket.accepted


def _waited(ticket: Ticket, rules: RuleSet, at: datetime, target: str) -> timedelta:
    """How long the customer waited for the reply at ``at`` answering ``target``: what its
    clock counted, else (no timed clock) the business time since creation or since the
    customer's last message."""
    elapsed = waited(ticket, rules, at, target)
    if elapsed is not None:
        return elapsed
    policy = rules.sla_policies.get(ticket.sla_policy or "")
    start = ticket.created_at if target == "first_response" else ticket.last_customer_at
    return policy.elapsed(start, at) if policy and start else (at - (start or at))


def _transferred(
    ticket: Ticket,
    action: TicketTransferred,
    at: datetime,
    rules: RuleSet,
    *,
    queue_checked: bool = False,
) -> Change | None:
    """To an agent: it is offered to them as on a rule's ``assign`` (see ``named``). To
    another queue without an agent: it leaves its assignee, who may lack the new queue's
    skills, and waits in that queue's line for its agents (a new round, ``.queued`` with
    reason ``transferred``); the timers role frees the old assignee's seat as it does
    for any change of assignee. Whoever transfers a ticket away wants someone else to
    take it: the old assignee is passed over as one who let an offer time out is
    (``SKIP_TIMEOUTS`` accept timeouts), so the line offers it to them again only when
    nobody else took it by then. None when it moves nowhere (same queue, same agent)."""
    if action.queue is not None and action.queue not in rules.queues and not queue_checked:
        known = ", ".join(sorted(rules.queues))
        raise InvalidEvent(f"/data/queue: unknown queue {action.queue!r}; one of {known}")
    update: dict[str, Any] = {"updated_at": max(at, ticket.updated_at)}
    if action.queue is not None:
        update["queue"] = action.queue
    if action.agent_id is not None and action.agent_id != ticket.assignee:
        update.update(named(action.agent_id))
    after = ticket.model_copy(update=update)
    if (after.queue, after.assignee) == (ticket.queue, ticket.assignee):
        return None
    skip = rules.assignment.accept_timeout * SKIP_TIMEOUTS
    moved = (
        requeued(ticket, after, "transferred", at, skip_for=skip)
        if action.agent_id is None
        else Change(after)
    )
    data = {
        "from": {"queue": ticket.queue, "agent_id": ticket.assignee},
        "to": {"queue": moved.ticket.queue, "agent_id": moved.ticket.assignee},
    }
    return Change(moved.ticket, [(EventType.TICKET_TRANSFERRED, data), *moved.events])
