"""The inline-PGP and calendar readers on their own: what they keep, and that they stay
linear on crafted input."""

from __future__ import annotations

import time

import pytest

from channels.itip import MAX_DESCRIPTION_CHARS, read_calendar
from channels.pgp import read_signed

pytestmark = pytest.mark.unit

SIGNATURE = "-----BEGIN PGP SIGNATURE-----\n\niQEzBAEBCAAdFiEE\n=GETl\n-----END PGP SIGNATURE-----"


def test_two_signed_blocks_are_both_unwrapped() -> None:
    block = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA1\n\n{}\n" + SIGNATURE
    text = block.format("one") + "\nbetween\n" + block.format("- -two")
    assert read_signed(text) == "one\nbetween\n-two"


def test_a_quoted_signed_block_is_left_as_quoted() -> None:
    text = "> -----BEGIN PGP SIGNED MESSAGE-----\n> Hash: SHA1\n>\n> hi"
    assert read_signed(text) == text


def test_many_armor_lines_without_signatures_stay_linear() -> None:
    text = "-----BEGIN PGP SIGNED MESSAGE-----\n\nword\n" * 50_000
    started = time.perf_counter()
    assert read_signed(text) == text.replace("\r\n", "\n")
    assert time.perf_counter() - started < 2


def test_calendar_method_from_the_body_and_first_event_only() -> None:
    found = read_calendar(
        "BEGIN:VCALENDAR\r\nMETHOD:request\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n"
        "END:VTIMEZONE\r\nBEGIN:VEVENT\r\nSUMMARY:First\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nSUMMARY:Second\r\nDESCRIPTION:no\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    assert (found.method, found.summary, found.description) == ("REQUEST", "First", "")


def test_declared_method_wins_and_quoted_parameter_colons_are_skipped() -> None:
    found = read_calendar(
        'BEGIN:VEVENT\nSUMMARY;ALTREP="http://x.test/a:b":Call\nEND:VEVENT', "reply"
    )
    assert (found.method, found.summary) == ("REPLY", "Call")


def test_a_long_description_is_bounded() -> None:
    found = read_calendar("BEGIN:VEVENT\nDESCRIPTION:" + "x" * 100_000 + "\nEND:VEVENT")
    assert len(found.description) == MAX_DESCRIPTION_CHARS
