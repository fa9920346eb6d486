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


def test_inline_answers_below_a_reply_header_keep_their_questions() -> None:
    text = (
        "Hi,\nOn Mon, 1 Dec 2026 at 10:00, Support <support@acme.test> wrote:\n"
        "> Which order number?\nIt is order 4711.\n> Which address?\n"
        "Berliner Str. 5, Hamburg.\nThanks"
    )
    reply = split_reply(text)
    assert (reply.text, reply.quoted) == (text, None)


def test_inline_answers_without_a_header_keep_their_questions() -> None:
    text = "> Q1\nIt is order 4711.\n> Q2\nBerliner Str. 5, Hamburg."
    reply = split_reply(text)
    assert (reply.text, reply.quoted) == (text, None)


def test_an_answer_below_the_quote_of_a_reply_that_starts_above_it_is_inline() -> None:
    text = "Hi,\nOn Mon, 1 Dec 2026 at 10:00, Support <s@acme.test> wrote:\n> Which order?\n\n4711."
    assert split_reply(text).text == text


@pytest.mark.parametrize("below", ["-- \nAnna", "Sent from my iPhone", "___\nList footer"])
def test_a_signature_below_the_quote_leaves_a_top_posted_reply_split(below: str) -> None:
    text = f"Thanks!\n\nOn Mon, 1 Dec 2026 at 10:00, Support <s@acme.test> wrote:\n> hi\n\n{below}"
    reply = split_reply(text)
    assert reply.text == "Thanks!"
    assert reply.quoted is not None
    assert reply.quoted.startswith("On Mon, 1 Dec 2026")


def test_history_in_outlook_form_with_quotes_inside_is_still_split() -> None:
    text = (
        "Thanks!\n\nFrom: Support <s@acme.test>\nSent: Monday\nTo: me\nSubject: Re: x\n\n"
        "Dear customer\n> old question\nold answer\n\nSupport team"
    )
    assert split_reply(text).text == "Thanks!"


def test_a_wrapped_link_inside_a_quote_is_no_inline_answer() -> None:
    text = (
        "Thanks!\n\nOn Mon, 1 Dec 2026 at 10:00, Support <s@acme.test> wrote:\n"
        "> see\n<https://example.com/a/very/long/link>\n> for details"
    )
    assert split_reply(text).text == "Thanks!"


def test_the_signature_separator_keeps_its_space() -> None:
    text = "Fine.\n\n-- \nAnna\n\nAm 02.11.2026 um 09:00 schrieb Support <s@acme.test>:\n> Hallo"
    assert split_reply(text).text == "Fine.\n\n-- \nAnna"
