"""The people of a pseudonymized export: the names and handles of every customer seen in
the exported period, found in any text in one scan (``router.app.export``).

A reply may name another customer ("Invoice problem for Bartholomew Featherstonehaugh"),
so the words looked for are those of every customer of the period, not only the
sender's: the export collects them all before it writes (memory grows with the number
of people, not of messages). A name is its words, whatever their order, case, and the
commas, brackets and quotes of a display name: ``"QUIMBY, Zebulon" (Sales)`` and
``Zebulon Quimby`` are one person, one pseudonym; a bracketed part (a department) is no
word of it. In a script written without spaces (``山田太郎です``, ``我是王小明``) a name
is found inside the words of a text; in any other, only as whole words.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping

import regex

#: A word of a name or text: letters and digits with their combining marks (a Hindi
#: vowel sign or virama, an Arabic haraka, an accent written decomposed, NFD). ``_`` and
#: every other sign set words apart, so a name in a file name (``Zebulon_Quimby.pdf``) is
#: found as written with spaces.
WORD = regex.compile(r"[\p{L}\p{N}\p{M}]+")
#: A letter of a script written without spaces between words, or, for Hangul, with its
#: particles written onto the name (``김민수입니다``): a name in it is looked for inside
#: the words of a text, a letter (grapheme) at a time.
GLUED = regex.compile(
    r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}\p{Tibetan}]"
)
#: A one-word name of Chinese, Japanese or Korean characters, whose surname is not
#: written apart: its last two (小明 of 王小明) and, from four, its first two (山田 of
#: 山田太郎) are looked for alone too.
CHARACTERS_NAME = regex.compile(r"[\p{Han}\p{Hangul}]{3,}")
#: A user-perceived letter, with its marks (the vowel sign of Thai ``รี``).
GRAPHEME = regex.compile(r"\X")
#: Marks writers put in or leave out (Arabic harakat, Hebrew points): no part of a word's
#: spelling when comparing (``عَلی`` is ``علی``).
OPTIONAL_MARKS = regex.compile(r"[\p{Mn}&&[\p{scx=Arabic}\p{scx=Hebrew}]]", regex.V1)
#: What may stand between the words of one name in a text: spaces, ``_ . - ,`` (a file
#: name, "Quimby, Zebulon", "Z. Quimby") and quotes.
JOIN = re.compile(r"[\s_.,'\"\u2018\u2019\u201c\u201d-]+")
#: A bracketed part of a display name ("Quimby, Zebulon (Sales)"): no word of the name.
BRACKETED = re.compile(r"\([^()]*\)|\[[^\[\]]*\]|\{[^{}]*\}")
#: An address inside a display name: replaced as an address, no word of the name.
ADDRESS = re.compile(r"\S*@\S*")
#: A word of a name shorter than this is not replaced alone ("Z." of "Z. Quimby").
NAME_PART_MIN = 3
#: Likewise in letters (graphemes) of a GLUED script, where one is a syllable or word
#: (王 of 王小明 is also "king").
GLUED_PART_MIN = 2

Words = tuple[str, ...]


#: The combining accents of Latin (and Greek and Cyrillic) letters, written decomposed.
ACCENTS = re.compile("[\u0300-\u036f]")
#: Latin letters no decomposition takes to a base letter, as people type them without.
PLAIN_LETTERS = str.maketrans({"ø": "o", "ł": "l", "đ": "d", "ð": "d", "ħ": "h", "ı": "i"})
#: A German umlaut as it is spelled out where it cannot be typed (``Mueller``).
SPELLED_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})


def fold(word: str) -> str:
    """One spelling of a word for comparison: case-folded, without OPTIONAL_MARKS, and
    without the accents of a Latin letter, however the name was typed: ``José Müller``
    and ``JOSE MULLER`` meet (and ``İLKNUR``, ``Ilknur``, ``ilknur``); a name written
    without its accents had passed an export unreplaced. (``Mueller``: see
    ``spellings``.) For comparing and keying pseudonyms only: no text is rewritten to
    it."""
    plain = ACCENTS.sub("", unicodedata.normalize("NFD", word))
    folded = unicodedata.normalize("NFC", plain).casefold().translate(PLAIN_LETTERS)
    return OPTIONAL_MARKS.sub("", folded)


def spellings(word: str) -> tuple[str, ...]:
    """The folded spellings a name word is found by: its own, and for a word with an
    umlaut the one spelled out (``Müller``: ``muller``, ``mueller``). Only the name's
    words get the second: folding every word so ("does" as "dos", "Joe" as "jo") had
    replaced ordinary words and let short names through."""
    composed = unicodedata.normalize("NFC", word)
    spelled = composed.translate(SPELLED_UMLAUTS)
    return (fold(word),) if spelled == composed else (fold(word), fold(spelled))


def name_words(name: str) -> Words:
    """The words of a display name, without its bracketed parts and addresses."""
    return tuple(WORD.findall(BRACKETED.sub(" ", ADDRESS.sub(" ", name))))


def name_key(words: Words) -> str:
    """What a name's pseudonym is keyed by: its folded words in sorted order, so that
    "QUIMBY, Zebulon" and "Zebulon Quimby" get the same one."""
    return " ".join(sorted(fold(word) for word in words))


class People:
    """Names (words in any order) and handles (words in their order) with the pseudonym
    each is replaced by, and every word of them, for the one scan of a text; and the names
    and name words of GLUED scripts, looked for inside the words of a text."""

    def __init__(self) -> None:
        self._names: dict[Words, str] = {}  # sorted folded words -> pseudonym
        self._handles: dict[Words, str] = {}  # folded words in order -> pseudonym
        self._parts: dict[str, str] = {}  # a folded name word of NAME_PART_MIN or more
        self._words: set[str] = set()  # every folded word of the above
        self._longest = 0
        self._glued: dict[str, str] = {}  # a folded GLUED name or name word -> pseudonym
        self._glued_starts: set[str] = set()  # the first folded grapheme of each
        self._glued_longest = 0  # in graphemes

    def __len__(self) -> int:
        return len(self._names) + len(self._handles)

    def has_name(self, words: Words) -> bool:
        return tuple(sorted(fold(word) for word in words)) in self._names

    def add_name(self, words: Words, whole: str, part: Callable[[str], str]) -> None:
        """A name of ``words``, replaced by ``whole``, and each of its words of
        NAME_PART_MIN letters or more standing alone by ``part(folded word)``."""
        options = [spellings(word) for word in words]
        folded = tuple(spelled[0] for spelled in options)
        if not folded:
            return
        if len(folded) > 1 or len(folded[0]) >= NAME_PART_MIN:  # "Al" alone: too common
            for spelled in itertools.product(*options):
                self._names.setdefault(tuple(sorted(spelled)), whole)
        for word, spelled in zip(folded, options, strict=True):
            if len(word) >= NAME_PART_MIN and word not in self._parts:
                self._parts.update(dict.fromkeys(spelled, part(word)))
        for spelled in itertools.product(*options):
            self._add_words(spelled)
        if any(GLUED.search(word) for word in folded):
            self._add_glued(folded, whole, part)

    def _add_glued(self, folded: Words, whole: str, part: Callable[[str], str]) -> None:
        """A name of a GLUED script as written without spaces (``山田 太郎`` is written
        ``山田太郎``), and each of its words: a word of such a name alone is how its
        bearer is called (``山田さん``)."""
        if all(GLUED.search(word) for word in folded):
            self._glue("".join(folded), whole)
        alone = [word for word in folded if GLUED.search(word)]
        if len(folded) == 1 and CHARACTERS_NAME.fullmatch(folded[0]):
            name = folded[0]
            alone += [name[-2:], name[:2]] if len(name) >= 4 else [name[-2:]]
        for word in alone:
            self._glue(word, part(word))

    def _glue(self, folded: str, pseudonym: str) -> None:
        graphemes = GRAPHEME.findall(folded)
        if len(graphemes) >= GLUED_PART_MIN and folded not in self._glued:
            self._glued[folded] = pseudonym
            self._glued_starts.add(graphemes[0])
            self._glued_longest = max(self._glued_longest, len(graphemes))

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
        Quimby), except in a GLUED script, whose words a name may be inside of.
        ``also``: names (sorted folded words) known only for this text."""
        also = also or {}
        tokens = list(WORD.finditer(text))
        pieces: list[str] = []
        done = 0
        i = 0
        while i < len(tokens):
            found = self._at(text, tokens, i, also)
            if found is None:
                for start, end, pseudonym in self._inside(tokens[i]):
                    pieces.extend((text[done:start], pseudonym))
                    done = end
                i += 1
                continue
            length, pseudonym = found
            pieces.extend((text[done : tokens[i].start()], pseudonym))
            done = tokens[i + length - 1].end()
            i += length
        pieces.append(text[done:])
        return "".join(pieces)

    def _inside(self, token: regex.Match[str]) -> Iterator[tuple[int, int, str]]:
        """The GLUED names inside a word of a text, the longest first from the left:
        (start, end, pseudonym), whole letters (graphemes) each."""
        if not self._glued or not GLUED.search(token[0]):
            return
        graphemes = list(GRAPHEME.finditer(token.string, token.start(), token.end()))
        folded = [fold(grapheme[0]) for grapheme in graphemes]
        k = 0
        while k < len(folded):
            most = min(self._glued_longest, len(folded) - k)
            for length in range(most if folded[k] in self._glued_starts else 0, 0, -1):
                pseudonym = self._glued.get("".join(folded[k : k + length]))
                if pseudonym is not None:
                    yield graphemes[k].start(), graphemes[k + length - 1].end(), pseudonym
                    k += length
                    break
            else:
                k += 1

    def _at(
        self, text: str, tokens: list[regex.Match[str]], i: int, also: Mapping[Words, str]
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
