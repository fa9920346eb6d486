"""A regex that finds the same matches sooner, by first checking where a match can start.

``re`` tries a pattern at every position of the text. For a long alternation whose
branches all begin at a line start (``^``) or with a few known characters, as the reply
header patterns of ``mail-parser-reply`` do (35 branches, one per language and form),
each of those tries costs every branch: about a microsecond per character of a mail's
text. ``guarded`` puts a cheap lookahead in front, ``(?:^|(?=[...]))``, built from the
pattern's own parse tree: it holds wherever a match can start, so the matches (and
their groups) are exactly the original's, and everywhere else it fails at once.
"""

from __future__ import annotations

import importlib
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import regex
import structlog

# The parse tree of ``re`` and its opcodes (private modules of 3.11+; untyped here).
sre_parse: Any = importlib.import_module("re._parser")
sre: Any = importlib.import_module("re._constants")

MAX_FIRST_CHARS = 64
#: ``re`` flags with the same meaning (and the same bit) in the ``regex`` engine.
SHARED_FLAGS = re.IGNORECASE | re.MULTILINE | re.DOTALL | re.VERBOSE | re.ASCII
log = structlog.get_logger("switchboard.ingress")
Start = tuple[frozenset[int], bool, bool]
"""Where a match can start: before one of these code points, at a line start (``^``);
and whether the pattern can also match nothing at all (then anywhere)."""

_ZERO_WIDTH = (sre.ASSERT, sre.ASSERT_NOT)
_LINE_START = (sre.AT_BEGINNING, sre.AT_BEGINNING_STRING)


class _Unbounded(Exception):
    """A match may start before too many kinds of character for a guard to help."""


def guarded(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """``pattern`` behind a lookahead for where its matches can start; ``pattern``
    itself when that cannot be worked out (or would not narrow anything down)."""
    try:
        tree = sre_parse.parse(pattern.pattern, pattern.flags)
        chars, line_start, empty = _sequence(list(tree), pattern.flags)
    except (_Unbounded, re.error, RecursionError):
        return pattern
    if empty or not (chars or line_start):
        return pattern
    options = ["^"] if line_start else []
    if chars:
        options.append("(?=[" + "".join(f"\\U{c:08x}" for c in sorted(chars)) + "])")
    try:
        return re.compile(f"(?:{'|'.join(options)})(?:{pattern.pattern})", pattern.flags)
    except re.error:
        return pattern


def _sequence(items: list[tuple[Any, Any]], flags: int) -> Start:
    chars: set[int] = set()
    line_start = False
    for op, arg in items:
        first, at_line, empty = _item(op, arg, flags)
        chars |= first
        line_start = line_start or at_line
        if not empty:
            if len(chars) > MAX_FIRST_CHARS:
                raise _Unbounded
            return frozenset(chars), line_start, False
    return frozenset(chars), line_start, True


def _item(op: Any, arg: Any, flags: int) -> Start:  # noqa: PLR0911 - one case per opcode
    if op is sre.LITERAL:
        return frozenset({_uncased(arg, flags)}), False, False
    if op is sre.IN:
        return _char_class(arg, flags), False, False
    if op is sre.AT:
        return frozenset(), arg in _LINE_START, arg not in _LINE_START
    if op in _ZERO_WIDTH:
        return frozenset(), False, True
    if op is sre.SUBPATTERN:
        _group, add_flags, del_flags, body = arg
        if add_flags or del_flags:
            raise _Unbounded
        return _sequence(list(body), flags)
    if op is sre.BRANCH:
        starts = [_sequence(list(branch), flags) for branch in arg[1]]
        return (
            frozenset().union(*(s[0] for s in starts)),
            any(s[1] for s in starts),
            any(s[2] for s in starts),
        )
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
        low, _high, body = arg
        chars, line_start, empty = _sequence(list(body), flags)
        return chars, line_start, empty or low == 0
    raise _Unbounded


def _char_class(members: Any, flags: int) -> frozenset[int]:
    chars: set[int] = set()
    for op, arg in members:
        if op is sre.LITERAL:
            chars.add(_uncased(arg, flags))
        else:  # ranges, categories, negation: too wide to list
            raise _Unbounded
    return frozenset(chars)


def _uncased(code: object, flags: int) -> int:
    """A code point whose match cannot depend on case: a guard's class would then agree
    with the pattern under ``re.IGNORECASE`` without reasoning about case folding."""
    if not isinstance(code, int):
        raise _Unbounded
    char = chr(code)
    if flags & re.IGNORECASE and (char.lower() != char or char.upper() != char):
        raise _Unbounded
    return code


_DEADLINE: ContextVar[float | None] = ContextVar("pattern_deadline", default=None)


@contextmanager
def time_budget(seconds: float) -> Iterator[None]:
    """Every ``TimeBounded`` search inside shares ``seconds``: one message's budget, so
    a text that makes each of several searches run to its own limit costs the budget
    once, not the limit times the searches (two searches of 1 s each had held the
    ingress's event loop 2 s). Once it is spent, the searches find nothing."""
    token = _DEADLINE.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


class TimeBounded:
    """A pattern that gives up after ``timeout_s``: for a library's patterns run over a
    customer's text, whose worst case ``re`` cannot bound. The reply header patterns of
    ``mail-parser-reply`` backtrack without end on some lines (a 24 KB line of "On On On
    ..." took 29 s in ``re``, which holds the GIL all along, so the whole process stood
    still). This runs them in the ``regex`` engine, which lets other threads run while
    it matches and stops at a time limit; given up, it found nothing (the text stays the
    customer's, whole) and says so once in the log.

    It offers what the library calls (``findall``, ``search``) and what it reads
    (``pattern``, ``flags``, ``groups``)."""

    def __init__(self, compiled: re.Pattern[str], timeout_s: float, name: str) -> None:
        self.pattern = compiled.pattern
        self.flags = compiled.flags
        self.groups = compiled.groups
        engine_flags = (compiled.flags & SHARED_FLAGS) | regex.V0
        self._compiled = regex.compile(compiled.pattern, engine_flags)
        self._timeout_s = timeout_s
        self._name = name

    def findall(self, text: str) -> list[Any]:
        timeout = self._timeout()
        if timeout is None:
            return []
        try:
            return list(self._compiled.findall(text, timeout=timeout, concurrent=True))
        except TimeoutError:
            self._gave_up(text)
            return []

    def search(self, text: str) -> Any:
        timeout = self._timeout()
        if timeout is None:
            return None
        try:
            return self._compiled.search(text, timeout=timeout, concurrent=True)
        except TimeoutError:
            self._gave_up(text)
            return None

    def _timeout(self) -> float | None:
        """This search's limit: its own, or what is left of the ``time_budget`` it runs
        in when less; None when that budget is spent (said once, when it ran out)."""
        deadline = _DEADLINE.get()
        if deadline is None:
            return self._timeout_s
        left = deadline - time.monotonic()
        return min(self._timeout_s, left) if left > 0 else None

    def _gave_up(self, text: str) -> None:
        log.warning("pattern_gave_up", pattern=self._name, chars=len(text), s=self._timeout_s)
