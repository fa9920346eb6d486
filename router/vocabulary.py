"""The one vocabulary: channels, priorities, ticket statuses, SLA targets, rule triggers and
event types. The models, the rules, the consumers and the ingress import these; nobody
spells a second list."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, get_args

Channel = Literal["email", "chat", "sms", "whatsapp", "messenger", "voice", "webform"]
CHANNELS: tuple[Channel, ...] = get_args(Channel)

Priority = Literal["low", "normal", "high", "urgent"]
PRIORITIES: tuple[Priority, ...] = get_args(Priority)  # lowest first

Status = Literal["new", "open", "pending", "resolved", "closed"]
STATUSES: tuple[Status, ...] = get_args(Status)
AWAITING_AGENT: tuple[Status, ...] = ("new", "open")  # the customer waits for us
SETTLED: tuple[Status, ...] = ("resolved", "closed")  # no agent work left; clocks stop

CONTACT_CALLS = ("missed", "voicemail")  # the call events that are customer contacts

SlaTarget = Literal["first_response", "next_response", "resolution"]
SLA_TARGETS: tuple[SlaTarget, ...] = get_args(SlaTarget)
SLA_PHASES = ("warning", "breached")

# When the rules run: routing rules on a customer message, escalations on a timer.
RULE_TRIGGERS = ("ticket.created", "message.received", "ticket.reopened")
ASSIGNMENT_TIMEOUT = "assignment.timeout"
ESCALATION_TRIGGERS = (
    *(f"sla.{target}.{phase}" for target in SLA_TARGETS for phase in SLA_PHASES),
    ASSIGNMENT_TIMEOUT,
)


RULES_CHECKED = "switchboardrules"
"""The CloudEvents extension attribute of an action that names a queue, set by the
ingress: the version of the rules it found the queue in. A router whose rules do not know
that queue yet (a rules change reaches processes seconds apart, on Kubernetes up to a
minute) applies the action all the same when it names other rules; without it, or naming
the router's own, the queue is unknown and the action is dead-lettered."""


AUTH_TYPE, AUTH_ID = "authtype", "authid"
"""The CloudEvents authcontext extension, set by the ingress on every action: the kind of
principal (``api_key``) and which one (a digest of the API token)."""


def sla_trigger(target: str, phase: str) -> str:
    """The escalation trigger of an SLA timer: ``sla.<target>.<warning|breached>``."""
    return f"sla.{target}.{phase}"


class EventType(StrEnum):
    INTERACTION_RECEIVED = "switchboard.interaction.received"
    TICKET_CREATED = "switchboard.ticket.created"
    TICKET_MESSAGE_ADDED = "switchboard.ticket.message_added"
    TICKET_ROUTED = "switchboard.ticket.routed"
    TICKET_ASSIGNED = "switchboard.ticket.assigned"
    TICKET_QUEUED = "switchboard.ticket.queued"
    TICKET_ESCALATED = "switchboard.ticket.escalated"
    TICKET_SLA_WARNING = "switchboard.ticket.sla_warning"
    TICKET_SLA_BREACHED = "switchboard.ticket.sla_breached"
    TICKET_RESPONDED = "switchboard.ticket.responded"
    TICKET_TRANSFERRED = "switchboard.ticket.transferred"
    TICKET_POSTPONED = "switchboard.ticket.postponed"
    TICKET_RESOLVED = "switchboard.ticket.resolved"
    TICKET_REOPENED = "switchboard.ticket.reopened"
    TICKET_CLOSED = "switchboard.ticket.closed"
    TICKET_FEEDBACK_RECEIVED = "switchboard.ticket.feedback_received"
    TICKET_NOTE_ADDED = "switchboard.ticket.note_added"
    TICKET_NOTIFICATION = "switchboard.ticket.notification"
    TICKET_SNAPSHOT = "switchboard.ticket.snapshot"


LIFECYCLE_TYPES = frozenset(t.value for t in EventType if t.value.startswith("switchboard.ticket."))
"""What a record on the tickets topics may be: anything else there is poison."""

FEEDBACK_SCORES = {"csat": range(1, 6), "nps": range(11), "ces": range(1, 8)}
"""The scores of contract section 6 (CSAT 1-5, NPS 0-10, CES 1-7). The router refuses
others; the metric consumers and their recount skip one that reaches ``tickets`` anyway
(a foreign producer), rather than count a CSAT 9 as satisfied or a CES 99 into the mean."""


def feedback_counts(kind: object, score: object) -> bool:
    """Whether a feedback record's ``score`` is one of ``kind``'s (``FEEDBACK_SCORES``): an
    int, not a bool (``True`` is an int in Python)."""
    scores = FEEDBACK_SCORES.get(kind) if isinstance(kind, str) else None
    return scores is not None and type(score) is int and score in scores


MAX_CAPACITY = 1_000
"""Tickets an agent may hold at once on one channel, in the rules and in agent.presence:
more is a typo (or 2**63, which Redis's and Lua's arithmetic cannot hold exactly)."""
