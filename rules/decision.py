"""What the engine decided for one event, and why."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple


@dataclass(frozen=True)
class Evaluation:
    """One rule looked at: whether it matched and, if not, the first condition that failed."""

    name: str
    matched: bool
    failed_condition: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "matched": self.matched,
            "failed_condition": self.failed_condition,
        }


class AppliedAction(NamedTuple):
    """An action that took effect: which rule (or ``defaults``) set what.

    A NamedTuple rather than a frozen dataclass: the engine makes one per applied
    action on the hot path, and tuples are several times cheaper to build.
    """

    rule: str
    action: str
    value: str | tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"rule": self.rule, "action": self.action, "value": value}


@dataclass(frozen=True)
class Decision:
    """The outcome of one pass of the rules over one event.

    Scalars left ``None`` mean "no change" (after ``ticket.created`` the defaults have
    filled queue, priority and sla). ``tags`` are tags to add and ``remove_tags`` tags
    to remove, already netted against each other in rule order. ``evaluations`` is
    computed on first access from the values seen during evaluation, so the hot path
    pays nothing for explanations nobody reads.
    """

    trigger: str
    queue: str | None
    priority: str | None
    sla: str | None
    tags: tuple[str, ...]
    remove_tags: tuple[str, ...]
    assign: str | None
    auto_reply: str | None
    notify: tuple[str, ...]
    matched: tuple[str, ...]
    actions: tuple[AppliedAction, ...]
    rules_version: str
    rules_hash: str
    _explain: Callable[[], tuple[Evaluation, ...]] | None = field(
        default=None, repr=False, compare=False
    )

    @cached_property
    def evaluations(self) -> tuple[Evaluation, ...]:
        """Every rule evaluated for this trigger, in order, until a ``stop`` rule matched."""
        return self._explain() if self._explain is not None else ()

    def to_dict(self, *, explain: bool = True) -> dict[str, Any]:
        """JSON-ready form; ``explain=False`` leaves out the per-rule evaluations."""
        result: dict[str, Any] = {
            "trigger": self.trigger,
            "queue": self.queue,
            "priority": self.priority,
            "sla": self.sla,
            "tags": list(self.tags),
            "remove_tags": list(self.remove_tags),
            "assign": self.assign,
            "auto_reply": self.auto_reply,
            "notify": list(self.notify),
            "matched": list(self.matched),
            "actions": [action.to_dict() for action in self.actions],
            "rules_version": self.rules_version,
            "rules_hash": self.rules_hash,
        }
        if explain:
            result["evaluations"] = [e.to_dict() for e in self.evaluations]
        return result
