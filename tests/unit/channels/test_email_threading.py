"""Email threading end to end: raw mail through the email adapter into the router, whose
thread store keys tickets by the Message-IDs the adapter extracts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiokafka import ConsumerRecord

from channels.email import interpret, provider_id
from consumers.state.memory import InMemoryThreadStore
from router.codec import CONTENT_TYPE_HEADER, encode_event
from router.events import CloudEvent
from router.ids import event_id
from router.topics import Topic
from router.vocabulary import EventType
from tests.unit.core.test_routing_handler import AT, NAMES, Broker, customer, handler, snapshot

pytestmark = pytest.mark.unit


def record(raw: bytes, offset: int) -> ConsumerRecord[bytes, bytes]:
    """The inbound record the email ingress writes for ``raw``."""
    _, data = interpret(raw)
    assert data is not None
    event = CloudEvent(
        id=event_id("/switchboard/channels/email", data.thread.message_id or ""),
        source="/switchboard/channels/email",
        type=EventType.INTERACTION_RECEIVED,
        subject=data.sender_key(),
        time=AT + timedelta(minutes=offset),
        data=data.model_dump(mode="json", exclude_none=True),
    )
    key, value = data.sender_key().encode(), encode_event(event)
    stamp = int((AT + timedelta(minutes=offset)).timestamp() * 1000)
    return ConsumerRecord(
        NAMES(Topic.INBOUND),
        0,
        offset,
        stamp,
        0,
        key,
        value,
        None,
        len(key),
        len(value),
        (CONTENT_TYPE_HEADER,),
    )


def mail(sender: str, message_id: str, extra: str = "") -> bytes:
    return (
        f"From: {sender}\r\nTo: support@example.com\r\nSubject: Printer\r\n"
        f"Message-ID: <{message_id}>\r\n{extra}\r\nThe printer is broken.\r\n"
    ).encode()


async def test_a_reply_whose_in_reply_to_differs_in_the_domains_case_joins_the_ticket() -> None:
    """A colleague's reply joins only by its In-Reply-To; its mailer wrote the domain of
    the id in upper case, which RFC 5322 makes the same id."""
    store, broker = InMemoryThreadStore(), Broker()
    original = mail("alice@example.com", "m1.R@mail.example")
    await handler(store, broker).handle([record(original, 0)])
    ticket = snapshot(broker.take())
    reply = mail("bob@example.com", "b1@other.example", "In-Reply-To: <m1.R@MAIL.EXAMPLE>\r\n")
    await handler(store, broker).handle([record(reply, 1)])
    joined = snapshot(broker.take())
    alice = await customer(store, "alice@example.com")
    assert (joined.id, joined.customer_id) == (ticket.id, alice)
    assert joined.participants == [await customer(store, "bob@example.com")]


# --- ids with whitespace or nothing between the brackets -----------------------------------


def order_mail(message_id: str, extra: str = "", text: str = "My order is late.") -> bytes:
    return (
        f"From: alice@example.com\r\nTo: support@example.com\r\nSubject: Order\r\n"
        f"Message-ID: {message_id}\r\n{extra}\r\n{text}\r\n"
    ).encode()


def test_the_next_order_of_a_shop_writing_spaces_in_its_ids_is_no_retry() -> None:
    """The id was cut at the space: both mails were ``<Order``, and the second was
    answered ``duplicate: true`` and dropped."""
    first, second = order_mail("<Order 123@shop.test>"), order_mail("<Order 124@shop.test>")
    ids = []
    for raw in (first, second):
        parsed, data = interpret(raw)
        assert data is not None
        ids.append(provider_id(parsed, raw, data.customer.email))
        assert data.thread.message_id == f"Order12{len(ids) + 2}@shop.test"
    assert ids[0] != ids[1]


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("< spaced id @ example.com >", "spacedid@example.com"),
        ('<a"b c"@x.test>', 'a"bc"@x.test'),
        ("<a (a comment) @x.test>", "a@x.test"),
        ("<a@x.test> (a comment)", "a@x.test"),
    ],
)
def test_whitespace_and_comments_in_an_id_are_no_part_of_it(written: str, read: str) -> None:
    extra = f"In-Reply-To: {written}\r\nReferences: <r@x.test> {written}\r\n"
    _, data = interpret(order_mail(written, extra))
    assert data is not None
    thread = data.thread
    assert (thread.message_id, thread.in_reply_to, thread.references) == (
        read,
        read,
        ["r@x.test", read],
    )


@pytest.mark.parametrize("written", ["<>", "< >"])
def test_empty_brackets_name_no_message(written: str) -> None:
    """Each such mail had been ``<>``, one id for them all: it is identified by its content."""
    first, second = order_mail(written), order_mail(written, text="Another order is late.")
    ids = []
    for raw in (first, second):
        parsed, data = interpret(raw)
        assert data is not None
        assert (data.thread.message_id, data.thread.in_reply_to) == (None, None)
        ids.append(provider_id(parsed, raw, data.customer.email))
    assert ids[0] != ids[1]
    assert ids[0].startswith("sha256:")


def test_ids_alike_for_their_first_4_kib_are_two_ids() -> None:
    """The stdlib read a Message-ID to 4 KiB: two longer ones alike up to there were one."""
    long = "a" * 5000
    ids = {interpret(order_mail(f"<{long}{n}@x.test>"))[0].message_id for n in (1, 2)}
    assert ids == {f"{long}1@x.test", f"{long}2@x.test"}


async def test_a_reply_to_another_order_opens_its_own_ticket() -> None:
    """Bob's In-Reply-To ``<Order 999@shop.test>`` had been read as ``<Order``, the id of
    Alice's mail about order 123, and his mail joined her ticket."""
    store, broker = InMemoryThreadStore(), Broker()
    await handler(store, broker).handle(
        [record(mail("alice@example.com", "Order 123@shop.test"), 0)]
    )
    alices = snapshot(broker.take())
    reply = mail("bob@example.com", "b1@other.example", "In-Reply-To: <Order 999@shop.test>\r\n")
    await handler(store, broker).handle([record(reply, 1)])
    bobs = snapshot(broker.take())
    assert bobs.id != alices.id
    assert bobs.customer_id == await customer(store, "bob@example.com")
    again = mail("carol@example.com", "c1@other.example", "In-Reply-To: <Order 123@shop.test>\r\n")
    await handler(store, broker).handle([record(again, 2)])
    assert snapshot(broker.take()).id == alices.id


def test_an_id_written_without_brackets_loses_its_control_characters_as_one_in_brackets() -> None:
    """Message-ID (read raw) had kept ``a\\x01b@x.test`` while In-Reply-To (read decoded)
    gave ``ab@x.test``: the reply did not find its parent, and the event carried the
    control character."""
    from channels.mail_text import message_ids

    assert message_ids("a\x01b@x.test") == message_ids("<a\x01b@x.test>") == ["ab@x.test"]
