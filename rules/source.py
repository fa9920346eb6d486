"""YAML 1.2 read into a small tree that remembers where every key and value came from.

ruamel.yaml is used because it speaks YAML 1.2: PyYAML (YAML 1.1) reads the key ``on``
as the boolean ``true`` and ``no``/``yes`` as booleans, which silently breaks rules.
Keeping our own node types (instead of ruamel's) lets the compiler report exact
``file:line:col`` for values as well as keys, and find duplicate keys, which YAML
loaders usually let the last one win.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.scanner import Scanner

from rules.errors import Mark, RuleError

Scalar = str | int | float | bool | None | dt.date


@dataclass(frozen=True, slots=True)
class YScalar:
    """A scalar and, in ``text``, how it was written: ``01234`` and ``+4930123456`` read
    as the numbers 1234 and 4930123456, so a hint that says how to quote one must show
    the author's spelling, not the number's."""

    value: Scalar
    mark: Mark
    text: str | None = None

    @property
    def written(self) -> str:
        """The scalar as the author wrote it (quoted ones: their content)."""
        return self.text if self.text is not None else str(self.value)


@dataclass(frozen=True, slots=True)
class YSeq:
    items: tuple[YNode, ...]
    mark: Mark


@dataclass(frozen=True, slots=True)
class YMap:
    """A mapping with string keys; ``keys`` holds each key's own position. ``merges``:
    it had a YAML merge key (``<<: *common``), refused, so keys it meant to bring in are
    missing, which is no news to report."""

    entries: dict[str, YNode]
    keys: dict[str, Mark]
    mark: Mark
    merges: bool = False

    def __iter__(self) -> Iterator[tuple[str, YNode]]:
        return iter(self.entries.items())

    def get(self, key: str) -> YNode | None:
        return self.entries.get(key)


YNode = YScalar | YSeq | YMap


def type_name(node: YNode) -> str:  # noqa: PLR0911 - one answer per YAML type
    """How a value reads to a rule author, for "expected X, got Y" messages."""
    if isinstance(node, YMap):
        return "a mapping"
    if isinstance(node, YSeq):
        return "a list"
    value = node.value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, dt.date):
        return "a date"
    return "a string" if value.strip() else "an empty string"


def to_plain(node: YNode) -> Any:
    """The node as plain Python data (used for hashing and for test cases)."""
    if isinstance(node, YMap):
        return {key: to_plain(value) for key, value in node}
    if isinstance(node, YSeq):
        return [to_plain(item) for item in node.items]
    return node.value


MAX_FLOW_DEPTH = 64


class _TooDeep(Exception):
    def __init__(self, line: int, column: int) -> None:
        super().__init__(line, column)
        self.line, self.column = line, column


class _BoundedScanner(Scanner):
    """ruamel's scanner that stops at the bracket opening flow level MAX_FLOW_DEPTH, and
    at the indentation opening block level MAX_FLOW_DEPTH.

    The scanner re-checks every open flow level for each token, so ``[[[[...`` costs
    time quadratic in its depth: 5,000 brackets took 1.7 s before the composer's
    recursion ended it. Deep indentation ended in that recursion too, reported at 1:1.
    Rules need a few levels."""

    def fetch_flow_collection_start(self, TokenClass: Any, to_push: str) -> None:  # noqa: N803
        if len(self.flow_context) >= MAX_FLOW_DEPTH:
            self.too_deep()
        super().fetch_flow_collection_start(TokenClass, to_push)

    def add_indent(self, column: int) -> bool:
        if self.indent < column and len(self.indents) >= MAX_FLOW_DEPTH:
            self.too_deep()
        return bool(super().add_indent(column))

    def too_deep(self) -> None:
        mark = self.reader.get_mark()
        raise _TooDeep(mark.line + 1, mark.column + 1)


#: A ``%YAML`` directive, before the document (YAML 1.2 section 6.8.1).
YAML_DIRECTIVE = re.compile(r"^%YAML[ \t]+(\S*)", re.MULTILINE)
#: Numbers as YAML 1.2's core schema writes them; ruamel also reads 1.1's (``0b101``,
#: ``1_000``, ``+0x1F``, ``1:30``) in 1.2 mode, which 1.2 reads as text.
CORE_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
CORE_FLOAT = re.compile(
    r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)"
    r"|\.(?:nan|NaN|NAN)"
)
SURROGATE = re.compile("[\ud800-\udfff]")
#: The tags of YAML 1.2's core schema (and the merge key, refused where it is met);
#: any other tag (``!regex``, ``!!binary``, ``!!set``) would be dropped unread.
YAML_PREFIX = "tag:yaml.org,2002:"
CORE_TAGS = frozenset(
    YAML_PREFIX + name for name in ("str", "int", "float", "bool", "null", "seq", "map", "merge")
) | {YAML_PREFIX + "timestamp"}  # ruamel's resolver names 1.1 timestamps: read as text


def parse_yaml(text: str, file: str) -> tuple[YNode | None, list[RuleError]]:
    """Parse one YAML document; syntax errors come back as located errors."""
    directive = _other_version(text, file)
    return (None, [directive]) if directive is not None else _parse_yaml(text, file)


def _parse_yaml(text: str, file: str) -> tuple[YNode | None, list[RuleError]]:
    yaml = YAML(typ="safe", pure=True)
    yaml.version = (1, 2)
    yaml.Scanner = _BoundedScanner
    try:
        root = yaml.compose(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Mark(file, mark.line + 1, mark.column + 1) if mark else Mark(file, 1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        return None, [RuleError(where, f"YAML syntax error: {problem}", syntax_hint(problem))]
    except YAMLError as exc:  # a character YAML does not allow, say: no line/column mark
        message = str(exc).splitlines()[0] if str(exc) else "unreadable YAML"
        hint = "save the file as plain UTF-8 text without control characters"
        return None, [RuleError(_at_position(text, file, exc), f"YAML error: {message}", hint)]
    except (_TooDeep, RecursionError) as exc:  # the composer recurses once per level
        return None, [_too_deep(file, exc)]
    if root is None:
        return None, []
    errors: list[RuleError] = []
    converter = _Converter(yaml, file, errors)
    try:
        return converter.convert(root), errors
    except (RecursionError, _TooManyExpanded) as exc:  # one error: the rest is cut off
        return None, [exc.error if isinstance(exc, _TooManyExpanded) else _too_deep(file, exc)]


def _other_version(text: str, file: str) -> RuleError | None:
    """A ``%YAML`` directive for another version than 1.2: rule files are YAML 1.2, and
    the directive would have the parser read 1.1's ``no`` as false and ``0777`` as 511
    (or, for 1.0 or 1.3, fail with no location)."""
    head = text.split("\n---", 1)[0]
    for found in YAML_DIRECTIVE.finditer(head):
        if found.group(1) != "1.2":
            line = head.count("\n", 0, found.start()) + 1
            return RuleError(
                Mark(file, line, 1),
                f"rule files are YAML 1.2, and this one says %YAML {found.group(1)}",
                "remove the %YAML line: YAML 1.2 is read without it",
            )
    return None


def _too_deep(file: str, exc: Exception) -> RuleError:
    where = Mark(file, exc.line, exc.column) if isinstance(exc, _TooDeep) else Mark(file, 1, 1)
    hint = "rules need only a few levels of nesting: flatten the deepest part"
    return RuleError(where, "YAML nested too deeply", hint)


def _at_position(text: str, file: str, exc: YAMLError) -> Mark:
    """Where a reader error happened: it gives a character offset, not a line."""
    position = getattr(exc, "position", None)
    if not isinstance(position, int) or not 0 <= position <= len(text):
        return Mark(file, 1, 1)
    line = text.count("\n", 0, position) + 1
    return Mark(file, line, position - (text.rfind("\n", 0, position) + 1) + 1)


_SYNTAX_HINTS = (
    ("mapping values are not allowed", 'quote a value that holds ": ", e.g. "Re: invoice"'),
    ("'\\t'", "indent with spaces, not tabs"),
    ("expected ','", "close every { or [ and separate its entries with ', '"),
    ("undefined alias", "define the anchor (&name) before its alias (*name)"),
    (
        "unknown escape",
        "inside double quotes write a backslash twice (\"\\\\d+\"), or use single quotes ('\\d+')",
    ),
)


def syntax_hint(problem: str) -> str:
    """What usually causes a YAML syntax error, as a hint for the rule author."""
    for needle, hint in _SYNTAX_HINTS:
        if needle in problem:
            return hint
    return (
        "check the indentation (spaces; keys of one mapping line up) "
        "and that quotes and brackets close"
    )


MAX_NODES = 100_000
"""Nodes that the aliases of a rule file may expand to (every node reached through an
alias ``*name``, over all of them): aliases of aliases (a "billion laughs") stop here.
The nodes written out in the file do not count: its size bounds those."""


class _TooManyExpanded(Exception):
    def __init__(self, error: RuleError) -> None:
        super().__init__(str(error))
        self.error = error


class _Converter:
    def __init__(self, yaml: YAML, file: str, errors: list[RuleError]) -> None:
        self.yaml = yaml
        self.file = file
        self.errors = errors
        self.open: set[int] = set()  # the nodes being converted: an alias back is a cycle
        self.seen: set[int] = set()  # converted once: met again, it is an alias's
        self.expanded = 0

    def mark(self, node: Node) -> Mark:
        return Mark(self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def convert(self, node: Node, *, aliased: bool = False) -> YNode:
        """``aliased``: reached through an alias (this node or one holding it met again),
        counted against MAX_NODES."""
        aliased = aliased or id(node) in self.seen
        self.seen.add(id(node))
        if aliased:
            self.expanded += 1
            if self.expanded > MAX_NODES:
                why = f"the aliases expand to more than {MAX_NODES:,} nodes (aliases of aliases)"
                hint = "write the values out instead of nesting aliases in aliases"
                raise _TooManyExpanded(RuleError(self.mark(node), why, hint))
        if id(node) in self.open:
            self.errors.append(
                RuleError(
                    self.mark(node),
                    "an alias refers to a node that contains it",
                    "an alias (*name) must point to an anchor (&name) outside itself",
                )
            )
            return YScalar(None, self.mark(node))
        if str(node.tag) not in CORE_TAGS:
            self.errors.append(self.tagged(node))
        self.open.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self.mapping(node, aliased=aliased)
            if isinstance(node, SequenceNode):
                items = tuple(self.convert(item, aliased=aliased) for item in node.value)
                return YSeq(items, self.mark(node))
            text = str(node.value) if isinstance(node, ScalarNode) else None
            if text is not None and SURROGATE.search(text):
                text = self.surrogate(node)
                return YScalar(text, self.mark(node), text)
            return YScalar(self.scalar(node), self.mark(node), text)
        finally:
            self.open.discard(id(node))

    def tagged(self, node: Node) -> RuleError:
        """A value with a tag rule files do not know (``!regex "a.*"``): located, where
        the tag had been dropped and the value read as plain text."""
        tag = str(node.tag)
        shown = "!!" + tag.removeprefix(YAML_PREFIX) if tag.startswith(YAML_PREFIX) else tag
        return RuleError(
            self.mark(node),
            f"the YAML tag {shown} has no meaning in a rule file",
            "remove the tag: values are text, numbers, true/false, lists and mappings",
        )

    def surrogate(self, node: Node) -> str:
        """A scalar holding a lone surrogate (``"\\ud800"``): located, where it had
        crashed the rule set's hash; the rest is read with U+FFFD in its place."""
        self.errors.append(
            RuleError(
                self.mark(node),
                "a lone surrogate (an escape such as \\ud800) is no character",
                "write the character itself, or the \\U escape of its code point",
            )
        )
        return SURROGATE.sub("\ufffd", str(node.value))

    def scalar(self, node: Node) -> Scalar:
        if not isinstance(node, ScalarNode) or str(node.tag).endswith(":str"):
            return str(node.value)
        try:
            value = self.yaml.constructor.construct_object(node, deep=True)
        except (YAMLError, ValueError):
            return str(node.value)
        written = str(node.value)
        if isinstance(value, dt.datetime):
            return written  # YAML 1.2 has no timestamps: the text as written
        if (type(value) is int and not CORE_INT.fullmatch(written)) or (
            type(value) is float and not CORE_FLOAT.fullmatch(written)
        ):
            return written  # a YAML 1.1 number (0b101, 1_000, 1:30): text in 1.2
        if isinstance(value, str | int | float | bool | dt.date) or value is None:
            return value
        return written

    def mapping(self, node: MappingNode, *, aliased: bool) -> YMap:
        entries: dict[str, YNode] = {}
        keys: dict[str, Mark] = {}
        merges = False
        for key_node, value_node in node.value:
            key_mark = self.mark(key_node)
            if not isinstance(key_node, ScalarNode):
                self.errors.append(
                    RuleError(
                        key_mark,
                        "keys must be plain strings",
                        "write a name before ':', e.g. queue:",
                    )
                )
                continue
            key = str(key_node.value)
            if SURROGATE.search(key):
                key = self.surrogate(key_node)
            if str(key_node.tag).endswith(":merge"):
                self.errors.append(
                    RuleError(
                        key_mark,
                        "YAML merge keys (<<) are not supported",
                        "write the keys out; anchors (&name) and aliases (*name) work for "
                        "whole values, e.g. if: *vip",
                    )
                )
                merges = True
                continue
            if key in entries:
                first = keys[key]
                self.errors.append(
                    RuleError(
                        key_mark,
                        f"duplicate key '{key}'",
                        f"'{key}' is already set at line {first.line}; YAML keeps only one",
                    )
                )
                continue
            value = self.convert(value_node, aliased=aliased)
            if _empty(value_node) and isinstance(value, YScalar):
                # ``key:`` with nothing after it: the parser places the empty value at
                # the next token, lines further on; an error about it belongs at the key
                value = YScalar(value.value, key_mark, value.text)
            entries[key] = value
            keys[key] = key_mark
        return YMap(entries, keys, self.mark(node), merges)


def _empty(node: Node) -> bool:
    """A value left out (``key:``), not an explicit ``""`` or ``null``."""
    return isinstance(node, ScalarNode) and node.value == "" and not node.style
