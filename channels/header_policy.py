"""``policy.default``, minus the cost of building header objects nobody needs.

Every header read through the stdlib ``email`` API with ``policy.default`` (``msg.get``,
and with it ``get_content_type``, ``get_param``, ``get_filename``, the parser's own
boundary lookups) is parsed into a header object: ``Content-Type`` alone is parsed about
ten times per message, and these parses were most of the CPU an email costs the ingress.
What the callers here use of such an object is its string, and for most real headers
that string is the header's value with its line breaks removed: an unstructured header
without encoded words, or a structured one whose parse tree re-joins to exactly the text
it was given. ``PlainHeaderPolicy`` returns that string directly when the value is of
one of those safe shapes, and the header object otherwise, so every answer is the one
``policy.default`` gives (``tests/unit/channels/test_header_policy.py`` checks it).

The stdlib's header parser is also slow on hostile values: superlinear in the number of
encoded words of an unstructured header (20,000 words took minutes and gigabytes) and
about 8 µs a character on parameters (``_parseparam`` is quadratic in their number). So
what it sees is bounded: an unstructured value longer than ``MAX_PARSED_CHARS`` is
decoded by the tolerant linear ``decode_words`` instead (at most ``MAX_HEADER_CHARS`` of
it); a structured one is cut to ``MAX_PARSED_CHARS`` (after its last whole parameter)
and to ``MAX_PARAMETERS`` parameters; and within ``parse_scope()`` (one message) each
value is parsed once, the stdlib parsing at most ``PARSE_BUDGET`` characters in all,
after which a structured header is read as its first ``;`` field.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from email.headerregistry import HeaderRegistry, UnstructuredHeader
from email.policy import EmailPolicy
from typing import Any

from channels.mail_text import decode_words

_WORD = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"  # an RFC 2045 token
_PLAIN = r"[!#$&+\-.^_`|~0-9A-Za-z]+"  # a word without RFC 2231's "*", "'" and "%"
_PARAM = re.compile(rf'[ \t]*({_PLAIN})[ \t]*=[ \t]*(?:({_PLAIN})|"([^"\\\r\n]+)")[ \t]*')
_PARAMS = rf"(?:;{_PARAM.pattern})*"
_DOT_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"

#: Structured headers whose plain shapes are rendered here as their parse tree renders.
PLAIN_SHAPES = {
    "content-type": re.compile(rf"[ \t]*{_WORD}/{_WORD}[ \t]*{_PARAMS}"),
    "content-disposition": re.compile(rf"[ \t]*{_WORD}[ \t]*{_PARAMS}"),
    "content-transfer-encoding": re.compile(rf"[ \t]*{_WORD}[ \t]*"),
    "message-id": re.compile(rf"[ \t]*<{_DOT_ATOM}@{_DOT_ATOM}>[ \t]*"),
}
#: Header names the registry parses as structured; unlisted ones are unstructured text.
STRUCTURED = frozenset(
    name
    for name, kind in HeaderRegistry().registry.items()
    if not issubclass(kind, UnstructuredHeader)
)


def plain_value(name: str, value: str) -> str | None:
    """The string ``policy.default`` makes of header ``name: value`` when the value has
    a plain shape; None when only the real parse can tell.

    ASCII only (raw 8-bit bytes become U+FFFD there) and no ``=?`` (encoded words are
    decoded there). Line breaks go; an unstructured value, a transfer encoding or a
    message id is then itself, and a MIME type or disposition keeps its text up to the
    first ``;`` with its parameters rewritten as ``name="value"`` pairs."""
    if not value.isascii() or "=?" in value:
        return None
    unfolded = value.replace("\r", "").replace("\n", "")
    key = name.lower()
    shape = PLAIN_SHAPES.get(key)
    if shape is None:
        return None if key in STRUCTURED else unfolded
    if not shape.fullmatch(unfolded):
        return None
    head, semicolon, params = unfolded.partition(";")
    if not semicolon:
        return unfolded
    pairs = [m.groups() for m in _PARAM.finditer(params)]
    if len({attr.lower() for attr, _, _ in pairs}) < len(pairs):
        return None  # a repeated parameter: the parse keeps only the first
    rendered = "; ".join(f'{attr}="{token or quoted}"' for attr, token, quoted in pairs)
    return f"{head}; {rendered}"


@functools.lru_cache(maxsize=1024)
def _plain_value(name: str, value: str) -> str | None:
    """``plain_value``, remembered: a message's ``Content-Type`` is fetched about ten
    times, and most mail repeats the same few values."""
    return plain_value(name, value)


#: The longest header value the stdlib parses (a long RFC 2231 file name is ~2.5 KB).
MAX_PARSED_CHARS = 4 * 1024
#: The longest unstructured value decoded at all; a longer one is cut (RFC 5322: 998).
MAX_HEADER_CHARS = 64 * 1024
#: The most parameters of one value the stdlib parses (its split of them is quadratic;
#: a long RFC 2231 file name in 78-character continuations has about 35).
MAX_PARAMETERS = 100
#: Characters the stdlib parses per message (~0.1 s of its parser per 16 K characters;
#: a legitimate message with hundreds of parts parses a few tens of K).
PARSE_BUDGET = 64 * 1024


@dataclass
class _Scope:
    """One message's parses: each value once, and their total length bounded."""

    budget: int = PARSE_BUDGET
    parsed: dict[tuple[str, str], Any] = field(default_factory=dict)


_SCOPE: ContextVar[_Scope | None] = ContextVar("header_parse_scope", default=None)


@contextmanager
def parse_scope() -> Iterator[None]:
    """Header parses inside share one cache and one ``PARSE_BUDGET`` (one message)."""
    token = _SCOPE.set(_Scope())
    try:
        yield
    finally:
        _SCOPE.reset(token)


def _unfold(value: str) -> str:
    return value.replace("\r", "").replace("\n", "")


def _first_field(value: str) -> str:
    return _unfold(value).split(";", 1)[0].strip()


class PlainHeaderPolicy(EmailPolicy):
    """``policy.default`` whose fetched headers are plain strings where that changes
    nothing but the cost (see the module docstring); other headers are header objects,
    parsed within the bounds of the module docstring."""

    def header_fetch_parse(self, name: str, value: str) -> Any:
        if hasattr(value, "name"):
            return super().header_fetch_parse(name, value)
        structured = name.lower() in STRUCTURED
        plain = _plain_value(name, value) if len(value) <= MAX_PARSED_CHARS else None
        if plain is not None:
            return plain
        if not structured and len(value) > MAX_PARSED_CHARS:
            return decode_words(_unfold(value[:MAX_HEADER_CHARS]))
        scope = _SCOPE.get()
        key = (name, value)
        if scope is not None and key in scope.parsed:
            return scope.parsed[key]
        source = value
        if len(value) > MAX_PARSED_CHARS:  # cut after the last whole parameter
            source = value[:MAX_PARSED_CHARS]
            source = source[: source.rfind(";")] if ";" in source else source
        if source.count(";") > MAX_PARAMETERS:  # and after the last parameter parsed
            source = ";".join(source.split(";", MAX_PARAMETERS + 1)[: MAX_PARAMETERS + 1])
        if scope is not None:
            if scope.budget < len(source):
                return _first_field(value) if structured else decode_words(_unfold(source))
            scope.budget -= len(source)
        parsed = super().header_fetch_parse(name, source)
        if scope is not None:
            scope.parsed[key] = parsed
        return parsed


PLAIN_HEADERS = PlainHeaderPolicy()
