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
"""

from __future__ import annotations

import re
from email.headerregistry import HeaderRegistry, UnstructuredHeader
from email.policy import EmailPolicy
from typing import Any

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


class PlainHeaderPolicy(EmailPolicy):
    """``policy.default`` whose fetched headers are plain strings where that changes
    nothing but the cost (see the module docstring); other headers are header objects."""

    def header_fetch_parse(self, name: str, value: str) -> Any:
        if not hasattr(value, "name"):
            plain = plain_value(name, value)
            if plain is not None:
                return plain
        return super().header_fetch_parse(name, value)


PLAIN_HEADERS = PlainHeaderPolicy()
