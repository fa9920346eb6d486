"""The email audit's findings: a customer writing to themselves with the inbox in Bcc,
headers longer than the parser reads (References, In-Reply-To, Subject), ``html_only``
with empty text/plain parts, and the text of a mail that is only an inline ``msg.txt``
or only a forwarded message."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from channels.email import interpret
from channels.header_policy import MAX_HEADER_CHARS
from channels.mail_headers import MAX_REFERENCES
from channels.mime import parse_email
from router.events import Interaction
from router.settings import Settings
from tests.unit.channels.support import Remembering, ingress_client

pytestmark = pytest.mark.unit

RFC822 = {"content-type": "message/rfc822"}
SUPPORT = "support@acme.test"


def client_for(publisher: Remembering, groups: frozenset[str] = frozenset()) -> httpx.AsyncClient:
    settings = Settings(api_tokens=SecretStr("t"), email_group_addresses=groups)
    return ingress_client(settings, publisher)


@pytest.fixture
def publisher() -> Remembering:
    return Remembering()


@pytest.fixture
async def client(publisher: Remembering) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(publisher) as c:
        yield c


def event(raw: bytes, groups: frozenset[str] = frozenset()) -> Interaction:
    _, interaction = interpret(raw, group_addresses=groups)
    assert interaction is not None
    return interaction


# --- 1. written to oneself, the inbox in Bcc ---------------------------------------------

BCC_SELF = {
    "self-and-friend": (
        b"From: Kim <kim4@cust.test>\r\nTo: kim4@cust.test, friend@else.test\r\n"
        b"Delivered-To: support@acme.test\r\nSubject: bcc self+friend\r\n"
        b"Message-ID: <s4@cust.test>\r\n\r\nhello\r\n",
        "kim4@cust.test",
    ),
    "self-alone": (
        b"From: Kim <kim3@cust.test>\r\nTo: Kim <kim3@cust.test>\r\n"
        b"Delivered-To: support@acme.test\r\nSubject: bcc self\r\n"
        b"Message-ID: <s3@cust.test>\r\n\r\nhello\r\n",
        "kim3@cust.test",
    ),
    "x-original-to": (
        b"From: Kim <kim4@cust.test>\r\nTo: kim4@cust.test, friend@else.test\r\n"
        b"X-Original-To: support@acme.test\r\nSubject: bcc self+friend\r\n"
        b"Message-ID: <s5@cust.test>\r\n\r\nhello\r\n",
        "kim4@cust.test",
    ),
    "self-cc-sales": (
        b"From: Kim <kim4@cust.test>\r\nTo: kim4@cust.test\r\nCc: sales@acme.test\r\n"
        b"Delivered-To: support@acme.test\r\nSubject: bcc self, cc sales\r\n"
        b"Message-ID: <s6@cust.test>\r\n\r\nhello\r\n",
        "kim4@cust.test",
    ),
}


@pytest.mark.parametrize("name", sorted(BCC_SELF))
async def test_a_customer_writing_to_themselves_with_us_in_bcc_is_accepted(
    name: str, client: httpx.AsyncClient, publisher: Remembering
) -> None:
    raw, customer = BCC_SELF[name]
    resp = await client.post("/v1/channels/email", content=raw, headers=RFC822)
    assert resp.status_code == 202, resp.text
    [(provider_id, data)] = publisher.published
    assert (data.customer.email, data.customer.name, data.inbox) == (customer, "Kim", SUPPORT)
    assert "customer_from" not in data.metadata
    assert (provider_id or "").endswith(f"\x1f{customer}")  # published under Kim


def test_the_inbox_of_a_mail_written_to_oneself_is_the_delivery_address() -> None:
    raw, _ = BCC_SELF["self-and-friend"]
    parsed = parse_email(raw)
    assert (parsed.to_self, parsed.inbox) == (True, SUPPORT)


async def test_a_mail_from_to_and_delivered_to_one_address_is_still_refused(
    client: httpx.AsyncClient, publisher: Remembering
) -> None:
    raw = (
        b"From: Kim <kim3@cust.test>\r\nTo: kim3@cust.test\r\nDelivered-To: kim3@cust.test\r\n"
        b"Subject: to me\r\nMessage-ID: <s7@cust.test>\r\n\r\nhello\r\n"
    )
    resp = await client.post("/v1/channels/email", content=raw, headers=RFC822)
    assert resp.status_code == 400, resp.text
    assert resp.json()["errors"][0]["pointer"] == "/headers/from"
    assert publisher.published == []


def group_mail(writer_headers: str) -> bytes:
    """Our Google Group rewrote From to itself, delivered to a member mailbox."""
    return (
        "From: 'Anna' via Support <support@acme.test>\r\nTo: support@acme.test\r\n"
        f"Delivered-To: support-member@acme.test\r\n{writer_headers}"
        "List-ID: <support.acme.test>\r\nSubject: Invoice\r\n"
        "Message-ID: <gg-anna@example.de>\r\n\r\nHello\r\n"
    ).encode()


async def test_our_group_delivered_to_a_member_mailbox_naming_nobody_is_still_refused(
    publisher: Remembering,
) -> None:
    async with client_for(publisher, frozenset({SUPPORT})) as client:
        resp = await client.post("/v1/channels/email", content=group_mail(""), headers=RFC822)
    assert resp.status_code == 400, resp.text
    assert SUPPORT in resp.json()["detail"]
    assert publisher.published == []


def test_our_group_delivered_to_a_member_mailbox_keeps_the_group_as_inbox() -> None:
    mail = event(group_mail("X-Original-Sender: anna@example.de\r\n"), frozenset({SUPPORT}))
    assert (mail.customer.email, mail.inbox) == ("anna@example.de", SUPPORT)


def test_a_form_sent_from_the_support_address_to_itself_keeps_the_visitor() -> None:
    """A web form or shop mailing from the support address with the visitor in Reply-To,
    delivered to another mailbox: the support address is not the writer."""
    raw = (
        b"From: Shop <support@acme.test>\r\nTo: support@acme.test\r\n"
        b"Delivered-To: helpdesk@acme.test\r\nReply-To: Vera <visitor@example.org>\r\n"
        b"Subject: Contact form\r\n\r\nPlease call me\r\n"
    )
    mail = event(raw)
    assert (mail.customer.email, mail.inbox) == ("visitor@example.org", SUPPORT)
    assert mail.metadata["customer_from"] == "reply-to"


def test_a_configured_group_address_writing_to_itself_is_never_the_customer() -> None:
    raw = (
        b"From: support@acme.test\r\nTo: support@acme.test\r\n"
        b"Delivered-To: support-member@acme.test\r\nSubject: note\r\n\r\nhi\r\n"
    )
    _, interaction = interpret(raw, group_addresses=frozenset({SUPPORT}))
    assert interaction is None


# --- 2. References and In-Reply-To longer than the parser reads -------------------------


def with_header(header: str) -> bytes:
    return (
        f"From: ada@example.com\r\nTo: {SUPPORT}\r\n{header}\r\nSubject: re\r\n\r\nhi\r\n"
    ).encode()


def test_a_references_header_over_the_limit_keeps_its_last_ids() -> None:
    refs = " ".join(f"<ref-{i:05d}@x.test>" for i in range(6000))
    assert len(refs) > MAX_HEADER_CHARS
    parsed = parse_email(with_header(f"References: {refs}"))
    assert len(parsed.references) == MAX_REFERENCES
    assert parsed.references[0] == "ref-05900@x.test"
    assert parsed.references[-1] == "ref-05999@x.test"  # the parent


def test_a_folded_references_header_over_the_limit_keeps_its_last_ids() -> None:
    refs = "\r\n ".join(f"<ref-{i:05d}@x.test>" for i in range(6000))
    parsed = parse_email(with_header(f"References: {refs}"))
    assert parsed.references[-2:] == ["ref-05998@x.test", "ref-05999@x.test"]


def test_the_id_the_references_cut_falls_in_is_not_kept() -> None:
    """Ids without brackets are read by whitespace; the cut one is not an id."""
    huge = "a" * (MAX_HEADER_CHARS + 10) + "@x.test"
    parsed = parse_email(with_header(f"References: {huge} p1@x.test p2@x.test"))
    assert parsed.references == ["p1@x.test", "p2@x.test"]


def test_an_in_reply_to_over_the_limit_is_dropped_with_a_warning() -> None:
    huge = "a" * (MAX_HEADER_CHARS + 10) + "@x.test"
    mail = event(with_header(f"In-Reply-To: <{huge}>"))
    assert mail.thread.in_reply_to is None
    assert mail.metadata["parse_warnings"] == [
        f"in-reply-to: an id longer than {MAX_HEADER_CHARS} characters dropped"
    ]


def test_an_in_reply_to_over_the_limit_keeps_a_first_id_before_the_cut() -> None:
    huge = "a" * (MAX_HEADER_CHARS + 10) + "@x.test"
    parsed = parse_email(with_header(f"In-Reply-To: <p1@X.test>\r\n <{huge}>"))
    assert (parsed.in_reply_to, parsed.warnings) == ("p1@X.test", [])


# --- 3. a Subject over the limit ---------------------------------------------------------


def test_a_subject_over_the_limit_is_cut_with_a_warning() -> None:
    mail = event(with_header("Subject: " + "s" * 70000).replace(b"Subject: re\r\n", b""))
    assert mail.subject == "s" * MAX_HEADER_CHARS
    assert mail.metadata["parse_warnings"] == [
        f"subject: 70000 characters, cut to the first {MAX_HEADER_CHARS}"
    ]


def test_a_long_subject_within_the_limit_has_no_warning() -> None:
    parsed = parse_email(with_header("Subject: " + "s" * 60000).replace(b"Subject: re\r\n", b""))
    assert (len(parsed.subject or ""), parsed.warnings) == (60000, [])


# --- 4. html_only only without a text/plain part -----------------------------------------


def mixed(*parts: tuple[str, str], kind: str = "mixed") -> bytes:
    body = "".join(f"--B\r\n{headers}\r\n\r\n{text}\r\n" for headers, text in parts)
    return (
        f"From: ada@example.com\r\nTo: {SUPPORT}\r\nSubject: parts\r\n"
        f'Content-Type: multipart/{kind}; boundary="B"\r\n\r\n{body}--B--\r\n'
    ).encode()


@pytest.mark.parametrize("kind", ["mixed", "alternative"])
def test_empty_plain_parts_beside_html_are_not_html_only(kind: str) -> None:
    """CPython's test_email msg_08.txt: empty text/plain parts and an HTML part."""
    raw = mixed(
        ('Content-Type: text/plain; charset="us-ascii"', ""),
        ("Content-Type: text/html", "<p>Hello from HTML</p>"),
        kind=kind,
    )
    mail = event(raw)
    assert mail.text == "Hello from HTML"
    assert "html_only" not in mail.metadata


def test_html_without_any_plain_part_is_still_html_only() -> None:
    mail = event(mixed(("Content-Type: text/html", "<p>Hello from HTML</p>")))
    assert (mail.text, mail.metadata["html_only"]) == ("Hello from HTML", True)


# --- 5. the text of an inline msg.txt, of a forwarded message ----------------------------

INLINE_TXT = 'Content-Type: text/plain\r\nContent-Disposition: inline;\r\n\tfilename="msg.txt"'


def test_an_inline_text_part_with_a_file_name_is_the_text_when_there_is_no_other() -> None:
    """CPython's test_email msg_04.txt."""
    parsed = parse_email(mixed((INLINE_TXT, "a simple kind of mirror\r\nto reflect upon")))
    assert parsed.text == "a simple kind of mirror\nto reflect upon"
    assert [(a.name, a.content_type) for a in parsed.attachments] == [("msg.txt", "text/plain")]
    assert not parsed.html_only


def test_an_inline_text_part_with_a_file_name_stays_an_attachment_beside_a_body() -> None:
    parsed = parse_email(mixed(("Content-Type: text/plain", "see the log"), (INLINE_TXT, "log")))
    assert parsed.text == "see the log"
    assert [a.name for a in parsed.attachments] == ["msg.txt"]


def test_a_text_attachment_is_never_the_text() -> None:
    attached = 'Content-Type: text/plain\r\nContent-Disposition: attachment; filename="a.txt"'
    assert parse_email(mixed((attached, "private notes"))).text == ""


FORWARD = (
    b"From: Sender <sender@example.net>\r\nTo: <support@acme.test>\r\n"
    b"Subject: GroupwiseForwardingTest\r\nMime-Version: 1.0\r\n"
    b"Content-Type: message/rfc822\r\n\r\n"
    b"Message-ID: <4B66B890.4070408@example.net>\r\nFrom: Dr. Sender <sender@example.net>\r\n"
    b"To: Recipient <recipient@example.com>\r\nSubject: GroupwiseForwardingTest\r\n"
    b"Content-Type: %s\r\n\r\n%s\r\n"
)


def test_a_message_that_is_a_forwarded_message_has_its_text() -> None:
    """CPython's test_email msg_46.txt."""
    parsed = parse_email(FORWARD % (b"text/plain; charset=ISO-8859-15", b"Testing forwarding"))
    assert parsed.text == "Testing forwarding"
    assert [(a.name, a.content_type) for a in parsed.attachments] == [
        ("GroupwiseForwardingTest", "message/rfc822")
    ]


def test_a_forwarded_html_message_has_its_text_and_says_html_only() -> None:
    parsed = parse_email(FORWARD % (b"text/html", b"<p>Forwarded <b>words</b></p>"))
    assert (parsed.text, parsed.html_only) == ("Forwarded words", True)
