"""The facts a rule sees (contract section 9): built here once, for routing, escalations,
``rules explain`` and ``rules simulate``, so a rule means the same thing everywhere.

``message`` is the customer message the rules run for (routing) or the ticket's last one
(escalations): an ``Interaction`` or its JSON form. ``profile`` is what the CRM said about
the customer (``customer.upserted``); the message's own customer fields win over it.
Without a ticket (an interaction replayed by ``rules explain``, ``simulate`` or ``test``)
the facts describe the new ticket that message would open, as the router builds it
(``consumers.domain.threading``): named after the event, in the message's inbox, opened
at the event's time, for the customer named after the sender's first identity.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from operator import attrgetter
from typing import Any

from pydantic import ValidationError

from router.events import Customer, Interaction, SlaClock, Ticket, iso
from router.ids import customer_id_for, ticket_id

MESSAGE_FIELDS = ("channel", "inbox", "subject", "text", "language", "metadata")
NEW_TICKET_ID = "T-0000000000000000"
"""A placeholder ``ticket.id`` for a new ticket when the input has no event id (plain
facts): no real ticket has it, but it is shaped like one, as a rule expects."""


_TICKET_FIELDS: dict[str, Callable[[Ticket], Any]] = {
    "id": attrgetter("id"),
    "status": attrgetter("status"),
    "channel": attrgetter("channel"),
    "channels_seen": lambda t: list(t.channels_seen),
    "customer_id": attrgetter("customer_id"),
    "inbox": attrgetter("inbox"),
    "queue": attrgetter("queue"),
    "priority": attrgetter("priority"),
    "tags": lambda t: list(t.tags),
    "assignee": attrgetter("assignee"),
    "sla_policy": attrgetter("sla_policy"),
    "sla": lambda t: {target: _clock(clock) for target, clock in t.sla.items()},
    "contacts": attrgetter("contacts"),
    "agent_replies": attrgetter("agent_replies"),
    "reopen_count": attrgetter("reopen_count"),
    "created_at": lambda t: iso(t.created_at),
    "updated_at": lambda t: iso(t.updated_at),
    "rules_version": attrgetter("rules_version"),
    "follow_up_of": attrgetter("follow_up_of"),
    "handle_seconds": attrgetter("handle_seconds"),
    "language": attrgetter("language"),
}


_UNKNOWN: Any = object()
"""No ``ticket.*`` field of that name (``TicketFacts.get``'s default)."""


class TicketFacts(Mapping[str, Any]):
    """The ``ticket.*`` fields (every name in ``rules.fields.TICKET_FIELDS``), times and
    SLA clocks in their JSON form, as the ticket's snapshot shows them. Each is worked
    out when a rule first reads it: most rules read none or one of them, and the router
    builds these facts for every message."""

    __slots__ = ("_seen", "_ticket")

    def __init__(self, ticket: Ticket) -> None:
        self._ticket = ticket
        self._seen: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        value = self.get(key, _UNKNOWN)
        if value is _UNKNOWN:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        """A rule's read of a ticket field: one call, worked out once."""
        seen = self._seen
        if key in seen:
            return seen[key]
        field = _TICKET_FIELDS.get(key)
        if field is None:
            return default
        value = seen[key] = field(self._ticket)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(_TICKET_FIELDS)

    def __len__(self) -> int:
        return len(_TICKET_FIELDS)


CLOCK_FACTS = ("due", "warn_at", "breached", "warned", "met_at")
"""What a rule may read of an SLA clock (``ticket.sla.<target>.<field>``)."""


def _clock(clock: SlaClock) -> dict[str, Any]:
    return {
        "due": iso(clock.due) if clock.due else None,
        "warn_at": iso(clock.warn_at) if clock.warn_at else None,
        "breached": clock.breached,
        "warned": clock.warned,
        "met_at": iso(clock.met_at) if clock.met_at else None,
    }


def new_ticket_facts(
    channel: Any,
    *,
    id: str | None = None,
    customer_id: str | None = None,
    inbox: Any = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """The ``ticket.*`` fields of the ticket a first message opens, before any rule."""
    opened = iso(at) if at is not None else None
    return {
        "id": id,
        "status": "new",
        "channel": channel,
        "channels_seen": [channel] if channel else [],
        "customer_id": customer_id,
        "inbox": inbox,
        "queue": None,
        "priority": "normal",
        "tags": [],
        "assignee": None,
        "sla_policy": None,
        "sla": {},
        "contacts": 1,
        "agent_replies": 0,
        "reopen_count": 0,
        "created_at": opened,
        "updated_at": opened,
        "rules_version": None,
        "follow_up_of": None,
        "handle_seconds": 0,
        # the first message's language is the ticket's once the first pass is done
        "language": None,
    }


def sender_key(channel: Any, customer: Any) -> str:
    """The sender's strongest identity, as ``Interaction.sender_key`` makes the inbound
    record key the router resolves the customer from."""
    try:
        identities = Customer.model_validate(customer).identities()
    except ValidationError:
        identities = []
    return identities[0] if identities else f"{channel}:anonymous"


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
    *,
    event_id: str | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """The facts for one evaluation (see the module doc). ``event_id`` and ``at`` name
    and date the new ticket when there is none (None: a placeholder id, no time yet)."""
    seen = message_of(message) if isinstance(message, Interaction) else dict(message or {})
    customer = customer_facts(profile, seen.get("customer"))
    channel = seen.get("channel") or (ticket.channel if ticket else None)
    inbox = seen.get("inbox", ticket.inbox if ticket else None)
    if ticket is not None:
        customer["id"] = ticket.customer_id
        ticket_seen: Mapping[str, Any] = TicketFacts(ticket)
    else:
        # the router resolves the customer from Redis (a new one gets a random id);
        # offline, a stable stand-in named after the sender does, unless the message
        # names one: a live customer.id never equals it
        customer.setdefault("id", customer_id_for(sender_key(channel, seen.get("customer"))))
        ticket_seen = new_ticket_facts(
            channel,
            id=ticket_id(event_id) if event_id else NEW_TICKET_ID,
            customer_id=customer["id"],
            inbox=inbox,
            at=at,
        )
    return {
        "channel": channel,
        "inbox": inbox,
        "subject": seen.get("subject", ticket.subject if ticket else None),
        "text": seen.get("text", ""),
        "language": seen.get("language"),
        "customer": customer,
        "ticket": ticket_seen,
        "metadata": seen.get("metadata") or {},
    }
