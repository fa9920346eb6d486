"""Where a customer message goes: a new ticket, an open one, or a reopened one. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from consumers.domain.sla import customer_wrote
from router.events import Interaction, Ticket
from router.ids import ticket_id

Placement = Literal["new", "join", "reopen", "skip"]


@dataclass(frozen=True, slots=True)
class Placed:
    kind: Placement
    ticket: Ticket | None
    reason: str


def place(
    interaction: Interaction,
    current: Ticket | None,
    *,
    event_id: str,
    customer_id: str,
    at: datetime,
    reopen_window: timedelta,
) -> Placed:
    """Decide the ticket for one message (the ticket *before* rules run).

    - an auto-reply or bounce never opens a ticket (it may not reopen one either);
    - the ticket found by reply headers or the customer's open ticket is joined;
    - a resolved ticket within the reopen window is reopened;
    - anything else opens a new ticket, named after this event.

    A message joined or reopened after a public agent reply starts a next_response SLA
    cycle (``sla.customer_wrote``), timed when the rules have run. A reopen starts one
    even if the last cycle breached unanswered: the resolution ended that cycle, and
    the contract's next_response is owed for every customer message after a public
    reply, whether or not the ticket was resolved in between.
    """
    if current is not None and current.status in ("new", "open", "pending"):
        if interaction.auto_reply:
            return Placed("skip", None, "auto-reply to an open ticket")
        # customer_wrote reads the replies and clocks, which joining leaves as they are:
        # one copy of the ticket instead of two
        sla = customer_wrote(current, reopened=False)
        return Placed("join", _joined(current, interaction, at, sla=sla), "open ticket")
    if interaction.auto_reply:
        return Placed("skip", None, "auto-reply or bounce never opens a ticket")
    if (
        current is not None
        and current.status == "resolved"
        and current.resolved_at is not None
        and at - current.resolved_at <= reopen_window
    ):
        reopened = _joined(
            current,
            interaction,
            at,
            status="open",
            reopen_count=current.reopen_count + 1,
            resolved_at=None,
            sla=customer_wrote(current, reopened=True),
        )
        return Placed("reopen", reopened, "resolved within the reopen window")
    return Placed("new", _new(interaction, event_id, customer_id, at), "no open ticket")


def _joined(ticket: Ticket, interaction: Interaction, at: datetime, **more: Any) -> Ticket:
    seen = ticket.channels_seen
    if interaction.channel not in seen:
        seen = [*seen, interaction.channel]
    message_ids = ticket.message_ids
    if interaction.thread.message_id:
        message_ids = [*message_ids, interaction.thread.message_id][-50:]
    return ticket.model_copy(
        update={
            "status": "open" if ticket.status == "pending" else ticket.status,
            "channels_seen": seen,
            "contacts": ticket.contacts + 1,
            "message_ids": message_ids,
            "updated_at": max(at, ticket.updated_at),
            "last_customer_at": at,
            **more,
        }
    )


def _new(interaction: Interaction, event_id: str, customer_id: str, at: datetime) -> Ticket:
    return Ticket(
        id=ticket_id(event_id),
        status="new",
        channel=interaction.channel,
        channels_seen=[interaction.channel],
        customer_id=customer_id,
        inbox=interaction.inbox,
        subject=interaction.subject,
        contacts=1,
        message_ids=[interaction.thread.message_id] if interaction.thread.message_id else [],
        created_at=at,
        updated_at=at,
        last_customer_at=at,
    )
