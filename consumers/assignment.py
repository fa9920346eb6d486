"""Assignment: an online agent with the queue's skills and free capacity on the ticket's
channel gets the ticket; otherwise it waits in line by priority, then age (contract
section 9). Part of the ``timers`` role, which already follows every ticket snapshot.

The line is a Redis sorted set of ``ticket|round`` members; a sweep after every batch
and every second offers the first waiting tickets to ``AgentStore.assign``. The ticket
changes through the thread store like any other change (compare-and-set, dedupe marker,
outbox) under ids derived from (ticket, round), so an assignment is published once.
A declined or unaccepted assignment starts a new round.
"""

from __future__ import annotations

from datetime import datetime

from consumers.outputs import Change
from router.events import PRIORITIES, SETTLED, EventType, Ticket
from router.ids import derived_id


def waiting_member(ticket: Ticket) -> tuple[str, float] | None:
    """The ticket's place in line, or None when it does not wait (assigned, settled)."""
    if ticket.status in SETTLED or ticket.assignee is not None or ticket.queue is None:
        return None
    rank = len(PRIORITIES) - 1 - PRIORITIES.index(ticket.priority)  # urgent first
    return f"{ticket.id}|{ticket.assignment_round}", rank * 1e11 + ticket.created_at.timestamp()


def parse_member(member: str) -> tuple[str, int]:
    ticket_id, round_ = member.rsplit("|", 1)
    return ticket_id, int(round_)


def assign_event_id(ticket_id: str, round_: int) -> str:
    return derived_id(ticket_id, "assigned", str(round_))


def queued_event_id(ticket_id: str, round_: int) -> str:
    return derived_id(ticket_id, "queued", str(round_))


def assigned(ticket: Ticket, agent_id: str, strategy: str, at: datetime) -> Change:
    moved = ticket.model_copy(
        update={"assignee": agent_id, "assigned_at": at, "accepted": False, "queued_at": None}
    )
    data = {"agent_id": agent_id, "queue": ticket.queue, "strategy": strategy}
    return Change(moved, [(EventType.TICKET_ASSIGNED, data)])


def queued(ticket: Ticket, at: datetime) -> Change:
    waiting = ticket.model_copy(update={"queued_at": at})
    data = {"queue": ticket.queue, "reason": "no online agent with the skills and capacity"}
    return Change(waiting, [(EventType.TICKET_QUEUED, data)])


def unassigned(ticket: Ticket, reason: str, at: datetime) -> Change:
    """Back in line for a new round (declined, or not accepted in time)."""
    waiting = ticket.model_copy(
        update={
            "assignee": None,
            "assigned_at": None,
            "accepted": False,
            "queued_at": at,
            "assignment_round": ticket.assignment_round + 1,
        }
    )
    data = {"queue": ticket.queue, "reason": reason, "agent_id": ticket.assignee}
    return Change(waiting, [(EventType.TICKET_QUEUED, data)])
