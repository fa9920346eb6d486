"""Two shapes of older mail programs' output, found with third-party mail (mikel/mail's
``attachment_nonascii_filename.eml``, RFC 3798's read-receipt example): a file name
written in 8-bit Latin-1 without RFC 2047, and a ``Date`` with a comment before its
zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from channels.mail_text import parse_date
from channels.mime import parse_email

pytestmark = pytest.mark.unit

LATIN1_NAMED = (
    b"From: Anna <anna@example.de>\r\nTo: <support@acme.test>\r\nSubject: Datei\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
    b"--b\r\nContent-Type: text/plain; charset=ISO-8859-1\r\n\r\nAnbei die Datei.\r\n"
    b"--b\r\nContent-Type: text/plain; name=ci\xeble.txt\r\n"
    b"Content-Disposition: attachment; filename=ci\xeble.txt\r\n\r\nInhalt\r\n--b--\r\n"
)


def test_an_8bit_latin1_file_name_is_read_in_the_mails_charset() -> None:
    parsed = parse_email(LATIN1_NAMED)
    assert [a.name for a in parsed.attachments] == ["ciële.txt"]
    assert parsed.text == "Anbei die Datei."


@pytest.mark.parametrize(
    ("written", "instant"),
    [
        ("Wed, 20 Sep 1995 00:19:00 (EDT) -0400", datetime(1995, 9, 20, 4, 19, tzinfo=UTC)),
        ("Wed, 20 Sep 1995 00:19:00 -0400 (EDT)", datetime(1995, 9, 20, 4, 19, tzinfo=UTC)),
        ("Wed, 20 Sep 1995 (a comment) 00:19:00 +0200", datetime(1995, 9, 19, 22, 19, tzinfo=UTC)),
        ("Wed, 20 Sep 1995 00:19:00 (EDT)", datetime(1995, 9, 20, 0, 19, tzinfo=UTC)),
    ],
)
def test_a_comment_in_the_date_does_not_hide_its_zone(written: str, instant: datetime) -> None:
    """RFC 5322 section 3.2.2: a comment may stand between any two tokens of a date."""
    assert parse_date(written) == instant
