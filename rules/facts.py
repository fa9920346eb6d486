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

from router.events import Interaction, SlaClock, Ticket, iso

MESSAGE_FIELDS = ("channel", "inbox", "subject", "text", "language", "metadata")


def ticket_facts(ticket: Ticket) -> dict[str, Any]:
    """The ``ticket.*`` fields (every name in ``rules.fields.TICKET_FIELDS``), times and
    SLA clocks in their JSON form, as the ticket's snapshot shows them."""
    return {
        "id": ticket.id,
        "status": ticket.status,
        "channel": ticket.channel,
        "channels_seen": list(ticket.channels_seen),
        "customer_id": ticket.customer_id,
        "inbox": ticket.inbox,
        "queue": ticket.queue,
        "priority": ticket.priority,
        "tags": list(ticket.tags),
        "assignee": ticket.assignee,
        "sla_policy": ticket.sla_policy,
        "sla": {target: _clock(clock) for target, clock in ticket.sla.items()},
        "contacts": ticket.contacts,
        "agent_replies": ticket.agent_replies,
        "reopen_count": ticket.reopen_count,
        "created_at": iso(ticket.created_at),
        "updated_at": iso(ticket.updated_at),
        "rules_version": ticket.rules_version,
    }


def _clock(clock: SlaClock) -> dict[str, Any]:
    return {
        "due": iso(clock.due) if clock.due else None,
        "warn_at": iso(clock.warn_at) if clock.warn_at else None,
        "breached": clock.breached,
        "warned": clock.warned,
        "met_at": iso(clock.met_at) if clock.met_at else None,
    }


def new_ticket_facts(channel: Any) -> dict[str, Any]:
    """The ``ticket.*`` fields of the ticket a first message opens, before any rule."""
    return {
        "id": None,
        "status": "new",
        "channel": channel,
        "channels_seen": [channel] if channel else [],
        "customer_id": None,
        "inbox": None,
        "queue": None,
        "priority": "normal",
        "tags": [],
        "assignee": None,
        "sla_policy": None,
        "sla": {},
        "contacts": 1,
        "agent_replies": 0,
        "reopen_count": 0,
        "created_at": None,
        "updated_at": None,
        "rules_version": None,
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


def customer_facts(profile: Mapping[str, Any] | None, said: Any) -> dict[str, Any]:
    """``customer.*``: the CRM profile, then what the message itself says about its
    sender on top, each with its ``attributes`` readable by name (``customer.plan`` as
    well as ``customer.attributes.plan``). Anything but a mapping says nothing."""
    merged: dict[str, Any] = {}
    for part in (profile, said):
        if isinstance(part, Mapping):
            attributes = part.get("attributes")
            merged.update(attributes if isinstance(attributes, Mapping) else {})
            merged.update(part)
    return merged


def facts(
    ticket: Ticket | None,
    message: Interaction | Mapping[str, Any] | None = None,
    profile: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The facts for one evaluation (see the module doc)."""
    seen = message_of(message) if isinstance(message, Interaction) else dict(message or {})
    customer = customer_facts(profile, seen.get("customer"))
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
