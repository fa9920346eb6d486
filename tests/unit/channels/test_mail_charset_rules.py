"""One charset rule for an email's bodies and headers: bytes that are valid UTF-8 under a
single-byte label (``iso-8859-1``, ``windows-1252``) are read as UTF-8 in an encoded-word
of the Subject or a display name as they are in a body, and a leading UTF-8 byte order
mark is not part of the text a customer wrote; no decoder leaves a lone surrogate (UTF-7's
``+2AA-``) in the event, which could not be written."""

from __future__ import annotations

import base64

import orjson
import pytest

from channels.charsets import decode_bytes
from channels.email import interpret, writable
from channels.mail_text import html_to_text, trim_text
from channels.mime import parse_email
from router.codec import encode_envelope
from router.settings import Settings
from tests.unit.channels.support import Remembering, ingress_client

pytestmark = pytest.mark.unit

BOM = b"\xef\xbb\xbf"
RFC822 = {"content-type": "message/rfc822"}


def mail(*headers: str, body: bytes = b"hello\r\n", content_type: str | None = None) -> bytes:
    lines = ["From: Anna <anna@example.com>", "To: support@example.com", *headers]
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def b_word(charset: str, text: str) -> str:
    return f"=?{charset}?B?{base64.b64encode(text.encode()).decode()}?="


# --- encoded-words: UTF-8 bytes under a single-byte label ---------------------------------


@pytest.mark.parametrize("charset", ["iso-8859-1", "ISO-8859-1", "windows-1252", "iso-8859-15"])
def test_a_subject_of_utf8_bytes_labelled_single_byte_reads_as_the_body_does(charset: str) -> None:
    raw = mail(
        f"Subject: {b_word(charset, 'café crème')}",
        content_type=f"text/plain; charset={charset}",
        body="café crème\r\n".encode(),
    )
    parsed = parse_email(raw)
    assert parsed.text == "café crème"
    assert parsed.subject == "café crème"


@pytest.mark.parametrize("label", ["windows-1252", "Windows-1252", "ISO-8859-15", "cp1252"])
def test_a_body_of_utf8_bytes_under_any_name_of_a_single_byte_charset(label: str) -> None:
    """``windows-1252`` is what mailers write; it names ``cp1252`` as ``iso-8859-1`` does."""
    assert decode_bytes("café crème".encode(), label) == "café crème"
    assert decode_bytes("café crème".encode("cp1252"), label) == "café crème"


def test_cyrillic_utf8_under_windows_1251_and_real_windows_1251() -> None:
    assert decode_bytes("Привет".encode(), "windows-1251") == "Привет"
    assert decode_bytes("Привет".encode("cp1251"), "windows-1251") == "Привет"


def test_the_audit_subject_reads_as_its_writer_wrote_it() -> None:
    parsed = parse_email(mail("Subject: =?iso-8859-1?B?Y2Fmw6kgY3LDqG1l?="))
    assert parsed.subject == "café crème"


def test_q_encoded_utf8_bytes_under_latin1_and_text_around_the_word() -> None:
    raw = mail("Subject: Re: =?iso-8859-1?Q?caf=C3=A9_cr=C3=A8me?= order 42")
    assert parse_email(raw).subject == "Re: café crème order 42"


def test_a_display_name_of_utf8_bytes_labelled_latin1() -> None:
    raw = mail().replace(
        b"From: Anna <anna@example.com>",
        f"From: {b_word('iso-8859-1', 'Zoë Müller')} <zoe@example.com>".encode(),
    )
    sender = parse_email(raw).sender
    assert sender is not None
    assert sender.name == "Zoë Müller"


def test_a_forwarded_messages_subject_follows_the_same_rule() -> None:
    inner = mail(f"Subject: {b_word('iso-8859-1', 'Rückerstattung')}")
    outer = mail(
        "Subject: Fwd",
        "MIME-Version: 1.0",
        content_type='multipart/mixed; boundary="b"',
        body=b"--b\r\nContent-Type: text/plain\r\n\r\nsee below\r\n"
        b"--b\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"\r\n--b--\r\n",
    )
    attached = parse_email(outer).attachments
    assert [a.name for a in attached] == ["Rückerstattung"]  # a forward is named by its Subject


def test_latin1_bytes_under_a_latin1_label_stay_latin1() -> None:
    """The rule reads UTF-8 only where the bytes are UTF-8: ``caf=E9`` is Latin-1."""
    assert parse_email(mail("Subject: =?iso-8859-1?Q?caf=E9_cr=E8me?=")).subject == "café crème"


def test_windows_quotes_under_a_latin1_label_are_quotes_as_in_a_body() -> None:
    """``iso-8859-1`` names the cp1252 family in bodies (``charsets.FAMILIES``), so 0x93
    and 0x94 are quotation marks, never the C1 controls U+0093 and U+0094."""
    raw = mail(
        "Subject: =?iso-8859-1?Q?=93refund=94?=",
        content_type="text/plain; charset=iso-8859-1",
        body=b"\x93refund\x94\r\n",
    )
    parsed = parse_email(raw)
    assert parsed.text == "\u201crefund\u201d"
    assert parsed.subject == "\u201crefund\u201d"


def test_a_utf8_labelled_subject_is_unchanged() -> None:
    raw = mail(f"Subject: {b_word('utf-8', 'naïve ☕')} and more")
    assert parse_email(raw).subject == "naïve ☕ and more"


# --- a leading byte order mark -----------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain; charset=utf-8",
        "text/plain; charset=iso-8859-1",
        "text/plain; charset=us-ascii",
    ],
)
def test_a_leading_bom_is_not_part_of_the_body_text(content_type: str | None) -> None:
    raw = mail(content_type=content_type, body=BOM + b"refund please\r\n")
    assert parse_email(raw).text == "refund please"


def test_a_leading_bom_in_base64_body() -> None:
    body = base64.b64encode(BOM + "Rückerstattung bitte".encode()) + b"\r\n"
    raw = mail(
        "Content-Transfer-Encoding: base64",
        content_type="text/plain; charset=utf-8",
        body=body,
    )
    assert parse_email(raw).text == "Rückerstattung bitte"


def test_a_leading_bom_in_an_encoded_subject() -> None:
    word = f"=?utf-8?B?{base64.b64encode(BOM + b'hello').decode()}?="
    assert parse_email(mail(f"Subject: {word}")).subject == "hello"


def test_decoding_and_trimming_drop_a_leading_bom_only() -> None:
    assert decode_bytes(BOM + b"caf\xc3\xa9", "utf-8") == "café"
    assert decode_bytes(BOM + b"plain", None) == "plain"
    assert trim_text("\ufeff\n\nrefund please\n") == "refund please"
    assert html_to_text("\ufeffrefund please") == "refund please"
    # one inside the text is a zero-width no-break space the writer put there: kept
    assert trim_text("a\ufeffb") == "a\ufeffb"


# --- UTF-7 and other codecs that decode to lone surrogates -------------------------------

LONE_SURROGATE = "+2AA-"  # UTF-7 for U+D800, half of a pair with no other half


def test_a_lone_surrogate_decoded_is_a_replacement_character() -> None:
    """A surrogate cannot be written as UTF-8: the event carrying one was never stored."""
    assert decode_bytes(f"Hi {LONE_SURROGATE} there".encode(), "utf-7") == "Hi \ufffd there"
    assert decode_bytes(b"Hi +2AA- there", "unicode-1-1-utf-7") == "Hi \ufffd there"
    assert decode_bytes("Hi é€ ok".encode("utf-7"), "utf-7") == "Hi é€ ok"


@pytest.mark.parametrize(
    ("header", "body", "field", "expected"),
    [
        ("Subject: s", b"Hi +2AA- there", "text", "Hi \ufffd there"),
        ("Subject: =?utf-7?Q?Hi_+2AA-?=", b"body", "subject", "Hi \ufffd"),
        ("Subject: s", b"body", "name", "Al\ufffd"),
    ],
)
async def test_a_utf7_lone_surrogate_is_accepted_and_stored(
    header: str, body: bytes, field: str, expected: str
) -> None:
    """Posted through the endpoint and encoded as the publisher encodes it: this was a 500,
    which the MTA retried for ever."""
    raw = mail(header, content_type="text/plain; charset=utf-7", body=body)
    if field == "name":
        raw = raw.replace(b"Anna <", b"=?utf-7?Q?Al+2AA-?= <")
    publisher = Remembering()
    async with ingress_client(Settings(), publisher) as client:
        resp = await client.post("/v1/channels/email", content=raw, headers=RFC822)
    assert resp.status_code == 202
    [(_, data)] = publisher.published
    record = encode_envelope(
        "id", "/s", "t", subject=None, time=None, data=data.model_dump(mode="json")
    )
    stored = orjson.loads(record)["data"]
    assert (stored["customer"] if field == "name" else stored)[field] == expected


def test_no_surrogate_from_any_decoder_reaches_the_event() -> None:
    """The last guard, for text the charset rules did not decode (the stdlib's own)."""
    _, interaction = interpret(mail())
    assert interaction is not None
    broken = interaction.model_copy(
        update={"subject": "a\ud800", "metadata": {"parse_warnings": ["b\udcff"]}}
    )
    fixed = writable(broken)
    assert (fixed.subject, fixed.metadata) == ("a\ufffd", {"parse_warnings": ["b\ufffd"]})
    assert writable(interaction) is interaction


# --- UTF-8 with a few bytes that are not ---------------------------------------------------

REPLY = "Die Rechnung für März fehlt noch."


def test_a_latin1_line_quoted_in_a_utf8_reply_leaves_the_reply_readable() -> None:
    """Read whole as a single-byte charset, the reply had come out ``fĂĽr MĂ¤rz``; the
    quoted line, in Latin-1, is read on its own."""
    quote = "> Sehr geehrte Frau Müller, Grüße aus Köln".encode("latin-1")
    raw = mail(
        content_type="text/plain; charset=utf-8",
        body=REPLY.encode() + b"\r\n\r\n" + quote + b"\r\n",
    )
    assert parse_email(raw).text == f"{REPLY}\n\n> Sehr geehrte Frau Müller, Grüße aus Köln"


@pytest.mark.parametrize("label", ["utf-8", None])
def test_a_character_cut_at_the_end_is_one_replacement_character(label: str | None) -> None:
    cut = "Grüße aus Kö".encode()[:-1]
    assert decode_bytes(REPLY.encode() + b"\n" + cut, label) == f"{REPLY}\nGrüße aus K\ufffd"


def test_bytes_that_are_not_utf8_under_a_utf8_label_are_still_read_in_their_charset() -> None:
    assert decode_bytes("Grüße aus Köln".encode("cp1252"), "utf-8") == "Grüße aus Köln"
    assert decode_bytes("Здравствуйте, мой заказ".encode("cp1251"), "utf-8") == (
        "Здравствуйте, мой заказ"
    )


def test_an_encoded_subject_with_its_last_character_cut_keeps_the_rest() -> None:
    """Had been ``Bestellung fÃ¼r KÃ¶ln``."""
    raw = mail("Subject: =?utf-8?Q?Bestellung_f=C3=BCr_K=C3=B6ln_=E2=82?=")
    assert parse_email(raw).subject == "Bestellung für Köln \ufffd"


def test_a_raw_utf8_subject_with_its_last_character_cut_keeps_the_rest() -> None:
    raw = mail().replace(b"To:", "Subject: Bestellung für Köln ".encode() + b"\xe2\x82\r\nTo:")
    assert parse_email(raw).subject == "Bestellung für Köln \ufffd"


def test_windows_1252_under_a_utf8_label_is_not_read_as_utf8_by_chance_pairs() -> None:
    """A capital or ß before a cp1252 quote or no-break space is a valid UTF-8 pair by
    chance (``É\\xa0`` is ``ɠ``, ``ß“`` is ``ߓ``): the text had been read line by line as
    UTF-8, such lines garbled, where it is all cp1252."""
    text = "Hallo Jörg,\r\ndas war „Spaß“.\r\nC'EST FERMÉ\xa0!\r\nSigned: “RENÉ”\r\nGrüße"
    assert decode_bytes(text.encode("cp1252"), "utf-8") == text


@pytest.mark.parametrize("subject", ["なのはな", "ままならない", "のびのび"])
def test_a_raw_shift_jis_or_euc_jp_header_is_not_read_as_utf8(subject: str) -> None:
    """Kana in these charsets hold valid two-byte UTF-8 sequences by chance, more of them
    than bad bytes: a raw header had come out as UTF-8 with U+FFFD."""
    for charset in ("shift_jis", "euc-jp"):
        raw = (
            b"From: a@example.jp\r\nTo: s@acme.test\r\nSubject: "
            + subject.encode(charset)
            + f"\r\nContent-Type: text/plain; charset={charset}\r\n\r\n".encode()
            + "こんにちは".encode(charset)
        )
        assert parse_email(raw).subject == subject, charset
