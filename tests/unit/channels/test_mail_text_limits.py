"""Hostile mail text costs time linear in its size (the audit's inputs, POST email).

Each input below took 10 s to minutes before the fix (a lazy regex rescanning the rest of
the text per ``begin`` line, a flowed paragraph copied per line, a whole HTML part
rendered for text cut to 64 KiB); the bounds are generous for a slow 2-core machine.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import TypeVar

import pytest

from channels.mail_text import (
    MAX_HTML_CHARS,
    SIG_SEPARATOR,
    bounded_html,
    extract_uuencoded,
    html_to_text,
    unflow,
)
from router.events import Attachment
from tests.budget import cpu_budget

pytestmark = pytest.mark.unit

SECONDS = 2.0
T = TypeVar("T")


def timed(call: Callable[[], T], seconds: float = SECONDS) -> T:
    with cpu_budget(seconds):
        return call()


def test_begin_lines_without_end_are_text_in_linear_time() -> None:
    """15,000 lines (195 KB) took 9.9 s on the event loop, 500,000 hung the server."""
    text = "begin 644 a\r\n" * 50_000
    assert timed(lambda: extract_uuencoded(text)) == (text, [])


def test_blocks_after_many_unended_begins_are_still_found_once() -> None:
    block = "begin 644 x.txt\n#86)C\n`\nend\n"
    text = "hello\n" + block * 20_000 + "begin 644 a\n" * 50_000
    remaining, found = timed(lambda: extract_uuencoded(text))
    assert len(found) == 20_000
    assert found[0] == Attachment(name="x.txt", content_type="text/plain", size=3)
    assert remaining.startswith("hello\n\nbegin 644 a\n")


def old_uuencoded(text: str) -> tuple[str, list[tuple[str | None, int]]]:
    """The former regex, for the blocks' text and names (sizes are the same code)."""
    if "begin " not in text:
        return text, []
    block = re.compile(
        r"^begin(?:-base64)? [0-7]{3,4} ([^\n]+)\n((?:[^\n]*\n)*?)(?:end|====)[ \t]*$",
        re.MULTILINE,
    )
    names: list[tuple[str | None, int]] = []

    def take(match: re.Match[str]) -> str:
        names.append((match.group(1).strip() or None, len(match.group(2))))
        return ""

    remaining = block.sub(take, text.replace("\r\n", "\n"))
    if not names:
        return text, []
    return re.sub(r"\n{3,}", "\n\n", remaining), names


UU_WORDS = [
    "begin 644 a.txt",
    "begin-base64 0644 b",
    "begin 64 c",
    "begin 644  ",
    "begin 6444 d e",
    "end",
    "end \t",
    "endless",
    "====",
    " end",
    "#86)C",
    "`",
    "",
    "text",
    "end\r",
]


def test_uuencode_scan_finds_what_the_regex_found() -> None:
    rng = random.Random(3676)
    for _ in range(2_000):
        lines = rng.choices(UU_WORDS, k=rng.randint(0, 12))
        text = rng.choice(["\n", "\r\n"]).join(lines) + rng.choice(["", "\n"])
        remaining, found = extract_uuencoded(text)
        old_remaining, old_found = old_uuencoded(text)
        assert remaining == old_remaining, text
        assert [a.name for a in found] == [name for name, _ in old_found], text


def test_flowed_paragraph_of_a_million_lines_is_linear() -> None:
    """``a `` x 1,000,000 took 61 s, quoted 105 s: the paragraph was copied per line."""
    text = "a \r\n" * 600_000
    assert timed(lambda: unflow(text, delsp=False), 3.0) == ("a " * 600_000).rstrip()
    quoted = "> a \r\n" * 500_000
    assert timed(lambda: unflow(quoted, delsp=True)) == "> " + "a" * 500_000 + "\n"


def test_flowed_empty_lines_after_spaces_are_linear() -> None:
    """With delsp each empty line drops one trailing space: once a copy per line."""
    text = "x" + " " * 1_000_000 + "\n" * 1_000_000 + "y"
    assert timed(lambda: unflow(text, delsp=True)) == "xy"


def old_unflow(text: str, *, delsp: bool) -> str:
    """The former implementation, quadratic but the reference for what the output is."""
    out: list[str] = []
    pending: str | None = None
    pending_depth = 0

    def quoted(depth: int, content: str) -> str:
        return ">" * depth + " " + content if depth else content

    for line in text.replace("\r\n", "\n").split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]
        if pending is not None and (depth != pending_depth or content == SIG_SEPARATOR):
            out.append(quoted(pending_depth, pending.rstrip(" ")))
            pending = None
        if pending is not None:
            content = pending + content
        if content.endswith(" ") and content != SIG_SEPARATOR:
            pending, pending_depth = (content[:-1] if delsp else content), depth
            continue
        pending = None
        out.append(quoted(depth, content))
    if pending is not None:
        out.append(quoted(pending_depth, pending.rstrip(" ")))
    return "\n".join(out)


FLOWED_PIECES = ["a", "b", " ", "  ", ">", "> ", "-", "--", "-- ", "\n", "\n", "\r\n", "\r"]


@pytest.mark.parametrize("delsp", [False, True])
def test_unflow_is_unchanged_on_random_small_inputs(delsp: bool) -> None:
    rng = random.Random(1000 + delsp)
    for _ in range(3_000):
        text = "".join(rng.choices(FLOWED_PIECES, k=rng.randint(0, 24)))
        assert unflow(text, delsp=delsp) == old_unflow(text, delsp=delsp), repr(text)


def test_huge_html_part_renders_only_a_bounded_prefix() -> None:
    """6.5 MB of entities took 14.9 s and +100 MB to render, for text cut to 64 KiB."""
    html = "<p>&amp;&lt;&#x41;&eacute;" * 250_000
    text = timed(lambda: html_to_text(html))
    assert text.startswith("&<Aé\n\n&<Aé")
    assert 64 * 1024 < len(text.encode()) < MAX_HTML_CHARS


def test_html_is_cut_before_a_tag_and_says_so() -> None:
    small = "<p>hello</p>"
    assert bounded_html(small) == (small, False)
    html = "<p>" + "x" * (MAX_HTML_CHARS - 10) + "<b>" + "y" * 100
    kept, cut = bounded_html(html)
    assert cut
    assert kept == "<p>" + "x" * (MAX_HTML_CHARS - 10)
    no_tags = "<p>" + "z" * (2 * MAX_HTML_CHARS)
    kept, cut = bounded_html(no_tags)
    assert cut
    assert len(kept) == MAX_HTML_CHARS


def test_an_html_part_cut_to_its_first_mib_is_marked_truncated() -> None:
    """Markup-heavy HTML whose rendered text is short still lost what came after the
    first MiB: the event says so, as it does for text cut to the limit."""
    from channels.email import interpret
    from channels.mime import HTML_CUT

    markup = "<p>" + "<b></b>" * 200_000 + "</p><p>the end of the letter</p>"
    raw = (
        "From: ada@example.com\r\nTo: support@example.com\r\nSubject: long html\r\n"
        "Message-ID: <html-cut@example.com>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n" + markup + "\r\n"
    ).encode()
    _, interaction = interpret(raw)
    assert interaction is not None
    assert interaction.truncated is True
    assert HTML_CUT in interaction.metadata["parse_warnings"]
    assert "the end of the letter" not in interaction.text
    short = raw.replace(b"<b></b>" * 200_000, b"<b>hi</b>")
    _, whole = interpret(short)
    assert whole is not None
    assert whole.truncated is None
    assert "the end of the letter" in whole.text


def test_deep_html_with_unclosed_comments_and_styles_is_stripped_in_linear_time() -> None:
    """Markup lxml stops reading is read with its tags stripped; an unclosed comment or
    style hides the rest, as in a browser, and is not rescanned for each one."""
    deep = "<div>" * 300 + "<p>My order is late</p>"
    for tail in ("<!--" * 200_000, "<style>" * 100_000, "<title>" * 100_000):
        assert timed(lambda tail=tail: html_to_text(deep + tail)) == "My order is late"
    stray = "<" * 500_000  # no tag: text
    assert timed(lambda: html_to_text(deep + stray)) == f"My order is late\n{stray}"
