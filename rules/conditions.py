"""Conditions compiled once into closures over a per-event array of field values.

Nothing is parsed, looked up by name or compiled per event: a condition is a tree of
closures, and ``explain`` walks the same tree to say which part failed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import regex

from rules.calendar import Calendar
from rules.errors import Mark
from rules.fields import FieldTable, Values
from rules.operators import GAVE_UP, GaveUp, Outcome, Test, match_probe, operator_test


def show(value: Any, limit: int = 60) -> str:
    """A value as it appears in explanations: JSON, shortened."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _always(_values: Values) -> bool:
    return True


class Failure(NamedTuple):
    """Why a condition does not hold: ``text`` for the author, and ``gave_up`` when the
    failing part is a timed search that gave up. A flag, not a phrase looked for in
    ``text``: the text quotes the customer's value, which may say anything."""

    text: str
    gave_up: bool = False


class Condition:
    """A compiled condition: ``test`` decides, ``explain`` says why it failed."""

    __slots__ = (
        "children",
        "field",
        "key",
        "kind",
        "lower_slot",
        "mark",
        "op",
        "operand",
        "probe",
        "slot",
        "test",
        "text",
        "written",
    )

    def __init__(
        self,
        kind: str,
        test: Test,
        text: str,
        *,
        key: Any,
        mark: Mark | None = None,
        children: tuple[Condition, ...] = (),
        field: str | None = None,
        op: str | None = None,
        operand: Any = None,
        slot: int | None = None,
        lower_slot: int | None = None,
        probe: Callable[[Values], Outcome] | None = None,
        written: tuple[str, ...] = (),
    ) -> None:
        self.kind = kind
        self.test = test
        self.text = text
        self.key = key
        self.mark = mark
        self.children = children
        self.field = field
        self.op = op
        self.operand = operand
        self.slot = slot
        self.lower_slot = lower_slot
        self.probe = probe
        self.written = written

    def explain(self, values: Values) -> str | None:
        """None when the condition holds, else the first failing part, readably."""
        failure = self.failure(values)
        return None if failure is None else failure.text

    def failure(self, values: Values) -> Failure | None:
        """None when the condition holds, else why not.

        It walks the tree rather than calling a composite's ``test``: a ``matches``
        leaf asks its ``probe``, so a search that gave up says so (and is not logged a
        second time) instead of reading as an ordinary no match."""
        if self.kind == "all":
            failing = (f for c in self.children if (f := c.failure(values)) is not None)
            return next(failing, None)
        if self.kind == "any":
            failures = [child.failure(values) for child in self.children]
            if any(f is None for f in failures):
                return None
            return Failure(
                "none of: " + "; ".join(f.text for f in failures if f),
                any(f.gave_up for f in failures if f),
            )
        if self.kind == "not":
            return self._not_failure(values)
        return self._test_failure(values)

    def _not_failure(self, values: Values) -> Failure | None:
        failure = self.children[0].failure(values)
        if failure is None:
            return Failure(f"not ({self.children[0].text}): it holds")
        if failure.gave_up:
            return Failure(
                f"not ({self.children[0].text}): a search in it gave up, so neither holds",
                gave_up=True,
            )
        return None

    def _test_failure(self, values: Values) -> Failure | None:
        outcome = self.probe(values) if self.probe is not None else self.test(values)
        shown = "" if self.slot is None else f" (value: {show(values[self.slot])})"
        if isinstance(outcome, GaveUp):
            return Failure(f"{self.text} {outcome.describe()}{shown}", gave_up=True)
        if outcome:
            return None
        if self.kind == "within":
            return Failure(f"{self.text} (closed at that time)")
        return Failure(self.text + shown)

    def atoms(self) -> tuple[Condition, ...]:
        """The conjuncts of this condition: itself, or an ``all``'s children."""
        if self.kind == "all":
            return self.children
        if self.kind == "true":
            return ()
        return (self,)

    def reads(self) -> set[int]:
        """The slots this condition (with its children) reads: the only values an
        evaluation of it needs filled."""
        found = {s for s in (self.slot, self.lower_slot) if s is not None}
        for child in self.children:
            found |= child.reads()
        return found

    def __repr__(self) -> str:
        return f"Condition({self.text!r})"


ALWAYS = Condition("true", _always, "always", key=("true",))


def all_of(children: Sequence[Condition], mark: Mark | None = None) -> Condition:
    parts = tuple(c for c in children if c.kind != "true")
    if not parts:
        return ALWAYS
    if len(parts) == 1:
        return parts[0]
    tests = tuple(c.test for c in parts)
    if len(tests) == 2:
        first, second = tests

        def test(values: Values) -> bool:
            return first(values) and second(values)

    else:

        def test(values: Values) -> bool:
            for t in tests:  # noqa: SIM110 - a loop beats all(genexpr) on the hot path
                if not t(values):
                    return False
            return True

    text = " and ".join(_grouped(c) for c in parts)
    key = ("all", frozenset(c.key for c in parts))
    return Condition("all", test, text, key=key, mark=mark, children=parts)


def any_of(children: Sequence[Condition], mark: Mark | None = None) -> Condition:
    parts = tuple(children)
    if any(c.kind == "true" for c in parts):
        return ALWAYS
    if len(parts) == 1:
        return parts[0]
    tests = tuple(c.test for c in parts)

    def test(values: Values) -> bool:
        for t in tests:  # noqa: SIM110 - a loop beats any(genexpr) on the hot path
            if t(values):
                return True
        return False

    text = "any of (" + "; ".join(c.text for c in parts) + ")"
    key = ("any", frozenset(c.key for c in parts))
    return Condition("any", test, text, key=key, mark=mark, children=parts)


def not_of(child: Condition, mark: Mark | None = None) -> Condition:
    """The negation of ``child``; false, too, when a search in ``child`` gave up: its
    "no match" is no answer, and a crafted message that makes ``(a|aa)+$`` give up must
    not switch on every rule written ``not: {text: {matches: ...}}``."""
    inner = child.test

    def test(values: Values) -> bool:
        before = GAVE_UP[0]
        return not inner(values) and GAVE_UP[0] == before

    return Condition(
        "not", test, f"not ({child.text})", key=("not", child.key), mark=mark, children=(child,)
    )


def within(calendar: Calendar, slot: int, mark: Mark | None = None) -> Condition:
    def test(values: Values) -> bool:
        return bool(values[slot])

    return Condition(
        "within",
        test,
        f"within {calendar.name}",
        key=("within", calendar.name),
        mark=mark,
        slot=slot,
    )


def _grouped(condition: Condition) -> str:
    return f"({condition.text})" if condition.kind == "any" else condition.text


def leaf(
    field: str,
    op: str,
    operand: Any,
    table: FieldTable,
    mark: Mark,
    *,
    written: tuple[str, ...] = (),
) -> Condition:
    """One ``field: {op: operand}`` test; ``operand`` is already validated. ``written``:
    the operand's values as the file spells them, for the warnings of ``rules check``."""
    key_operand = tuple(operand) if isinstance(operand, list) else operand
    if isinstance(operand, re.Pattern | regex.Pattern):
        key_operand = operand.pattern
    key = (field, op, key_operand)
    shown = f'"{operand.pattern}"' if op == "matches" else show(key_operand)
    text = f"{field} {op} {shown}"
    lower_ops = ("contains", "contains_all", "starts_with")
    raw_slot = table.slot(field)
    lower_slot = table.slot(field, lower=True) if op in lower_ops else None
    test = operator_test(op, operand, raw_slot if lower_slot is None else lower_slot)
    return Condition(
        "leaf",
        test,
        text,
        key=key,
        mark=mark,
        field=field,
        op=op,
        operand=operand,
        slot=raw_slot,
        lower_slot=lower_slot,
        probe=match_probe(operand, raw_slot) if op == "matches" else None,
        written=written,
    )
