"""The vocabulary of the rule language and the compiled pieces of a ruleset."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType

from router.vocabulary import CHANNELS, ESCALATION_TRIGGERS, PRIORITIES, RULE_TRIGGERS
from router.vocabulary import SLA_TARGETS as TARGETS
from rules.conditions import Condition
from rules.errors import Mark

TRIGGERS = RULE_TRIGGERS + ESCALATION_TRIGGERS
DEFAULT_TRIGGER = "ticket.created"

STRATEGIES = ("least_loaded", "round_robin")
DEFAULT_CAPACITY: Mapping[str, int] = MappingProxyType(
    {"chat": 3, "messenger": 3, "sms": 5, "whatsapp": 5, "email": 10, "webform": 10, "voice": 1}
)

SCALAR_ACTIONS = ("queue", "priority", "sla", "assign", "auto_reply")
LIST_ACTIONS = ("tags", "remove_tags", "notify")
ACTIONS = ("queue", "priority", "tags", "remove_tags", "sla", "assign", "auto_reply", "notify")

__all__ = [
    "ACTIONS",
    "CHANNELS",
    "DEFAULT_CAPACITY",
    "DEFAULT_TRIGGER",
    "ESCALATION_TRIGGERS",
    "LIST_ACTIONS",
    "PRIORITIES",
    "RULE_TRIGGERS",
    "SCALAR_ACTIONS",
    "STRATEGIES",
    "TARGETS",
    "TRIGGERS",
    "Action",
    "Assignment",
    "Defaults",
    "FcrDefinition",
    "Metrics",
    "Queue",
    "Rule",
]


@dataclass(frozen=True)
class Queue:
    """A queue and the skills an agent needs to take its tickets."""

    name: str
    skills: frozenset[str] = frozenset()
    mark: Mark | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Defaults:
    """What a new ticket gets when no rule set it."""

    queue: str
    priority: str = "normal"
    sla: str | None = None
    implied_at: Mark | None = field(default=None, compare=False, repr=False)
    """Where the file leaves the default queue unsaid (``rules check`` warns there)."""


@dataclass(frozen=True)
class Assignment:
    """How agents are picked; ``capacity`` is concurrent tickets per agent and channel."""

    strategy: str = "least_loaded"
    accept_timeout: timedelta = timedelta(minutes=2)
    capacity: Mapping[str, int] = field(default_factory=lambda: DEFAULT_CAPACITY)


@dataclass(frozen=True)
class FcrDefinition:
    """First-contact resolution (contract section 8), as the rules file defines it: a
    resolved ticket counts as resolved at first contact when the customer wrote at most
    ``max_customer_contacts`` times, agents replied publicly at most
    ``max_public_replies`` times, it was never reopened, and (when ``channels`` is set)
    it stayed on those channels. A reopen within ``reopen_window`` of the resolution
    takes the count back. Every ``fcr`` record carries the definition's ``hash``."""

    max_customer_contacts: int = 1
    max_public_replies: int = 1
    reopen_window: timedelta = timedelta(days=7)
    channels: frozenset[str] | None = None

    @property
    def hash(self) -> str:
        canonical = {
            "max_customer_contacts": self.max_customer_contacts,
            "max_public_replies": self.max_public_replies,
            "reopen_window_s": int(self.reopen_window.total_seconds()),
            "channels": sorted(self.channels) if self.channels is not None else None,
        }
        blob = json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


@dataclass(frozen=True)
class Metrics:
    """The ``metrics`` section: definitions the metric records depend on."""

    fcr: FcrDefinition = field(default_factory=FcrDefinition)


@dataclass(frozen=True)
class Action:
    """One ``then`` entry: a scalar for queue/priority/sla/assign/auto_reply, else a tuple."""

    name: str
    value: str | tuple[str, ...]
    mark: Mark = field(compare=False, repr=False)


@dataclass(frozen=True, eq=False)
class Rule:
    """A compiled rule or escalation, ready to evaluate."""

    name: str
    kind: str  # "rule" or "escalation"
    triggers: tuple[str, ...]
    condition: Condition
    actions: tuple[Action, ...]
    stop: bool
    mark: Mark
    description: str | None = None
    enabled: bool = True
    """False (``enabled: false``): checked and listed by the tools, never run."""

    def action(self, name: str) -> Action | None:
        return next((a for a in self.actions if a.name == name), None)
