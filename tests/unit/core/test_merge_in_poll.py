"""An action on a ticket whose customer a CRM upsert merges into another in the same poll,
or that another router process merged since the action was located: the ticket moved to
the surviving customer, and the action follows it. It had been dead-lettered as "unknown
ticket" after the helpdesk was answered 202, and the agent's work was lost."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiokafka import ConsumerRecord

from consumers.state.memory import InMemoryThreadStore
from router.codec import CONTENT_TYPE_HEADER, encode_event
from router.events import CloudEvent, Customer, Interaction, ThreadRef
from router.ids import event_id
from router.topics import Topic
from router.vocabulary import EventType
from tests.unit.core.test_routing_handler import (
    AT,
    NAMES,
    Broker,
    event,
    handler,
    inbound,
    snapshot,
)

pytestmark = pytest.mark.unit

EMAIL, PHONE = "jack@example.com", "+15550004444"


def sms(text: str, offset: int) -> ConsumerRecord[bytes, bytes]:
    data = Interaction(
        channel="sms",
        customer=Customer(phone=PHONE),
        inbox="+15550000000",
        thread=ThreadRef(message_id=f"SM{offset}"),
        text=text,
    )
    source = "/switchboard/channels/sms"
    cloud = CloudEvent(
        id=event_id(source, f"SM{offset}"),
        source=source,
        type=EventType.INTERACTION_RECEIVED,
        time=AT + timedelta(minutes=offset),
        data=data.model_dump(mode="json", exclude_none=True),
    )
    return record(Topic.INBOUND, data.sender_key(), cloud, offset)


def action(kind: str, key: str, data: dict[str, Any], offset: int) -> ConsumerRecord[bytes, bytes]:
    cloud = CloudEvent(
        id=f"action-{offset}",
        source="/helpdesk",
        type=kind,
        time=AT + timedelta(minutes=offset),
        data=data,
    )
    return record(Topic.ACTIONS, key, cloud, offset)


def record(topic: Topic, key: str, cloud: CloudEvent, offset: int) -> ConsumerRecord[bytes, bytes]:
    raw_key, value = key.encode(), encode_event(cloud)
    return ConsumerRecord(
        NAMES(topic), 0, offset, 0, 0, raw_key, value, None, len(raw_key), len(value),
        (CONTENT_TYPE_HEADER,),
    )  # fmt: skip


async def test_a_note_in_the_poll_of_the_upsert_that_merges_its_customer_lands() -> None:
    store, broker = InMemoryThreadStore(), Broker()
    router = handler(store, broker)
    await router.handle([inbound(EMAIL, "about shipping", 0)])
    by_email = snapshot(broker.take())
    await router.handle([sms("about shipping, by phone", 1)])
    by_phone = snapshot(broker.take())
    await router.handle([action("ticket.closed", by_email.id, {"ticket_id": by_email.id}, 2)])
    broker.take()

    note = {"ticket_id": by_phone.id, "agent_id": "a-1", "text": "called them back"}
    upsert = {"email": EMAIL, "phone": PHONE}
    await router.handle(
        [
            action("ticket.note_added", by_phone.id, note, 3),
            action("customer.upserted", f"customer:{EMAIL}", upsert, 4),
        ]
    )
    published = broker.take()
    assert [r for r in published if r.topic is Topic.DEADLETTER] == []
    noted = [event(r) for r in published if r.topic is Topic.TICKETS]
    assert [e["type"] for e in noted] == ["switchboard.ticket.note_added"]
    assert noted[0]["data"]["ticket_id"] == by_phone.id


class MergedMeanwhile(InMemoryThreadStore):
    """Another router process merges the ticket's customer away between this one's
    locating the action and reading the ticket: the owner read first is stale once."""

    stale: str | None = None

    async def ticket_owners(self, ticket_ids: list[str]) -> list[str | None]:
        owners = await super().ticket_owners(ticket_ids)
        if self.stale is not None:
            owners, self.stale = [self.stale for _ in owners], None
        return owners


async def test_a_note_on_a_ticket_another_router_merged_away_follows_it() -> None:
    store, broker = MergedMeanwhile(), Broker()
    router = handler(store, broker)
    await router.handle([sms("about shipping, by phone", 1)])
    ticket = snapshot(broker.take())
    store.stale = "C-absorbed-meanwhile"
    note = {"ticket_id": ticket.id, "agent_id": "a-1", "text": "called them back"}
    await router.handle([action("ticket.note_added", ticket.id, note, 3)])
    published = broker.take()
    assert [r for r in published if r.topic is Topic.DEADLETTER] == []
    assert [event(r)["type"] for r in published if r.topic is Topic.TICKETS] == [
        "switchboard.ticket.note_added"
    ]


async def test_a_merged_customer_writing_on_their_absorbed_tickets_thread_is_no_participant() -> (
    None
):
    """The phone's ticket stays with the absorbed customer (the survivor had an open one);
    the person answering it from their email is its owner, not a participant of their
    own ticket."""
    store, broker = InMemoryThreadStore(), Broker()
    router = handler(store, broker)
    await router.handle([inbound(EMAIL, "about shipping", 0)])
    broker.take()
    await router.handle([sms("about shipping, by phone", 1)])
    by_phone = snapshot(broker.take())
    upsert = {"email": EMAIL, "phone": PHONE}
    await router.handle([action("customer.upserted", f"customer:{EMAIL}", upsert, 2)])
    broker.take()
    await router.handle([inbound(EMAIL, "answering my text", 3, in_reply_to="SM1")])
    joined = snapshot(broker.take())
    assert joined.id == by_phone.id
    assert joined.participants == []
