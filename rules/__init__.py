"""The rule language: load, compile and evaluate routing and escalation rules.

Pure: no Kafka or Redis here; the routing consumer and the CLI build on this API.
"""

from __future__ import annotations

from rules.calendar import Calendar
from rules.decision import AppliedAction, Decision, Evaluation
from rules.engine import RuleSet
from rules.errors import Mark, RuleError, RuleSetInvalid, RuleWarning
from rules.holder import RuleSetHolder
from rules.loader import load_ruleset, loads_ruleset
from rules.model import Action, Assignment, Defaults, Queue, Rule
from rules.sla import SlaPolicy

__all__ = [
    "Action",
    "AppliedAction",
    "Assignment",
    "Calendar",
    "Decision",
    "Defaults",
    "Evaluation",
    "Mark",
    "Queue",
    "Rule",
    "RuleError",
    "RuleSet",
    "RuleSetHolder",
    "RuleSetInvalid",
    "RuleWarning",
    "SlaPolicy",
    "load_ruleset",
    "loads_ruleset",
]
