"""Reply splitting beyond talon's corpus: what must never be cut from the customer's text."""

from __future__ import annotations

import pytest

from channels.replies import split_reply

pytestmark = pytest.mark.unit


def test_no_quote_keeps_everything() -> None:
    text = "My printer is broken.\n\nSteps:\n- plug in\n- switch on\n\nIt still fails."
    assert split_reply(text).text == text
    assert split_reply(text).quoted is None


def test_german_header_and_outlook_block() -> None:
    de = "Danke, passt.\n\nAm 02.11.2026 um 09:00 schrieb Support <s@acme.test>:\n> Hallo"
    assert split_reply(de).text == "Danke, passt."
    outlook = "Fine.\n\nFrom: Support <s@acme.test>\nSent: Monday\nTo: me\nSubject: Re: x\n\nold"
    assert split_reply(outlook).text == "Fine."


def test_only_quotes_is_kept_as_text() -> None:
    text = "> quoted only\n> more"
    assert split_reply(text).text == text


def test_inline_answers_are_kept_whole() -> None:
    text = "See below.\n> question one\nanswer one\n> question two\nanswer two"
    assert split_reply(text).text == text


def test_empty() -> None:
    assert split_reply("  \n").text == ""


def test_long_text_is_not_lost() -> None:
    text = "word " * 30_000
    assert split_reply(text).text == text.strip()
