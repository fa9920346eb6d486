"""The order a reply's thread references are looked up in: the message it answers first.

RFC 5322 section 3.6.4 puts the parent last in References; a client that sends
References alone (Outlook, some webmail) still names its parent there. Looked up oldest
first, a reply to a conversation that moved to a follow-up ticket lands on its first,
closed, ticket and opens yet another follow-up. A reply that does name only the closed
ticket's messages (a second answer to the old mail) joins the follow-up while that is
the customer's current ticket.
"""

from __future__ import annotations

import pytest

from consumers.domain.threading import reply_refs
from consumers.state.memory import InMemoryThreadStore
from router.events import Customer, Interaction, ThreadRef, Ticket
from router.topics import Topic
from tests.unit.core.test_routing_handler import (
    AT,
    BOB,
    Broker,
    action_record,
    customer,
    handler,
    inbound,
    kinds,
    snapshot,
)

pytestmark = pytest.mark.unit

HANS = "hans@example.com"


def message(**thread: object) -> Interaction:
    return Interaction(
        channel="email",
        customer=Customer(email="hans@example.com"),
        inbox="support@example.com",
        thread=ThreadRef.model_validate(thread),
        text="hello",
    )


def test_references_alone_are_tried_newest_first() -> None:
    refs = reply_refs(message(message_id="e@x", references=["a@x", "b@x", "c@x", "d@x"]))
    assert refs == ["d@x", "c@x", "b@x", "a@x"]


def test_in_reply_to_comes_first_then_references_newest_first_each_once() -> None:
    refs = reply_refs(
        message(
            message_id="f@x",
            in_reply_to="agent-reply-555@helpdesk.acme.test",
            references=["a@x", "c@x", "agent-reply-555@helpdesk.acme.test"],
        )
    )
    assert refs == ["agent-reply-555@helpdesk.acme.test", "c@x", "a@x"]


def test_a_call_id_is_tried_after_the_message_ids() -> None:
    refs = reply_refs(message(in_reply_to="b@x", references=["a@x"], call_id="CA1"))
    assert refs == ["b@x", "a@x", "call:CA1"]


def test_a_message_that_answers_nothing_has_no_refs() -> None:
    assert reply_refs(message(message_id="a@x")) == []
    assert reply_refs(message(call_id="CA2")) == ["call:CA2"]


async def follow_up_conversation() -> tuple[InMemoryThreadStore, Broker, Ticket, Ticket]:
    """Hans: A, B (answers A) on T1; T1 closed; C (answers B) opens follow-up T2; D
    (answers C) joins T2. The store, the broker, T1 and T2 as they are then."""
    store, broker = InMemoryThreadStore(), Broker()
    await handler(store, broker).handle([inbound(HANS, "printer broken", 0, message_id="<a@h>")])
    t1 = snapshot(broker.take())
    await handler(store, broker).handle(
        [inbound(HANS, "still broken", 1, message_id="<b@h>", in_reply_to="<a@h>")]
    )
    assert snapshot(broker.take()).id == t1.id
    close = action_record("ticket.closed", {"ticket_id": t1.id, "agent_id": "a1"}, AT, 2)
    await handler(store, broker).handle([close])
    assert snapshot(broker.take()).status == "closed"
    await handler(store, broker).handle(
        [inbound(HANS, "broken again", 3, message_id="<c@h>", in_reply_to="<b@h>")]
    )
    t2 = snapshot(broker.take())
    assert (t2.id != t1.id, t2.follow_up_of) == (True, t1.id)
    await handler(store, broker).handle(
        [inbound(HANS, "any news?", 4, message_id="<d@h>", in_reply_to="<c@h>")]
    )
    assert snapshot(broker.take()).id == t2.id
    return store, broker, t1, t2


async def test_a_reply_naming_its_parent_only_in_references_joins_the_parents_ticket() -> None:
    store, broker, _, t2 = await follow_up_conversation()
    refs = ("<a@h>", "<b@h>", "<c@h>", "<d@h>")
    await handler(store, broker).handle(
        [inbound(HANS, "hello?", 5, message_id="<e@h>", references=refs)]
    )
    published = broker.take()
    assert kinds(published) == [(Topic.TICKETS, "message_added"), (Topic.TICKET_STATE, "snapshot")]
    assert (snapshot(published).id, snapshot(published).contacts) == (t2.id, 3)


async def test_a_reply_to_a_message_never_seen_joins_the_ticket_of_the_newest_known_one() -> None:
    store, broker, _, t2 = await follow_up_conversation()
    agent = "<agent-reply-555@helpdesk.acme.test>"
    reply = inbound(
        HANS,
        "thanks, but",
        5,
        message_id="<f@h>",
        in_reply_to=agent,
        references=("<a@h>", "<c@h>", agent),
    )
    await handler(store, broker).handle([reply])
    assert snapshot(broker.take()).id == t2.id


async def test_a_colleagues_reply_by_references_joins_the_ticket_the_thread_moved_to() -> None:
    """Another sender's reply is routed as the owner's ticket it answers: the newest
    known reference names it, not the conversation's first, closed, ticket."""
    store, broker, _, t2 = await follow_up_conversation()
    reply = inbound(BOB, "same here", 5, message_id="<g@o>", references=("<a@h>", "<d@h>"))
    await handler(store, broker).handle([reply])
    joined = snapshot(broker.take())
    assert (joined.id, joined.participants) == (t2.id, [await customer(store, BOB)])


async def test_a_second_reply_to_the_closed_ticket_joins_its_follow_up_not_a_new_one() -> None:
    store, broker, t1, t2 = await follow_up_conversation()
    await handler(store, broker).handle(
        [inbound(HANS, "and another thing", 5, message_id="<h@h>", in_reply_to="<b@h>")]
    )
    published = broker.take()
    assert kinds(published) == [(Topic.TICKETS, "message_added"), (Topic.TICKET_STATE, "snapshot")]
    joined = snapshot(published)
    assert (joined.id, joined.follow_up_of, joined.contacts) == (t2.id, t1.id, 3)
    await handler(store, broker).handle(  # and its own replies stay there too
        [inbound(HANS, "hello?", 6, message_id="<i@h>", in_reply_to="<h@h>")]
    )
    assert snapshot(broker.take()).id == t2.id
