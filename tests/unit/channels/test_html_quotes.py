"""Where an HTML email's quoted history starts, and that finding it takes time linear in
the HTML, whatever the customer's mail program (or an attacker) wrote."""

from __future__ import annotations

import time

import pytest

from channels.html_quotes import quote_start
from channels.replies import split_html

pytestmark = pytest.mark.unit

OWN = "<p>Thanks, that fixed it.</p>\n"


@pytest.mark.parametrize(
    "history",
    [
        '<div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Mon ...',
        "<blockquote type=cite>On Mon ...",
        '<blockquote style="margin:0; border-left: 1px solid #ccc">Mail.ru ...',
        '<div id="x_divRplyFwdMsg" dir="ltr"><font face="Calibri">From: ...',
        "<div id=appendonsend></div><hr>From: ...",
        '<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm">From',
        '<div style="border-top-color: rgb(229, 229, 229); border-top-width: 1px">From',
        '<hr id="zwchr" data-marker="__DIVIDER__">From: ...',
        '<font size=2 color="#5F5F5F">From:</font> <font size=2>Ann</font>',
        '<table width="100%"><tr valign="top"><td><font size=1 color="#5F5F5F">From',
        "Inactive hide details for Ann Smith ---",
    ],
)
def test_each_mailers_quote_container_starts_the_history(history: str) -> None:
    html = OWN + history + "<p>the old message</p>"
    assert quote_start(html) == len(OWN)
    assert split_html(html) == (OWN, history + "<p>the old message</p>")


@pytest.mark.parametrize(
    "html",
    [
        '<div class="gmail_signature">Ann</div>',  # no quote
        '<div data-id="appendonsend">x</div>',  # an id only in name
        '<font color="#5f5f5f">Regards,</font> From: is no label here',
        "<blockquote>a plain quote the customer made</blockquote>",
        '<table><tr valign="top"><td><font size=3>a table of their own</font>',
    ],
)
def test_what_only_looks_like_a_container_is_the_customers(html: str) -> None:
    assert quote_start(OWN + html) is None


@pytest.mark.parametrize(
    "run",
    ["<font color=#5f5f5f ", "<div ", '<div class="', "<blockquote ", "<hr ", "<table><tr "],
)
def test_unclosed_tags_take_time_linear_in_their_length(run: str) -> None:
    """A run of unclosed tags had taken the square of its length (``<div``) or the cube
    (``<font ... #5f5f5f``): 18 s for 40 KB, hours near the 256 KiB parsed on the event
    loop. 400 KB is read in a blink now; the bound is three orders above it."""
    html = "<p>hi</p>" + run * (400_000 // len(run))
    began = time.perf_counter()
    split_html(html)
    assert time.perf_counter() - began < 2.0
