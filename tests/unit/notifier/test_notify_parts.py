"""The notifier's pure parts: who gets what, the shipped templates and targets, the SMTP
URL, and the email a delivery becomes."""

from __future__ import annotations

from dataclasses import astuple
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from aiosmtplib.email import flatten_message
from ruamel.yaml import YAML

from consumers.notify.plan import Delivery, customer_addresses, plan
from consumers.notify.replies import MAX_REFERENCES, ReplyHeaders, reply_headers
from consumers.notify.targets import NotifyTargets, Target
from consumers.notify.templates import Templates
from consumers.notify.transports import (
    Outgoing,
    email_message,
    flattened,
    message_id,
    parse_smtp_url,
    retry_after,
)
from router.errors import ConfigError, InvalidEvent
from router.events import Ticket
from router.settings import load_settings
from rules.analysis import templates_dir

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "rules" / "examples"
NOW = datetime(2026, 12, 4, 20, 0, tzinfo=UTC)
TICKET = Ticket(
    id="T-1",
    channel="email",
    customer_id="C-1",
    subject="Invoice",
    queue="billing",
    priority="high",
    tags=["billing"],
    created_at=NOW,
    updated_at=NOW,
    message_ids=["<m1@example.com>"],
)


def no_targets(name: str) -> Target:
    raise InvalidEvent(f"no target {name}")


def test_auto_reply_goes_back_on_the_channel_where_it_can() -> None:
    contact = {"email": "ada@example.com", "phone": "+15551234567"}
    assert customer_addresses("email", contact) == [("email", "ada@example.com")]
    assert customer_addresses("sms", contact) == [("sms", "+15551234567")]
    assert customer_addresses("whatsapp", contact) == [("whatsapp", "+15551234567")]
    assert customer_addresses("chat", {"phone": "+15551234567"}) == [("sms", "+15551234567")]
    assert customer_addresses("chat", {"name": "Ada"}) == []


def test_whatsapp_through_meta_is_not_answered_through_twilio() -> None:
    """The notifier sends WhatsApp through Twilio, from another number than the one the
    customer wrote to through Meta's Cloud API: WhatsApp refuses it outside that number's
    window, and the customer would not know the sender. Email, if the CRM knows it."""
    contact = {"phone": "+15551234567", "handles": {"whatsapp": "15551234567"}}
    assert customer_addresses("whatsapp", contact, "meta") == []
    known = {**contact, "email": "ada@example.com"}
    assert customer_addresses("whatsapp", known, "meta") == [("email", "ada@example.com")]
    assert customer_addresses("whatsapp", contact, "twilio") == [("whatsapp", "+15551234567")]


def test_an_auto_reply_through_twilio_is_sent_from_the_number_written_to() -> None:
    reply_to = {"channel": "sms", "inbox": "+15550002222", "provider": "twilio"}
    data = {"template": "x", "kind": "auto_reply", "reply_to": reply_to}
    [d] = plan("e-1", data, "email", {"phone": "+15551234567"}, no_targets)
    assert (d.medium, d.to, d.sender) == ("sms", "+15551234567", "+15550002222")
    web = {**data, "reply_to": {"channel": "webform", "inbox": "/v1/channels/webform"}}
    [mail] = plan("e-2", web, "webform", {"email": "ada@example.com"}, no_targets)
    assert (mail.medium, mail.sender) == ("email", None)


def test_deliveries_have_ids_derived_from_event_medium_and_recipient() -> None:
    data = {"template": "after-hours", "kind": "auto_reply"}
    [one] = plan("e-1", data, "email", {"email": "ada@example.com"}, no_targets)
    [again] = plan("e-1", data, "email", {"email": "ada@example.com"}, no_targets)
    [other] = plan("e-2", data, "email", {"email": "ada@example.com"}, no_targets)
    assert one == again
    assert one.id != other.id
    assert (one.medium, one.to, one.template, one.kind) == (
        "email",
        "ada@example.com",
        "after-hours",
        "auto_reply",
    )


def test_notify_reaches_every_address_of_its_target() -> None:
    target = Target(email=["lead@x.example"], sms=["+1555"], whatsapp=["+1666"], template="t")
    deliveries = plan("e", {"template": "lead", "kind": "notify"}, "chat", {}, lambda _: target)
    assert [(d.medium, d.to, d.template) for d in deliveries] == [
        ("email", "lead@x.example", "t"),
        ("sms", "+1555", "t"),
        ("whatsapp", "+1666", "t"),
    ]
    with pytest.raises(InvalidEvent):
        plan("e", {"template": "who", "kind": "notify"}, "chat", {}, no_targets)
    with pytest.raises(InvalidEvent):
        plan("e", {"kind": "auto_reply"}, "chat", {}, no_targets)


def test_shipped_templates_render_for_every_medium() -> None:
    templates = Templates(templates_dir(EXAMPLES))
    context = {"ticket": TICKET.model_dump(mode="json"), "customer": {"name": "Ada"}}
    email = templates.render("after-hours", "email", context)
    assert email.subject == "Re: Invoice [T-1]"
    assert email.body.startswith("Hello Ada,")
    assert "T-1" in templates.render("after-hours", "sms", context).body
    alert = templates.render("team-alert", "email", {**context, "notification": {}})
    assert alert.subject == "[HIGH] billing: Invoice"
    with pytest.raises(InvalidEvent, match="no template"):
        templates.render("nope", "email", context)


def test_every_notify_target_of_the_example_rules_is_in_the_table() -> None:
    rules = YAML(typ="safe", pure=True).load((EXAMPLES / "rules.yaml").read_text())
    named = {
        name
        for rule in rules["rules"] + rules["escalations"]
        for name in rule["then"].get("notify", [])
    }
    targets = NotifyTargets(templates_dir(EXAMPLES))
    templates = Templates(templates_dir(EXAMPLES))
    context = {"ticket": TICKET.model_dump(mode="json"), "notification": {"template": "x"}}
    for name in sorted(named):
        target = targets.get(name)
        for medium in ("email", "sms"):
            assert templates.render(target.template or name, medium, context).body.strip()


def test_templates_are_sandboxed(tmp_path: Path) -> None:
    (tmp_path / "evil.email.j2").write_text("{{ ''.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(InvalidEvent, match="evil"):
        Templates(tmp_path).render("evil", "email", {})


def test_a_broken_target_table_is_an_error_of_the_notification(tmp_path: Path) -> None:
    (tmp_path / "notify_targets.yaml").write_text("version: 1\ntargets: {lead: {fax: [1]}}\n")
    with pytest.raises(InvalidEvent, match=r"notify_targets\.yaml"):
        NotifyTargets(tmp_path).get("lead")


def test_smtp_urls() -> None:
    plain = parse_smtp_url("smtp://mailer:p%40ss@mail.example.com")
    assert (plain.host, plain.port, plain.tls) == ("mail.example.com", 587, False)
    assert (plain.username, plain.password) == ("mailer", "p@ss")
    tls = parse_smtp_url("smtps://mail.example.com")
    assert (tls.port, tls.tls, tls.username) == (465, True, None)
    assert parse_smtp_url("smtp://localhost:2525").port == 2525
    for bad in ("http://mail.example.com", "smtp://", "smtp://host:port"):
        with pytest.raises(ConfigError, match="SWITCHBOARD_SMTP_URL"):
            parse_smtp_url(bad)


def test_the_email_of_a_delivery() -> None:
    [d] = plan(
        "e-1",
        {"template": "after-hours", "kind": "auto_reply"},
        "email",
        {"email": "ada@example.com"},
        no_targets,
    )
    out = Outgoing(d, "Re: Invoice", "Hello\n", "T-1", "<m1@example.com>")
    msg = email_message(out, "Acme <support@acme.example>")
    again = email_message(out, "Acme <support@acme.example>")
    assert msg["Message-ID"] == again["Message-ID"] == message_id(d.id, "support@acme.example")
    assert msg["Message-ID"] == f"<{d.id}@acme.example>"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["In-Reply-To"] == msg["References"] == "<m1@example.com>"
    assert msg["X-Switchboard-Ticket"] == "T-1"


AUTO_REPLY = Delivery("d-1", "e-1", "auto_reply", "after-hours", "email", "ada@example.com")
CUSTOMER_MAIL = {"message_id": "cust-msg-001@example.com", "references": ["older-001@example.com"]}


def test_an_auto_reply_keeps_the_customers_thread_in_references() -> None:
    """RFC 5322 section 3.6.4: the parent's References, then the parent's Message-ID; a
    mail client threading by References alone files the reply in the customer's thread."""
    reply = reply_headers(AUTO_REPLY, TICKET, CUSTOMER_MAIL)
    assert reply == ReplyHeaders(
        "<cust-msg-001@example.com>", "<older-001@example.com> <cust-msg-001@example.com>"
    )
    out = Outgoing(AUTO_REPLY, "Re: Invoice", "Hello\n", "T-1", *astuple(reply))
    msg = email_message(out, "support@acme.example")
    assert msg["In-Reply-To"] == "<cust-msg-001@example.com>"
    assert msg["References"] == "<older-001@example.com> <cust-msg-001@example.com>"


def test_a_message_without_references_is_answered_after_its_in_reply_to() -> None:
    thread = {"message_id": "<m2@example.com>", "in_reply_to": "m1@example.com"}
    assert reply_headers(AUTO_REPLY, TICKET, thread).references == (
        "<m1@example.com> <m2@example.com>"
    )


def test_a_long_thread_keeps_its_first_and_last_ids() -> None:
    refs = [f"r{i}@example.com" for i in range(60)]
    thread = {"message_id": "cust@example.com", "references": refs}
    references = reply_headers(AUTO_REPLY, TICKET, thread).references
    assert references is not None
    ids = references.split(" ")
    assert len(ids) == MAX_REFERENCES
    assert ids[0] == "<r0@example.com>"  # the thread's root
    assert ids[-2:] == ["<r59@example.com>", "<cust@example.com>"]  # grandparent, parent
    msg = email_message(Outgoing(AUTO_REPLY, "s", "b", "T-1", ids[-1], references), "s@a.example")
    assert msg["References"].split() == ids  # folded over lines, every id whole


def test_ids_that_would_break_the_header_are_left_out() -> None:
    """A customer's References is theirs to write: a line break (a Bcc injected) or a
    space in an id must neither reach our header nor make the reply unsendable."""
    thread = {
        "message_id": "cust@example.com",
        "references": ["ok@example.com", "evil@x.example\r\nBcc: a@b.example", "a b@c", "no-at"],
    }
    reply = reply_headers(AUTO_REPLY, TICKET, thread)
    assert reply.references == "<ok@example.com> <cust@example.com>"
    msg = email_message(Outgoing(AUTO_REPLY, "s", "b", "T-1", *astuple(reply)), "s@a.example")
    assert msg["Bcc"] is None


def test_notifier_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_SMTP_URL", "smtps://u:p@mail.example.com:465")
    monkeypatch.setenv("SWITCHBOARD_SMTP_FROM", "Support <s@acme.example>")
    monkeypatch.setenv("SWITCHBOARD_TWILIO_ACCOUNT_SID", "AC1")
    monkeypatch.setenv("SWITCHBOARD_TWILIO_FROM", "+15550000000")
    monkeypatch.setenv("SWITCHBOARD_TWILIO_API_URL", "http://127.0.0.1:9999")
    settings = load_settings()
    assert settings.smtp_url is not None
    assert settings.smtp_url.get_secret_value() == "smtps://u:p@mail.example.com:465"
    assert "u:p" not in repr(settings)
    assert settings.smtp_from == "Support <s@acme.example>"
    assert settings.twilio_account_sid == "AC1"
    assert settings.twilio_from == "+15550000000"
    assert settings.twilio_api_url == "http://127.0.0.1:9999"


def test_the_wait_for_the_answer_to_the_message_is_a_setting_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Longer than a step's by default (a slow "250" after DATA is no failure), and no
    longer than the notifier can wait without a rebalance or a lapsed retry claim."""
    assert load_settings().smtp_data_timeout_s == 60.0
    monkeypatch.setenv("SWITCHBOARD_SMTP_DATA_TIMEOUT_S", "30")
    assert load_settings().smtp_data_timeout_s == 30.0
    monkeypatch.setenv("SWITCHBOARD_SMTP_DATA_TIMEOUT_S", "600")
    with pytest.raises(ConfigError, match="SWITCHBOARD_SMTP_DATA_TIMEOUT_S"):
        load_settings()


def test_a_subject_with_line_breaks_becomes_one_header_line(tmp_path: Path) -> None:
    """A web form's subject is the customer's: a line break in it must not end the header
    (and inject a Bcc) nor make the email package refuse the message."""
    (tmp_path / "lead.email.j2").write_text("New ticket {{ ticket.id }}\n")  # no subject file
    injected = TICKET.model_copy(update={"subject": "help\r\nBcc: evil@example.com\n"})
    rendered = Templates(tmp_path).render(
        "lead", "email", {"ticket": injected.model_dump(mode="json")}
    )
    assert rendered.subject == "Re: help Bcc: evil@example.com"
    [d] = plan(
        "e-2",
        {"template": "lead", "kind": "auto_reply"},
        "email",
        {"email": "ada@example.com"},
        no_targets,
    )
    msg = email_message(Outgoing(d, rendered.subject, "x", "T-1", None), "s@acme.example")
    assert msg["Bcc"] is None


def test_bidi_overrides_in_what_the_customer_wrote_leave_the_message(tmp_path: Path) -> None:
    """A right-to-left override in a name or subject makes a mail from our address read
    otherwise than it is written ("Acme \u202eemoc.live" shows as "Acme live.come")."""
    (tmp_path / "hi.email.j2").write_text("Hello {{ customer.name }}\n")
    ticket = TICKET.model_copy(update={"subject": "Invoice \u202egnp.exe\u202c"})
    rendered = Templates(tmp_path).render(
        "hi",
        "email",
        {"ticket": ticket.model_dump(mode="json"), "customer": {"name": "Acme \u202eemoc.live"}},
    )
    assert rendered.subject == "Re: Invoice gnp.exe"
    assert rendered.body == "Hello Acme emoc.live\n"
    arabic = "\u0645\u0631\u062d\u0628\u0627"  # right-to-left text needs no override
    (tmp_path / "hi.sms.j2").write_text(arabic)
    assert Templates(tmp_path).render("hi", "sms", {}).body == arabic + "\n"


@pytest.mark.parametrize(
    "subject",
    [
        "line\nbreak\r\nReply-To: attacker@evil.example",
        # an encoded word the email package would decode into a line break: the
        # customer's subject, once decoded by the ingress, or encoded twice
        "=?utf-8?q?Hi=0D=0AReply-To:_attacker@evil.example=0D=0A=0D=0AInjected?=",
        "Re: =?utf-8?b?SGkNClJlcGx5LVRvOiBhdHRhY2tlckBldmlsLmV4YW1wbGU=?=",
    ],
)
def test_a_subject_cannot_add_a_header_or_a_body(subject: str) -> None:
    """The email package decodes RFC 2047 words in a header value it is given: a
    customer's subject had written a Reply-To of their choosing and a body into a mail
    sent from our support address (and pushed Auto-Submitted into the body)."""
    [d] = plan(
        "e-3",
        {"template": "x", "kind": "auto_reply"},
        "email",
        {"email": "ada@example.com"},
        no_targets,
    )
    msg = email_message(Outgoing(d, subject, "Hello\n", "T-1", None), "s@acme.example")
    wire = flatten_message(msg, utf8=False, cte_type="8bit").decode()
    head, _, body = wire.partition("\r\n\r\n")
    assert "Reply-To" not in msg
    assert not any(line.startswith("Reply-To") for line in head.split("\r\n"))
    assert "Auto-Submitted: auto-replied" in head
    assert body == "Hello\r\n"
    assert "\n" not in str(msg["Subject"])


@pytest.mark.parametrize(
    ("message_ids", "kind", "answers"),
    [
        (["m1@example.com"], "auto_reply", "<m1@example.com>"),  # kept without brackets
        (["<m1@example.com>"], "auto_reply", "<m1@example.com>"),
        (["m1@example.com", "SM123"], "auto_reply", None),  # the last was an SMS
        (["m1@example.com"], "notify", None),  # a notification answers no one
        ([], "auto_reply", None),
    ],
)
def test_an_auto_reply_by_email_answers_the_customers_last_email(
    message_ids: list[str], kind: str, answers: str | None
) -> None:
    """So the customer's mail client threads it under their message (In-Reply-To)."""
    delivery = Delivery("d-1", "e-1", kind, "after-hours", "email", "ada@example.com")  # type: ignore[arg-type]
    ticket = TICKET.model_copy(update={"message_ids": message_ids})
    assert reply_headers(delivery, ticket, None) == ReplyHeaders(answers, answers)
    with_thread = reply_headers(delivery, ticket, CUSTOMER_MAIL)
    assert (with_thread.in_reply_to is None) is (kind == "notify")


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        ("Fri, 04 Dec 2026 20:00:30 GMT", 30.0),
        ("Fri, 04 Dec 2026 19:00:00 GMT", 0.0),  # in the past: now
        ("soon", None),
        (None, None),
    ],
)
def test_retry_after_in_seconds_or_as_a_date(header: str | None, seconds: float | None) -> None:
    assert retry_after(header, now=NOW.timestamp()) == seconds


@pytest.mark.parametrize("filler", ["x", "\N{GRINNING FACE}"])
def test_a_long_page_is_cut_to_what_twilio_takes(filler: str) -> None:
    """A long subject in the team alert: the SMS/WhatsApp body is cut to Twilio's 1,600
    characters (error 21617 above that) with an ellipsis, instead of being refused."""
    templates = Templates(templates_dir(EXAMPLES))
    ticket = TICKET.model_copy(update={"subject": filler * 1700})
    body = templates.render("team-alert", "sms", {"ticket": ticket.model_dump(mode="json")}).body
    text = body.strip()
    assert len(text.encode("utf-16-le")) // 2 <= 1600
    assert text.startswith("[HIGH] ticket T-1 in billing needs attention: ")
    assert text.endswith("\N{HORIZONTAL ELLIPSIS}")
    assert text[-2] == filler


@pytest.mark.parametrize(
    ("message", "ticket_subject", "subject"),
    [
        ({"subject": "Re: Re: Broken kettle"}, "Broken kettle", "Re: Broken kettle"),
        ({"subject": "AW: Rechnung 4711"}, "Rechnung", "Re: Rechnung 4711"),
        ({}, "Re: Broken kettle", "Re: Broken kettle"),
        ({}, None, "Your request"),
    ],
)
def test_the_default_subject_answers_the_message_with_one_re(
    tmp_path: Path, message: dict[str, str], ticket_subject: str | None, subject: str
) -> None:
    """The default subject is the answered email's (so the customer's mail client files the
    reply in that thread), with one "Re:" (RFC 5322 section 3.6.5), not "Re: Re: ..."."""
    (tmp_path / "ack.email.j2").write_text("Thanks")
    ticket = {"subject": ticket_subject} if ticket_subject else {}
    context = {"ticket": ticket, "message": message}
    assert Templates(tmp_path).render("ack", "email", context).subject == subject


def test_a_field_with_no_value_reads_as_nothing_not_none(tmp_path: Path) -> None:
    (tmp_path / "hi.email.j2").write_text("Hello {{ customer.name }}, ref {{ ticket.id }}")
    context = {"customer": {"name": None}, "ticket": {"id": "T-1"}}
    assert Templates(tmp_path).render("hi", "email", context).body == "Hello , ref T-1\n"


@pytest.mark.parametrize("utf8", [False, True])
def test_a_long_message_id_is_written_whole_not_as_encoded_words(utf8: bool) -> None:
    """Microsoft 365 writes Message-IDs of about 80 characters, and the email package
    folded such an id as RFC 2047 encoded words (``=?utf-8?q?=3CAM9PR04...``), which no
    mail client matches to the customer's message: the auto-reply left their thread."""
    parent = "<AM9PR04MB8412B1A3C6E2D5F9A7C1B2E4D9A1@AM9PR04MB8412.eurprd04.prod.outlook.com>"
    references = f"<root-1@Mail.Example.COM> {parent}"
    out = Outgoing(AUTO_REPLY, "Re: Invoice", "Hello\n", "T-1", parent, references)
    flat = flattened(email_message(out, "support@acme.example"), utf8=utf8)
    head = flat.split(b"\r\n\r\n", 1)[0].decode()
    assert "=?" not in head
    assert f"\r\nIn-Reply-To: {parent}\r\n" in head
    assert f"\r\nReferences: <root-1@Mail.Example.COM>\r\n {parent}" in head
    assert max(len(line) for line in head.split("\r\n")) <= 998
    parsed = BytesParser(policy=policy.default).parsebytes(flat)
    assert parsed["In-Reply-To"] == parent
    assert parsed["References"].split() == references.split()


def test_the_shipped_auto_reply_subject_answers_the_email_with_one_prefix() -> None:
    """It had put "Re: " before the ticket's subject as the customer wrote it:
    ``Re: AW: Rechnung März`` for a German reply, and not the email answered."""
    templates = Templates(templates_dir(EXAMPLES))
    context = {
        "ticket": TICKET.model_dump(mode="json") | {"subject": "Rechnung"},
        "message": {"subject": "AW: Rechnung März – Frage"},
    }
    assert templates.render("after-hours", "email", context).subject == (
        "Re: Rechnung März – Frage [T-1]"
    )
