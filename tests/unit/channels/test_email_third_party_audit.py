"""Mail from other projects' suites (tests/fixtures/email/third-party, sources in its
SOURCE.md) that an outside audit found read wrongly, and minimal mails of the same
faults."""

from __future__ import annotations

from pathlib import Path

import pytest

from channels.mime import ParsedEmail, parse_email

pytestmark = pytest.mark.unit

THIRD_PARTY = Path(__file__).resolve().parents[2] / "fixtures" / "email" / "third-party"
HEAD = b"From: a@example.org\r\nTo: s@acme.test\r\nSubject: x\r\nMIME-Version: 1.0\r\n"


def load(name: str) -> ParsedEmail:
    return parse_email((THIRD_PARTY / name).read_bytes())


@pytest.mark.parametrize(
    ("label", "body", "text"),
    [
        ("utf-8", "Grüße aus Köln, café".encode("latin-1"), "Grüße aus Köln, café"),
        ("iso-8859-1", "Grüße aus Köln".encode(), "Grüße aus Köln"),
        ("us-ascii", "Grüße".encode(), "Grüße"),
    ],
)
def test_raw_8bit_bytes_in_a_quoted_printable_part_reach_the_charset_fallback(
    label: str, body: bytes, text: str
) -> None:
    """The stdlib's ``get_payload()`` had decoded them with the label and replaced what
    did not fit (``Gr��e``) before the fallback that reads 8bit parts right saw them."""
    raw = HEAD + (
        b"Content-Type: text/plain; charset=" + label.encode() + b"\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + body + b"\r\n"
    )
    assert parse_email(raw).text == text


def test_a_quoted_printable_part_with_raw_bytes_keeps_them() -> None:
    parsed = load("php-mime-mail-parser-issue230-trimmed.eml")
    assert "\ufffd" not in parsed.text
    assert "<f>–¢–µ–Ї—Г—Й–Є–є —Б—З–µ—В</f>" in parsed.text


@pytest.mark.parametrize("name", ["report(1).pdf", "Invoice[2].pdf", "x:y.pdf", "a@b.pdf"])
def test_an_unquoted_file_name_keeps_its_special_characters(name: str) -> None:
    """The stdlib stops an unquoted parameter at a special character: ``report``."""
    raw = HEAD + (
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n"
        b"\r\nhi\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment;"
        b" filename=" + name.encode() + b"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"aGVsbG8=\r\n--b--\r\n"
    )
    assert [a.name for a in parse_email(raw).attachments] == [name]


def test_php_issue133_attachment_keeps_its_whole_name() -> None:
    assert [a.name for a in load("php-mime-mail-parser-issue133.eml").attachments] == ["attach/01"]


def test_an_rfc2231_name_split_inside_a_character_is_joined_before_decoding() -> None:
    """EUC-KR's two bytes of 일 split over two pieces had become two U+FFFD."""
    [attachment] = load("enmime-long-filename-euckr.raw").attachments
    assert attachment.name == "한국 파일 이름이 매우 긴 첨부 파일입니다.pdf"


@pytest.mark.parametrize(
    ("name", "attachments"),
    [
        ("enmime-mime-bad-content-type.raw", [("Invoice_302232133150612.pdf", "application/pdf")]),
        ("mimekit-missing-subtype.txt", [("document.xml.gz", "application/octet-stream")]),
        ("mimekit-invalid-content-type.eml", [("attachment.zip", "application/octet-stream")]),
    ],
)
def test_a_malformed_content_type_gives_a_media_type(
    name: str, attachments: list[tuple[str, str]]
) -> None:
    """``application/pdf name="..."`` (no ``;``) had been the type ``application/pdf
    name="..."``; a type with no ``/`` made a named zip ``text/plain``."""
    assert [(a.name, a.content_type) for a in load(name).attachments] == attachments


def test_quotes_inside_a_display_name_stay() -> None:
    """Russian company names are written with a quoted name (``OOO "..."``): the closing
    quote was dropped."""
    sender = load("php-mime-mail-parser-m0124.eml").sender
    assert sender is not None
    assert sender.name == 'ФГУП "СибНИА им.С.А.Чаплыгина"'
    raw = b'From: "OOO \\"Romashka\\"" <info@romashka.example>\r\nTo: s@acme.test\r\n\r\nhi\r\n'
    escaped = parse_email(raw).sender
    assert escaped is not None
    assert escaped.name == 'OOO "Romashka"'


def test_whitespace_before_the_first_header_is_skipped() -> None:
    """`` From: ...`` had been read as the continuation of no header: no sender, 400."""
    parsed = load("enmime-bad-header-start.raw")
    assert parsed.sender is not None
    assert (parsed.sender.email, parsed.subject) == ("james@makita.skynet", "plain text")


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ('<p>Call <span style="color:red">now</span>.</p>', "Call now."),
        ("<div><span>Hello</span><span>,</span> <b>Anna</b></div>", "Hello, Anna"),
        ("<p>Error<span>!!</span></p>", "Error!!"),
    ],
)
def test_html_text_in_spans_reads_as_a_browser_shows_it(html: str, text: str) -> None:
    """Spans had been padded with spaces (``Call now .``, ``Hello , Anna``): mail, Outlook's
    above all, writes its text in spans, which a browser runs together."""
    from channels.mail_text import html_to_text

    assert html_to_text(html) == text
