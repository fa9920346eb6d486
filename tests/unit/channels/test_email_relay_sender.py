"""A relay of ours (a website's contact form, a shop system) sends each visitor's message
From its own address with the visitor in Reply-To. Listed in
``SWITCHBOARD_EMAIL_RELAY_ADDRESSES``, the visitor is the customer: read as From, every
visitor was one customer, their questions one thread, and the auto-reply went to the
relay."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from channels.email import interpret
from router.events import Interaction
from router.settings import Settings
from tests.unit.channels.support import Remembering, ingress_client

pytestmark = pytest.mark.unit

RELAY = "forms@shop.test"
RELAYS = frozenset({RELAY})


def form_mail(n: int, *, reply_to: str | None = None, extra: str = "") -> bytes:
    reply_to = f"Visitor {n} <visitor{n}@example.org>" if reply_to is None else reply_to
    reply = f"Reply-To: {reply_to}\r\n" if reply_to else ""
    return (
        f'From: "Shop contact form" <{RELAY}>\r\n{reply}{extra}To: support@shop.test\r\n'
        f"Subject: Contact form: order {n}\r\nMessage-ID: <form-{n}@shop.test>\r\n\r\n"
        f"Where is my order {n}?\r\n"
    ).encode()


def event(raw: bytes, relays: frozenset[str] = RELAYS) -> Interaction:
    _, interaction = interpret(raw, relay_addresses=relays)
    assert interaction is not None
    return interaction


def test_each_visitor_of_the_form_is_a_customer_of_their_own() -> None:
    first, second = event(form_mail(1)), event(form_mail(2))
    assert (first.customer.email, first.customer.name) == ("visitor1@example.org", "Visitor 1")
    assert second.customer.email == "visitor2@example.org"
    assert first.sender_key() != second.sender_key()
    assert first.metadata["customer_from"] == "reply-to"
    assert first.inbox == "support@shop.test"


def test_without_the_setting_the_relay_is_the_one_customer_as_before() -> None:
    first, second = event(form_mail(1), frozenset()), event(form_mail(2), frozenset())
    assert first.customer.email == second.customer.email == RELAY


@pytest.mark.parametrize(
    "stamp", ["Auto-Submitted: auto-generated\r\n", "Precedence: bulk\r\n"], ids=str.strip
)
def test_a_relay_that_stamps_its_mail_machine_made_still_relays_a_visitors_message(
    stamp: str,
) -> None:
    """A form plugin may mark what it sends as generated; the visitor's question still
    opens their ticket and gets its acknowledgement. Without the setting it is machine
    mail, as before."""
    assert event(form_mail(1, extra=stamp)).auto_reply is False
    assert event(form_mail(1, extra=stamp), frozenset()).auto_reply is True


def test_x_original_sender_wins_over_reply_to() -> None:
    mail = event(form_mail(1, extra="X-Original-Sender: real@example.org\r\n"))
    assert (mail.customer.email, mail.metadata["customer_from"]) == (
        "real@example.org",
        "x-original-sender",
    )


@pytest.mark.parametrize(
    "reply_to",
    ["", RELAY, "support@shop.test", "a@example.org, b@example.org"],
    ids=["none", "the-relay", "our-inbox", "two"],
)
def test_a_relay_mail_naming_no_one_writer_stays_the_relays(reply_to: str) -> None:
    """No Reply-To, ours again, or two addresses (which of them wrote it?): the relay is
    the customer, as any sender, and the mail is not refused."""
    mail = event(form_mail(1, reply_to=reply_to))
    assert mail.customer.email == RELAY
    assert "customer_from" not in mail.metadata


def test_an_ordinary_senders_reply_to_still_changes_nothing() -> None:
    raw = form_mail(1).replace(f"<{RELAY}>".encode(), b"<anna@example.de>")
    assert event(raw).customer.email == "anna@example.de"


async def test_the_ingress_publishes_each_visitor_under_their_own_address() -> None:
    published = Remembering()
    settings = Settings(email_relay_addresses=RELAYS, email_secret=SecretStr("s"))
    async with ingress_client(settings, published) as client:
        for n in (1, 2):
            resp = await client.post(
                "/v1/channels/email",
                content=form_mail(n),
                headers={"content-type": "message/rfc822", "authorization": "Bearer s"},
            )
            assert resp.status_code == 202, resp.text
    assert [data.customer.email for _, data in published.published] == [
        "visitor1@example.org",
        "visitor2@example.org",
    ]


@pytest.mark.parametrize("given", ["forms@shop.test, Forms@Shop.test", "forms@shop.test,"])
def test_the_setting_is_a_comma_separated_list_of_addresses(given: str) -> None:
    settings = Settings.model_validate({"email_relay_addresses": given})
    assert settings.email_relay_addresses == RELAYS


def test_an_entry_that_is_no_address_stops_the_start_naming_it() -> None:
    with pytest.raises(ValidationError, match="'contact form' is not an email address"):
        Settings.model_validate({"email_relay_addresses": "forms@shop.test,contact form"})
