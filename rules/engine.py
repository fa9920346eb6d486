"""The rule engine: a pure function from an event's facts to a Decision.

Rules run in file order; every matching rule applies; ``stop`` ends the pass. To stay
fast with thousands of rules, each trigger's rules are indexed by one cheap necessary
condition (an ``equals``/``in`` test on a string field in a rule's top-level
conjunction): per event only rules whose index entry matches, plus rules without one,
are tested. The index only skips rules that could not match, so results are the same
as testing every rule (a property test holds us to that).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any

from rules.calendar import Calendar
from rules.decision import AppliedAction, Decision, Evaluation
from rules.fields import FieldTable, Values, folded
from rules.model import DEFAULT_TRIGGER, TRIGGERS, Assignment, Defaults, Metrics, Queue, Rule
from rules.operators import Budget, Test, match_budget, replaying
from rules.sla import SlaPolicy


class TriggerPlan:
    """The rules listening to one trigger, with their index."""

    __slots__ = ("by_needle", "by_value", "rules", "slots", "stops", "tests", "unguarded")

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)
        self.tests: tuple[Test, ...] = tuple(rule.condition.test for rule in self.rules)
        self.stops = tuple(rule.stop for rule in self.rules)
        self.slots = tuple(sorted(set().union(*(r.condition.reads() for r in self.rules))))
        """The slots these rules read (their index's among them): filled per event."""
        unguarded: list[int] = []
        by_value: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        by_needle: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        for position, rule in enumerate(self.rules):
            guard = _guard(rule)
            if guard is None:
                unguarded.append(position)
                continue
            kind, slot, keys = guard
            table = by_value if kind == "value" else by_needle
            for key in keys:
                table[slot][key].append(position)
        self.unguarded = tuple(unguarded)
        self.by_value = _frozen(by_value)
        self.by_needle = tuple((slot, tuple(table.items())) for slot, table in _frozen(by_needle))

    def candidates(self, values: Values) -> Iterable[int]:
        """Positions of the rules that may match, in order (a superset of those that do)."""
        if not self.by_value and not self.by_needle:
            return range(len(self.rules))
        hits = set(self.unguarded)
        for slot, table in self.by_value:
            value = values[slot]
            if isinstance(value, str):
                found = table.get(value)
                if found:
                    hits.update(found)
            elif isinstance(value, list | tuple):
                for item in value:
                    if isinstance(item, str) and (found := table.get(item)):
                        hits.update(found)
        for slot, needles in self.by_needle:
            text = values[slot]
            if text is not None:
                for needle, positions in needles:
                    if needle in text:
                        hits.update(positions)
        return sorted(hits)

    def matching(self, values: Values) -> list[int]:
        tests, stops = self.tests, self.stops
        matched = []
        for position in self.candidates(values):
            if tests[position](values):
                matched.append(position)
                if stops[position]:
                    break
        return matched

    def explain(self, values: Values, budget: Budget) -> tuple[Evaluation, ...]:
        """Every rule in order, without the index, until a matching ``stop`` rule. The
        timed searches come to what they came to in the evaluation that spent ``budget``,
        so the listing agrees with the decision."""
        evaluations = []
        with replaying(budget):
            for rule in self.rules:
                reason = rule.condition.explain(values)
                evaluations.append(Evaluation(rule.name, reason is None, reason))
                if reason is None and rule.stop:
                    break
        return tuple(evaluations)


def _frozen(
    index: dict[int, dict[str, list[int]]],
) -> tuple[tuple[int, dict[str, tuple[int, ...]]], ...]:
    return tuple(
        (slot, {key: tuple(hits) for key, hits in table.items()}) for slot, table in index.items()
    )


def _guard(rule: Rule) -> tuple[str, int, tuple[str, ...]] | None:
    """A cheap necessary condition of ``rule``: a field value, else a needle in a text.

    ``("value", slot, values)``: the rule can only match when the slot holds (or, for a
    list, contains) one of ``values``. ``("needle", slot, needles)``: only when one of
    the lower-cased ``needles`` occurs in the slot's lower-cased value.
    """
    best: tuple[str, int, tuple[str, ...]] | None = None
    for atom in rule.condition.atoms():
        if atom.kind != "leaf":
            continue
        if atom.op in ("equals", "in") and atom.slot is not None:
            operands = (atom.operand,) if atom.op == "equals" else tuple(atom.operand)
            if all(isinstance(o, str) for o in operands) and (
                best is None or best[0] == "needle" or len(operands) < len(best[2])
            ):
                best = ("value", atom.slot, operands)
        elif atom.op in ("contains", "contains_all") and atom.lower_slot is not None:
            needles = tuple(folded(n) for n in atom.operand)
            if atom.op == "contains_all":
                needles = (max(needles, key=len),)
            if best is None or (best[0] == "needle" and len(needles) < len(best[2])):
                best = ("needle", atom.lower_slot, needles)
    return best


class RuleSet:
    """A loaded, compiled, immutable ruleset. Build it with ``load_ruleset``."""

    def __init__(
        self,
        *,
        content_hash: str,
        files: Sequence[str],
        defaults: Defaults,
        queues: Mapping[str, Queue],
        sla_policies: Mapping[str, SlaPolicy],
        assignment: Assignment,
        calendars: Mapping[str, Calendar],
        languages: tuple[str, ...] = (),
        metrics: Metrics | None = None,
        rules: Sequence[Rule],
        escalations: Sequence[Rule],
        table: FieldTable,
    ) -> None:
        self.hash = content_hash
        self.version = content_hash.removeprefix("sha256:")[:12]
        self.files = tuple(files)
        self.defaults = defaults
        self.queues: Mapping[str, Queue] = MappingProxyType(dict(queues))
        self.sla_policies: Mapping[str, SlaPolicy] = MappingProxyType(dict(sla_policies))
        self.assignment = assignment
        self.languages = languages
        self.metrics = metrics or Metrics()
        self.calendars: Mapping[str, Calendar] = MappingProxyType(dict(calendars))
        self.listed = (*rules, *escalations)
        """Every rule, then every escalation, in file order, disabled ones included:
        what the tools show. Only ``rules`` and ``escalations`` (the enabled) run."""
        self.rules = tuple(rule for rule in rules if rule.enabled)
        self.escalations = tuple(rule for rule in escalations if rule.enabled)
        self._table = table
        everything = self.rules + self.escalations
        self._plans = {
            trigger: TriggerPlan([r for r in everything if trigger in r.triggers])
            for trigger in TRIGGERS
        }

    def __repr__(self) -> str:
        return (
            f"RuleSet(version={self.version!r}, rules={len(self.rules)}, "
            f"escalations={len(self.escalations)})"
        )

    def rules_for(self, trigger: str) -> tuple[Rule, ...]:
        """The rules (or escalations) that listen to ``trigger``, in evaluation order."""
        return self._plan(trigger).rules

    def _plan(self, trigger: str) -> TriggerPlan:
        plan = self._plans.get(trigger)
        if plan is None:
            raise ValueError(f"unknown trigger {trigger!r}; expected one of {TRIGGERS}")
        return plan

    def evaluate(
        self, facts: Mapping[str, Any], *, trigger: str = DEFAULT_TRIGGER, now: datetime
    ) -> Decision:
        """Run the rules for ``trigger`` over ``facts`` at time ``now`` (aware datetime)."""
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError(f"evaluate needs an aware datetime for now, got {now!r}")
        with match_budget() as budget:
            return self._evaluate(facts, trigger, now, budget)

    def _evaluate(
        self, facts: Mapping[str, Any], trigger: str, now: datetime, budget: Budget
    ) -> Decision:
        plan = self._plan(trigger)
        values = self._table.values(facts, now, plan.slots)
        scalars: dict[str, str] = {}
        tags: dict[str, None] = {}
        removed: dict[str, None] = {}
        notify: dict[str, None] = {}
        applied: list[AppliedAction] = []
        matched: list[str] = []
        for position in plan.matching(values):
            rule = plan.rules[position]
            matched.append(rule.name)
            for action in rule.actions:
                name, value = action.name, action.value
                if isinstance(value, str):
                    scalars[name] = value
                elif name == "tags":
                    for tag in value:
                        tags[tag] = None
                        removed.pop(tag, None)
                elif name == "remove_tags":
                    for tag in value:
                        tags.pop(tag, None)
                        removed[tag] = None
                else:
                    notify.update(dict.fromkeys(value))
                applied.append(AppliedAction(rule.name, name, value))
        if trigger == DEFAULT_TRIGGER:
            self._fill_defaults(scalars, applied)
        return Decision(
            trigger=trigger,
            queue=scalars.get("queue"),
            priority=scalars.get("priority"),
            sla=scalars.get("sla"),
            tags=tuple(tags),
            remove_tags=tuple(removed),
            assign=scalars.get("assign"),
            auto_reply=scalars.get("auto_reply"),
            notify=tuple(notify),
            matched=tuple(matched),
            actions=tuple(applied),
            rules_version=self.version,
            rules_hash=self.hash,
            _explain=lambda: plan.explain(values, budget),
        )

    def _fill_defaults(self, scalars: dict[str, str], applied: list[AppliedAction]) -> None:
        defaults = self.defaults
        for name, value in (
            ("queue", defaults.queue),
            ("priority", defaults.priority),
            ("sla", defaults.sla),
        ):
            if value is not None and name not in scalars:
                scalars[name] = value
                applied.append(AppliedAction("defaults", name, value))

    def evaluate_all_rules(
        self, facts: Mapping[str, Any], *, trigger: str = DEFAULT_TRIGGER, now: datetime
    ) -> list[str]:
        """Matched rule names by testing every rule without the index (for tests/bench)."""
        plan = self._plan(trigger)
        values = self._table.values(facts, now, plan.slots)
        matched = []
        for rule in plan.rules:
            if rule.condition.test(values):
                matched.append(rule.name)
                if rule.stop:
                    break
        return matched
