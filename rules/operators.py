"""The operators of the rule language, each compiled into a closure over one slot."""

from __future__ import annotations

import math
import operator
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial
from typing import Any

import regex
import structlog

from rules.fields import Values, folded
from rules.pattern_shape import MAX_WAYS, ways

log = structlog.get_logger("switchboard.rules")
MATCH_TIMEOUT_S = 0.05  # per text and pattern: a sane pattern takes microseconds
EVENT_BUDGET_S = 0.2  # per event, every timed search of its rules together


@dataclass(frozen=True, slots=True)
class GaveUp:
    """A timed search that gave up, which counts as no match: after ``limit_s``, or, when
    that is 0, before it began, because the event's searches had spent their budget."""

    limit_s: float

    def describe(self) -> str:
        if self.limit_s > 0:
            return f"timed out after {round(self.limit_s * 1000)} ms: counts as no match"
        return (
            f"not searched: the event's {round(EVENT_BUDGET_S * 1000)} ms for timed "
            "searches was spent; counts as no match"
        )


Outcome = bool | GaveUp


class Budget:
    """One event's timed searches: the time they have left together, and what each one
    came to. ``explain`` reads those outcomes rather than searching again: with a fresh
    50 ms per search it had shown a rule as matching that the evaluation, its budget
    spent, had counted as no match (and never searched for)."""

    __slots__ = ("left", "outcomes", "replaying")

    def __init__(self) -> None:
        self.left = EVENT_BUDGET_S
        self.outcomes: dict[tuple[regex.Pattern[str], str], Outcome] = {}
        self.replaying = False


_BUDGET: ContextVar[Budget | None] = ContextVar("match_budget", default=None)


class match_budget:  # noqa: N801 - used as the function it was: ``with match_budget()``
    """One event's evaluation: its timed searches share ``EVENT_BUDGET_S``. Per search
    alone, a rule matching ``metadata.cc`` (100 addresses) with a runaway pattern had
    held the router 5 s on one email; past the budget, a timed pattern matches nothing.
    A class, not a generator: it is entered for every evaluation of every event."""

    __slots__ = ("_token",)

    def __enter__(self) -> Budget:
        budget = Budget()
        self._token = _BUDGET.set(budget)
        return budget

    def __exit__(self, *_exc: object) -> None:
        _BUDGET.reset(self._token)


@contextmanager
def replaying(budget: Budget) -> Iterator[None]:
    """Explaining the evaluation that used ``budget``: a search it made comes to what it
    came to then (and is not logged again); one it never made (a rule the index skipped)
    runs on what is left of the budget, as it would have."""
    budget.replaying = True
    token = _BUDGET.set(budget)
    try:
        yield
    finally:
        _BUDGET.reset(token)


Test = Callable[[Values], bool]

OPERATORS = (
    "equals",
    "in",
    "not_in",
    "contains",
    "contains_all",
    "matches",
    "starts_with",
    "gt",
    "gte",
    "lt",
    "lte",
    "exists",
)
_SEQ = (list, tuple)


GAVE_UP = [0]
"""Searches that gave up in this process (time or the event's budget spent), counted so
that ``not`` can tell a search's answer from its giving up (``conditions.not_of``)."""


def bounded_search(pattern: regex.Pattern[str]) -> Callable[[str], bool]:
    """``pattern`` found in a text, within MATCH_TIMEOUT_S. The text is a customer's, so a
    pattern that backtracks without bound (``(a|aa)+$`` on "aaaa…!") would otherwise hold
    the router, and every ticket behind it, for as long as it likes: past the limit the
    pattern counts as not matching, and says so in the log (pattern, never the text).

    A pattern with few paths (``(?i)\\b(invoice|refund)s?\\b``, most rules' patterns)
    searches in time linear in the text, and runs without the limit, which costs more
    than the search itself (3 us of 5)."""
    search = pattern.search
    if ways(pattern.pattern) <= MAX_WAYS:
        return lambda text: search(text) is not None
    return lambda text: _timed_search(pattern, text) is True


def _timed_search(pattern: regex.Pattern[str], text: str) -> Outcome:
    budget = _BUDGET.get()
    if budget is None:
        outcome = _search_within(pattern, text, MATCH_TIMEOUT_S)
    elif budget.replaying and (pattern, text) in budget.outcomes:
        outcome = budget.outcomes[pattern, text]
    else:
        outcome = _spend(budget, pattern, text)
        budget.outcomes.setdefault((pattern, text), outcome)
    if isinstance(outcome, GaveUp):
        GAVE_UP[0] += 1
    return outcome


def _spend(budget: Budget, pattern: regex.Pattern[str], text: str) -> Outcome:
    if budget.left <= 0:  # the event's budget is spent (said when it timed out)
        return GaveUp(0.0)
    began = time.monotonic()
    try:
        return _search_within(pattern, text, min(MATCH_TIMEOUT_S, budget.left))
    finally:
        budget.left -= time.monotonic() - began


def _search_within(pattern: regex.Pattern[str], text: str, limit: float) -> Outcome:
    try:
        return pattern.search(text, timeout=limit, concurrent=True) is not None
    except TimeoutError:
        log.warning(
            "rule_pattern_timed_out",
            pattern=pattern.pattern[:200],
            text_length=len(text),
            limit_s=round(limit, 3),
        )
        return GaveUp(limit)


def match_probe(pattern: regex.Pattern[str], s: int) -> Callable[[Values], Outcome] | None:
    """For ``explain``, the ``matches`` test of ``pattern`` on slot ``s`` that tells a
    search that gave up (a ``GaveUp``, saying how) from one that found nothing (False).
    Under ``replaying`` it reads the evaluation's outcomes. None when the pattern runs
    without a time limit (it cannot time out). Built at load beside the test, so the
    router's hot path stays as it is."""
    if ways(pattern.pattern) <= MAX_WAYS:
        return None

    def probe(v: Values) -> Outcome:
        x = v[s]
        gave_up: GaveUp | None = None
        for item in x if isinstance(x, _SEQ) else (x,):
            if item is None:
                continue
            outcome = _timed_search(pattern, item if isinstance(item, str) else str(item))
            if outcome is True:
                return True
            if isinstance(outcome, GaveUp) and gave_up is None:
                gave_up = outcome
        return False if gave_up is None else gave_up

    return probe


_POSIX_CLASS = re.compile(r"\[:(\^?)([A-Za-z]+):\]")
# regex reads a brace as fuzzy matching when an error kind (d, e, i, s) opens it
_FUZZY = re.compile(r"\{\s*(?:\d*\s*[deis]|\d+\s*<=?\s*[deis])")
_POSIX_SPELLINGS = {
    "digit": "\\d",
    "space": "\\s",
    "alnum": "[^\\W_]",
    "alpha": "[^\\W\\d_]",
    "word": "\\w",
    "upper": "[A-Z]",
    "lower": "[a-z]",
    "xdigit": "[0-9A-Fa-f]",
    "punct": "[^\\w\\s]",
}


def engine_only(pattern: str) -> tuple[str, str] | None:
    """``(problem, hint)`` when ``pattern`` uses syntax that Python's ``re`` (the
    language) reads as plain characters but ``regex`` (which runs it) reads as something
    else: a POSIX class (``[[:digit:]]``) or a fuzzy-matching constraint
    (``colou?r{e<=1}``). The router would then match what ``re`` and the docs say it does
    not; None for a pattern both engines read alike."""
    at, in_set = 0, False
    while at < len(pattern):
        char = pattern[at]
        if char == "\\":
            named = pattern.startswith("N{", at + 1)  # \N{EM DASH}: a name, not a brace
            at = pattern.find("}", at) + 1 if named else at + 2
            at = at or len(pattern)
        elif in_set:
            posix = _POSIX_CLASS.match(pattern, at)
            if posix is not None:
                return _posix_problem(posix, at)
            in_set = char != "]"
            at += 1
        elif char == "[":
            in_set = True
            at += 2 if pattern.startswith("^", at + 1) else 1
            at += 1 if pattern.startswith("]", at) else 0  # a ']' first in a set is literal
        elif _FUZZY.match(pattern, at) is not None:
            return _fuzzy_problem(pattern, at)
        else:
            at += 1
    return None


def _posix_problem(posix: re.Match[str], at: int) -> tuple[str, str]:
    negated, name = posix.groups()
    spelling = None if negated else _POSIX_SPELLINGS.get(name)
    instead = (
        f"for [{posix.group()}] write {spelling}"
        if spelling
        else "write the class with \\d, \\s, \\w or a range such as [0-9]"
    )
    return (
        f"'{posix.group()}' at position {at} is a POSIX class, which Python's re reads "
        "as the characters '[', ':' and so on",
        f"{instead}; a literal '[' in a set is \\[",
    )


def _fuzzy_problem(pattern: str, at: int) -> tuple[str, str]:
    end = pattern.find("}", at)
    brace = pattern[at : end + 1] if end != -1 else pattern[at:]
    return (
        f"'{brace}' at position {at} would be fuzzy matching, which Python's re reads as "
        "the literal text",
        f"to match the braces write \\{brace}; to allow misspellings list them, "
        "e.g. (colou?r|colr)",
    )


def _fan_out(one: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """Apply a scalar test to a value, or to any element when the value is a list."""

    def test(value: Any) -> bool:
        if isinstance(value, _SEQ):
            return any(one(item) for item in value)
        return one(value)

    return test


def _number(value: Any) -> float | None:
    """A fact's value as a number for ``gt``/``lt``: a finite int or float, or text
    holding a decimal number as JSON writes one ("12.5", "-3", "1e3"); None otherwise.
    Python's own spellings ("1_000", "inf", "nan", Arabic-Indic digits) are not numbers
    a channel or CRM sends, so they are no match rather than a surprising one."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return float(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        number = float(value)
        return number if math.isfinite(number) else None  # "1e999"
    return None


_DECIMAL = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


def _same(expected: Any) -> Callable[[Any], bool]:
    if isinstance(expected, bool) or expected is None:
        return lambda value: value is expected
    if isinstance(expected, int | float):
        return lambda value: not isinstance(value, bool) and value == expected
    return lambda value: value == expected


def operator_test(op: str, operand: Any, s: int) -> Test:  # noqa: PLR0911 - one return per operator
    if op == "equals":
        if isinstance(operand, str):
            c = operand

            def eq_str(v: Values) -> bool:
                x = v[s]
                return x == c or (isinstance(x, _SEQ) and c in x)

            return eq_str
        same = _fan_out(_same(operand))
        return lambda v: same(v[s])
    if op in ("in", "not_in"):
        choices = frozenset(operand)

        def one_in(x: Any) -> bool:
            return isinstance(x, str | int | float) and not isinstance(x, bool) and x in choices

        any_in = _fan_out(one_in)
        if op == "in":

            def is_in(v: Values) -> bool:
                x = v[s]
                return x in choices if type(x) is str else any_in(x)

            return is_in
        return lambda v: not any_in(v[s])
    # The operands come composed (NFC) from the loader, as the slots' values do; a
    # keyword that folds to nothing (invisible characters only) the compiler refuses.
    if op in ("contains", "contains_all"):
        needles = tuple(folded(n) for n in operand)
        return _contains(needles, s) if op == "contains" else _contains_all(needles, s)
    if op == "starts_with":
        prefixes = tuple(folded(n) for n in operand)

        def starts_with(v: Values) -> bool:
            x = v[s]
            if isinstance(x, str):
                return x.startswith(prefixes)
            return isinstance(x, tuple) and any(i.startswith(prefixes) for i in x)

        return starts_with
    if op == "matches":
        search = bounded_search(operand)
        one_match = _fan_out(
            lambda x: x is not None and search(x if isinstance(x, str) else str(x))
        )

        def matches(v: Values) -> bool:
            x = v[s]
            if type(x) is str:
                return search(x)
            return one_match(x)

        return matches
    if op in ("gt", "gte", "lt", "lte"):
        return _ordered(op, operand, s)
    if op == "exists":
        want = bool(operand)

        def exists(v: Values) -> bool:
            x = v[s]
            present = (
                x is not None and x != "" and not (isinstance(x, list | tuple | dict) and not x)
            )
            return present is want

        return exists
    raise ValueError(f"unknown operator {op!r}")  # pragma: no cover


def _contains(needles: tuple[str, ...], s: int) -> Test:
    if len(needles) == 1:
        (needle,) = needles

        def contains_one(v: Values) -> bool:
            x = v[s]
            return x is not None and needle in x

        return contains_one

    def contains(v: Values) -> bool:
        x = v[s]
        if x is None:
            return False
        for needle in needles:  # noqa: SIM110 - a loop beats any(genexpr) on the hot path
            if needle in x:
                return True
        return False

    return contains


def _contains_all(needles: tuple[str, ...], s: int) -> Test:
    def contains_all(v: Values) -> bool:
        x = v[s]
        if x is None:
            return False
        for needle in needles:  # noqa: SIM110 - a loop beats all(genexpr) on the hot path
            if needle not in x:
                return False
        return True

    return contains_all


_LIMIT_FIRST = {"gt": operator.lt, "gte": operator.le, "lt": operator.gt, "lte": operator.ge}
"""``{gt: limit}`` holds for ``x`` when ``limit < x``: the limit goes first."""


def _ordered(op: str, limit: float, s: int) -> Test:
    """Python compares an int with an int or a float exactly, so the limit is kept as
    written: through ``float`` ``{lt: 9007199254740993}`` had not held for
    9007199254740992 (both are 2**53 as floats)."""
    compare: Callable[[float], bool] = partial(_LIMIT_FIRST[op], limit)

    def one(x: Any) -> bool:
        if type(x) is int:
            return compare(x)
        n = _number(x)
        return n is not None and compare(n)

    def ordered(v: Values) -> bool:
        x = v[s]
        if type(x) is int:
            return compare(x)
        # a list field (``metadata.amounts``): any element, as every other test reads one
        return any(one(item) for item in x) if isinstance(x, _SEQ) else one(x)

    return ordered
