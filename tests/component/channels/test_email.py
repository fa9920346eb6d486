"""Email over HTTP against the real embedded broker: raw MIME in, one normalized event out."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
import pytest

from router.settings import Settings
from router.topics import Topic
from tests.component.channels.support import (
    assert_nothing_written,
    assert_problem,
    client_for,
)
from tests.conftest import read_topic, values

pytestmark = pytest.mark.component

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
RFC822 = {"content-type": "message/rfc822"}

REPLY = b"""\
From: =?utf-8?q?Ren=C3=A9e_M=C3=BCller?= <Renee.Mueller@Example.COM>
To: "Support" <support@acme.test>
Cc: billing@acme.test
Subject: =?iso-8859-1?q?R=E9f=E9rence?= =?utf-8?b?IOKCrA==?= invoice
Message-ID: <reply-1@mail.example.com>
In-Reply-To: <agent-1@acme.test>
References: <orig-1@mail.example.com> <agent-1@acme.test>
Date: Tue, 03 Nov 2026 10:15:00 +0100
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset="iso-8859-1"
Content-Transfer-Encoding: quoted-printable

Le re=E7u est toujours faux.

On Mon, Nov 2, 2026 at 9:00 AM, Acme Support <support@acme.test> wrote:
> Here is your invoice.
--alt
Content-Type: text/html; charset="utf-8"

<p>Le re&ccedil;u est toujours faux.</p><blockquote>Here is your invoice.</blockquote>
--alt--

--outer
Content-Type: application/pdf
Content-Disposition: attachment; filename*=utf-8''re%C3%A7u%20n%C2%B01.pdf
Content-Transfer-Encoding: base64

JVBERi0xLjQKJcfsj6IK
--outer--
"""


async def test_reply_becomes_one_normalized_interaction(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    resp = await ingress_client.post("/v1/channels/email", content=REPLY, headers=RFC822)
    assert resp.status_code == 202, resp.text
    assert resp.json()["duplicate"] is False
    records = await read_topic(settings, Topic.INBOUND, expect=1)
    assert len(records) == 1
    assert records[0].key == b"email:renee.mueller@example.com"
    event = values(records)[0]
    assert event["id"] == resp.json()["id"]
    data = event["data"]
    assert data["channel"] == "email"
    assert data["customer"]["email"] == "renee.mueller@example.com"
    assert data["customer"]["name"] == "Renée Müller"
    assert data["inbox"] == "support@acme.test"
    assert data["subject"] == "Référence € invoice"
    assert data["text"] == "Le reçu est toujours faux."
    assert "Here is your invoice." in data["quoted_text"]
    assert data["thread"] == {
        "message_id": "reply-1@mail.example.com",
        "in_reply_to": "agent-1@acme.test",
        "references": ["orig-1@mail.example.com", "agent-1@acme.test"],
    }
    assert data["attachments"] == [
        {
            "name": "reçu n°1.pdf",
            "content_type": "application/pdf",
            "size": 15,
            "type": "application/pdf",
        }
    ]
    assert data["auto_reply"] is False
    assert data["sent_at"] == "2026-11-03T09:15:00Z"
    assert data["metadata"]["cc"] == ["billing@acme.test"]


async def test_redelivery_with_same_message_id_is_a_duplicate(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    first = await ingress_client.post("/v1/channels/email", content=REPLY, headers=RFC822)
    again = await ingress_client.post("/v1/channels/email", content=REPLY, headers=RFC822)
    assert (first.status_code, again.status_code) == (202, 202)
    assert first.json()["id"] == again.json()["id"]
    assert again.json()["duplicate"] is True
    assert len(await read_topic(settings, Topic.INBOUND, expect=1)) == 1


async def test_a_redelivery_whose_message_id_domain_changed_case_is_a_duplicate(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    """A relay that rewrote the id's domain in another case delivered a second copy: one
    ticket, two contacts and two auto-replies. The domain is case-blind (RFC 5322), as
    threads file the id; the local part is kept as written."""
    mail = "From: ann@example.com\nTo: help@acme.test\nMessage-ID: <Abc.1@{}>\n\nhello"
    answers = [
        await ingress_client.post(
            "/v1/channels/email", content=mail.format(domain).encode(), headers=RFC822
        )
        for domain in ("Mail.Example.COM", "mail.example.com")
    ]
    assert [a.json()["duplicate"] for a in answers] == [False, True]
    other = mail.replace("Abc.1", "abc.1").format("mail.example.com")
    again = await ingress_client.post("/v1/channels/email", content=other.encode(), headers=RFC822)
    assert again.json()["duplicate"] is False  # another local part: another mail
    assert len(await read_topic(settings, Topic.INBOUND, expect=2)) == 2


async def test_another_senders_mail_under_a_reused_message_id_is_not_lost(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    """Shop systems exist that stamp one fixed Message-ID on every mail they send."""
    head = "To: help@acme.test\nMessage-ID: <order-confirmation@shop.local>\n"
    first, second = (
        f"From: {who}@example.com\n{head}Subject: about order {n}\n\nwhere is order {n}?"
        for n, who in ((1, "three"), (2, "four"))
    )
    answers = [
        await ingress_client.post("/v1/channels/email", content=m.encode(), headers=RFC822)
        for m in (first, second, first)
    ]
    assert [a.json()["duplicate"] for a in answers] == [False, False, True]
    events = values(await read_topic(settings, Topic.INBOUND, expect=2))
    assert [e["data"]["customer"]["email"] for e in events] == [
        "three@example.com",
        "four@example.com",
    ]


async def test_no_message_id_dedupes_on_the_raw_bytes(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    payload = orjson.loads(
        (
            FIXTURES / "webhooks/inbound-email/anymail-postmark-inbound-test-payload-with-raw.json"
        ).read_bytes()
    )
    raw = payload["RawEmail"].encode()
    first = await ingress_client.post("/v1/channels/email", content=raw, headers=RFC822)
    again = await ingress_client.post("/v1/channels/email", content=raw, headers=RFC822)
    assert [r.json()["duplicate"] for r in (first, again)] == [False, True]
    event = values(await read_topic(settings, Topic.INBOUND, expect=1))[0]
    assert event["data"]["customer"]["email"] == payload["FromFull"]["Email"]
    assert event["data"]["subject"] == payload["Subject"]
    assert event["data"]["text"] == payload["TextBody"]


async def test_threading_fixture_with_repeated_message_id_publishes_once(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    """dovecot's thread2.mbox holds the same Message-Id twice: one event, one duplicate."""
    raw = (FIXTURES / "threading/thread2.mbox").read_bytes()
    messages = [b"From: user@domain\n" + m.split(b"\n", 1)[1] for m in raw.split(b"\n\nFrom ")]
    answers = [
        (await ingress_client.post("/v1/channels/email", content=m, headers=RFC822)).json()
        for m in messages
    ]
    assert [a["duplicate"] for a in answers] == [False, True]
    assert len(await read_topic(settings, Topic.INBOUND, expect=1)) == 1


async def test_auto_reply_is_published_flagged(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    ooo = (
        b"From: bob@example.com\nTo: support@acme.test\nSubject: Out of office\n"
        b"Auto-Submitted: auto-replied\nMessage-ID: <ooo-1@example.com>\n\nI am away.\n"
    )
    resp = await ingress_client.post("/v1/channels/email", content=ooo, headers=RFC822)
    assert resp.status_code == 202
    data = values(await read_topic(settings, Topic.INBOUND, expect=1))[0]["data"]
    assert data["auto_reply"] is True
    assert data["metadata"]["auto_reply_reason"] == "auto-submitted: auto-replied"


async def test_bad_input_is_problem_json_and_writes_nothing(settings: Settings) -> None:
    small = settings.model_copy(update={"max_body_bytes": 2048})
    async with client_for(small) as client:
        post = client.post
        url = "/v1/channels/email"
        assert_problem(await post(url, content=REPLY, headers={"content-type": "text/plain"}), 415)
        assert_problem(await post(url, content=REPLY), 415)
        assert_problem(await post(url, content=b"  \r\n", headers=RFC822), 400, "")
        assert_problem(await post(url, content=b"\x00\xff garbage", headers=RFC822), 400)
        no_from = b"To: support@acme.test\nSubject: hi\n\nbody\n"
        assert_problem(await post(url, content=no_from, headers=RFC822), 400, "/headers/from")
        big = REPLY + b"x" * 4096
        assert_problem(await post(url, content=big, headers=RFC822), 413)
    await assert_nothing_written(settings)


@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        ("auto-replies/bounce-empty-display.eml", "sender: <>"),
        ("auto-replies/subject-de.eml", "subject: abwesenheitsnotiz"),
    ],
)
async def test_bounce_without_a_mailbox_and_subject_only_ooo_are_flagged(
    ingress_client: httpx.AsyncClient, settings: Settings, fixture: str, reason: str
) -> None:
    raw = (FIXTURES / "email" / fixture).read_bytes()
    resp = await ingress_client.post("/v1/channels/email", content=raw, headers=RFC822)
    assert resp.status_code == 202, resp.text
    data = values(await read_topic(settings, Topic.INBOUND, expect=1))[0]["data"]
    assert data["auto_reply"] is True
    assert data["metadata"]["auto_reply_reason"] == reason


async def test_lenient_sender_is_accepted_with_its_warning(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    raw = (FIXTURES / "email/addresses/name-addr-without-brackets.eml").read_bytes()
    resp = await ingress_client.post("/v1/channels/email", content=raw, headers=RFC822)
    assert resp.status_code == 202, resp.text
    data = values(await read_topic(settings, Topic.INBOUND, expect=1))[0]["data"]
    assert (data["customer"]["email"], data["customer"]["name"]) == (
        "anna@example.de",
        "Anna Mueller",
    )
    assert data["metadata"]["parse_warnings"] == ["from: address without angle brackets"]


async def test_a_from_address_holding_a_control_character_is_400_at_from(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    """``From: a\x00@example.com`` was published as customer ``email:a\x00@example.com``:
    an address with a NUL names no mailbox, as a chat or Twilio id with one names nobody."""
    raw = (
        b"From: a\x00@example.com\r\nTo: support@acme.test\r\nSubject: hi\r\n"
        b"Message-ID: <nul-1@example.com>\r\n\r\nhello\r\n"
    )
    resp = await ingress_client.post("/v1/channels/email", content=raw, headers=RFC822)
    problem = assert_problem(resp, 400, "/headers/from")
    assert "control character" in problem["detail"]
    await assert_nothing_written(settings)


OUTSIDE_LIST_POST = (
    b"From: dev@example.org\r\nTo: users@lists.example.org\r\n"
    b"Delivered-To: support@acme.test\r\nList-Id: Users list <users.lists.example.org>\r\n"
    b"Precedence: list\r\nSubject: [users] question about 4.2\r\n"
    b"Message-ID: <post-1@example.org>\r\n\r\nHow do I upgrade?\r\n"
)
OUR_GROUP_MAIL = (
    b"From: 'Anna' via Support <support@acme.test>\r\nTo: support@acme.test\r\n"
    b"Delivered-To: support-member@acme.test\r\nX-Original-Sender: anna@example.de\r\n"
    b"Precedence: list\r\nList-ID: <support.acme.test>\r\n"
    b"Message-ID: <gg-anna@example.de>\r\nSubject: Invoice\r\n\r\nHello\r\n"
)


async def test_an_outside_lists_post_is_published_flagged(settings: Settings) -> None:
    """Even with our own group configured, a list the inbox subscribes to is no customer."""
    ours = settings.model_copy(update={"email_group_addresses": frozenset({"support@acme.test"})})
    async with client_for(ours) as client:
        resp = await client.post("/v1/channels/email", content=OUTSIDE_LIST_POST, headers=RFC822)
    assert resp.status_code == 202, resp.text
    data = values(await read_topic(settings, Topic.INBOUND, expect=1))[0]["data"]
    assert data["auto_reply"] is True
    assert data["metadata"]["auto_reply_reason"] == "precedence: list"


@pytest.mark.parametrize(
    ("groups", "flagged"), [(frozenset({"support@acme.test"}), False), (frozenset(), True)]
)
async def test_our_google_group_is_a_customers_mail_only_when_configured(
    settings: Settings, groups: frozenset[str], flagged: bool
) -> None:
    configured = settings.model_copy(update={"email_group_addresses": groups})
    async with client_for(configured) as client:
        resp = await client.post("/v1/channels/email", content=OUR_GROUP_MAIL, headers=RFC822)
    assert resp.status_code == 202, resp.text
    data = values(await read_topic(settings, Topic.INBOUND, expect=1))[0]["data"]
    assert (data["auto_reply"], data["customer"]["email"]) == (flagged, "anna@example.de")
