"""A mail that is only a forwarded message sent base64 or quoted-printable (RFC 2046
forbids both for ``message/rfc822``; mailers send them) has its text from that message,
as one sent as it is does."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable

import pytest

from channels.mime import parse_email

pytestmark = pytest.mark.unit

OUTER = (
    b"From: Anna <anna@example.de>\r\nTo: <support@acme.test>\r\nSubject: Fwd\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n"
    b"Content-Transfer-Encoding: %s\r\n\r\n%s\r\n"
)
INNER = (
    "From: Kunde <kunde@example.org>\r\nTo: Anna <anna@example.de>\r\n"
    "Subject: Lieferung beschädigt\r\nMIME-Version: 1.0\r\n"
    'Content-Type: {ctype}; charset="utf-8"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'
    "{body}\r\n"
)
TEXT = "Das Paket kam beschädigt an."


def inner(body: str = TEXT, ctype: str = "text/plain") -> bytes:
    return INNER.format(ctype=ctype, body=body).encode()


def b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def qp(data: bytes) -> bytes:
    """Quoted-printable as mailers write it: ``=`` as ``=3D``, 8-bit bytes escaped, and
    lines longer than 76 characters broken with a soft line break."""
    return binascii.b2a_qp(data.replace(b"\r\n", b"\n")).replace(b"\n", b"\r\n")


def forward(cte: bytes, message: bytes) -> bytes:
    return OUTER % (cte, message)


ENCODED = [(b"base64", b64), (b"quoted-printable", qp)]


@pytest.mark.parametrize(("cte", "encode"), ENCODED, ids=["base64", "quoted-printable"])
def test_a_forwarded_message_sent_encoded_has_its_text(
    cte: bytes, encode: Callable[[bytes], bytes]
) -> None:
    parsed = parse_email(forward(cte, encode(inner())))
    assert parsed.text == TEXT
    assert parsed.warnings == []


@pytest.mark.parametrize(("cte", "encode"), ENCODED, ids=["base64", "quoted-printable"])
def test_a_forwarded_message_sent_encoded_is_listed_as_one_sent_as_it_is(
    cte: bytes, encode: Callable[[bytes], bytes]
) -> None:
    as_is = parse_email(forward(b"8bit", inner()))
    encoded = parse_email(forward(cte, encode(inner())))
    assert [(a.name, a.content_type) for a in encoded.attachments] == [
        ("Lieferung beschädigt", "message/rfc822")
    ]
    assert [(a.name, a.content_type) for a in as_is.attachments] == [
        (a.name, a.content_type) for a in encoded.attachments
    ]
    [size] = [a.size for a in encoded.attachments]
    assert size is not None
    assert len(inner()) <= size <= len(inner()) + 2  # the part's last line break


def test_a_quoted_printable_header_broken_over_two_lines_is_read_whole() -> None:
    subject = "Lieferung " + "sehr " * 20 + "beschädigt"
    message = inner().replace("Lieferung beschädigt".encode(), subject.encode())
    parsed = parse_email(forward(b"quoted-printable", qp(message)))
    assert parsed.text == TEXT
    assert [a.name for a in parsed.attachments] == [subject]


def test_a_forwarded_html_message_sent_base64_has_its_text_and_says_html_only() -> None:
    message = inner("<p>Das Paket kam <b>besch&auml;digt</b> an.</p>", "text/html")
    parsed = parse_email(forward(b"base64", b64(message)))
    assert (parsed.text, parsed.html_only) == (TEXT, True)


def test_a_forward_of_a_forward_both_sent_base64_has_the_innermost_text() -> None:
    middle = (
        b"From: Anna <anna@example.de>\r\nSubject: Fwd: Lieferung\r\n"
        b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(inner())
    )
    parsed = parse_email(forward(b"base64", b64(middle)))
    assert parsed.text == TEXT
    assert parsed.warnings == []


@pytest.mark.parametrize(
    "payload",
    [b"!!!! not base64 at all ????\r\n", b64(b"\x00\x01\x02 no headers, only bytes " * 4)],
    ids=["undecodable", "not-a-message"],
)
def test_a_forwarded_message_that_does_not_decode_to_a_message_is_skipped_with_a_warning(
    payload: bytes,
) -> None:
    parsed = parse_email(forward(b"base64", payload))
    assert parsed.text == ""
    assert parsed.sender is not None
    assert parsed.warnings == [
        "forwarded message sent base64 could not be decoded: its text not read"
    ]


def test_a_forwarded_message_sent_encoded_beside_a_text_leaves_the_text_alone() -> None:
    raw = (
        b"From: Anna <anna@example.de>\r\nTo: <support@acme.test>\r\nSubject: Fwd\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
        b"--B\r\nContent-Type: text/plain\r\n\r\nSee below.\r\n"
        b"--B\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + b64(inner())
        + b"--B--\r\n"
    )
    parsed = parse_email(raw)
    assert parsed.text == "See below."
    assert [a.name for a in parsed.attachments] == ["Lieferung beschädigt"]
