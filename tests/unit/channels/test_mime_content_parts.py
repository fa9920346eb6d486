"""What a mail's content parts say, from an outside audit of the MIME reading: inline
HTML beside a plain part in ``multipart/mixed``, inline-PGP signed text, calendar
replies and invitations, and a nested multipart reusing its parent's boundary."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from channels.email import interpret
from channels.mime import parse_email
from channels.mime_repair import REUSED_BOUNDARY
from channels.pgp import ENCRYPTED
from router.settings import Settings
from tests.unit.channels.support import Remembering, ingress_client

pytestmark = pytest.mark.unit

HEAD = (
    b"From: Anna <anna@example.de>\nTo: support@acme.test\nSubject: Order 5521\n"
    b"Date: Mon, 07 Jul 2025 09:00:00 +0000\nMessage-ID: <m1@example.de>\nMIME-Version: 1.0\n"
)


# --- 1. inline HTML in multipart/mixed ----------------------------------------------------

MIXED_PLAIN_IMAGE_HTML = HEAD + (
    b'Content-Type: multipart/mixed; boundary="m"\n\n'
    b"--m\nContent-Type: text/plain; charset=utf-8\n\n"
    b"My order 5521 arrived damaged, photo below.\n"
    b'--m\nContent-Type: image/jpeg; name="photo.jpg"\n'
    b'Content-Disposition: inline; filename="photo.jpg"\nContent-Transfer-Encoding: base64\n\n'
    b"/9j/4AAQSkZJRgABAQ==\n"
    b"--m\nContent-Type: text/html; charset=utf-8\nContent-Disposition: inline\n\n"
    b"<p>Please send a replacement to my new address: Hauptstr. 5, Berlin.</p>\n"
    b"--m--\n"
)


def test_inline_html_after_a_plain_part_in_mixed_is_read_in_order() -> None:
    parsed = parse_email(MIXED_PLAIN_IMAGE_HTML)
    assert parsed.text == (
        "My order 5521 arrived damaged, photo below.\n\n"
        "Please send a replacement to my new address: Hauptstr. 5, Berlin."
    )
    assert parsed.html_only is False
    assert [a.name for a in parsed.attachments] == ["photo.jpg"]


def test_html_before_plain_in_mixed_keeps_document_order() -> None:
    raw = HEAD + (
        b'Content-Type: multipart/mixed; boundary="m"\n\n'
        b"--m\nContent-Type: text/html\n\n<p>First, the <b>HTML</b> words.</p>\n"
        b"--m\nContent-Type: text/plain\n\nThen the plain words.\n--m--\n"
    )
    assert parse_email(raw).text == "First, the HTML words.\n\nThen the plain words."


def test_html_alternative_of_a_plain_part_is_still_skipped() -> None:
    """mime4j's overlapping-boundaries.msg: the alternative's HTML repeats the plain
    text and is not read; the inline HTML beside the alternative is content."""
    raw = HEAD + (
        b'Content-Type: multipart/mixed; boundary="----=_Part_1.130"\n\n'
        b'------=_Part_1.130\nContent-Type: multipart/alternative; boundary="----=_Part_1.1301"\n\n'
        b"------=_Part_1.1301\nContent-Type: text/plain; charset=UTF-8\n"
        b"Content-Transfer-Encoding: base64\n\ndGVzdC4uLg==\n"
        b"------=_Part_1.1301\nContent-Type: text/html; charset=UTF-8\n\n<b>test (html)</b>\n"
        b"------=_Part_1.1301--\n\n"
        b"------=_Part_1.130\nContent-Type: text/html; charset=UTF-8\n"
        b"Content-Transfer-Encoding: base64\nContent-Disposition: inline\n\naW1wb3J0YW50IHN0dWZm\n"
        b"------=_Part_1.130--\n"
    )
    assert parse_email(raw).text == "test...\n\nimportant stuff"


def test_html_in_mixed_repeating_the_plain_text_is_read_once() -> None:
    raw = HEAD + (
        b'Content-Type: multipart/mixed; boundary="m"\n\n'
        b"--m\nContent-Type: text/plain\n\nWhere is my parcel?\n"
        b"--m\nContent-Type: text/html\n\n<div>Where is my   parcel?</div>\n--m--\n"
    )
    assert parse_email(raw).text == "Where is my parcel?"


def test_html_attachment_beside_plain_stays_an_attachment_only() -> None:
    raw = HEAD + (
        b'Content-Type: multipart/mixed; boundary="m"\n\n'
        b"--m\nContent-Type: text/plain\n\nInvoice attached.\n"
        b'--m\nContent-Type: text/html\nContent-Disposition: attachment; filename="inv.html"\n\n'
        b"<p>Invoice 4411: 120 EUR</p>\n"
        b'--m\nContent-Type: text/html; name="terms.html"\n\n<p>Terms</p>\n--m--\n'
    )
    parsed = parse_email(raw)
    assert parsed.text == "Invoice attached."
    assert [a.name for a in parsed.attachments] == ["inv.html", "terms.html"]


# --- 2. inline PGP ---------------------------------------------------------------------------

PGP_FLOWED = (
    b"From: jaypee@hotpop.com\nTo: support@acme.test\nSubject: Re: throughput low\n"
    b"Message-Id: <1121349173l.5178l.0l@cavan>\nMIME-Version: 1.0\n"
    b"Content-Type: text/plain; charset=us-ascii; DelSp=Yes; Format=Flowed\n"
    b"Content-Transfer-Encoding: 8BIT\n\n"
    b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA1\n\n\n"
    b"Turning preempt on made no difference.\n\n"
    b"I put a scope on the TX enable line and it is high for ~100us and low  \n"
    b"~50us.\n\n"
    b"- -- \nmailto:jaypee@hotpop.com\nhttp://www.jaypee.org.uk\n"
    b"-----BEGIN PGP SIGNATURE-----\nVersion: GnuPG v1.4.1 (GNU/Linux)\n\n"
    b"iD8DBQFC1m41ZDxnKy3oOpYRAhooAJ9W7J8ZpXywqW0jPxc0b8hI3iS/DwCfZzWM\n"
    b"6lp6Z7cHYwW3WWW87SJrZPI=\n=1No0\n-----END PGP SIGNATURE-----\n"
)


def test_inline_pgp_signed_flowed_mail_is_its_signed_text() -> None:
    """The armor and signature go, ``- -- `` is the signature separator again (not
    joined into the next line by format=flowed), and the signature stays in the text
    as any ``-- `` block does."""
    parsed = parse_email(PGP_FLOWED)
    assert parsed.text == (
        "Turning preempt on made no difference.\n\n"
        "I put a scope on the TX enable line and it is high for ~100us and low ~50us.\n\n"
        "-- \nmailto:jaypee@hotpop.com\nhttp://www.jaypee.org.uk"
    )


def test_inline_pgp_dash_escaping_is_undone_and_text_around_the_block_kept() -> None:
    raw = HEAD + (
        b"Content-Type: text/plain\n\nAbove the block.\n"
        b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n"
        b"Patch below:\n- --- a/Config.in\n+++ b/Config.in\n- -  define_mbool X y\n"
        b"-----BEGIN PGP SIGNATURE-----\n\niQEzBAEBCAAdFiEE\n=GETl\n"
        b"-----END PGP SIGNATURE-----\nBelow the block.\n"
    )
    assert parse_email(raw).text == (
        "Above the block.\nPatch below:\n--- a/Config.in\n+++ b/Config.in\n"
        "-  define_mbool X y\nBelow the block."
    )


@pytest.mark.parametrize(
    "body",
    [
        # pasted armor line, no signature block
        b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA1\n\nHello\n- -- \nAnna\n",
        # signature block without its end line
        b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA1\n\nHello\n"
        b"-----BEGIN PGP SIGNATURE-----\n\niQEzBAEBCAAdFiEE\n",
        # no blank line after the armor headers
        b"-----BEGIN PGP SIGNED MESSAGE-----\nHello\n-----BEGIN PGP SIGNATURE-----\n\n"
        b"iQEzBAEBCAAdFiEE\n-----END PGP SIGNATURE-----\n",
        # a dash line that is not escaped
        b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA1\n\nHello\n--- list\n"
        b"-----BEGIN PGP SIGNATURE-----\n\niQEzBAEBCAAdFiEE\n-----END PGP SIGNATURE-----\n",
    ],
    ids=["no-signature", "no-end", "no-blank-line", "unescaped-dash"],
)
def test_a_malformed_pgp_block_keeps_the_customers_text(body: bytes) -> None:
    parsed = parse_email(HEAD + b"Content-Type: text/plain\n\n" + body)
    assert parsed.text == body.decode().rstrip("\n")


def test_an_encrypted_pgp_block_stays_and_is_flagged() -> None:
    body = "-----BEGIN PGP MESSAGE-----\n\nhQEMA1Xc0x4qM3ABAQf/Vg\n=Ab12\n-----END PGP MESSAGE-----"
    parsed = parse_email(HEAD + b"Content-Type: text/plain\n\n" + body.encode())
    assert parsed.text == body
    assert ENCRYPTED in parsed.warnings


# --- 3. calendar replies and invitations ----------------------------------------------------

CAL_REPLY = (
    b"From: Carol <carol@example.org>\nTo: support@acme.test\n"
    b"Subject: Accepted: Onboarding call\nMessage-ID: <accept1@example.org>\nMIME-Version: 1.0\n"
    b'Content-Type: text/calendar; method=REPLY; charset="utf-8"\n\n'
    b"BEGIN:VCALENDAR\nMETHOD:REPLY\nBEGIN:VEVENT\n"
    b"ATTENDEE;PARTSTAT=ACCEPTED:mailto:carol@example.org\nSUMMARY:Onboarding call\n"
    b"END:VEVENT\nEND:VCALENDAR\n"
)

OUTLOOK_REPLY = (
    b"From: Bob <bob@buyer.example>\nTo: support@acme.test\nSubject: Accepted: Quick sync\n"
    b"Message-ID: <r2@buyer.example>\nMIME-Version: 1.0\n"
    b'Content-Type: multipart/alternative; boundary="b"\n\n'
    b"--b\nContent-Type: text/plain\n\n \n"
    b"--b\nContent-Type: text/html\n\n<html><body><div>&nbsp;</div></body></html>\n"
    b'--b\nContent-Type: text/calendar; charset="utf-8"\n\n'
    b"BEGIN:VCALENDAR\nMETHOD:REPLY\nBEGIN:VEVENT\nSUMMARY:Quick sync\nEND:VEVENT\nEND:VCALENDAR\n"
    b"--b--\n"
)


@pytest.mark.parametrize("raw", [CAL_REPLY, OUTLOOK_REPLY], ids=["method-param", "method-body"])
def test_a_calendar_reply_without_text_is_machine_mail(raw: bytes) -> None:
    parsed, interaction = interpret(raw)
    assert parsed.auto_reply_reason == "calendar reply"
    assert interaction is not None
    assert interaction.auto_reply is True


async def test_the_endpoint_accepts_a_calendar_reply_flagged_as_auto_reply() -> None:
    publisher = Remembering()
    async with ingress_client(Settings(api_tokens=SecretStr("t")), publisher) as client:
        answer = await client.post(
            "/v1/channels/email",
            content=CAL_REPLY,
            headers={"content-type": "message/rfc822"},
        )
    assert answer.status_code == httpx.codes.ACCEPTED
    [(_, published)] = publisher.published
    assert published.auto_reply is True
    assert published.metadata["auto_reply_reason"] == "calendar reply"


@pytest.mark.parametrize("method", ["COUNTER", "DECLINECOUNTER", "CANCEL", "REFRESH"])
def test_other_calendar_bookkeeping_without_text_is_machine_mail(method: str) -> None:
    """A counter-proposal, a declined counter, a cancellation or a refresh request
    (RFC 5546) with no words of its own is the calendar program's, as a reply is."""
    raw = CAL_REPLY.replace(b"REPLY", method.encode())
    parsed = parse_email(raw)
    assert parsed.auto_reply_reason == f"calendar {method.lower()}"


def test_a_published_event_without_text_reads_its_summary() -> None:
    raw = CAL_REPLY.replace(b"REPLY", b"PUBLISH")
    parsed = parse_email(raw)
    assert (parsed.auto_reply_reason, parsed.text) == (None, "Onboarding call")


def test_a_calendar_reply_with_the_attendees_words_is_a_customer() -> None:
    raw = OUTLOOK_REPLY.replace(b"text/plain\n\n \n", b"text/plain\n\nCan we move it to 3pm?\n")
    parsed = parse_email(raw)
    assert parsed.auto_reply_reason is None
    assert parsed.text == "Can we move it to 3pm?"


def test_a_calendar_reply_with_another_attachment_is_a_customer() -> None:
    raw = HEAD + (
        b'Content-Type: multipart/mixed; boundary="m"\n\n'
        b"--m\nContent-Type: text/calendar; method=REPLY\n\n"
        b"BEGIN:VCALENDAR\nMETHOD:REPLY\nEND:VCALENDAR\n"
        b'--m\nContent-Type: application/pdf; name="agenda.pdf"\n\nJVBERi0=\n--m--\n'
    )
    assert parse_email(raw).auto_reply_reason is None


def test_an_invitation_without_text_reads_its_summary_and_description() -> None:
    raw = HEAD + (
        b'Content-Type: text/calendar; method=REQUEST; charset="utf-8"\n\n'
        b"BEGIN:VCALENDAR\nMETHOD:REQUEST\nBEGIN:VEVENT\nDTSTART:20250708T080000Z\n"
        b"SUMMARY;LANGUAGE=en:Renewal\\, contract 88-12\n"
        b"DESCRIPTION:Please bring the order numbers\\;\\n the invoices too.\\nThank\n"
        b"  you\n"
        b"BEGIN:VALARM\nDESCRIPTION:Reminder\nEND:VALARM\nEND:VEVENT\nEND:VCALENDAR\n"
    )
    parsed = parse_email(raw)
    assert parsed.auto_reply_reason is None
    assert parsed.text == (
        "Renewal, contract 88-12\n\nPlease bring the order numbers;\n the invoices too.\nThank you"
    )


def test_an_invitation_with_a_text_part_keeps_that_text() -> None:
    raw = HEAD + (
        b'Content-Type: multipart/mixed; boundary="z"\n\n'
        b"--z\nContent-Type: text/plain\n\nTeam meeting invitation\n"
        b'--z\nContent-Type: text/calendar; method=REQUEST; charset="utf-8"\n\n'
        b"BEGIN:VCALENDAR\nMETHOD:REQUEST\nBEGIN:VEVENT\nSUMMARY:Team meeting\n"
        b"END:VEVENT\nEND:VCALENDAR\n--z--\n"
    )
    assert parse_email(raw).text == "Team meeting invitation"


# --- 4. a nested multipart reusing its parent's boundary ----------------------------------

SAME = b"----=Part_0118260_79300441.9934604411926"
REUSED = (
    b"From: <femucca@tin.it>\nTo: <support@acme.test>\nSubject: immagine\nMIME-Version: 1.0\n"
    b'Content-Type: multipart/mixed;\n        boundary="' + SAME + b'"\n\n'
    b"--" + SAME + b"\n"
    b'Content-Type: multipart/alternative;\n boundary="' + SAME + b'"\n\n'
    b"--" + SAME + b'\nContent-Type: text/plain;\n\tcharset="utf-8"\n\n--Sent from my iPhone\n'
    b"--" + SAME + b'\nContent-Type: text/html;\n\tcharset="utf-8"\n\n'
    b'<div><font size="2">--Sent from my iPhone (html)</font></div>\n\n'
    b"--" + SAME + b"--\n\n"
    b"--" + SAME + b'\nContent-Type: application/zip; name="20160523_916527.jpg_.zip"\n'
    b"Content-Transfer-Encoding: base64\n\nUEsDBBQAAAAIAPNNuEio5rjV\n"
    b"--" + SAME + b"--\n"
)


def test_a_nested_multipart_reusing_its_parents_boundary_is_read_as_written() -> None:
    parsed = parse_email(REUSED)
    assert parsed.text == "--Sent from my iPhone"  # the plain alternative, not both
    assert [(a.name, a.content_type) for a in parsed.attachments] == [
        ("20160523_916527.jpg_.zip", "application/zip")
    ]
    assert parsed.warnings == [REUSED_BOUNDARY]
