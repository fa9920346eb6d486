"""The reply test mails of crisp-oss/email-reply-parser and github/email_reply_parser
(tests/fixtures/reply-corpora): the text ``split_reply`` keeps is the reply those
projects' own tests expect, whitespace aside. A signature the customer wrote ("Sent from
TypeApp", a mailing list footer) stays in the text by design, where those projects hide
it; only the quoted history goes to ``quoted``."""

from __future__ import annotations

from pathlib import Path

import pytest

from channels.replies import split_reply

pytestmark = pytest.mark.unit

CORPORA = Path(__file__).parents[2] / "fixtures" / "reply-corpora"
#: The reply crisp's tests expect of most of its mails (``COMMON_FIRST_FRAGMENT``).
COMMON = (
    "Fusce bibendum, quam hendrerit sagittis tempor, dui turpis tempus erat, pharetra "
    "sodales ante sem sit amet metus.\nNulla malesuada, orci non vulputate lobortis, massa "
    "felis pharetra ex, convallis consectetur ex libero eget ante.\nNam vel turpis posuere, "
    "rhoncus ligula in, venenatis orci. Duis interdum venenatis ex a rutrum.\nDuis ut libero "
    "eu lectus consequat consequat ut vel lorem. Vestibulum convallis lectus urna,\net mollis "
    "ligula rutrum quis. Fusce sed odio id arcu varius aliquet nec nec nibh."
)
WHOLE = "<the whole mail: nothing to split off>"
_FIRST_PARAGRAPH = "<the mail's first paragraph>"


def _until(marker: str) -> str:
    return f"<the mail up to {marker!r}>"


# mail -> (the reply the source project expects, signature lines Switchboard keeps)
CASES: dict[str, tuple[str, tuple[str, ...]]] = {
    **{
        f"crisp/{name}": (COMMON, ())
        for name in (
            "email_22",  # 30.09.2017, 18.30, "Name" <address>:
            "email_23",  # 2017-11-24 16:32 GMT+01:00 Name <address>:
            "email_24",  # On ... <address> wrote  (no colon)
            "email_25",  # 11:00 AM, November 17, 2021, "Name" <address>:
            "email_26",  # Wednesday, 17 November 2021, 3:32 PM +0300 from ... <address>:
            "email_portuguese",  # Em ... (\naddress) escreveu:
            "email_german",
            "email_german_2",
            "email_german_outlook",
            "email_finnish",  # ... klo 17.50 Name\n<address> kirjoitti:
            "email_italian",  # In data ... ha scritto:
            "email_russian",  # weekday, date, time, Name <address>: (Russian Gmail)
            "email_outlook_split_line_from",  # From: Name\n<address>\nSent: ...
            "email_gmail_split_line_from",
            "email_gmail_split_line_from_german",
            "email_msn",
            "email_fr_multiline",  # Le ... <address>\na écrit :
            "email_french_2",
            "email_en_multiline_2",
            "email_original_message",
            "email_original_message_2",
            "email_danish_dash_separator",  # -------- Oprindelig besked --------
            "email_french_dash_separator",
            "email_tricky_5_mixed_languages",
            "email_tricky_10_special_chars_in_name",
            "email_tricky_12_no_space_after_header",
            "email_tricky_14_long_quote_header",
            "email_tricky_15_original_message_variations",
        )
    },
    "crisp/email_german_3": (COMMON, ("Gesendet von Outlook für Android<https://aka.ms/AAb9ysg>",)),
    "crisp/email_ios_outlook_en": (COMMON, ("Get Outlook for iOS<https://aka.ms/o0ukef>",)),
    "crisp/email_ios_outlook_fr": (
        COMMON,
        ("Télécharger Outlook pour iOS<https://aka.ms/o0ukef>",),
    ),
    "crisp/email_android_outlook_en": (
        COMMON,
        ("Download Outlook for Android<https://aka.ms/ghei36>",),
    ),
    "crisp/email_android_outlook_fr": (
        COMMON,
        ("Télécharger Outlook pour Android<https://aka.ms/ghei36>",),
    ),
    "crisp/email_zoho": (
        "What is the best way to clear a Riak bucket of all key, values after\nrunning a test?",
        (),
    ),
    "crisp/email_with_regards": (
        "Hi,\n\nI still have the same problem....\n\nCan you help?",
        ("Regards,", "John Doe", "CEO @ Acme !"),
    ),
    "crisp/email_sent_from": (
        "Hi it can happen to any texts you type, as long as you type in between words or "
        "paragraphs.",
        ("Sent from TypeApp<http://www.typeapp.com/r?b=2621>",),
    ),
    "crisp/email_emoji": (WHOLE, ()),
    "crisp/email_1": (
        "Hi folks\n\nWhat is the best way to clear a Riak bucket of all key, values after\n"
        "running a test?\nI am currently using the Java HTTP API.\n\n-Abhishek Kona",
        (
            "__",
            "riak-users mailing list",
            "riak-users@lists.basho.com",
            "http://lists.basho.com/mailman/listinfo/riak-users_lists.basho.com",
        ),
    ),
    "crisp/email_3": ("Oh thanks.\n\nHaving the function would be great.", ("-Abhishek Kona",)),
    "crisp/email_reply_header": (_until("\n\nOn Wed, Dec 9"), ()),
    "crisp/email_multiline_reply_headers_de": (
        "I get proper rendering as well.\n\nSent a magnificent torch of pixels",
        (),
    ),
    **{
        f"crisp/email_tricky_{name}": (WHOLE, ())
        for name in (
            "1_on_false_positive",
            "2_url_with_wrote",
            "3_code_block",
            "4_from_in_body",
            "6_regards_in_sentence",
            "7_multiple_dashes",
            "8_sent_from_in_content",
            "13_timestamp_variations",
            "16_unicode_signatures",
            "18_inline_reply",
            "19_quote_without_header",
        )
    },
    "crisp/email_tricky_9_nested_quotes": ("I agree with the points below.", ()),
    "crisp/email_tricky_11_double_signature": (
        "Thanks for your help!\n\nBest regards,\nJohn",
        ("--", "John Doe", "Senior Developer", "Example Corp", "Sent from my iPhone"),
    ),
    "crisp/email_tricky_17_forward_header": ("See the forwarded message below.", ()),
    "crisp/email_tricky_20_html_entities": (
        "The data should be &gt; 100 and &lt; 200.\n\n"
        "We need to ensure that &amp; symbols are handled correctly.",
        (),
    ),
    "github/quote_reply_spanish": ("This is a reply with Spanish quote", ()),
    "github/quote_reply_spanish_multiline": ("This is a reply with Spanish quote multiline", ()),
    "github/quote_reply_french": ("This is a reply with French quote", ()),
    "github/quote_reply_french_multiline": ("This is a reply with French quote multiline", ()),
    "github/quote_reply_french_big": ("Outlook with a reply directly above line", ()),
    "github/quote_reply_german": ("This is a reply with German quote", ()),
    "github/quote_reply_german_multiline": ("This is a reply with German quote multiline", ()),
    "github/quote_reply_italian": ("This is a reply with Italian quote", ()),
    "github/quote_reply_italian_multiline": ("This is a reply with Italian quote multiline", ()),
    "github/email_2_3": ("Outlook with a reply directly above line", ()),
    "github/email_multiple_replies": ("TAKE 3 - testing once again", ()),
    # its test asserts the first paragraph, the header block and below quoted
    "github/email_multiline_quote_header_pt_br": (_FIRST_PARAGRAPH, ()),
    "github/email_multiline_quote_header_from_replyto_date_to_subject": (_FIRST_PARAGRAPH, ()),
    "github/greedy_on": (_until("\n\nOn 9 Jan"), ()),
}
MISSES = {
    "crisp/email_german_3": (
        "the old message follows 'Gesendet von Outlook für Android' with no reply header "
        "above it: a signature line alone starts no history (customers write below theirs), "
        "so the old message stays in the text"
    ),
}


def _squash(text: str) -> str:
    return " ".join(text.split())


def _expected(name: str, body: str) -> str:
    expected = CASES[name][0]
    if expected == WHOLE:
        return body
    if expected == _FIRST_PARAGRAPH:
        return body.split("\n\n", maxsplit=1)[0]
    for marker in ("\n\nOn Wed, Dec 9", "\n\nOn 9 Jan"):
        if expected == _until(marker):
            return body.split(marker, maxsplit=1)[0]
    return expected


def _params() -> list[object]:
    return [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=MISSES[name]))
        if name in MISSES
        else name
        for name in sorted(CASES)
    ]


def test_every_copied_mail_has_an_expectation() -> None:
    copied = {f"{p.parent.name}/{p.stem}" for p in CORPORA.glob("*/*.txt")}
    assert copied == set(CASES)


@pytest.mark.parametrize("name", _params())
def test_the_reply_is_what_the_source_project_expects(name: str) -> None:
    body = (CORPORA / f"{name}.txt").read_text("utf-8")
    reply = split_reply(body)
    kept = {_squash(line) for line in CASES[name][1]}
    own = "\n".join(line for line in reply.text.split("\n") if _squash(line) not in kept)
    assert _squash(own) == _squash(_expected(name, body))
    kept_or_quoted = _squash(f"{reply.text}\n{reply.quoted or ''}")
    lost = [line for line in body.split("\n") if _squash(line) not in kept_or_quoted]
    assert not lost, "what is cut from the text is in the quoted field"
