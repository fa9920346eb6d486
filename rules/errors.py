"""Errors and warnings of the rule language, each pinned to a place in a rule file.

A rule author fixes files, so every message says where (``file:line:col``, 1-based,
the format editors and CI annotate) and how to fix it: every error the rules package
makes carries a hint (``tests/unit/rules/test_rules_hints.py`` holds every site to it).
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from router.errors import ConfigError, SwitchboardError


@dataclass(frozen=True, slots=True)
class Mark:
    """A position in a rule file: 1-based line and column."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class RuleError(SwitchboardError):
    """One problem in a rule file, with its location and a hint saying what is valid.

    ``hint`` is a required ``str``, so mypy rejects a call that leaves it out or may
    pass ``None``; ``tests/unit/rules/test_rules_hints.py`` also rejects an empty one.
    """

    def __init__(self, mark: Mark, message: str, hint: str) -> None:
        self.mark = mark
        self.message = message
        self.hint = hint
        super().__init__(str(self))

    @property
    def file(self) -> str:
        return self.mark.file

    @property
    def line(self) -> int:
        return self.mark.line

    @property
    def col(self) -> int:
        return self.mark.col

    def __str__(self) -> str:
        text = f"{self.mark}: {self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text

    def __repr__(self) -> str:
        return f"RuleError({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RuleError) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))


class RuleSetInvalid(ConfigError):
    """A ruleset failed to load; ``errors`` holds every problem found, in file order."""

    def __init__(self, errors: Sequence[RuleError]) -> None:
        self.errors = list(errors)
        count = len(self.errors)
        first = str(self.errors[0]) if self.errors else "no details"
        more = f" (and {count - 1} more)" if count > 1 else ""
        super().__init__("SWITCHBOARD_RULES_PATH", f"invalid rules: {first}{more}")


@dataclass(frozen=True, slots=True)
class RuleWarning:
    """Something legal but probably not what the author meant (``rules check``)."""

    mark: Mark
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        text = f"{self.mark}: warning: {self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text


def not_utf8(file: str, data: bytes, error: UnicodeDecodeError, what: str) -> RuleError:
    """The first byte of ``data`` that is not UTF-8, by line and column (in characters:
    what comes before it on its line is UTF-8), for a file the author must re-save."""
    at = error.start
    line_start = data.rfind(b"\n", 0, at) + 1
    col = len(data[line_start:at].decode("utf-8", errors="replace")) + 1
    return RuleError(
        Mark(file, data.count(b"\n", 0, at) + 1, col),
        f"not UTF-8 text (byte 0x{data[at]:02x})",
        f"save the {what} as UTF-8",
    )


#: The byte order marks YAML 1.2 reads (its section 5.2), UTF-32's first: the little
#: endian one begins with UTF-16's.
BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def yaml_text(file: str, data: bytes, what: str) -> str:
    """A YAML file's text: UTF-8, or UTF-16 or UTF-32 where it opens with their byte
    order mark (as Windows editors save "Unicode"); YAML 1.2 reads all three. A RuleError
    where it is none of them."""
    for mark, codec in BYTE_ORDER_MARKS:
        if data.startswith(mark):
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                name = codec.removesuffix("-sig").upper()
                problem = f"not {name} text, though it opens with {name}'s byte order mark"
                raise RuleError(Mark(file, 1, 1), problem, f"save the {what} as UTF-8") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise not_utf8(file, data, exc, what) from None


def sorted_errors(errors: Iterable[RuleError]) -> list[RuleError]:
    """Errors in reading order (file, line, column), each reported once."""
    unique = dict.fromkeys(errors)
    return sorted(unique, key=lambda e: (e.file, e.line, e.col))


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A hint naming the closest known spelling, if one is close enough."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def one_of(choices: Iterable[str]) -> str:
    return "expected one of: " + ", ".join(choices)


def closest_or_all(word: str, choices: Iterable[str]) -> str:
    """The hint for an unknown ``word``: the closest known spelling if one is close
    enough (``did_you_mean``), else every choice (``one_of``)."""
    choices = tuple(choices)
    return did_you_mean(word, choices) or one_of(choices)
