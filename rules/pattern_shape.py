"""What a ``matches`` pattern's shape says before it ever runs, read from the parse tree of
Python's ``re`` (the rule language's syntax):

- ``ways``: how many ways it can match from one position, so a pattern with few needs no
  time limit (``rules.operators``);
- ``nested_repeat`` and ``overlapping_alternatives``: the two shapes behind most
  catastrophic backtracking, for ``rules check``'s warning (``rules.runaway``). A
  possessive repeat or an atomic group never backtracks: both are left alone.
"""

from __future__ import annotations

import importlib
import math
import re
import warnings
from typing import Any

sre: Any = importlib.import_module("re._constants")
sre_parse: Any = importlib.import_module("re._parser")

MAX_WAYS = 64  # paths through a pattern from one position, for it to need no time limit

_ONE_WAY = (sre.LITERAL, sre.NOT_LITERAL, sre.IN, sre.ANY, sre.AT, sre.CATEGORY)
_ONE_CHAR = (sre.LITERAL, sre.NOT_LITERAL, sre.IN, sre.ANY)


MAX_GROUP_DEPTH = 100
"""How deep a pattern's groups may nest. The parsers of ``re`` and ``regex`` and the walks
of this module recurse once or more per level: 200 levels had ended in a RecursionError
instead of an error at the pattern. Real patterns nest a few levels."""


def group_depth(pattern: str) -> int:
    """How deep ``pattern``'s parentheses nest, counted without parsing it (parsing
    recurses per level): an escaped parenthesis and one inside ``[...]`` are no group.
    A parenthesis in a comment counts too, which only ever counts too deep."""
    depth = deepest = 0
    in_class = False
    at = 0
    while at < len(pattern):
        char = pattern[at]
        if char == "\\":
            at += 1  # the escaped character is no group and does not end a class
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            # a ']' first in the class ([]a] or [^]a]) is one of its characters
            if pattern.startswith("^", at + 1):
                at += 1
            if pattern.startswith("]", at + 1):
                at += 1
        elif char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth = max(depth - 1, 0)
        at += 1
    return deepest


def _parsed(pattern: str) -> Any:
    """``pattern``'s parse tree as ``re`` reads it (its ``data``: opcode, argument pairs,
    and its ``state.flags``); None when it cannot be read."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # "possible nested set": said at load
            return sre_parse.parse(pattern)
    except Exception:  # noqa: BLE001 - the loader reports a pattern it cannot read
        return None


def ways(pattern: str) -> float:
    """How many ways ``pattern`` can match from one position, at most: ``inf`` for an
    unbounded repeat (``+``, ``*``, ``{2,}``), a back-reference or anything unknown. A
    search costs at most this many tries of the pattern's width per position of the text."""
    tree = _parsed(pattern)
    return math.inf if tree is None else _ways(tree.data)  # unreadable: unbounded


def _ways(items: list[Any]) -> float:
    total = 1.0
    for op, av in items:
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            low, high, item = av
            if high == sre.MAXREPEAT:
                return math.inf
            total *= (high - low + 1) * _ways(item) ** high
        elif op is sre.SUBPATTERN:
            total *= _ways(av[3])
        elif op is sre.BRANCH:
            total *= sum(_ways(branch) for branch in av[1])
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            total *= _ways(av[1])
        elif op is sre.ATOMIC_GROUP:
            total *= _ways(av)
        elif op not in _ONE_WAY:
            return math.inf
        if total > MAX_WAYS:
            return math.inf
    return total


MAX_WRITTEN_OUT = 100_000
"""Steps a pattern's counted repeats may write out: ``regex`` compiles ``x{n}`` as ``n``
copies of ``x``, so ``((a{1000}){1000}){1000}``, 24 characters, took 24 GB to compile."""


def written_out(pattern: str) -> float:
    """How many steps ``pattern`` makes once its counted repeats are written out (each
    ``{m,n}`` as ``n`` copies, an unbounded one as ``m`` and a loop), or ``inf`` past
    ``MAX_WRITTEN_OUT``; 0 when it cannot be read (the loader reports that)."""
    tree = _parsed(pattern)
    return 0 if tree is None else _written(tree.data)


def _written(items: list[Any]) -> float:
    total = 0.0
    for op, av in items:
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            low, high, item = av
            copies = max(low, 1) if high == sre.MAXREPEAT else max(high, 1)
            total += copies * _written(item)
        elif op is sre.SUBPATTERN:
            total += _written(av[3])
        elif op is sre.BRANCH:
            total += sum(_written(branch) for branch in av[1])
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            total += _written(av[1])
        elif op is sre.ATOMIC_GROUP:
            total += _written(av)
        else:
            total += 1
        if total > MAX_WRITTEN_OUT:
            return math.inf
    return total


def nested_repeat(pattern: str) -> bool:
    """Whether ``pattern`` repeats, without bound, something that itself repeats a varying
    number of times (``(a+)+``, ``(\\w+\\s?)*``)."""
    tree = _parsed(pattern)
    return tree is not None and _nested(tree.data, inside=False)


def _nested(items: list[Any], *, inside: bool) -> bool:
    for op, av in items:
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            low, high, body = av
            if inside and high != low:
                return True
            if _nested(body.data, inside=inside or high == sre.MAXREPEAT):
                return True
        elif (op is sre.SUBPATTERN and _nested(av[3].data, inside=inside)) or (
            op is sre.BRANCH and any(_nested(b.data, inside=inside) for b in av[1])
        ):
            return True
    return False


def overlapping_alternatives(pattern: str) -> bool:
    """Whether ``pattern`` repeats, without bound, a choice of alternatives of which two
    can begin with the same two characters (``(a|aa)+``, ``(a|b|ab)*``, ``(.|\\s)*``):
    such a text can be read two ways, so one that fails at its end is tried in a number
    of ways that doubles with each repetition. Alternatives that part within their first
    two characters (``(ab|cd)+``, ``(x|xy)+z``) are read one way only. An alternative
    that can match nothing begins with what follows it, the next round of the repeat
    included."""
    tree = _parsed(pattern)
    if tree is None:
        return False
    universe = _universe(tree.data)
    return _overlaps(tree.data, _Reader(universe, tree.state.flags))


class _Reader:
    """First characters of a piece of the tree, as the subset of a sample alphabet (ASCII,
    a few letters, digits and spaces of other scripts, and every literal of the pattern)
    that it can begin with; an ``IGNORECASE`` literal begins with either case."""

    def __init__(self, universe: frozenset[str], flags: int) -> None:
        self.universe = universe
        self.dotall = bool(flags & re.DOTALL)
        self.caseless = bool(flags & re.IGNORECASE)

    def first(self, items: list[Any], follow: frozenset[str]) -> frozenset[str]:
        """What ``items`` can begin with; ``follow`` (what comes after them) if they can
        match nothing."""
        out: set[str] = set()
        for op, av in items:
            begins, empty = self._item(op, av)
            out |= begins
            if not empty:
                return frozenset(out)
        return frozenset(out | follow)

    def begins(self, items: list[Any], follow: frozenset[str]) -> tuple[frozenset[str], ...]:
        """The first character and the second (what may follow a first of one character;
        anything, when the first piece is longer or unknown): two alternatives that begin
        alike in the first (``x`` and ``xy`` before ``z``) may part at the second."""
        first = self.first(items, follow)
        if items and items[0][0] in _ONE_CHAR:
            return first, self.first(items[1:], follow)
        return first, self.universe

    def _item(self, op: Any, av: Any) -> tuple[frozenset[str], bool]:  # noqa: PLR0911 - one per opcode
        """What one item can begin with, and whether it can match nothing."""
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            low, _, body = av
            return self.first(body.data, frozenset()), low == 0 or self._empty(body.data)
        if op is sre.SUBPATTERN:
            return self.first(av[3].data, frozenset()), self._empty(av[3].data)
        if op is sre.ATOMIC_GROUP:
            return self.first(av.data, frozenset()), self._empty(av.data)
        if op is sre.BRANCH:
            begins = frozenset().union(*(self.first(b.data, frozenset()) for b in av[1]))
            return begins, any(self._empty(b.data) for b in av[1])
        if op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):
            return frozenset(), True  # zero width
        if op is sre.LITERAL:
            char = chr(av)
            return frozenset({char, char.lower(), char.upper()} if self.caseless else {char}), False
        if op is sre.NOT_LITERAL:
            return self.universe - {chr(av)}, False
        if op is sre.ANY:
            return self.universe if self.dotall else self.universe - {"\n"}, False
        if op is sre.IN:
            return frozenset(c for c in self.universe if _in_set(c, av)), False
        return self.universe, True  # a back-reference or anything unknown: anything

    def _empty(self, items: list[Any]) -> bool:
        return all(self._item(op, av)[1] for op, av in items)


_CATEGORIES = {
    sre.CATEGORY_DIGIT: r"\d",
    sre.CATEGORY_NOT_DIGIT: r"\D",
    sre.CATEGORY_SPACE: r"\s",
    sre.CATEGORY_NOT_SPACE: r"\S",
    sre.CATEGORY_WORD: r"\w",
    sre.CATEGORY_NOT_WORD: r"\W",
}
_SAMPLES = "éßΩİ中١\u00a0\u2028"


def _in_set(char: str, members: list[Any]) -> bool:
    code, hit, negate = ord(char), False, False
    for op, av in members:
        if op is sre.NEGATE:
            negate = True
        elif op is sre.LITERAL:
            hit = hit or code == av
        elif op is sre.RANGE:
            hit = hit or av[0] <= code <= av[1]
        elif op is sre.CATEGORY:
            spelled = _CATEGORIES.get(av)
            hit = hit or spelled is None or re.fullmatch(spelled, char) is not None
        else:  # anything else: assume it may begin with this character
            hit = True
    return hit != negate


def _universe(items: list[Any]) -> frozenset[str]:
    chars = {chr(c) for c in range(128)} | set(_SAMPLES)

    def walk(node: Any) -> None:
        if isinstance(node, tuple) and len(node) == 2 and node[0] in (sre.LITERAL, sre.NOT_LITERAL):
            chars.add(chr(node[1]))
        elif isinstance(node, list | tuple):
            for child in node:
                walk(child)
        elif isinstance(node, sre_parse.SubPattern):
            walk(node.data)

    walk(items)
    cased = {c for char in chars for c in (char.lower(), char.upper()) if len(c) == 1}
    return frozenset(chars | cased)


def _overlaps(
    items: list[Any], reader: _Reader, follow: frozenset[str] = frozenset(), inside: bool = False
) -> bool:
    """Whether ``items`` (followed by ``follow``) hold a choice that overlaps inside an
    unbounded repeat (``inside``)."""
    for i, (op, av) in enumerate(items):
        after = reader.first(items[i + 1 :], follow)
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            _, high, body = av
            unbounded = high == sre.MAXREPEAT
            again = reader.first(body.data, frozenset()) if unbounded else frozenset()
            if _overlaps(body.data, reader, again | after, inside or unbounded):
                return True
        elif op is sre.SUBPATTERN:
            if _overlaps(av[3].data, reader, after, inside):
                return True
        elif op is sre.BRANCH:
            begins = [reader.begins(b.data, after) for b in av[1]]
            if inside and any(
                begins[a][0] & begins[b][0] and begins[a][1] & begins[b][1]
                for a in range(len(begins))
                for b in range(a)
            ):
                return True
            if any(_overlaps(b.data, reader, after, inside) for b in av[1]):
                return True
    return False
