"""The MIME parser on the cases real mail throws at it; and it never raises."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.email import to_interaction
from channels.mime import HTML_STRIPPED, decode_words, parse_email
from channels.mime_parser import MAX_DEPTH, MAX_PARTS
from router.ids import message_key

pytestmark = pytest.mark.unit


def mail(headers: str, body: bytes = b"body\n") -> bytes:
    return headers.strip().replace("\n", "\r\n").encode("utf-8") + b"\r\n\r\n" + body


def test_encoded_words_split_inside_a_character_are_joined() -> None:
    # "Grüße" base64-encoded in two words that split the UTF-8 bytes of "ü".
    raw = mail("From: a@example.com\nSubject: =?utf-8?b?R3LD?= =?utf-8?b?vMOfZQ==?=")
    assert parse_email(raw).subject == "Grüße"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("=?iso-8859-1?q?caf=E9?=", "café"),
        ("=?UTF-8?Q?na=C3=AFve_text?=", "naïve text"),
        ("=?utf-8?b?8J+Yig?=", "😊"),  # missing padding
        ("=?x-unknown?q?plain?=", "plain"),  # unknown charset
        ("=?windows-1252?q?=93quoted=94?=", "“quoted”"),
        ("plain  and\n folded", "plain and folded"),
    ],
)
def test_subject_decoding(header: str, expected: str) -> None:
    assert parse_email(mail(f"From: a@example.com\nSubject: {header}")).subject == expected


def test_raw_utf8_headers_rfc6532() -> None:
    raw = "From: Zoë <zoë@exämple.com>\r\nSubject: Grüße\r\n\r\nbody\r\n".encode()
    parsed = parse_email(raw)
    assert parsed.subject == "Grüße"
    assert parsed.sender is not None
    assert parsed.sender.name == "Zoë"
    assert parsed.sender.email == "zoë@xn--exmple-cua.com"


def test_raw_latin1_header_falls_back() -> None:
    raw = b"From: a@example.com\r\nSubject: caf\xe9\r\n\r\nx\r\n"
    assert parse_email(raw).subject == "café"


@pytest.mark.parametrize(
    ("text", "codec"),
    [
        ("Прошу вернуть деньги за заказ 4711, товар пришёл сломанным.", "cp1251"),
        ("Прошу вернуть деньги за заказ 4711, товар пришёл сломанным.", "koi8_r"),
        ("주문 4711 환불 부탁드립니다. 상품이 파손되었습니다.", "euc-kr"),
        ("We’re sorry – it’s “broken”.", "cp1252"),
        ("Die Lieferung ist unvollständig, bitte erstatten Sie den Betrag.", "cp1252"),
    ],
)
def test_eight_bit_text_labelled_ascii_reads_as_if_unlabelled(text: str, codec: str) -> None:
    """``charset=us-ascii`` over 8-bit bytes is wrong whatever they are: they had been read
    as cp1252, so a Russian or Korean customer's words arrived as mojibake (the same bytes
    with no label were read right)."""
    head = b"From: k@example.ru\r\nSubject: x\r\nContent-Type: text/plain; charset=us-ascii\r\n"
    raw = head + b"Content-Transfer-Encoding: 8bit\r\n\r\n" + text.encode(codec)
    assert parse_email(raw).text == text


def test_rfc2231_filename_continuations_and_charsets() -> None:
    body = b"""--b\r
Content-Type: text/plain; charset=koi8-r\r
Content-Transfer-Encoding: 8bit\r
\r
\xf0\xd2\xc9\xd7\xc5\xd4\r
--b\r
Content-Type: application/octet-stream\r
Content-Disposition: attachment;\r
 filename*0*=utf-8''%E6%97%A5%E6%9C%AC;\r
 filename*1*=%E8%AA%9E.txt\r
Content-Transfer-Encoding: base64\r
\r
aGVsbG8=\r
--b\r
Content-Type: image/png; name="=?utf-8?q?b=C3=A9b=C3=A9.png?="\r
Content-Disposition: inline\r
Content-ID: <img1>\r
Content-Transfer-Encoding: base64\r
\r
iVBORw0KGgo=\r
--b--\r
"""
    raw = mail('From: a@example.com\nContent-Type: multipart/mixed; boundary="b"', body)
    parsed = parse_email(raw)
    assert parsed.text == "Привет"
    assert [(a.name, a.content_type, a.size) for a in parsed.attachments] == [
        ("日本語.txt", "application/octet-stream", 5),
        ("bébé.png", "image/png", 8),
    ]


def test_html_only_becomes_readable_text() -> None:
    html = (
        b"<html><head><style>p{}</style></head>"
        b"<body><p>Hello&nbsp;there</p><ul><li>one</li></ul></body></html>"
    )
    parsed = parse_email(mail("From: a@example.com\nContent-Type: text/html; charset=utf-8", html))
    assert parsed.html_only
    assert "Hello\xa0there" in parsed.text or "Hello there" in parsed.text
    assert "one" in parsed.text
    assert "<" not in parsed.text


DEEP_HTML = {
    "260 divs": (b"<div>" * 260 + b"<p>My order 123 is late</p>" + b"</div>" * 260, ""),
    "70 tables": (
        b"<table><tbody><tr><td>" * 70 + b"My order 123 is late"
        + b"</td></tr></tbody></table>" * 70,
        "",
    ),
    "text after the nesting": (
        b"<p>My order</p>" + b"<div>" * 300 + b"123 is late" + b"</div>" * 300
        + b"<p>&amp; <!-- no --><script>x()</script>unpaid</p>",
        " & unpaid",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(DEEP_HTML))
def test_html_nested_deeper_than_the_parser_reads_keeps_its_text(name: str) -> None:
    """lxml stops at 256 nested elements without an error: the text below and after was
    lost, the first two mails were empty, and nothing said so."""
    html, after = DEEP_HTML[name]
    raw = mail("From: a@example.com\nContent-Type: text/html; charset=utf-8", html)
    parsed = parse_email(raw)
    assert " ".join(parsed.text.split()) == "My order 123 is late" + after
    assert parsed.warnings == [HTML_STRIPPED]


def test_plain_is_preferred_over_html() -> None:
    body = b"""--a\r
Content-Type: text/html\r
\r
<b>html</b>\r
--a\r
Content-Type: text/plain\r
\r
plain\r
--a--\r
"""
    raw = mail('From: a@example.com\nContent-Type: multipart/alternative; boundary="a"', body)
    assert parse_email(raw).text == "plain"


def alternatives(*parts: tuple[str, bytes]) -> bytes:
    body = b"".join(
        b"--a\r\nContent-Type: " + ctype.encode() + b"\r\n\r\n" + text + b"\r\n"
        for ctype, text in parts
    )
    headers = 'From: a@example.com\nContent-Type: multipart/alternative; boundary="a"'
    return mail(headers, body + b"--a--\r\n")


@pytest.mark.parametrize(
    ("parts", "text"),
    [
        # RFC 2046 §5.1.4: the last alternative is the preferred one
        ((("text/plain", b"first"), ("text/plain", b"hello world")), "hello world"),
        ((("text/plain", b"plain"), ("text/html", b"<b>html</b>")), "plain"),
        ((("text/plain", b"old"), ("text/plain", b"new"), ("text/html", b"<b>x</b>")), "new"),
        # a blank plain alternative is no text to read: the HTML is
        ((("text/plain", b"first"), ("text/plain", b" "), ("text/html", b"<p>h</p>")), "first"),
        ((("text/plain", b""), ("text/html", b"<p>html</p>")), "html"),
        ((("text/html", b"<p>one</p>"), ("text/html", b"<p>two</p>")), "two"),
        ((("text/html", b"<p>one</p>"), ("text/html", b" ")), "one"),
    ],
)
def test_the_last_alternative_with_plain_text_is_read(
    parts: tuple[tuple[str, bytes], ...], text: str
) -> None:
    assert parse_email(alternatives(*parts)).text == text


def test_a_close_delimiter_glued_to_the_last_line_ends_the_part() -> None:
    """thirdparty/005 of the stalwart corpus: ``invalid--1--``, no line break before it."""
    body = b"--1\r\nContent-Type: text/plain\r\n\r\nfirst\r\n--1\r\n\r\nlast line--1--\r\n"
    raw = mail('From: a@example.com\nContent-Type: multipart/mixed; boundary="1"', body)
    assert parse_email(raw).text == "first\n\nlast line"


def test_a_closed_multipart_keeps_a_last_line_ending_like_its_boundary() -> None:
    body = b"--1\r\n\r\nscore: 3--1--\r\n--1--\r\n"
    raw = mail('From: a@example.com\nContent-Type: multipart/mixed; boundary="1"', body)
    assert parse_email(raw).text == "score: 3--1--"


def test_undeclared_8bit_body_and_broken_base64() -> None:
    raw = mail("From: a@example.com\nContent-Type: text/plain", b"d\xe9j\xe0 vu\r\n")
    assert parse_email(raw).text == "déjà vu"
    broken = mail(
        "From: a@example.com\nContent-Type: text/plain\nContent-Transfer-Encoding: base64",
        b"aGVsbG8gd29y!!bGQ\r\n",
    )
    assert parse_email(broken).text == "hello world"


def test_a_part_labelled_utf8_in_windows_1252_is_read_as_written() -> None:
    """Kept, not U+FFFD as stalwart reads thirdparty/002: a UTF-8 label gets the fallbacks
    of any label (docs/ingress.md, "Charsets"), for the Latin-1 mail sent under it."""
    raw = mail("From: a@example.com\nContent-Type: text/plain; charset=utf-8", b"caf\xe9\r\n")
    assert parse_email(raw).text == "café"


def test_ids_dates_and_recipients() -> None:
    raw = mail(
        "From: A <A@Example.com>\nTo: undisclosed-recipients:;\nCc: Support <Help@Acme.test>\n"
        "Message-ID:   <x1@host>  \nIn-Reply-To: <p@host> (Bob's message)\n"
        "References: <r1@host>\n <r2@host> <r1@host>\nDate: Tue, 3 Nov 2026 10:15:00 -0500"
    )
    parsed = parse_email(raw)
    assert parsed.message_id == "x1@host"
    assert parsed.in_reply_to == "p@host"
    assert parsed.references == ["r1@host", "r2@host"]
    assert parsed.inbox == "help@acme.test"
    assert parsed.date is not None
    assert parsed.date.isoformat() == "2026-11-03T15:15:00+00:00"


def test_message_ids_are_kept_as_written_and_compare_case_insensitively_in_the_domain() -> None:
    """Kept as written, so an auto-reply names the parent byte for byte (mail clients
    thread by exact ids); filed and looked up by ``message_key``, so a mailer that
    changes a domain's case still answers the same message."""
    raw = mail(
        "From: a@example.com\nMessage-ID: <m2.R@Mail.Example>\n"
        "In-Reply-To: <m1.R@MAIL.EXAMPLE>\nReferences: <m0.R@Mail.EXAMPLE> <m1.R@mail.example>"
    )
    parsed = parse_email(raw)
    assert parsed.message_id == "m2.R@Mail.Example"
    assert parsed.in_reply_to == "m1.R@MAIL.EXAMPLE"
    assert parsed.references == ["m0.R@Mail.EXAMPLE", "m1.R@mail.example"]
    assert message_key(parsed.in_reply_to) == message_key(parsed.references[-1])


def test_bad_date_is_none() -> None:
    assert parse_email(mail("From: a@example.com\nDate: the day after tomorrow")).date is None


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ("Auto-Submitted: auto-replied", "auto-submitted: auto-replied"),
        ("Auto-Submitted: Auto-Generated; owner-email=x@y", "auto-submitted: auto-generated"),
        ("X-Autoreply: yes", "x-autoreply"),
        ("X-Autorespond: Out of office", "x-autorespond"),
        ("Precedence: bulk", "precedence: bulk"),
        ("Precedence: junk", "precedence: junk"),
        ("Precedence: list", "precedence: list"),
        ("X-Failed-Recipients: b@example.com", "x-failed-recipients"),
        ("Return-Path: <>", "return-path: <>"),
    ],
)
def test_auto_replies_are_recognised(headers: str, reason: str) -> None:
    parsed = parse_email(mail(f"From: a@example.com\n{headers}"))
    assert parsed.auto_reply_reason == reason


@pytest.mark.parametrize(
    "sender",
    [
        "MAILER-DAEMON@mx.example.com",
        "postmaster@example.com",
        "Mail Delivery <mailer-daemon@x.org>",
    ],
)
def test_bounce_senders_are_recognised(sender: str) -> None:
    assert parse_email(mail(f"From: {sender}")).auto_reply_reason is not None


def test_dsn_multipart_report_is_recognised_and_body_is_the_human_part() -> None:
    body = b"""--r\r
Content-Type: text/plain\r
\r
Delivery to b@example.com failed.\r
--r\r
Content-Type: message/delivery-status\r
\r
Reporting-MTA: dns; mx.example.com\r
\r
Final-Recipient: rfc822; b@example.com\r
Action: failed\r
--r--\r
"""
    raw = mail(
        "From: Bounces <bounce@mx.example.com>\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="r"',
        body,
    )
    parsed = parse_email(raw)
    assert parsed.auto_reply_reason == "multipart/report"
    assert parsed.text == "Delivery to b@example.com failed."


def test_human_mail_is_not_auto() -> None:
    assert parse_email(mail("From: a@example.com\nAuto-Submitted: no")).auto_reply_reason is None


def test_decode_words_leaves_garbage_alone() -> None:
    assert decode_words("=?utf-8?b?!!!?=") == "=?utf-8?b?!!!?="


FRAGMENTS = [
    b"From: ",
    b"a@b.c",
    b"=?utf-8?b?",
    b"?=",
    b"=?x?q?=FF?=",
    b"\r\n",
    b"\n",
    b" ",
    b"\t",
    b"Content-Type: multipart/mixed; boundary=",
    b"--",
    b"b",
    b"\r\n--b\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"Content-Disposition: attachment; filename*0*=utf-8''%E2%82",
    b"; charset=",
    b"\xff\xfe",
    b"\x00",
    b"Subject: ",
    b"Message-ID: <",
    b">",
    b"Date: ",
    b"Mon, 32 Foo 99999",
    b":",
    b";",
    b'"',
    b"<html><p>",
    b"message/rfc822\r\n",
    b"Content-Type: text/html\r\n",
    b"Content-Type: text/plain; format=flowed; delsp=yes\r\n",
    b"message/partial\r\n",
    b"> ",
    b"-- \r\n",
    b"==",
]
mime_like = st.lists(st.sampled_from(FRAGMENTS) | st.binary(max_size=12), max_size=60).map(b"".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000) | mime_like)
def test_parsing_never_raises(raw: bytes) -> None:
    parsed = parse_email(raw)
    assert isinstance(parsed.text, str)
    for attachment in parsed.attachments:
        assert attachment.size is not None
        assert attachment.size >= 0


HEADERS = "From: Dana <dana@example.com>\nTo: support@acme.test\nSubject: hi\nMessage-ID: <m-1@x>\n"


@pytest.mark.parametrize(
    ("extra", "body"),
    [
        ("Date: Fri, 31 Dec 9999 23:59:59 -1200\n", "hello"),  # past datetime.max in UTC
        ('Content-Type: text/plain; charset="utf-8\0"\n', "hello"),  # a NUL in the label
        ("Content-Type: multipart/mixed; boundary=b\n", "--b\n" * 3000 + "hello"),
    ],
)
def test_what_cannot_be_read_drops_that_part_and_keeps_the_sender(extra: str, body: str) -> None:
    parsed = parse_email(f"{HEADERS}{extra}\n{body}".encode())
    assert parsed.sender is not None
    assert parsed.sender.email == "dana@example.com"
    assert parsed.inbox == "support@acme.test"
    assert parsed.message_id == "m-1@x"
    assert "hello" in parsed.text
    assert parsed.date is None


def test_a_body_nested_too_deeply_ends_at_the_depth_limit_and_keeps_its_headers() -> None:
    """1500 levels raised RecursionError in the stdlib parser; the parts past MAX_DEPTH
    are now not read, and the record says so."""
    nested = "".join(
        f"Content-Type: multipart/mixed; boundary=b{i}\n\n--b{i}\n" for i in range(1500)
    )
    parsed = parse_email(f"{HEADERS}{nested}Content-Type: text/plain\n\nhello".encode())
    assert parsed.sender is not None
    assert parsed.sender.email == "dana@example.com"
    assert parsed.subject == "hi"
    assert parsed.warnings == [f"MIME parts nested deeper than {MAX_DEPTH} levels not read"]


def test_the_inbox_is_the_address_the_mail_was_delivered_to_when_it_is_in_copy() -> None:
    copied = "From: carol@example.com\nTo: Dave <dave@partner.example>\nCc: billing@acme.test\n"
    parsed = parse_email(f"Delivered-To: billing@acme.test\n{copied}Subject: x\n\nhi".encode())
    assert parsed.inbox == "billing@acme.test"
    plain = parse_email(f"{copied}Subject: x\n\nhi".encode())
    assert plain.inbox == "dave@partner.example"  # no delivery header: the first To
    alias = "From: c@example.com\nTo: support@acme.test\nDelivered-To: acme@mail.example\n\nhi"
    assert parse_email(alias.encode()).inbox == "support@acme.test"  # forwarded alias


def many_attachments(count: int) -> bytes:
    parts = b"".join(
        b"--b\r\nContent-Type: application/pdf\r\n"
        b'Content-Disposition: attachment; filename="f%d.pdf"\r\n\r\nx\r\n' % i
        for i in range(count)
    )
    body = b"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n" + parts + b"--b--\r\n"
    return mail('From: a@example.com\nContent-Type: multipart/mixed; boundary="b"', body)


def test_attachments_past_the_part_limit_are_said_to_be_missing() -> None:
    """3000 attachments listed 498 and said nothing: the record now tells the agent the
    list is incomplete, and how many parts were not read."""
    parsed = parse_email(many_attachments(3000))
    assert len(parsed.attachments) == MAX_PARTS - 2  # the multipart and the text took two
    assert parsed.text == "see attached"
    [warning] = [w for w in parsed.warnings if w.startswith("attachments:")]
    assert f"only the first {MAX_PARTS} MIME parts" in warning
    assert "2502 more not listed" in warning
    interaction = to_interaction(parsed, 0)
    assert warning in interaction.metadata["parse_warnings"]


def test_attachments_within_the_part_limit_carry_no_warning() -> None:
    parsed = parse_email(many_attachments(MAX_PARTS - 2))
    assert len(parsed.attachments) == MAX_PARTS - 2
    assert parsed.warnings == []


@pytest.mark.parametrize(
    ("ctype", "body"),
    [
        (
            'message/partial; id="p1@example.com"; number=2; total=3',
            b"Subject: part two\r\n\r\nsecond third of the message\r\n",
        ),
        (
            "message/external-body; access-type=anon-ftp; site=ftp.example.com; name=log.txt",
            b"Content-Type: text/plain\r\nContent-ID: <log@example.com>\r\n\r\n",
        ),
    ],
)
def test_other_message_parts_report_the_size_of_their_body(ctype: str, body: bytes) -> None:
    raw = mail(
        'From: a@example.com\nContent-Type: multipart/mixed; boundary="b"',
        b"--b\r\nContent-Type: text/plain\r\n\r\nsee part\r\n--b\r\nContent-Type: "
        + ctype.encode()
        + b"\r\n\r\n"
        + body
        + b"\r\n--b--\r\n",
    )
    [attachment] = parse_email(raw).attachments
    assert attachment.content_type == ctype.split(";", maxsplit=1)[0]
    assert attachment.size is not None
    assert attachment.size == len(body)


def test_flowed_lines_join_only_at_the_same_quote_depth_and_never_across_a_signature() -> None:
    body = b"> asked \r\n>> older \r\nanswered \r\n-- \r\nAnna\r\n"
    raw = mail("From: a@example.com\nContent-Type: text/plain; charset=utf-8; format=flowed", body)
    assert parse_email(raw).text == "> asked\n>> older\nanswered\n-- \nAnna"


@pytest.mark.parametrize(
    ("from_header", "name"),
    [
        # one UTF-8 character's bytes split across two encoded words, as mailers fill them
        ("=?UTF-8?B?5rOo5g==?= =?UTF-8?B?loc=?= <k@example.jp>", "注文"),
        ("=?UTF-8?Q?Ren=C3?= =?UTF-8?Q?=A9e?= <r@example.fr>", "Renée"),
        # a name given as a comment may be encoded too (RFC 2047 section 5)
        ("anna@example.de (Anna =?utf-8?Q?M=C3=BCller?=)", "Anna Müller"),
    ],
)
def test_an_encoded_display_name_reads_whole(from_header: str, name: str) -> None:
    """The name had come out as mojibake, or with the encoded word left raw."""
    raw = f"From: {from_header}\r\nSubject: x\r\n\r\nhello\r\n".encode()
    sender = parse_email(raw).sender
    assert sender is not None
    assert sender.name == name


def test_a_hz_gb_2312_body_is_decoded() -> None:
    """HZ is 7-bit: its ``~{ ~}`` shifts are ASCII, so the body had stayed as written."""
    head = b"From: k@example.cn\r\nSubject: x\r\nContent-Type: text/plain; charset=hz-gb-2312"
    text = "请退还订单4711的款项。"
    assert parse_email(head + b"\r\n\r\n" + text.encode("hz")).text == text
