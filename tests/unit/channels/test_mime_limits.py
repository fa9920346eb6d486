"""Hostile MIME costs time and memory bounded by its size (the audit's inputs).

Each input below took 2-46 s and up to 19 GB before the stdlib parser was bounded; the
bounds asserted are generous (a slow 2-core machine) and an order of magnitude below that.
"""

from __future__ import annotations

import base64
import tracemalloc
from collections.abc import Callable

import pytest
from structlog.testing import capture_logs

from channels.header_policy import MAX_PARSED_CHARS, PLAIN_HEADERS, parse_scope
from channels.mime import ParsedEmail, parse_email
from channels.mime_parser import MAX_DEPTH, MAX_PARTS
from tests.budget import cpu_budget

pytestmark = pytest.mark.unit

HEADERS = b"From: Dana <dana@example.com>\r\nTo: support@acme.test\r\nMessage-ID: <m-1@x>\r\n"
MULTIPART = HEADERS + b"Content-Type: multipart/mixed; boundary=B\r\n\r\n"
SECONDS = 2.0
MEGABYTES = 64


def bounded(raw: bytes, seconds: float = SECONDS, megabytes: int = MEGABYTES) -> ParsedEmail:
    """Parse ``raw``, asserting it takes under SECONDS of CPU, then (traced, which is
    slower) under MEGABYTES of peak memory."""
    with cpu_budget(seconds):
        parsed = parse_email(raw)
    tracemalloc.start()
    try:
        parse_email(raw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < megabytes * 2**20
    return parsed


def subject(words: str) -> bytes:
    return HEADERS + b"Subject: " + words.encode() + b"\r\n\r\nhello\r\n"


def test_a_subject_of_20000_encoded_words_with_made_up_charsets() -> None:
    """9.6 s and 18 GB before."""
    parsed = bounded(subject(" ".join(f"=?x-unknown-charset-{i}?q?a?=" for i in range(20000))))
    assert parsed.subject == "a" * 20000  # adjacent words joined, unknown charsets read
    assert parsed.text == "hello"


def test_a_subject_of_20000_base64_words() -> None:
    """45.8 s and 18.9 GB (still growing) before."""
    word = "=?utf-8?B?" + base64.b64encode(("ä" * 30).encode()).decode() + "?="
    parsed = bounded(subject(" ".join([word] * 20000)))
    assert parsed.subject == "ä" * 600000
    assert parsed.sender is not None


def test_20000_rfc2231_continuations_of_a_file_name() -> None:
    """9-13.7 s before."""
    params = b"".join(b"; filename*%d*=utf-8''a%%41" % i for i in range(20000))
    raw = MULTIPART + (
        b"--B\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        b"--B\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment"
        + params
        + b"\r\n\r\nx\r\n--B--\r\n"
    )
    parsed = bounded(raw)
    assert parsed.text == "see attached"
    [attachment] = parsed.attachments
    assert attachment.content_type == "application/pdf"
    assert attachment.name is not None
    assert attachment.name.startswith("aAaA")  # the continuations within the bound


def test_200000_empty_parts_are_counted_not_built() -> None:
    """6 s before; the warning counts every part past the limit, as it did."""
    parsed = bounded(MULTIPART + b"--B\r\n\r\n" * 200000 + b"--B--\r\n")
    assert parsed.warnings == [
        f"attachments: only the first {MAX_PARTS} MIME parts were read, "
        f"{200001 - MAX_PARTS} more not listed"
    ]
    assert parsed.defects >= 1


def test_5000_nested_multiparts_end_at_the_depth_limit_without_recursion_error() -> None:
    """2.7 s and a RecursionError logged as email_body_unreadable before."""
    nested = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
        for i in range(5000)
    )
    with capture_logs() as logs:
        parsed = bounded(HEADERS + b"Subject: deep\r\n" + nested + b"\r\nhello\r\n")
    assert logs == []
    assert parsed.subject == "deep"
    assert parsed.warnings == [f"MIME parts nested deeper than {MAX_DEPTH} levels not read"]


def test_text_after_a_too_deep_branch_is_still_read() -> None:
    deep = b"".join(
        b"--d%d\r\nContent-Type: multipart/mixed; boundary=d%d\r\n\r\n" % (i, i + 1)
        for i in range(100)
    )
    raw = MULTIPART + (
        b"--B\r\nContent-Type: multipart/mixed; boundary=d0\r\n\r\n"
        + deep
        + b"--B\r\nContent-Type: text/plain\r\n\r\nstill here\r\n--B--\r\n"
    )
    assert parse_email(raw).text == "still here"


def test_forwards_sent_quoted_printable_nested_40_deep_are_decoded_within_the_bound() -> None:
    """Quoted-printable leaves plain text as long as it was, so each level of a forward
    in a forward, decoded and parsed again for the text, costs the whole mail again
    (3.4 s for these 3 MB when every level was): at most twice its size is decoded."""
    layer = b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    filler = (b"y" * 70 + b"\r\n") * (3 * 2**20 // 72)
    parsed = bounded(HEADERS + layer * 40 + b"Content-Type: text/plain\r\n\r\n" + filler)
    assert parsed.warnings == [
        "forwarded message sent quoted-printable: nested past the parse limit, its text not read"
    ]


@pytest.mark.parametrize(
    "make",
    [
        # many distinct long parameter headers: each costs the stdlib ~8 µs a character
        lambda i: (
            b"Content-Type: text/plain; " + b"; ".join(b"p%d=v%d" % (j, i) for j in range(1500))
        ),
        lambda i: (
            b"Content-Disposition: attachment"
            + b"".join(b"; filename*%d*=utf-8''%d" % (j, i) for j in range(400))
        ),
    ],
)
def test_many_parts_with_long_parameter_headers(make: Callable[[int], bytes]) -> None:
    """55 s before for the first (6.6 MB): the stdlib splits parameters in quadratic
    time on every lookup. Each value is cut to ``MAX_PARAMETERS`` parameters and the
    message's parsing to ``PARSE_BUDGET`` characters."""
    parts = b"".join(b"--B\r\n" + make(i) + b"\r\n\r\nx\r\n" for i in range(400))
    parsed = bounded(MULTIPART + parts + b"--B--\r\n", seconds=SECONDS, megabytes=MEGABYTES)
    assert parsed.sender is not None


def test_a_long_header_value_is_parsed_within_the_bound() -> None:
    value = "attachment; filename*0*=utf-8''" + "a" * (4 * MAX_PARSED_CHARS)
    with parse_scope():
        header = PLAIN_HEADERS.header_fetch_parse("Content-Disposition", value)
    assert len(str(header)) <= MAX_PARSED_CHARS + 100
