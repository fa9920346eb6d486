"""``guarded`` patterns find exactly what the original patterns find."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mailparser_reply.parser import EmailMessage

from channels.regex_guard import guarded
from channels.replies import LANGUAGES, LIBRARY_PATTERNS, header_pattern

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parents[2] / "fixtures"
LIBRARY = EmailMessage(text="", languages=list(LANGUAGES), keep_hyphen_lists=True)
ORIGINALS = {
    "_header_regex": header_pattern(LIBRARY),
    "_disclaimers_regex": LIBRARY.DISCLAIMERS_REGEX,
    "_signature_regex": LIBRARY.SIGNATURE_REGEX,
}
FRAGMENTS = st.sampled_from(
    [
        *"aZ9 :.,!?<>*-_\n\r\t",
        "> ",
        "On Mon, 2 Nov 2026 at 09:00, A <a@b.c> ",
        "wrote:",
        "Am 2. Nov. 2026 um 09:00 schrieb A <a@b.c>:",
        "From: ",
        "Sent: ",
        "To: ",
        "Subject: ",
        "Von: ",
        "De: ",
        "Enviado el: ",
        "Para: ",
        "Fra: ",
        "Til: ",
        "-----Oprindelig meddelelse-----\n",
        "-----Original Message-----",
        "2026年11月2日(月) 9:00 A <a@b.c>:",
        "Disclaimer: this e-mail ",
        "CAUTION: mail ",
        "Sent from my iPhone",
        "Best regards,",
        "-- \n",
    ]
)


def test_the_reply_header_pattern_is_guarded() -> None:
    header = LIBRARY_PATTERNS["_header_regex"]
    assert header is not ORIGINALS["_header_regex"]
    assert header.pattern.startswith("(?:^|(?=[")
    assert header.groups == ORIGINALS["_header_regex"].groups


@settings(max_examples=1500, deadline=None)
@given(st.lists(FRAGMENTS, max_size=30).map("".join))
def test_guarded_library_patterns_find_the_same(text: str) -> None:
    for key, original in ORIGINALS.items():
        assert LIBRARY_PATTERNS[key].findall(text) == original.findall(text)
        found, expected = LIBRARY_PATTERNS[key].search(text), original.search(text)
        assert (found and (found.span(), found.groups())) == (
            expected and (expected.span(), expected.groups())
        )


def test_guarded_library_patterns_agree_on_the_fixture_mail() -> None:
    texts = [p.read_text("utf-8", "replace") for p in FIXTURES.rglob("*.eml")]
    assert len(texts) > 50
    for text in texts:
        for key, original in ORIGINALS.items():
            assert LIBRARY_PATTERNS[key].findall(text) == original.findall(text)


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        (r"^foo|\nbar|-x", "a foo\nfoo\nbar -x"),
        (r"(?:^|\n)(From|To): .*", "x From: a\nFrom: b\nTo: c"),
        (r"(?:a?)(?<!\A)^b", "ab\nb\nab"),
    ],
)
def test_a_guard_keeps_every_match(pattern: str, text: str) -> None:
    original = re.compile(pattern, re.MULTILINE)
    fast = guarded(original)
    assert fast is not original
    assert [m.span() for m in fast.finditer(text)] == [m.span() for m in original.finditer(text)]


@pytest.mark.parametrize(
    ("pattern", "flags"),
    [
        (r".foo", 0),  # any character may start a match
        (r"x*", 0),  # the empty match is everywhere
        (r"\s*^foo", re.MULTILINE),  # a category: too wide
        (r"^a|b", re.IGNORECASE),  # a cased first character
        (r"(?i:^a)", 0),  # inline flags
    ],
)
def test_no_guard_where_none_can_be_derived(pattern: str, flags: int) -> None:
    original = re.compile(pattern, flags)
    assert guarded(original) is original
