"""The rule that a person's message (web form ``message``, chat ``text``) shows
something: one of only invisible characters opens a ticket nobody can read."""

from __future__ import annotations

import unicodedata

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

#: Categories of characters that draw nothing: spaces and separators, controls, and
#: format characters (zero-width space and joiners, bidi overrides, the BOM, tags).
INVISIBLE_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf"})
#: Letters and marks that draw nothing either: Hangul fillers, the braille blank, the
#: combining grapheme joiner, Mongolian and standard variation selectors.
BLANK_GLYPHS = frozenset(
    "\u115f\u1160\u3164\uffa0\u2800\u034f\u180b\u180c\u180d\u180f"
    + "".join(map(chr, range(0xFE00, 0xFE10)))
    + "".join(map(chr, range(0xE0100, 0xE01F0)))
)


def visible(ch: str) -> bool:
    return ch not in BLANK_GLYPHS and unicodedata.category(ch) not in INVISIBLE_CATEGORIES


def require_visible(value: str) -> str:
    """A message of only invisible characters (U+202E U+200B) is as blank as one of
    spaces: it opened a ticket with nothing an agent can read. Refused the same way,
    400 at the field, on the web form and in chat alike."""
    if not any(visible(ch) for ch in value):
        raise PydanticCustomError(
            "no_visible_character", "String should have at least 1 visible character"
        )
    return value


Visible = AfterValidator(require_visible)
