"""Compiles rules and escalations: conditions into closures, actions into tuples.

Rules and escalations go through the same compiler and the same engine; only the
triggers they may listen to differ.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import sys
import warnings
from typing import Any

import regex

from rules import conditions as cond
from rules.calendar import HORIZON_YEARS, Calendar
from rules.conditions import ALWAYS, Condition, show
from rules.errors import Mark, closest_or_all, one_of
from rules.fields import check_field, folded
from rules.model import (
    ACTIONS,
    DEFAULT_TRIGGER,
    ESCALATION_TRIGGERS,
    LIST_ACTIONS,
    PRIORITIES,
    RULE_TRIGGERS,
    Action,
    Rule,
)
from rules.operators import OPERATORS, engine_only
from rules.pattern_shape import MAX_GROUP_DEPTH, MAX_WRITTEN_OUT, group_depth, written_out
from rules.sections import SectionCompiler
from rules.source import YMap, YNode, YScalar, YSeq, to_plain, type_name

RULE_KEYS = ("name", "description", "on", "if", "then", "stop", "enabled")
_TEXT_OPS = ("contains", "contains_all", "starts_with")
_NUMBER_OPS = ("gt", "gte", "lt", "lte")
_CONDITION_HINT = "a condition maps fields to tests, e.g. {subject: {contains: invoice}}"
_RULE_HINT = "e.g. - {name: billing, if: {text: {contains: invoice}}, then: {queue: billing}}"


STOP_HINT = "stop belongs on the rule, beside then: {name: ..., then: {...}, stop: true}"


class RuleCompiler(SectionCompiler):
    """Compiles rules after the definitions they refer to."""

    def policy(self, name: str, node: YNode) -> None:
        """An SLA policy, and an error at each target its calendar cannot reach
        (``Calendar.reach``): the router could compute no due time for it, so every
        ticket under the policy would fail at routing."""
        super().policy(name, node)
        policy = self.policies.get(name)
        if policy is None or policy.calendar is None or not isinstance(node, YMap):
            return
        reported: set[Mark] = set()
        for target, priority, _ in policy.beyond_reach():
            target_node = node.get(target)
            duration_node = target_node
            what = target
            if isinstance(target_node, YMap):
                duration_node, what = target_node.get(priority), f"{target}.{priority}"
            if duration_node is None or duration_node.mark in reported:
                continue
            reported.add(duration_node.mark)
            self._unreachable(policy.calendar, what, duration_node)

    def _unreachable(self, calendar: Calendar, what: str, node: YNode) -> None:
        most = int(calendar.reach().total_seconds() // 3600)
        weekly = calendar.open_per_week().total_seconds() / 3600
        self.error(
            node.mark,
            f"{what} {show(to_plain(node))} is more business time than calendar "
            f"'{calendar.name}' (open {weekly:g}h a week) has in the {HORIZON_YEARS} years "
            f"ahead that due times are computed for",
            f"shorten it to at most {most}h, open '{calendar.name}' longer, or leave the "
            "calendar out (the clock then runs 24x7)",
        )

    def rule(self, node: YNode, kind: str) -> Rule | None:
        """One rule (``kind="rule"``) or escalation; None when broken. A disabled rule is
        compiled all the same, so ``rules check`` holds it to the language and the tools
        can list it; the engine never runs it."""
        what = "an escalation" if kind == "escalation" else "a rule"
        if not isinstance(node, YMap):
            self.error(node.mark, f"{what} must be a mapping, got {type_name(node)}", _RULE_HINT)
            return None
        self.keys(node, RULE_KEYS, what)
        name_node = node.get("name")
        name = self.string(name_node, "name") if name_node else None
        if name_node is None:
            self.error(node.mark, f"{what} needs a 'name'", "names appear in every decision")
        triggers = self._triggers(node, kind)
        condition = self.condition(node.get("if"))
        then = node.get("then")
        if then is None and not node.merges:  # a merge key is reported already
            self.error(node.mark, f"{what} needs 'then'", "e.g. then: {queue: billing}")
        actions = self.actions(then) if then is not None else ()
        stop = self.boolean(node.entries["stop"], "stop") if "stop" in node.entries else False
        enabled = (
            self.boolean(node.entries["enabled"], "enabled") if "enabled" in node.entries else True
        )
        description = None
        if (desc_node := node.get("description")) is not None:
            description = self.string(desc_node, "description")
        if name is None:
            return None
        return Rule(name, kind, triggers, condition, actions, stop, node.mark, description, enabled)

    def _triggers(self, node: YMap, kind: str) -> tuple[str, ...]:
        on = node.get("on")
        allowed = ESCALATION_TRIGGERS if kind == "escalation" else RULE_TRIGGERS
        if on is None:
            if kind == "escalation":
                self.error(node.mark, "an escalation needs 'on'", one_of(ESCALATION_TRIGGERS))
            return (DEFAULT_TRIGGER,)
        items = on.items if isinstance(on, YSeq) else (on,)
        triggers: list[str] = []
        for item in items:
            trigger = self.string(item, "a trigger")
            if trigger is None:
                continue
            if trigger in allowed:
                triggers.append(trigger)
            elif kind == "rule" and trigger in ESCALATION_TRIGGERS:
                self.error(
                    item.mark,
                    f"'{trigger}' is an escalation trigger",
                    "move this rule under 'escalations:'",
                )
            elif kind == "escalation" and trigger in RULE_TRIGGERS:
                self.error(
                    item.mark,
                    f"'{trigger}' is a rule trigger",
                    "move this escalation under 'rules:'",
                )
            else:
                self.error(
                    item.mark,
                    f"unknown trigger '{trigger}'",
                    closest_or_all(trigger, allowed),
                )
        if isinstance(on, YSeq) and not on.items:
            self.error(on.mark, "'on' must name at least one trigger", one_of(allowed))
        return tuple(dict.fromkeys(triggers))

    # -- conditions ---------------------------------------------------------------------

    def condition(self, node: YNode | None) -> Condition:
        """A condition mapping: every entry must hold (``any``/``all``/``not`` nest)."""
        if node is None or (isinstance(node, YScalar) and node.value is None):
            return ALWAYS
        if not isinstance(node, YMap):
            self.error(
                node.mark, f"a condition must be a mapping, got {type_name(node)}", _CONDITION_HINT
            )
            return ALWAYS
        parts: list[Condition] = []
        for key, value in node:
            key_mark = node.keys[key]
            if key in ("any", "all"):
                children = self._branches(key, value)
                combine = cond.any_of if key == "any" else cond.all_of
                if children:
                    parts.append(combine(children, key_mark))
            elif key == "not":
                parts.extend(self._negation(value, key_mark))
            elif key == "within":
                calendar = self.reference(value, "calendar", self.calendars, "calendars")
                cal = self.calendars.get(calendar) if calendar else None
                if cal is not None:
                    parts.append(cond.within(cal, self.table.calendar_slot(cal), key_mark))
            else:
                problem = check_field(key)
                if problem is not None:
                    self.error(key_mark, problem[0], problem[1])
                    continue
                parts.append(self._field_test(key, value, key_mark))
        return cond.all_of(parts, node.mark)

    def _negation(self, node: YNode, mark: Mark) -> list[Condition]:
        """``not: {...}``: one condition, or none when it is broken (and an error)."""
        if not isinstance(node, YMap):
            self.error(
                node.mark,
                f"'not' takes a condition mapping, got {type_name(node)}",
                _CONDITION_HINT,
            )
            return []
        if self._empty_condition(node, "not"):
            return []
        return [cond.not_of(self.condition(node), mark)]

    def _branches(self, key: str, node: YNode) -> list[Condition]:
        if isinstance(node, YSeq):
            if not node.items:
                self.error(
                    node.mark,
                    f"'{key}' needs at least one condition",
                    f"e.g. {key}: [{{channel: email}}, {{subject: {{contains: refund}}}}]",
                )
            return [
                self.condition(item)
                for item in node.items
                if not (isinstance(item, YMap) and self._empty_condition(item, key))
            ]
        if isinstance(node, YMap):
            if self._empty_condition(node, key):
                return []
            return [self.condition(YMap({k: v}, {k: node.keys[k]}, node.keys[k])) for k, v in node]
        self.error(
            node.mark, f"'{key}' takes a list of conditions, got {type_name(node)}", _CONDITION_HINT
        )
        return []

    def _empty_condition(self, node: YMap, key: str) -> bool:
        """Whether ``node`` is ``{}`` (and an error): an empty condition always holds, so
        ``not: {}`` never matches and ``any: [{}, ...]`` always does, which no author
        means. A rule without ``if`` is different: it matches always, as documented."""
        if node.entries:
            return False
        self.error(
            node.mark,
            f"an empty condition {{}} in '{key}'",
            "give it a test, e.g. {channel: email}, or remove it",
        )
        return True

    def _field_test(self, field: str, node: YNode, mark: Mark) -> Condition:
        if isinstance(node, YSeq):
            self.error(
                node.mark,
                f"a list is not a test for '{field}'",
                "to match one of several values write {in: [a, b]}",
            )
            return ALWAYS
        if isinstance(node, YScalar):
            operand = self._scalar(node, field)
            if operand is None:
                return ALWAYS
            return cond.leaf(
                field, "equals", operand, self.table, node.mark, written=_written(node)
            )
        if not node.entries:
            self.error(node.mark, f"no test given for '{field}'", one_of(OPERATORS))
        leaves: list[Condition] = []
        for op, arg in node:
            op_mark = node.keys[op]
            if op == "within":
                self.error(
                    op_mark,
                    "'within' tests the event's time, not a field",
                    "write it as a condition of its own: {within: office} or "
                    "{not: {within: office}}",
                )
                continue
            if op not in OPERATORS:
                hint = closest_or_all(op, OPERATORS)
                self.error(op_mark, f"unknown operator '{op}'", hint)
                continue
            operand = self._operand(field, op, arg)
            if operand is not None:
                leaves.append(
                    cond.leaf(field, op, operand, self.table, op_mark, written=_written(arg))
                )
        return cond.all_of(leaves, mark)

    def _scalar(self, node: YNode, field: str) -> str | int | float | bool | None:
        value = node.value if isinstance(node, YScalar) else None
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, str | int | float | bool):
            return value
        if isinstance(node, YScalar):
            self.error(
                node.mark,
                f"null is not a test for '{field}'",
                "to test that a field is missing write {exists: false}",
            )
        else:
            self.error(
                node.mark,
                f"expected a string or number for '{field}', got {type_name(node)}",
                f"compare with one value, e.g. {{{field}: email}} or {{in: [email, chat]}}",
            )
        return None

    def _operand(  # noqa: PLR0911 - one validation per operator
        self, field: str, op: str, node: YNode
    ) -> Any:
        if op == "equals":
            return self._scalar(node, field)
        if op in ("in", "not_in"):
            if not isinstance(node, YSeq) or not node.items:
                self.error(
                    node.mark,
                    f"'{op}' takes a non-empty list, got {type_name(node)}",
                    f"e.g. {{{op}: [gold, platinum]}}",
                )
                return None
            values = [self._scalar(item, field) for item in node.items]
            for item, value in zip(node.items, values, strict=True):
                if isinstance(value, bool):
                    self.error(
                        item.mark,
                        f"'{op}' compares strings or numbers, not booleans",
                        f'to test a flag write {field}: true (or quote it: "true")',
                    )
                    return None
            return None if any(v is None for v in values) else values
        if op in _TEXT_OPS:
            items = node.items if isinstance(node, YSeq) else (node,)
            texts = [self._text(item, op) for item in items]
            if not texts:
                self.error(
                    node.mark,
                    f"'{op}' needs at least one string",
                    f"e.g. {{{op}: [invoice, refund]}}",
                )
            return None if not texts or any(t is None for t in texts) else texts
        if op == "matches":
            return self._pattern(node)
        if op in _NUMBER_OPS:
            return self._number(node, op)
        if not (isinstance(node, YScalar) and isinstance(node.value, bool)):
            self.error(
                node.mark,
                f"'exists' takes true or false, got {type_name(node)}",
                "write {exists: true} (the field is set) or {exists: false} (it is missing)",
            )
            return None
        return node.value

    def _number(self, node: YNode, op: str) -> int | float | None:
        """The operand of ``gt``/``gte``/``lt``/``lte``: a finite number, and no larger
        than a float can be (the ingress refuses such a fact, so the test is constant)."""
        number = node.value if isinstance(node, YScalar) else None
        if isinstance(number, float) and not math.isfinite(number):
            self.error(
                node.mark,
                f"'{op}' needs a finite number, got {number}",
                "a fact is never NaN or infinite, so the test would be constant: "
                f"compare with a number, e.g. {{{op}: 1000000}}, or drop it",
            )
            return None
        if type(number) is int and abs(number) > sys.float_info.max:
            self.error(
                node.mark,
                f"'{op}' needs a number of at most about 1.8e308, got one of "
                f"{len(str(abs(number)))} digits",
                "no fact is that large, so the test would be constant: "
                f"compare with a number, e.g. {{{op}: 1000000}}, or drop it",
            )
            return None
        if isinstance(number, int | float) and not isinstance(number, bool):
            return number
        self.error(
            node.mark, f"'{op}' needs a number, got {type_name(node)}", _number_hint(op, node)
        )
        return None

    def _pattern(self, node: YNode) -> regex.Pattern[str] | None:  # noqa: PLR0911 - one per refusal
        """A ``matches`` pattern. The language is Python's ``re`` (its messages, too);
        ``regex`` runs the pattern, for its time limit (``operators.bounded_search``), so
        what ``regex`` reads otherwise than ``re`` is refused (``engine_only``)."""
        pattern = self.string(node, "'matches'")
        if pattern is None:
            return None
        if (depth := group_depth(pattern)) > MAX_GROUP_DEPTH:  # before anything parses it
            self.error(
                node.mark,
                f"bad regular expression: its groups nest {depth} deep, more than "
                f"{MAX_GROUP_DEPTH}",
                "nest fewer groups: a group around one group adds nothing",
            )
            return None
        try:
            with warnings.catch_warnings():
                # "possible nested set" ([[a]]): both engines read it alike; a POSIX
                # class, which they do not, is refused below
                warnings.simplefilter("ignore", FutureWarning)
                re.compile(pattern)
            if written_out(pattern) > MAX_WRITTEN_OUT:  # before regex compiles it
                self.error(
                    node.mark,
                    "bad regular expression: its counted repeats write out more than "
                    f"{MAX_WRITTEN_OUT:,} steps (each x{{n}} is n copies of x)",
                    "use smaller counts, or + / * where any number will do",
                )
                return None
            compiled = regex.compile(pattern)
        except (re.error, regex.error) as exc:  # regex: only what re accepts, rarely
            self.error(
                node.mark,
                f"bad regular expression: {_regex_problem(exc)}",
                "Python 're' syntax; quote the pattern in YAML",
            )
            return None
        except OverflowError as exc:  # a repeat count past the engine's limit
            self.error(node.mark, f"bad regular expression: {exc}", "use a smaller count")
            return None
        if (problem := engine_only(pattern)) is not None:
            self.error(node.mark, f"unsupported regular expression: {problem[0]}", problem[1])
            return None
        return compiled

    def _text(self, node: YNode, op: str) -> str | None:
        value = node.value if isinstance(node, YScalar) else None
        if isinstance(value, str) and value and not folded(value):
            # these operators drop what does not show before they compare: nothing is
            # left to look for, and the test would find nothing in any text
            self.error(
                node.mark,
                f"'{op}' compares text without the characters that do not show, and "
                f"{value!r} is only such characters",
                "to find them, use matches, e.g. {matches: '[\\u202e\\u200b]'}",
            )
            return None
        if isinstance(value, str) and value:
            return value
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if number and isinstance(node, YScalar):
            # as written: YAML reads +44, 0044 and 1e3 as the numbers 44, 44 and 1000.0,
            # and a text test compares text ({starts_with: +44} is about "+44...")
            return node.written
        self.error(
            node.mark,
            f"'{op}' takes a string or a list of strings, got {type_name(node)}",
            f"e.g. {{{op}: refund}} or {{{op}: [refund, invoice]}}",
        )
        return None

    # -- actions ------------------------------------------------------------------------

    def actions(self, node: YNode) -> tuple[Action, ...]:
        if not isinstance(node, YMap):
            self.error(
                node.mark,
                f"'then' must be a mapping of actions, got {type_name(node)}",
                one_of(ACTIONS),
            )
            return ()
        actions: list[Action] = []
        for name, value in node:
            mark = node.keys[name]
            if name not in ACTIONS:
                hint = STOP_HINT if name == "stop" else closest_or_all(name, ACTIONS)
                self.error(mark, f"unknown action '{name}'", hint)
                continue
            compiled = self._action_value(name, value)
            if compiled is not None:
                actions.append(Action(name, compiled, mark))
        return tuple(actions)

    def _action_value(self, name: str, node: YNode) -> str | tuple[str, ...] | None:
        if name == "queue":
            return self.reference(node, "queue", self.queues, "queues")
        if name == "sla":
            return self.reference(node, "SLA policy", self.policies, "sla")
        if name == "priority":
            return self.choice(node, "priority", PRIORITIES)
        if name in LIST_ACTIONS:
            values = self.strings(node, f"'{name}'")
            return tuple(dict.fromkeys(values)) if values else None
        return self.string(node, f"'{name}'")


def _written(node: YNode) -> tuple[str, ...]:
    """A test's values as the file spells them (``+4930123456``, not 4930123456)."""
    items = node.items if isinstance(node, YSeq) else (node,)
    return tuple(item.written if isinstance(item, YScalar) else "" for item in items)


def _number_hint(op: str, node: YNode) -> str:
    """For ``gt: "5"``: the same number unquoted; otherwise what a number looks like."""
    value = node.value if isinstance(node, YScalar) else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = math.nan
        if math.isfinite(number):
            shown = int(number) if number.is_integer() and "." not in value else number
            return f"write the number without quotes: {{{op}: {shown}}}"
    return f"write a number without quotes, e.g. {{{op}: 5}} or {{{op}: 2.5}}"


def _regex_problem(exc: Exception) -> str:
    """What is wrong and where: ``re``'s words ("missing ), unterminated subpattern at
    position 0"); ``regex`` puts the position in its message already."""
    if isinstance(exc, re.error):
        where = f" at position {exc.pos}" if exc.pos is not None else ""
        return f"{exc.msg}{where}"
    return str(exc)
