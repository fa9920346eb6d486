"""Mail as the world writes it (issue 8): one hand-written fixture per class of breakage,
under tests/fixtures/email/. Each test failed on the parser before the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from channels.email import interpret
from channels.mime import ParsedEmail, parse_email

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "email"


def load(name: str) -> ParsedEmail:
    return parse_email((FIXTURES / name).read_bytes())


def sender(parsed: ParsedEmail) -> tuple[str, str | None]:
    assert parsed.sender is not None
    return parsed.sender.email, parsed.sender.name


# --- legacy East-Asian charsets ----------------------------------------------------------


def test_gb2312_label_decodes_as_gb18030() -> None:
    parsed = load("charsets/gbk-labelled-gb2312.eml")
    assert parsed.text == "您好，我是王喆，订单号 1234 的发票抬头写错了：朱镕基。"
    assert parsed.subject == "发票抬头错误（王喆）"
    assert sender(parsed) == ("wang.zhe@example.cn", "王喆")


def test_shift_jis_label_accepts_cp932_extensions() -> None:
    parsed = load("charsets/shift-jis-with-cp932-extensions.eml")
    assert parsed.text == "お世話になっております。注文番号①の件で、髙橋から連絡します～"
    assert parsed.subject == "注文①について"


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (
            "iso-2022-jp-mislabelled-shift-jis.eml",
            "請求書の宛名が間違っています。よろしくお願いします。",
        ),
        ("iso-2022-jp-with-nec-specials.eml", "第①回の打ち合わせ、㈱アクメ様"),
    ],
)
def test_iso_2022_jp_mislabels_are_tolerated(name: str, text: str) -> None:
    assert load(f"charsets/{name}").text == text


# --- raw 8-bit headers -------------------------------------------------------------------


def test_raw_8bit_headers_use_the_declared_charset() -> None:
    parsed = load("charsets/raw-8bit-headers-declared-charset.eml")
    assert parsed.subject == "Счёт не пришёл"
    assert sender(parsed) == ("ivan@example.ru", "Иван Петров")


def test_raw_8bit_headers_without_a_declared_charset_are_detected_consistently() -> None:
    parsed = load("charsets/raw-8bit-headers-undeclared.eml")
    assert parsed.subject == "Žádost o vrácení peněz, faktura č. 1234 – příliš vysoká částka"
    assert sender(parsed) == ("jiri@example.cz", "Dvořák Jiří")
    assert parsed.text == "Dobrý den, prosím o vrácení peněz za objednávku. Děkuji, Jiří Dvořák"


def test_raw_utf8_header_next_to_a_legacy_one() -> None:
    parsed = load("charsets/raw-8bit-utf8-and-latin1-mixed.eml")
    assert sender(parsed) == ("jose@example.es", "José Müller")
    assert parsed.subject == "Pedido de devolución"


# --- addresses ---------------------------------------------------------------------------


def test_encoded_display_name_with_a_comma() -> None:
    assert sender(load("addresses/rfc2047-name-with-comma.eml")) == (
        "anna.mueller@example.de",
        "Müller, Anna",
    )


@pytest.mark.parametrize("name", ["junk-after-to-address.eml", "junk-after-bracketed-to.eml"])
def test_junk_after_the_inbox_address_is_not_glued_to_it(name: str) -> None:
    parsed = load(f"addresses/{name}")
    assert parsed.inbox == "support@acme.test"
    assert "to: text after the address ignored" in parsed.warnings


def test_trailing_dot_in_the_domain_is_not_part_of_the_identity() -> None:
    parsed = load("addresses/trailing-dot-domain.eml")
    assert sender(parsed) == ("anna@example.de", "Anna")
    assert parsed.warnings == ["from: trailing dot in the domain removed"]


@pytest.mark.parametrize(
    ("name", "expected", "warning"),
    [
        (
            "name-addr-without-brackets.eml",
            ("anna@example.de", "Anna Mueller"),
            "from: address without angle brackets",
        ),
        ("stray-angle-bracket.eml", ("anna@example.de", "Anna Mueller"), "from: stray '>'"),
        ("stray-angle-bracket-bare.eml", ("anna@example.de", None), "from: stray '>'"),
        (
            "forwarded-banner-before-headers.eml",
            ("anna@example.de", "Anna Mueller"),
            "forwarded-message banner",
        ),
    ],
)
def test_recoverable_senders_are_parsed_leniently_with_a_warning(
    name: str, expected: tuple[str, str | None], warning: str
) -> None:
    raw = (FIXTURES / "addresses" / name).read_bytes()
    parsed, interaction = interpret(raw)
    assert sender(parsed) == expected
    assert any(w.startswith(warning) for w in parsed.warnings), parsed.warnings
    assert interaction is not None
    assert interaction.metadata["parse_warnings"] == parsed.warnings
    assert interaction.text == "Please resend the invoice."


def test_well_formed_addresses_carry_no_warning() -> None:
    raw = (
        b'From: "Mueller, Anna" <anna@example.de>\r\nTo: Support <support@acme.test>, '
        b"undisclosed-recipients:;\r\nCc: a@x.test (Anna at work)\r\n\r\nx\r\n"
    )
    parsed = parse_email(raw)
    assert sender(parsed) == ("anna@example.de", "Mueller, Anna")
    assert [(b.email, b.name) for b in parsed.cc] == [("a@x.test", "Anna at work")]
    assert parsed.warnings == []


# --- quoted history ----------------------------------------------------------------------


def reply_of(name: str) -> tuple[str, str | None]:
    _, interaction = interpret((FIXTURES / name).read_bytes())
    assert interaction is not None
    return interaction.text, interaction.quoted_text


@pytest.mark.parametrize(
    ("name", "own", "intro"),
    [
        (
            "quote-above-german.eml",
            "Die Rechnung ist immer noch nicht angekommen.\nBitte schicken Sie sie erneut.",
            "Am 02.12.2026 um 09:00 schrieb Acme Support",
        ),
        ("quote-above-french.eml", "La facture n'est toujours pas arrivée.", "Le mer. 2 déc."),
        ("quote-above-italian.eml", "La fattura non è ancora arrivata.", "Il giorno mer 2 dic"),
    ],
)
def test_quote_above_the_reply_is_split(name: str, own: str, intro: str) -> None:
    text, quoted = reply_of(f"quotes/{name}")
    assert text == own
    assert quoted is not None
    assert quoted.startswith(intro)


@pytest.mark.parametrize("name", ["inline-reply.eml", "inline-reply-no-header.eml"])
def test_inline_answers_stay_in_the_text_with_their_questions(name: str) -> None:
    text, quoted = reply_of(f"quotes/{name}")
    assert "> Which order number?\nIt is order 4711.\n> Which address?" in text
    assert "Berliner Str. 5, Hamburg." in text
    assert quoted is None


def test_a_top_posted_reply_with_its_signature_below_the_quote_keeps_its_text() -> None:
    text, quoted = reply_of("quotes/top-post-signature-below-quote.eml")
    assert text == "Thanks, that solved it."
    assert quoted is not None
    assert quoted.startswith("On Mon, 1 Dec 2026 at 10:00, Support")


def test_lotus_notes_text_banner_starts_the_quote() -> None:
    text, quoted = reply_of("quotes/lotus-notes-text.eml")
    assert text == "The invoice still has not arrived."
    assert quoted is not None
    assert quoted.startswith("-----Acme Support <support@acme.test> wrote: -----")


@pytest.mark.parametrize(
    ("name", "own", "history"),
    [
        ("outlook-html-german.eml", "Die Rechnung ist", "die Rechnung 1234 ist unterwegs"),
        ("outlook-web-divrplyfwdmsg.eml", "The invoice still", "la facture 1234 est en route"),
        ("lotus-notes-html.eml", "Die Rechnung ist", "die Rechnung 1234 ist unterwegs"),
        ("lotus-notes-classic-html.eml", "The invoice still", "invoice 1234 is on its way"),
        # Windows Mail's rule written rgb(), Mail.ru's blockquote, Outlook for Mac's section
        ("windows-mail-html.eml", "The parcel 1234 still", "parcel 1234 is on its way"),
        ("mail-ru-blockquote.eml", "The parcel 1234 still", "parcel 1234 is on its way"),
        ("outlook-mac-olk-src.eml", "The parcel 1234 still", "parcel 1234 is on its way"),
    ],
)
def test_html_quotes_are_split_into_quoted_text(name: str, own: str, history: str) -> None:
    text, quoted = reply_of(f"quotes/{name}")
    assert text.startswith(own)
    assert history not in text
    assert quoted is not None
    assert history in quoted


# --- unusual MIME ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["multipart-without-boundary-lines.eml", "multipart-without-boundary-parameter.eml"]
)
def test_multipart_without_boundary_lines_is_one_text_part(name: str) -> None:
    parsed = load(f"mime/{name}")
    assert parsed.text.startswith("Please resend the invoice for order 1234.")


def test_inline_uuencode_becomes_an_attachment() -> None:
    parsed = load("mime/inline-uuencode.eml")
    assert "begin 644" not in parsed.text
    assert parsed.text.startswith("Here is the wrong invoice.")
    assert [(a.name, a.content_type, a.size) for a in parsed.attachments] == [
        ("invoice 1234.pdf", "application/pdf", 147)
    ]


def test_content_type_name_names_the_attachment_without_a_disposition() -> None:
    parsed = load("mime/name-without-disposition.eml")
    assert [a.name for a in parsed.attachments] == [
        "Bildschirmfoto März.png",
        "log.txt",
        "Rechnung März.pdf",
    ]
    assert parsed.text == "Two screenshots attached."


def test_a_forwarded_message_keeps_its_declared_file_name_and_its_size() -> None:
    """The same 243-byte message attached three ways: with a file name, without one
    (its Subject names it), and base64-encoded with an RFC 2231 name."""
    parsed = load("mime/forwarded-message-attachments.eml")
    assert [(a.name, a.content_type, a.size) for a in parsed.attachments] == [
        ("forwarded.eml", "message/rfc822", 243),
        ("inner subject", "message/rfc822", 243),
        ("Beschwerde März.eml", "message/rfc822", 243),
    ]


def test_an_unquoted_file_name_with_a_space_is_taken_whole() -> None:
    parsed = load("mime/unquoted-filename-with-space.eml")
    assert [(a.name, a.size) for a in parsed.attachments] == [("My Invoice.pdf", 9)]


# --- text fidelity -----------------------------------------------------------------------


def test_format_flowed_lines_are_joined_as_the_writer_meant() -> None:
    text, quoted = reply_of("mime/format-flowed.eml")
    assert text == (
        "Hello, since this morning the checkout page is down for all customers.\n"
        "From what I can see, the payment step fails.\n\n-- \nAnna Schmidt"
    )
    assert "is down" in text
    assert quoted == (
        "On 30.11.2026 09:00, Support wrote:\n"
        "> Please tell us if the problem comes back.\n"
        ">> Is the checkout working again?\n"
        "> Thanks"
    )


def test_format_flowed_delsp_deletes_the_space_of_the_soft_break() -> None:
    assert load("mime/format-flowed-delsp.eml").text == "Please answer in Japanese."


def test_control_characters_are_removed_from_subject_and_text() -> None:
    _, interaction = interpret((FIXTURES / "mime/control-characters.eml").read_bytes())
    assert interaction is not None
    assert interaction.subject == "Order 4711"
    assert interaction.text == "The app shows ab in the order number.\n\tIndented line stays."


def test_leading_whitespace_of_plain_text_lines_is_kept() -> None:
    text, _ = reply_of("fidelity/leading-whitespace.eml")
    assert text == (
        '    Indented first line.\nSteps:\n    1. open the app\n    2. click "Pay"\n'
        "        -> error 42\n\ttab-indented line"
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "html-only-paragraphs.eml",
            "First paragraph.\n\nSecond paragraph,\nwith a line break.\n\nThird block."
            "\n\nFourth block.",
        ),
        (
            "html-without-tags.eml",
            "First paragraph, written in a plain text box.\n\nSecond paragraph:\n1. one\n2. two",
        ),
    ],
)
def test_html_only_mail_keeps_paragraph_breaks(name: str, expected: str) -> None:
    text, _ = reply_of(f"fidelity/{name}")
    assert text == expected


@pytest.mark.parametrize(
    ("name", "instant"),
    [
        ("date-with-glued-header.eml", "2026-12-03T09:15:00+00:00"),
        ("date-with-glued-header-and-zone.eml", "2026-12-03T15:15:00+00:00"),
    ],
)
def test_date_with_a_glued_header_keeps_its_offset(name: str, instant: str) -> None:
    parsed = load(f"fidelity/{name}")
    assert parsed.date is not None
    assert parsed.date.isoformat() == instant


# --- third-party mail (tests/fixtures/email/third-party) ---------------------------------


def test_an_unquoted_boundary_with_an_equals_sign_still_splits_the_parts() -> None:
    """Outlook Express wrote ``boundary=----=_NextPart_...`` bare: read as the stdlib
    reads it (``----``), the whole body was one text part of raw MIME."""
    parsed = load("third-party/mikel-mail-illegal-boundary.eml")
    assert parsed.text == "Hello\nThis is an outlook test\n\nSo there.\n\nMe."
    assert parsed.warnings == []


def test_a_boundary_after_the_type_without_a_semicolon_is_found() -> None:
    parsed = parse_email((FIXTURES.parent / "stalwart-mail-parser/malformed/017.eml").read_bytes())
    assert [(a.name, a.content_type) for a in parsed.attachments] == [("image001.png", "image/png")]
    assert "--boundary" not in parsed.text


def test_named_text_parts_with_no_disposition_are_the_text_when_there_is_no_other() -> None:
    """Both parts are ``text/plain; name="msg.txt"`` with no Content-Disposition: mail
    programs show them inline, and the ticket had come in empty."""
    parsed = load("third-party/cpython-msg_44.txt")
    assert parsed.text.startswith("a simple kind of mirror\nto reflect upon our own")
    assert [a.name for a in parsed.attachments] == ["msg.txt", "msg.txt"]


def test_a_named_part_of_a_type_no_one_can_read_is_no_text() -> None:
    """The stdlib reads ``Content-Type: unknown`` as text/plain: its binary bytes must not
    become the ticket's text as a named text part's may (a shape from nodemailer's
    mailparser tests)."""
    raw = (
        b"From: customer@example.com\r\nTo: help@example.org\r\n"
        b'Content-Type: unknown; name="test"\r\nContent-Transfer-Encoding: quoted-printable\r\n'
        b"\r\n=00=01=02=03=FD=FE=FF"
    )
    parsed = parse_email(raw)
    assert parsed.text == ""
    assert [(a.name, a.size) for a in parsed.attachments] == [("test", 7)]


def test_a_reply_to_several_messages_keeps_them_all_to_find_its_ticket() -> None:
    """``In-Reply-To: <mail1> <mail2> <mail3>`` (RFC 5322 3.6.4 allows several; a shape
    from nodemailer's mailparser tests): the two after the first had been dropped."""
    raw = (
        b"From: customer@example.com\r\nTo: help@example.org\r\n"
        b"References: <mail0@example.com>\r\n"
        b"In-Reply-To: <mail1@example.com>\r\n <mail2@example.com> <mail0@example.com>\r\n"
        b"\r\nthanks\r\n"
    )
    parsed = parse_email(raw)
    assert parsed.in_reply_to == "mail1@example.com"
    assert parsed.references == ["mail0@example.com", "mail2@example.com"]


def test_a_body_written_with_another_boundary_than_declared_is_still_read_as_parts() -> None:
    """The raw MIME, headers and base64 included, had been the ticket's text."""
    parsed = load("mime/boundary-not-as-declared.eml")
    assert parsed.text == "Die Rechnung 1234 ist doppelt abgebucht worden."
    assert parsed.warnings == ["multipart: its boundary is not the one its body is written with"]


@pytest.mark.parametrize("above", [b"\n", b"\r\n", b"\r\n\r\n"])
def test_blank_lines_above_the_headers_are_skipped(above: bytes) -> None:
    """The stdlib reads a first empty line as the end of no headers: the whole mail was
    its text, with no sender, and the ingress refused it (Discourse's multiline_wrote
    fixture starts so)."""
    raw = above + (
        b"From: Anna Mueller <anna@example.de>\r\nTo: support@acme.test\r\n"
        b"Subject: Rechnung\r\n\r\nThanks!\r\n"
    )
    parsed = parse_email(raw)
    assert sender(parsed) == ("anna@example.de", "Anna Mueller")
    assert (parsed.subject, parsed.text) == ("Rechnung", "Thanks!")


def test_the_inbox_in_copy_is_found_by_x_original_to_beside_an_internal_delivered_to() -> None:
    """Postfix with virtual aliases writes both: X-Original-To the address written to,
    Delivered-To the mailbox after aliasing. Only Delivered-To was read when both were
    there, so the inbox became the customer's correspondent in To."""
    raw = (
        b"X-Original-To: support@acme.test\r\nDelivered-To: helpdesk@mx.acme.internal\r\n"
        b"From: Anna <anna@example.org>\r\nTo: Bob <bob@partner.example>\r\n"
        b"Cc: Acme Support <support@acme.test>\r\nSubject: Order 4711 damaged\r\n\r\nHi\r\n"
    )
    parsed = parse_email(raw)
    assert parsed.inbox == "support@acme.test"
    assert [b.email for b in parsed.delivered_to] == [
        "support@acme.test",
        "helpdesk@mx.acme.internal",
    ]


@pytest.mark.parametrize(
    ("content_type", "warning"),
    [
        (
            'multipart/encrypted; protocol="application/pgp-encrypted"; boundary="e"',
            "text: an OpenPGP-encrypted block, not readable",
        ),
        (
            "application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m",
            "text: an S/MIME message (encrypted or opaque-signed), not readable",
        ),
    ],
)
def test_a_mail_sealed_for_its_recipient_says_why_it_has_no_text(
    content_type: str, warning: str
) -> None:
    """PGP/MIME (a shape of Zammad's mail042) and S/MIME: the ticket had come in blank
    with no word of why."""
    body = (
        b"--e\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n"
        b"--e\r\nContent-Type: application/octet-stream; name=encrypted.asc\r\n\r\n"
        b"-----BEGIN PGP MESSAGE-----\r\nhQIMAzZIwfYs2Fy5AQ\r\n-----END PGP MESSAGE-----\r\n"
        b"--e--\r\n"
        if content_type.startswith("multipart")
        else b"MIAGCSqGSIb3DQEHA6CAMIACAQAxggFOMIIBSgIBADAyMCoxKDAmBgNVBAMTH1Rlc3Q=\r\n"
    )
    raw = (
        f"From: anna@example.de\r\nTo: support@acme.test\r\nSubject: secret\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n"
        f"Content-Transfer-Encoding: {'7bit' if content_type.startswith('multi') else 'base64'}"
        "\r\n\r\n"
    ).encode() + body
    parsed = parse_email(raw)
    assert parsed.text == ""
    assert warning in parsed.warnings


def _scanned(subject: bytes, name: bytes) -> bytes:
    """A mail with raw 8-bit headers whose first part, a scanner's note, says iso-8859-1
    and whose second part, the original, says gb2312 (the shape of Zammad's mail046)."""
    return (
        b"From: " + name + b" <writer@example.cn>\r\nTo: support@acme.test\r\n"
        b"Subject: " + subject + b"\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="s"\r\n\r\n'
        b"--s\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nScan: m\xf6glicher Spam\r\n"
        b"--s\r\nContent-Type: text/plain; charset=gb2312\r\n\r\n"
        + "您好".encode("gbk")
        + b"\r\n--s--\r\n"
    )


def test_chinese_raw_headers_are_not_read_as_the_latin_1_a_first_part_declares() -> None:
    """cp1252 reads nearly any bytes, so "the first declared charset that fits" was always
    the Latin one, and the subject came out as Latin-1 garbage."""
    parsed = parse_email(_scanned("转发：整体提升".encode("gbk"), "武兰成".encode("gbk")))
    assert parsed.subject == "转发：整体提升"
    assert sender(parsed) == ("writer@example.cn", "武兰成")


def test_latin_1_raw_headers_stay_latin_1_beside_a_chinese_part() -> None:
    parsed = parse_email(_scanned("Größe der Müllerstraße".encode("latin-1"), b"J\xfcrgen"))
    assert parsed.subject == "Größe der Müllerstraße"
    assert sender(parsed) == ("writer@example.cn", "Jürgen")


def test_an_encoded_word_with_a_space_in_it_is_decoded() -> None:
    """RFC 2047 forbids the space, mailers write it (Zammad's mail077): the subject had
    stayed the raw ``=?UTF-8?Q? Personal=C3=A4nderung?=``."""
    raw = (
        b"From: hr@example.de\r\nTo: support@acme.test\r\n"
        b"Subject: =?UTF-8?Q? Personal=C3=A4nderung?=\r\n\r\nhi\r\n"
    )
    assert parse_email(raw).subject == "Personaländerung"


def test_a_header_continued_without_indentation_does_not_end_the_headers() -> None:
    """A mail server wrapped its Received line at "by ..." with no space before it
    (Zammad's mail068): the stdlib ended the headers there, From and Subject became the
    text, and the ingress refused the mail with no sender."""
    raw = (
        b"Return-Path: form@example.cz\r\nReceived: from mail.example.cz ([192.0.2.1])\r\n"
        b"by mail.example.cz with ESMTP\r\nfor helpdesk@example.cz;\r\n"
        b"Thu, 2 Aug 2018 16:58:16 +0200\r\nTo: helpdesk@example.cz\r\n"
        b"Subject: Contact from Server\r\nFrom: form@example.cz\r\n\r\nContact form\r\n"
    )
    parsed = parse_email(raw)
    assert (parsed.sender and parsed.sender.email, parsed.subject) == (
        "form@example.cz",
        "Contact from Server",
    )
    assert parsed.text == "Contact form"
    assert "headers: lines without indentation read as part of the header above them" in (
        parsed.warnings
    )


def test_a_body_written_right_below_the_headers_stays_the_body() -> None:
    """CPython's msg_35: no blank line between headers and body."""
    raw = b"From: a@example.de\nTo: support@acme.test\nSubject: hi\ncounter to RFC 5322\n"
    parsed = parse_email(raw)
    assert (parsed.subject, parsed.text, parsed.warnings) == ("hi", "counter to RFC 5322", [])


def test_a_mail_redirected_to_us_has_the_redirect_address_as_its_inbox() -> None:
    """A colleague redirects a customer's mail to support (Thunderbird's "Redirect",
    Outlook's redirect rule): the mail keeps its To and gains Resent-To. The inbox had
    been the colleague in To, so the rules for the support inbox never saw it."""
    raw = (
        b"Resent-From: Bob <bob@acme.test>\r\nResent-To: Acme Support <support@acme.test>\r\n"
        b"Resent-Date: Mon, 7 Dec 2026 09:00:00 +0000\r\n"
        b"Delivered-To: support@acme.test\r\n"
        b"From: Anna <anna@example.org>\r\nTo: Bob <bob@acme.test>\r\n"
        b"Subject: Order 4711 damaged\r\n\r\nHi\r\n"
    )
    parsed = parse_email(raw)
    assert (parsed.inbox, sender(parsed)) == ("support@acme.test", ("anna@example.org", "Anna"))
    no_delivery = raw.replace(b"Delivered-To: support@acme.test\r\n", b"")
    assert parse_email(no_delivery).inbox == "support@acme.test"


@pytest.mark.parametrize("declared", ["text/plain;", "text/plain; charset=us-ascii"])
def test_iso_2022_jp_text_without_its_charset_is_read_as_japanese(declared: str) -> None:
    """Japanese Outlook writes ISO-2022-JP with no charset (or us-ascii): 7-bit bytes,
    which had been read as ASCII, so the escapes showed as text (``$B$3$l$O...``)."""
    body = "これはテストメールです。\nお問い合わせありがとうございます。\n\n田中\n"
    subject = "お問い合わせ".encode("iso2022_jp")
    raw = (
        b"From: <info@example.jp>\r\nTo: <support@example.com>\r\nSubject: " + subject + b"\r\n"
        b"Content-Type: " + declared.encode() + b"\r\nContent-Transfer-Encoding: 7bit\r\n"
        b"X-Mailer: Microsoft Outlook 16.0\r\nMIME-Version: 1.0\r\n\r\n"
        + body.replace("\n", "\r\n").encode("iso2022_jp")
    )
    parsed = parse_email(raw)
    assert (parsed.subject, parsed.text) == ("お問い合わせ", body.strip())


def test_ascii_with_a_terminal_escape_is_no_iso_2022_text() -> None:
    raw = b"From: a@example.org\r\nTo: s@acme.test\r\nSubject: log\r\n\r\n"
    raw += b"red \x1b[31mERROR\x1b[0m\r\n"
    assert parse_email(raw).text == "red [31mERROR[0m"  # control characters dropped, as ever


def test_a_mail_we_got_in_bcc_has_the_envelope_recipient_as_its_inbox() -> None:
    """Postfix's X-Original-To names the address the mail was sent to; when it is in
    neither To nor Cc we were in Bcc, and the inbox had been the partner in To."""
    raw = (
        b"X-Original-To: support@acme.test\r\nDelivered-To: support@acme.test\r\n"
        b"From: Anna <anna@example.org>\r\nTo: Partner <partner@other.example>\r\n"
        b"Subject: Order 4711\r\n\r\nHi\r\n"
    )
    assert parse_email(raw).inbox == "support@acme.test"
    internal_only = raw.replace(b"X-Original-To: support@acme.test\r\n", b"")
    internal_only = internal_only.replace(b"support@acme.test", b"helpdesk@mx.acme.internal")
    assert parse_email(internal_only).inbox == "partner@other.example"  # as before


@pytest.mark.parametrize(
    "from_",
    [
        b'"taro..yamada"@docomo.ne.jp',
        b'Taro <"taro..yamada"@docomo.ne.jp>',
        b"Taro <taro..yamada@docomo.ne.jp>",
    ],
)
def test_a_quoted_local_part_is_the_address_it_quotes(from_: bytes) -> None:
    """Mailers quote a Japanese carrier's dotted address (``"taro..yamada"@...``), as
    RFC 5322 has it; without angle brackets such a mail had no sender and was refused,
    and within them it was another customer than the same address unquoted."""
    raw = b"From: " + from_ + b"\r\nTo: support@acme.test\r\nSubject: Q\r\n\r\nHi\r\n"
    parsed = parse_email(raw)
    assert parsed.sender is not None
    assert parsed.sender.email == "taro..yamada@docomo.ne.jp"


@pytest.mark.parametrize("header", ["Envelope-to", "X-Envelope-To"])
def test_exims_envelope_to_names_the_inbox_in_copy_and_in_bcc(header: str) -> None:
    """Exim (the mail server of most shared hosting) writes the envelope's recipient as
    ``Envelope-to`` (``X-Envelope-To`` by other servers), not Postfix's X-Original-To:
    the inbox had been the partner in To, for a mail with us in copy and in Bcc alike."""
    head = f"{header}: support@acme.test\r\n".encode()
    in_copy = (
        head + b"From: Anna <anna@example.org>\r\nTo: Bob <bob@partner.example>\r\n"
        b"Cc: Acme Support <support@acme.test>\r\nSubject: Order 4711 damaged\r\n\r\nHi\r\n"
    )
    parsed = parse_email(in_copy)
    assert parsed.inbox == "support@acme.test"
    assert [b.email for b in parsed.delivered_to] == ["support@acme.test"]
    in_bcc = in_copy.replace(b"Cc: Acme Support <support@acme.test>\r\n", b"")
    assert parse_email(in_bcc).inbox == "support@acme.test"


def test_an_envelope_header_listing_every_recipient_does_not_outrank_delivered_to() -> None:
    """A gateway's X-Envelope-To may name every recipient of the transaction; Delivered-To
    names the mailbox this copy reached, and stays the inbox."""
    raw = (
        b"X-Envelope-To: <sales@acme.test>, <support@acme.test>\r\n"
        b"Delivered-To: support@acme.test\r\n"
        b"From: Anna <anna@example.org>\r\nTo: sales@acme.test\r\nCc: support@acme.test\r\n"
        b"Subject: Order 4711\r\n\r\nHi\r\n"
    )
    parsed = parse_email(raw)
    assert parsed.inbox == "support@acme.test"
    assert [b.email for b in parsed.delivered_to] == ["support@acme.test"]


def test_a_servers_bare_envelope_name_is_no_warning_about_the_mail() -> None:
    raw = (
        b"X-Envelope-To: support\r\nFrom: Anna <anna@example.org>\r\nTo: support@acme.test\r\n"
        b"Subject: Order 4711\r\n\r\nHi\r\n"
    )
    parsed = parse_email(raw)
    assert (parsed.inbox, parsed.warnings) == ("support@acme.test", [])
