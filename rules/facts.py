"""The facts a rule sees (contract section 9): built here once, for routing, escalations,
``rules explain`` and ``rules simulate``, so a rule means the same thing everywhere.

``message`` is the customer message the rules run for (routing) or the ticket's last one
(escalations): an ``Interaction`` or its JSON form. ``profile`` is what the CRM said about
the customer (``customer.upserted``); the message's own customer fields win over it.
Without a ticket (an interaction replayed by ``rules explain``) the facts describe the new
ticket that message would open.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from router.events import Interaction, Ticket

MESSAGE_FIELDS = ("channel", "inbox", "subject", "text", "language", "metadata")


def ticket_facts(ticket: Ticket) -> dict[str, Any]:
    """The ``ticket.*`` fields."""
    return {
        "queue": ticket.queue,
        "priority": ticket.priority,
        "tags": list(ticket.tags),
        "status": ticket.status,
        "contacts": ticket.contacts,
        "reopen_count": ticket.reopen_count,
        "channel": ticket.channel,
    }


def new_ticket_facts(channel: Any) -> dict[str, Any]:
    """The ``ticket.*`` fields of the ticket a first message opens, before any rule."""
    return {
        "queue": None,
        "priority": "normal",
        "tags": [],
        "status": "new",
        "contacts": 1,
        "reopen_count": 0,
        "channel": channel,
    }


def message_of(interaction: Interaction) -> dict[str, Any]:
    """The parts of a message the rules can see, as kept with a ticket for escalations."""
    return {
        "channel": interaction.channel,
        "inbox": interaction.inbox,
        "subject": interaction.subject,
        "text": interaction.text,
        "language": interaction.language,
        "metadata": interaction.metadata,
        "customer": interaction.customer.model_dump(exclude_none=True),
    }


def facts(
    ticket: Ticket | None,
    message: Interaction | Mapping[str, Any] | None = None,
    profile: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The facts for one evaluation (see the module doc)."""
    seen = message_of(message) if isinstance(message, Interaction) else dict(message or {})
    customer = {**(profile or {}), **(seen.get("customer") or {})}
    if ticket is not None:
        customer["id"] = ticket.customer_id
    channel = seen.get("channel") or (ticket.channel if ticket else None)
    return {
        "channel": channel,
        "inbox": seen.get("inbox", ticket.inbox if ticket else None),
        "subject": seen.get("subject", ticket.subject if ticket else None),
        "text": seen.get("text", ""),
        "language": seen.get("language"),
        "customer": customer,
        "ticket": ticket_facts(ticket) if ticket else new_ticket_facts(channel),
        "metadata": seen.get("metadata") or {},
    }
