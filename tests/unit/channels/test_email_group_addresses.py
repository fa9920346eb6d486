"""``SWITCHBOARD_EMAIL_GROUP_ADDRESSES``: which lists are ours. A post from an outside
list the support inbox subscribes to is addressed To the list and names it in List-Id,
just as a Google Group used as our support address does; only the setting tells them
apart. An outside list's post is list traffic (flagged, no ticket, no acknowledgement)."""

from __future__ import annotations

import pytest

from channels.email import interpret
from router.errors import ConfigError
from router.events import Interaction
from router.settings import load_settings

pytestmark = pytest.mark.unit

OURS = frozenset({"support@acme.test"})


def event(raw: bytes, groups: frozenset[str] = frozenset()) -> Interaction:
    _, interaction = interpret(raw, group_addresses=groups)
    assert interaction is not None
    return interaction


def outside_list_post(precedence: str = "Precedence: list\r\n") -> bytes:
    """The audit's repro: a users@ list our support inbox is subscribed to."""
    return (
        "From: dev@example.org\r\nTo: users@lists.example.org\r\n"
        "Delivered-To: support@acme.test\r\nList-Id: Users list <users.lists.example.org>\r\n"
        f"{precedence}Subject: [users] question about 4.2\r\n"
        "Message-ID: <post-1@example.org>\r\n\r\nHow do I upgrade?\r\n"
    ).encode()


@pytest.mark.parametrize("groups", [frozenset(), OURS], ids=["unset", "our-group-set"])
def test_an_outside_lists_post_is_list_traffic(groups: frozenset[str]) -> None:
    mail = event(outside_list_post(), groups)
    assert mail.auto_reply is True
    assert mail.metadata["auto_reply_reason"] == "precedence: list"
    assert mail.customer.email == "dev@example.org"


@pytest.mark.parametrize("groups", [frozenset(), OURS], ids=["unset", "our-group-set"])
def test_an_outside_lists_post_without_precedence_is_list_traffic(
    groups: frozenset[str],
) -> None:
    mail = event(outside_list_post(precedence=""), groups)
    assert (mail.auto_reply, mail.metadata["auto_reply_reason"]) == (True, "list-id")


@pytest.mark.parametrize("groups", [frozenset(), OURS], ids=["unset", "our-group-set"])
def test_a_googlegroups_list_we_subscribe_to_is_list_traffic(groups: frozenset[str]) -> None:
    raw = (
        b"From: Sam <sam@gmail.example>\r\nTo: python-users@googlegroups.com\r\n"
        b"Delivered-To: support@acme.test\r\n"
        b"Mailing-list: list python-users@googlegroups.com; contact "
        b"python-users+owners@googlegroups.com\r\nPrecedence: list\r\n"
        b"List-ID: <python-users.googlegroups.com>\r\nX-Google-Group-Id: 987\r\n"
        b"Subject: Release candidate\r\nMessage-ID: <rc@gmail.example>\r\n\r\nTry it\r\n"
    )
    mail = event(raw, groups)
    assert mail.auto_reply is True
    assert mail.customer.email == "sam@gmail.example"


@pytest.mark.parametrize(
    ("groups", "customer"),
    [(frozenset(), "dev@example.org"), (OURS, "users@googlegroups.com")],
    ids=["unset", "our-group-set"],
)
def test_an_outside_google_group_that_rewrote_from_is_list_traffic(
    groups: frozenset[str], customer: str
) -> None:
    """No ticket, and no acknowledgement goes to its poster. From is the list, which is
    also the address written to: unconfigured, that is read as our own group rewriting
    From (the poster is recorded); with our groups configured, the list stays the sender."""
    raw = (
        b"From: 'Dev' via Users <users@googlegroups.com>\r\n"
        b"X-Original-Sender: dev@example.org\r\nReply-To: dev@example.org\r\n"
        b"To: users@googlegroups.com\r\nDelivered-To: support@acme.test\r\n"
        b"Precedence: list\r\nList-Id: <users.googlegroups.com>\r\n"
        b"Subject: question about 4.2\r\nMessage-ID: <gg-dev@example.org>\r\n\r\nHi\r\n"
    )
    mail = event(raw, groups)
    assert (mail.auto_reply, mail.metadata["auto_reply_reason"]) == (True, "precedence: list")
    assert mail.customer.email == customer


def our_group_mail() -> bytes:
    """What a Google Group used as our support address delivers: From rewritten for a
    DMARC-strict writer, delivered to the member mailbox that forwards to us."""
    return (
        b"From: 'Anna' via Support <support@acme.test>\r\nTo: support@acme.test\r\n"
        b"Delivered-To: support-member@acme.test\r\n"
        b"Reply-To: anna@example.de\r\nX-Original-Sender: anna@example.de\r\n"
        b"Mailing-list: list support@acme.test; contact support+owners@acme.test\r\n"
        b"Precedence: list\r\nList-ID: <support.acme.test>\r\nX-Google-Group-Id: 1234\r\n"
        b"Message-ID: <gg-anna@example.de>\r\nSubject: Invoice\r\n\r\nHello\r\n"
    )


def test_our_google_group_with_the_setting_opens_a_ticket_for_the_writer() -> None:
    mail = event(our_group_mail(), OURS)
    assert (mail.auto_reply, mail.customer.email) == (False, "anna@example.de")
    assert (mail.customer.name, mail.metadata["customer_from"]) == ("Anna", "x-original-sender")


def test_our_google_group_without_the_setting_is_list_traffic() -> None:
    mail = event(our_group_mail())
    assert mail.auto_reply is True
    assert mail.metadata["auto_reply_reason"] == "precedence: list"


def test_a_list_id_naming_the_inbox_without_the_setting_is_list_traffic() -> None:
    """The List-Id alone no longer makes a list ours: it must be configured."""
    raw = (
        b"From: anna@example.de\r\nTo: support@acme.test\r\n"
        b"List-Id: <support.acme.test>\r\nSubject: Invoice\r\n\r\nHello\r\n"
    )
    assert event(raw).metadata["auto_reply_reason"] == "list-id"
    assert event(raw, OURS).auto_reply is False


def test_a_group_mail_to_another_of_our_addresses_is_ours_by_the_setting() -> None:
    """Written to sales@ with the support group in copy: From names the group."""
    raw = (
        b"From: 'Anna' via Support <support@acme.test>\r\nTo: sales@acme.test\r\n"
        b"Cc: support@acme.test\r\nX-Original-Sender: anna@example.de\r\n"
        b"Precedence: list\r\nList-Id: <support.acme.test>\r\nSubject: Quote\r\n\r\nHi\r\n"
    )
    mail = event(raw, OURS)
    assert (mail.auto_reply, mail.customer.email, mail.inbox) == (
        False,
        "anna@example.de",
        "sales@acme.test",
    )


def test_the_setting_is_a_comma_separated_list_of_addresses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SWITCHBOARD_EMAIL_GROUP_ADDRESSES", " Support@Acme.test, help@acme.test,")
    assert load_settings().email_group_addresses == {"support@acme.test", "help@acme.test"}
    monkeypatch.setenv("SWITCHBOARD_EMAIL_GROUP_ADDRESSES", "")
    assert load_settings().email_group_addresses == frozenset()


def test_a_setting_that_is_no_address_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SWITCHBOARD_EMAIL_GROUP_ADDRESSES", "support@acme.test, support")
    with pytest.raises(ConfigError, match="SWITCHBOARD_EMAIL_GROUP_ADDRESSES: 'support'"):
        load_settings()
