"""The people of a pseudonymized export: the names and handles of every customer seen in
the exported period, found in any text in one scan (``router.app.export``).

A reply may name another customer ("Invoice problem for Bartholomew Featherstonehaugh"),
so the words looked for are those of every customer of the period, not only the
sender's: the export collects them all before it writes (memory grows with the number
of people, not of messages). A name is its words, whatever their order, case, and the
commas, brackets and quotes of a display name: ``"QUIMBY, Zebulon" (Sales)`` and
``Zebulon Quimby`` are one person, one pseudonym; a bracketed part (a department) is no
word of it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping

#: A word of a name or text: letters and digits (also written decomposed, NFD). ``_`` and
#: every other sign set words apart, so a name in a file name (``Zebulon_Quimby.pdf``) is
#: found as written with spaces.
WORD = re.compile(r"(?:[^\W_]|[\u0300-\u036f])+")
#: What may stand between the words of one name in a text: spaces, ``_ . - ,`` (a file
#: name, "Quimby, Zebulon", "Z. Quimby") and quotes.
JOIN = re.compile(r"[\s_.,'\"\u2018\u2019\u201c\u201d-]+")
#: A bracketed part of a display name ("Quimby, Zebulon (Sales)"): no word of the name.
BRACKETED = re.compile(r"\([^()]*\)|\[[^\[\]]*\]|\{[^{}]*\}")
#: An address inside a display name: replaced as an address, no word of the name.
ADDRESS = re.compile(r"\S*@\S*")
#: A word of a name shorter than this is not replaced alone ("Z." of "Z. Quimby").
NAME_PART_MIN = 3

Words = tuple[str, ...]


def fold(word: str) -> str:
    """One spelling of a word for comparison: composed (NFC) and case-folded."""
    return unicodedata.normalize("NFC", word).casefold()


def name_words(name: str) -> Words:
    """The words of a display name, without its bracketed parts and addresses."""
    return tuple(WORD.findall(BRACKETED.sub(" ", ADDRESS.sub(" ", name))))


def name_key(words: Words) -> str:
    """What a name's pseudonym is keyed by: its folded words in sorted order, so that
    "QUIMBY, Zebulon" and "Zebulon Quimby" get the same one."""
    return " ".join(sorted(fold(word) for word in words))


class People:
    """Names (words in any order) and handles (words in their order) with the pseudonym
    each is replaced by, and every word of them, for the one scan of a text."""

    def __init__(self) -> None:
        self._names: dict[Words, str] = {}  # sorted folded words -> pseudonym
        self._handles: dict[Words, str] = {}  # folded words in order -> pseudonym
        self._parts: dict[str, str] = {}  # a folded name word of NAME_PART_MIN or more
        self._words: set[str] = set()  # every folded word of the above
        self._longest = 0

    def __len__(self) -> int:
        return len(self._names) + len(self._handles)

    def has_name(self, words: Words) -> bool:
        return tuple(sorted(fold(word) for word in words)) in self._names

    def add_name(self, words: Words, whole: str, part: Callable[[str], str]) -> None:
        """A name of ``words``, replaced by ``whole``, and each of its words of
        NAME_PART_MIN letters or more standing alone by ``part(folded word)``."""
        folded = tuple(fold(word) for word in words)
        if not folded:
            return
        if len(folded) > 1 or len(folded[0]) >= NAME_PART_MIN:  # "Al" alone: too common
            self._names.setdefault(tuple(sorted(folded)), whole)
        for word in folded:
            if len(word) >= NAME_PART_MIN and word not in self._parts:
                self._parts[word] = part(word)
        self._add_words(folded)

    def add_handle(self, handle: str, pseudonym: str) -> None:
        folded = tuple(fold(word) for word in WORD.findall(handle))
        if folded:
            self._handles.setdefault(folded, pseudonym)
            self._add_words(folded)

    def _add_words(self, folded: Words) -> None:
        self._words.update(folded)
        self._longest = max(self._longest, len(folded))

    def replace(self, text: str, also: Mapping[Words, str] | None = None) -> str:
        """``text`` with every name and handle replaced, the longest first where they
        overlap; a name only where it stands as whole words (``Quimbyson`` is no
        Quimby). ``also``: names (sorted folded words) known only for this text."""
        also = also or {}
        tokens = list(WORD.finditer(text))
        pieces: list[str] = []
        done = 0
        i = 0
        while i < len(tokens):
            found = self._at(text, tokens, i, also)
            if found is None:
                i += 1
                continue
            length, pseudonym = found
            pieces.extend((text[done : tokens[i].start()], pseudonym))
            done = tokens[i + length - 1].end()
            i += length
        pieces.append(text[done:])
        return "".join(pieces)

    def _at(
        self, text: str, tokens: list[re.Match[str]], i: int, also: Mapping[Words, str]
    ) -> tuple[int, str] | None:
        """The longest name or handle starting at token ``i``: (its words, pseudonym)."""

        def known(word: str) -> bool:
            return word in self._words or any(word in name for name in also)

        first = fold(tokens[i][0])
        if not known(first):
            return None
        window = [first]
        longest = max(self._longest, *(len(name) for name in also)) if also else self._longest
        j = i + 1
        while j < len(tokens) and len(window) < longest:
            word = fold(tokens[j][0])
            if not known(word) or not JOIN.fullmatch(text, tokens[j - 1].end(), tokens[j].start()):
                break  # no name goes on past a word of none or another sign
            window.append(word)
            j += 1
        for length in range(len(window), 0, -1):
            words = tuple(window[:length])
            ordered = tuple(sorted(words))
            found = self._names.get(ordered) or also.get(ordered) or self._handles.get(words)
            if found is None and length == 1:
                found = self._parts.get(first)
            if found is not None:
                return length, found
        return None
