"""Email threading end to end: raw mail through the email adapter into the router, whose
thread store keys tickets by the Message-IDs the adapter extracts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiokafka import ConsumerRecord

from channels.email import interpret
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
