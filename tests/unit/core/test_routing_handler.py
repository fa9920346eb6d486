"""The routing handler on its own: inbound records in, lifecycle records out.

The thread store is the in-memory one (held to the Redis store's answers by the contract
suite in ``tests/component/state``) and ``send`` collects what would be produced, so the
exactly-once paths can be driven deliberately: a redelivered poll, a commit that loses
to the same event applied elsewhere (DUP), a ticket that moved under the handler
(CONFLICT), and one that keeps moving until the record is dead-lettered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import orjson
import pytest
from aiokafka import ConsumerRecord
from structlog.testing import capture_logs

from consumers.domain.windows import HANDLE_MS, workload
from consumers.routing import MAX_CONFLICT_RETRIES, RoutingHandler
from consumers.state.agents import AgentStore
from consumers.state.memory import InMemoryThreadStore
from consumers.state.thread_reads import MessageOwner
from consumers.state.threads import Commit, ThreadView, ViewRequest
from router.codec import CONTENT_TYPE_HEADER, encode_event
from router.errors import BackendUnavailable
from router.events import CloudEvent, Customer, Interaction, ThreadRef, Ticket
from router.ids import event_id
from router.observability import Telemetry
from router.topics import OutRecord, Topic, TopicNames
from router.vocabulary import EventType
from rules import RuleSet, loads_ruleset

pytestmark = pytest.mark.unit

NAMES = TopicNames("sb")
EMAIL_SOURCE = "/switchboard/channels/email"  # the ingress's: its ids are kept as they are
AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
RULES = loads_ruleset(
    """
version: 1
queues:
  general: {}
  billing: {skills: [billing]}
sla:
  standard:
    first_response: {normal: 4h}
defaults: {queue: general, priority: normal, sla: standard}
rules:
  - name: billing
    if: {text: {contains: [invoice, refund]}}
    then: {queue: billing, tags: [billing]}
"""
)
ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "carol@example.com"
IVY = "ivy@example.com"


async def customer(store: InMemoryThreadStore, email: str) -> str:
    """The id the store gave the customer of an address (random: it cannot be computed)."""
    return await store.customer_of(f"email:{email}") or "C-unknown"


def inbound(
    email: str,
    text: str,
    offset: int,
    *,
    auto_reply: bool = False,
    metadata: dict[str, str] | None = None,
    message_id: str = "",
    in_reply_to: str | None = None,
    references: tuple[str, ...] = (),
    provider_id: str = "",
) -> ConsumerRecord[bytes, bytes]:
    """An inbound record as the ingress writes it: a CloudEvent keyed by the sender (its
    id from ``provider_id``, else the Message-ID)."""
    data = Interaction(
        channel="email",
        customer=Customer(email=email),
        inbox="support@example.com",
        thread=ThreadRef(
            message_id=message_id or f"<{offset}@{email}>",
            in_reply_to=in_reply_to,
            references=list(references),
        ),
        subject="hello",
        text=text,
        auto_reply=auto_reply,
        metadata=metadata or {},
    )
    event = CloudEvent(
        id=event_id(EMAIL_SOURCE, provider_id or data.thread.message_id or ""),
        source=EMAIL_SOURCE,
        type=EventType.INTERACTION_RECEIVED,
        subject=data.sender_key(),
        time=AT + timedelta(minutes=offset),
        data=data.model_dump(mode="json", exclude_none=True),
    )
    key, value = data.sender_key().encode(), encode_event(event)
    stamp = int(event.time.timestamp() * 1000) if event.time else 0
    headers = (CONTENT_TYPE_HEADER,)
    return ConsumerRecord(
        NAMES(Topic.INBOUND), 0, offset, stamp, 0, key, value, None, len(key), len(value), headers
    )


class NoAgents:
    """The router touches agents only for presence actions, which these tests never send."""

    async def presence(self, *_: object) -> None:
        raise AssertionError("no agent presence in these tests")


@dataclass
class Broker:
    """``send``: keeps what was published; ``down`` makes the next sends fail."""

    published: list[OutRecord] = field(default_factory=list)
    down: int = 0

    async def __call__(self, records: list[OutRecord]) -> None:
        if self.down:
            self.down -= 1
            raise BackendUnavailable("kafka", "no ack")
        self.published.extend(records)

    def take(self) -> list[OutRecord]:
        taken, self.published = self.published, []
        return taken


def handler(
    store: InMemoryThreadStore,
    broker: Broker,
    rules: RuleSet = RULES,
    telemetry: Telemetry | None = None,
) -> RoutingHandler:
    return RoutingHandler(
        store,
        broker,
        NAMES,
        lambda: rules,
        agents=cast(AgentStore, NoAgents()),
        reopen_window=timedelta(days=7),
        telemetry=telemetry,
    )


def event(record: OutRecord) -> dict[str, Any]:
    assert record.value is not None
    parsed: dict[str, Any] = orjson.loads(record.value)
    return parsed


def kinds(records: list[OutRecord]) -> list[tuple[Topic, str]]:
    return [(r.topic, event(r)["type"].removeprefix("switchboard.ticket.")) for r in records]


def snapshot(records: list[OutRecord]) -> Ticket:
    [state] = [r for r in records if r.topic is Topic.TICKET_STATE]
    return Ticket.model_validate(event(state)["data"]["ticket"])


async def thread(store: InMemoryThreadStore, email: str, event_id: str = "-") -> ThreadView:
    [seen] = await store.views([ViewRequest(await customer(store, email), event_id)])
    return seen


CREATED = [(Topic.TICKETS, "created"), (Topic.TICKETS, "routed"), (Topic.TICKET_STATE, "snapshot")]


async def test_a_new_message_opens_a_routed_ticket_and_the_next_one_joins_it() -> None:
    store, broker = InMemoryThreadStore(), Broker()
    first = inbound(ALICE, "my invoice is wrong", 0)
    await handler(store, broker).handle([first])
    published = broker.take()
    assert kinds(published) == CREATED
    ticket = snapshot(published)
    assert (ticket.customer_id, ticket.queue, ticket.tags) == (
        await customer(store, ALICE),
        "billing",
        ["billing"],
    )
    assert {r.key for r in published} == {ticket.id}
    assert event(published[1])["data"]["matched"] == ["billing"]
    seen = await thread(store, ALICE, event_id=orjson.loads(first.value)["id"])
    assert (seen.ticket, seen.ticket_version, seen.done, seen.outbox) == (ticket, 1, True, None)

    await handler(store, broker).handle([inbound(ALICE, "any news?", 1)])
    joined = broker.take()
    assert kinds(joined) == [(Topic.TICKETS, "message_added"), (Topic.TICKET_STATE, "snapshot")]
    assert (snapshot(joined).id, snapshot(joined).contacts) == (ticket.id, 2)
    assert (await thread(store, ALICE)).ticket_version == 2


async def test_a_redelivered_poll_republishes_the_same_events_and_changes_nothing() -> None:
    store, broker = InMemoryThreadStore(), Broker(down=1)
    poll = [inbound(ALICE, "my invoice is wrong", 0), inbound(BOB, "hello", 1)]
    with pytest.raises(BackendUnavailable):  # committed, but the broker never acked
        await handler(store, broker).handle(poll)
    assert broker.take() == []
    before = [await thread(store, ALICE), await thread(store, BOB)]

    await handler(store, broker).handle(poll)  # the runner retries the same poll
    again = broker.take()
    assert kinds(again) == CREATED * 2
    assert len({event(r)["id"] for r in again}) == 6
    assert [await thread(store, ALICE), await thread(store, BOB)] == before
    assert [t.ticket_version for t in before] == [1, 1]

    await handler(store, broker).handle(poll)  # acked now: a further copy publishes nothing
    assert broker.take() == []
    assert [await thread(store, ALICE), await thread(store, BOB)] == before


async def test_an_interrupted_poll_republishes_exactly_what_it_first_committed() -> None:
    store, broker, undisturbed = InMemoryThreadStore(), Broker(), InMemoryThreadStore()
    poll = [inbound(ALICE, "my invoice is wrong", 0)]
    await handler(undisturbed, broker).handle(poll)  # the same poll, undisturbed
    expected = broker.take()
    broker.down = 1
    with pytest.raises(BackendUnavailable):
        await handler(store, broker).handle(poll)
    await handler(store, broker).handle(poll)
    # the same records but for the customer's id, which each store draws at random
    theirs, ours = await customer(undisturbed, ALICE), await customer(store, ALICE)
    assert broker.take() == [
        replace(r, value=r.value.replace(theirs.encode(), ours.encode()) if r.value else None)
        for r in expected
    ]


class AppliedElsewhere(InMemoryThreadStore):
    """Another consumer (the partition's previous owner) applies the same commits just
    before this one does, so this one is answered DUP."""

    async def commit_many(self, commits: list[Commit], *, waits: bool = False) -> list[str]:  # noqa: ARG002 - one writer: never held
        await super().commit_many(commits)
        return await super().commit_many(commits)


async def test_a_commit_that_loses_to_the_same_event_publishes_its_records_once() -> None:
    store, broker = AppliedElsewhere(), Broker()
    await handler(store, broker).handle([inbound(ALICE, "my invoice is wrong", 0)])
    published = broker.take()
    assert kinds(published) == CREATED
    assert (await thread(store, ALICE)).ticket_version == 1


class Conflicting(InMemoryThreadStore):
    """Answers CONFLICT, changing nothing, to the first ``times`` commits of the customer
    of the address ``who``."""

    def __init__(self, *, times: int, who: str) -> None:
        super().__init__()
        self.times = times
        self.who = who
        self.views_read = 0

    async def views(self, requests: list[ViewRequest]) -> list[ThreadView]:
        self.views_read += 1
        return await super().views(requests)

    async def commit_many(self, commits: list[Commit], *, waits: bool = False) -> list[str]:  # noqa: ARG002 - one writer: never held
        answers = []
        for c in commits:
            if self.times and c.customer_id == await customer(self, self.who):
                self.times -= 1
                answers.append("CONFLICT")
            else:
                [answer] = await super().commit_many([c])
                answers.append(answer)
        return answers


async def test_a_conflict_is_retried_from_a_fresh_read_until_it_commits() -> None:
    store, broker = Conflicting(times=3, who=ALICE), Broker()
    await handler(store, broker).handle([inbound(ALICE, "my invoice is wrong", 0)])
    published = broker.take()
    assert kinds(published) == CREATED
    assert store.views_read == 1 + 3
    assert (await thread(store, ALICE)).ticket_version == 1


class MovedUnderfoot(InMemoryThreadStore):
    """An agent's change lands on the ticket between the router's read and its commit."""

    async def commit_many(self, commits: list[Commit], *, waits: bool = False) -> list[str]:  # noqa: ARG002 - one writer: never held
        for c in commits:
            if c.ticket and c.expected_version == 1:
                [seen] = await super().views([ViewRequest(c.customer_id, "agent", [], c.ticket.id)])
                assert seen.ticket is not None
                tagged = seen.ticket.model_copy(update={"tags": ["vip"], "assignee": "a-1"})
                await super().commit_many([Commit(c.customer_id, "agent", tagged, 1)])
        return await super().commit_many(commits)


async def test_a_retried_conflict_keeps_the_change_that_caused_it() -> None:
    store, broker = MovedUnderfoot(), Broker()
    await handler(store, broker).handle([inbound(ALICE, "hello", 0)])
    broker.take()
    await handler(store, broker).handle([inbound(ALICE, "any news?", 1)])
    joined = snapshot(broker.take())
    assert (joined.contacts, joined.tags, joined.assignee) == (2, ["vip"], "a-1")
    assert (await thread(store, ALICE)).ticket_version == 3


class OtherRouterFirst(InMemoryThreadStore):
    """Another router's poll lands between this router's read and its commit: ``gap``
    runs once, before the first commit."""

    def __init__(self) -> None:
        super().__init__()
        self.gap: Callable[[], Awaitable[None]] | None = None

    async def commit_many(self, commits: list[Commit], *, waits: bool = False) -> list[str]:  # noqa: ARG002 - one writer: never held
        gap, self.gap = self.gap, None
        if gap is not None:
            await gap()
        return await super().commit_many(commits)


async def test_two_routers_opening_a_ticket_for_one_customer_at_once_open_one() -> None:
    """One person writes on two channels at the same moment, and the two messages reach
    two router processes (inbound records are keyed by sender). Both read "no open
    ticket"; the one that commits second joins the ticket the first opened."""
    store, broker = OtherRouterFirst(), Broker()
    second = inbound(ALICE, "also the refund", 1, message_id="<second@x>")

    async def other_router() -> None:
        await handler(store, broker).handle([second])

    store.gap = other_router
    await handler(store, broker).handle([inbound(ALICE, "my invoice is wrong", 0)])
    tickets = {snapshot([r]).id for r in broker.published if r.topic is Topic.TICKET_STATE}
    assert len(tickets) == 1
    seen = await thread(store, ALICE)
    assert (seen.ticket and seen.ticket.contacts, seen.open_ticket) == (2, tickets.pop())
    first_owner = MessageOwner(await customer(store, ALICE), seen.open_ticket)
    assert await store.message_tickets(["<0@alice@example.com>"]) == [first_owner]


async def test_a_ticket_that_keeps_moving_gets_the_record_deadlettered_and_the_rest_routed() -> (
    None
):
    store, broker = Conflicting(times=1_000, who=BOB), Broker()
    poll = [inbound(ALICE, "hello", 0), inbound(BOB, "hello", 1), inbound(CAROL, "hello", 2)]
    await handler(store, broker).handle(poll)
    published = broker.take()
    [dead] = [r for r in published if r.topic is Topic.DEADLETTER]
    headers = dict(dead.headers)
    assert headers["dlq.error"].decode() == (
        f"InvalidEvent: gave up after {MAX_CONFLICT_RETRIES} concurrent-update conflicts"
    )
    original = (f"email:{BOB}".encode(), poll[1].value, b"1")
    assert (dead.key_bytes, dead.value, headers["dlq.offset"]) == original
    assert store.views_read == 1 + MAX_CONFLICT_RETRIES
    routed = {snapshot([r]).customer_id for r in published if r.topic is Topic.TICKET_STATE}
    assert routed == {await customer(store, ALICE), await customer(store, CAROL)}
    assert (await thread(store, BOB)).ticket is None


async def test_an_auto_reply_to_an_open_ticket_changes_nothing_and_is_not_deadlettered() -> None:
    store, broker = InMemoryThreadStore(), Broker()
    await handler(store, broker).handle([inbound(ALICE, "hello", 0)])
    opened = snapshot(broker.take())
    await handler(store, broker).handle([inbound(ALICE, "I am out of office", 1, auto_reply=True)])
    assert broker.take() == []
    seen = await thread(store, ALICE)
    assert (seen.ticket, seen.ticket_version) == (opened, 1)


def call(
    event_name: str,
    offset: int,
    *,
    call_id: str = "CA1",
    text: str = "",
    phone: str = "+15551234567",
    **seconds: float,
) -> ConsumerRecord[bytes, bytes]:
    """A voice call event as the ingress writes it."""
    data = Interaction(
        channel="voice",
        customer=Customer(phone=phone),
        inbox="+15550000000",
        thread=ThreadRef(call_id=call_id),
        text=text,
        metadata={"call_event": event_name, **seconds},
    )
    event = CloudEvent(
        id=event_id("/v1/channels/voice", f"{call_id}\x1f{event_name}"),
        source="/v1/channels/voice",
        type=EventType.INTERACTION_RECEIVED,
        time=AT + timedelta(minutes=offset),
        data=data.model_dump(mode="json", exclude_none=True),
    )
    key, value = data.sender_key().encode(), encode_event(event)
    return ConsumerRecord(
        NAMES(Topic.INBOUND), 0, offset, 0, 0, key, value, None, len(key), len(value), ()
    )


async def test_only_missed_calls_and_voicemail_are_contacts_and_calls_add_handling_time() -> None:
    store, broker = InMemoryThreadStore(), Broker()
    await handler(store, broker).handle([call("ringing", 0)])
    assert broker.take() == []  # a ringing call changes nothing
    await handler(store, broker).handle([call("answered", 1), call("ended", 2, talk_seconds=60)])
    assert broker.take() == []  # a call answered at once opens no ticket

    await handler(store, broker).handle([call("missed", 3, call_id="CA2")])
    opened = snapshot(broker.take())
    assert (opened.channel, opened.contacts) == ("voice", 1)
    # the call back: answered and ended, with talk, hold and wrap-up time
    await handler(store, broker).handle(
        [
            call("answered", 4, call_id="CA3"),
            call("ended", 9, call_id="CA3", talk_seconds=240, hold_seconds=30, wrap_seconds=45.5),
        ]
    )
    published = broker.take()
    assert [k for k in kinds(published) if k[0] is Topic.TICKETS] == [
        (Topic.TICKETS, "message_added"),
        (Topic.TICKETS, "message_added"),
    ]
    ended = event(published[-2])["data"]
    assert (ended["contact"], ended["handle_seconds"]) == (False, 315.5)
    after = snapshot(published[-1:])
    assert (after.id, after.contacts, after.handle_seconds) == (opened.id, 1, 315.5)


async def test_a_call_reporting_seconds_in_two_parts_is_one_handled_call() -> None:
    """Talk time at ``answered`` and wrap-up at ``ended``: both add to the handle time,
    and the workload metric counts one handled call, so AHT is the call's whole length
    (counted twice, it had been half of it)."""
    store, broker = InMemoryThreadStore(), Broker()
    await handler(store, broker).handle([call("missed", 0, call_id="CA2")])
    broker.take()
    parts = [
        call("answered", 4, call_id="CA3", talk_seconds=240),
        call("ended", 9, call_id="CA3", wrap_seconds=60),
        call("answered", 20, call_id="CA4", talk_seconds=100),  # the next call counts again
    ]
    await handler(store, broker).handle(parts)
    published = broker.take()
    added = [event(r) for r in published if r.topic is Topic.TICKETS]
    counted: dict[str, int] = {}
    for e in added:
        for c in workload(e["type"], e["data"]):
            counted[c.counter] = counted.get(c.counter, 0) + c.amount
    assert [e["data"]["handled"] for e in added] == [True, False, True]
    assert counted == {"handled": 2, HANDLE_MS: 400_000}
    assert snapshot(published[-1:]).handle_seconds == 400


async def test_a_call_after_the_customers_ticket_was_resolved_leaves_that_ticket_alone() -> None:
    store, broker = InMemoryThreadStore(), Broker()
    await handler(store, broker).handle([call("missed", 0, call_id="CA2")])
    opened = snapshot(broker.take())
    resolve = action_record(
        "ticket.resolved", {"ticket_id": opened.id}, AT + timedelta(minutes=1), 1
    )
    await handler(store, broker).handle([resolve])
    resolved = snapshot(broker.take())
    assert resolved.status == "resolved"
    # an unrelated new call, answered at once: no handling of the resolved ticket
    await handler(store, broker).handle(
        [call("answered", 2, call_id="CA3"), call("ended", 7, call_id="CA3", talk_seconds=300)]
    )
    assert broker.take() == []
    [seen] = await store.views(
        [ViewRequest(await store.customer_of("phone:+15551234567") or "-", "-")]
    )
    assert seen.ticket == resolved


async def test_the_voicemail_of_a_missed_call_is_no_second_contact() -> None:
    store, broker = InMemoryThreadStore(), Broker()
    await handler(store, broker).handle([call("missed", 0)])
    opened = snapshot(broker.take())
    await handler(store, broker).handle([call("voicemail", 1, text="my invoice is wrong")])
    published = broker.take()
    added = [event(r)["data"] for r in published if r.topic is Topic.TICKETS]
    assert added[0]["interaction"]["text"] == "my invoice is wrong"
    after = snapshot(published)
    assert (after.id, after.contacts) == (opened.id, 1)


async def test_a_colleague_replying_to_the_thread_joins_it_as_a_participant() -> None:
    store, broker = InMemoryThreadStore(), Broker()
    await handler(store, broker).handle([inbound(ALICE, "printer broken", 0, message_id="<a1@x>")])
    ticket = snapshot(broker.take())
    reply = inbound(BOB, "same here, any news?", 1, message_id="<b1@y>", in_reply_to="<a1@x>")
    await handler(store, broker).handle([reply])
    joined = broker.take()
    assert kinds(joined) == [(Topic.TICKETS, "message_added"), (Topic.TICKET_STATE, "snapshot")]
    after = snapshot(joined)
    assert (after.id, after.customer_id) == (ticket.id, await customer(store, ALICE))
    assert after.participants == [await customer(store, BOB)]
    assert (await thread(store, BOB)).ticket is None  # Bob has no ticket of his own


async def test_a_reply_to_a_message_of_ones_own_stays_in_ones_own_thread() -> None:
    """Two customers' mails carried one Message-ID (a shop system stamping one id on
    every mail, or one copied on purpose): the global reply index is first writer wins,
    so Ivy's reply to her own mail went into Mallory's ticket, her words in his thread."""
    store, broker = InMemoryThreadStore(), Broker()
    shared = "<order-confirmation@shop.example>"
    first = inbound("mallory@evil.example", "hi", 0, message_id=shared, provider_id="m")
    await handler(store, broker).handle([first])
    mallorys = snapshot(broker.take())
    await handler(store, broker).handle(
        [inbound(IVY, "my order is late", 1, message_id=shared, provider_id="i")]
    )
    ivys = snapshot(broker.take())
    assert ivys.id != mallorys.id
    reply = inbound(IVY, "any news?", 2, message_id="<i2@ivy>", in_reply_to=shared)
    await handler(store, broker).handle([reply])
    after = snapshot(broker.take())
    assert (after.id, after.customer_id, after.contacts) == (ivys.id, ivys.customer_id, 2)
    assert after.participants == []
    # a third customer's reply to that id still joins the thread that holds it first
    await handler(store, broker).handle(
        [inbound(BOB, "me too", 3, message_id="<b3@bob>", in_reply_to=shared)]
    )
    assert snapshot(broker.take()).id == mallorys.id


async def test_an_auto_reply_to_a_colleague_says_it_answers_a_participant() -> None:
    """The notifier must send a participant nothing of the ticket's customer (their CRM
    name, the ticket's subject): the ``.notification`` tells it whom it answers."""
    acknowledged = loads_ruleset(
        """
version: 1
queues: {general: {}}
defaults: {queue: general}
rules:
  - name: acknowledge
    on: [ticket.created, message.received]
    if: {channel: email}
    then: {auto_reply: thanks}
"""
    )
    store, broker = InMemoryThreadStore(), Broker()
    await handler(store, broker, acknowledged).handle(
        [inbound(ALICE, "printer broken", 0, message_id="<a1@x>")]
    )
    reply = inbound(BOB, "same here", 1, message_id="<b1@y>", in_reply_to="<a1@x>")
    await handler(store, broker, acknowledged).handle([reply])
    await handler(store, broker, acknowledged).handle(
        [inbound(ALICE, "still broken", 2, message_id="<a2@x>", in_reply_to="<a1@x>")]
    )
    answered = [
        (e["data"]["reply_to"]["customer"]["email"], e["data"]["reply_to"].get("participant"))
        for r in broker.take()
        if r.topic is Topic.TICKETS and (e := event(r))["type"].endswith(".notification")
    ]
    assert answered == [(ALICE, None), (BOB, True), (ALICE, None)]


async def test_a_ticket_names_its_latest_senders_only_so_its_records_stay_small(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A reply-all storm: every sender is a participant, but the snapshot (on every
    record of the ticket) names only the latest ``MAX_PARTICIPANTS``."""
    monkeypatch.setattr("consumers.routing.MAX_PARTICIPANTS", 3)
    store, broker = InMemoryThreadStore(), Broker()
    await handler(store, broker).handle([inbound(ALICE, "printer broken", 0, message_id="<a1@x>")])
    senders = [f"s{n}@example.com" for n in range(5)]
    for n, sender in enumerate(senders, start=1):
        reply = inbound(sender, "me too", n, message_id=f"<r{n}@x>", in_reply_to="<a1@x>")
        await handler(store, broker).handle([reply])
    final = snapshot(broker.take()[-2:])
    assert final.contacts == 6
    assert final.participants == [await customer(store, s) for s in senders[2:]]


async def test_replies_in_the_same_poll_as_the_message_they_answer_join_its_ticket() -> None:
    """Records are keyed by sender, so a colleague's reply can come in the same poll as
    the message it answers, from another partition, even before it: it still joins."""
    store, broker = InMemoryThreadStore(), Broker()
    original = inbound(ALICE, "printer broken", 0, message_id="<a1@x>")
    reply = inbound(BOB, "same here", 1, message_id="<b1@y>", in_reply_to="<a1@x>")
    chained = inbound(CAROL, "me too", 2, message_id="<c1@z>", references=("<a1@x>", "<b1@y>"))
    await handler(store, broker).handle([chained, reply, original])
    published = broker.take()
    snapshots = [Ticket.model_validate(event(r)["data"]["ticket"]) for r in published]
    assert {t.id for t in snapshots} == {snapshots[0].id}  # one ticket
    final = snapshots[-1]
    assert (final.customer_id, final.contacts) == (await customer(store, ALICE), 3)
    assert final.participants == [await customer(store, BOB), await customer(store, CAROL)]
    assert [kind for _, kind in kinds(published) if kind != "snapshot"] == [
        "created",
        "routed",
        "message_added",
        "message_added",
    ]


async def test_messages_of_three_senders_naming_each_other_in_one_poll_share_a_ticket() -> None:
    """A thread delivered out of order: b's References name a and c, c's name b (c was
    written before b arrived anywhere). Every reply waits for another, so they go one at
    a time: each then finds the ticket of the one it answers."""
    store, broker = InMemoryThreadStore(), Broker()
    poll = [
        inbound(ALICE, "a", 0, message_id="<a@b>"),
        inbound(BOB, "b", 1, message_id="<b@b>", references=("<a@b>", "<c@b>")),
        inbound(CAROL, "c", 2, message_id="<c@b>", references=("<b@b>",)),
    ]
    await handler(store, broker).handle(poll)
    snapshots = [Ticket.model_validate(event(r)["data"]["ticket"]) for r in broker.take()]
    assert {t.id for t in snapshots} == {snapshots[0].id}  # one ticket
    assert snapshots[-1].contacts == 3


async def test_a_reply_to_a_closed_ticket_opens_a_follow_up_linked_to_it() -> None:
    store, broker = InMemoryThreadStore(), Broker()
    await handler(store, broker).handle([inbound(ALICE, "printer broken", 0, message_id="<a1@x>")])
    first = snapshot(broker.take())
    closed = first.model_copy(update={"status": "closed"})
    seen = await thread(store, ALICE)
    commit = Commit(
        await customer(store, ALICE), "close", closed, seen.ticket_version, open_ticket=""
    )
    assert await store.commit_many([commit]) == ["OK"]
    await handler(store, broker).handle([inbound(ALICE, "another thing", 1, message_id="<a2@x>")])
    other = snapshot(broker.take())  # a new ticket, open beside the follow-up to come
    reply = inbound(ALICE, "it broke again", 2, message_id="<a3@x>", references=("<a1@x>",))
    await handler(store, broker).handle([reply])
    follow_up = snapshot(broker.take())
    assert follow_up.id not in (first.id, other.id)
    assert follow_up.follow_up_of == first.id
    assert other.follow_up_of is None


async def test_a_poll_of_new_tickets_gets_their_languages_detected_together() -> None:
    """New tickets of one round are detected in one call off the event loop; each ticket
    gets the language it would have got alone, and a rule on language sees it."""
    rules = loads_ruleset(
        """
version: 1
languages: [en, de, fr]
queues: {general: {}, german: {}}
defaults: {queue: general}
rules:
  - name: german
    if: {language: de}
    then: {queue: german}
"""
    )
    store, broker = InMemoryThreadStore(), Broker()
    routing = handler(store, broker, rules)
    poll = [
        inbound(ALICE, "Meine Rechnung ist leider doppelt abgebucht worden.", 0),
        inbound(BOB, "Ma facture est fausse, pouvez-vous m'aider ?", 1),
        inbound(CAROL, "My invoice is wrong, can you help me please?", 2),
    ]
    await routing.handle(poll)
    tickets = {
        t.customer_id: t
        for t in (
            Ticket.model_validate(event(r)["data"]["ticket"])
            for r in broker.take()
            if r.topic is Topic.TICKET_STATE
        )
    }
    assert {c: (t.language, t.language_source, t.queue) for c, t in tickets.items()} == {
        await customer(store, ALICE): ("de", "detected", "german"),
        await customer(store, BOB): ("fr", "detected", "general"),
        await customer(store, CAROL): ("en", "detected", "general"),
    }


async def test_a_failing_detection_ahead_leaves_each_message_to_detect_in_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Detecting a round together is an optimisation: when it fails, the poll is still
    routed, each message detected on its own."""

    def broken(*_: object) -> None:
        raise RuntimeError("detector gone")

    monkeypatch.setattr("consumers.routing.detect_many", broken)
    rules = loads_ruleset(
        "version: 1\nlanguages: [en, de]\nqueues: {general: {}}\ndefaults: {queue: general}\n"
    )
    store, broker = InMemoryThreadStore(), Broker()
    poll = [
        inbound(ALICE, "Meine Rechnung ist leider doppelt abgebucht worden.", 0),
        inbound(BOB, "My invoice is wrong, can you help me please?", 1),
    ]
    await handler(store, broker, rules).handle(poll)
    languages = sorted(
        str(Ticket.model_validate(event(r)["data"]["ticket"]).language)
        for r in broker.take()
        if r.topic is Topic.TICKET_STATE
    )
    assert languages == ["de", "en"]


def action_record(
    kind: str,
    data: dict[str, Any],
    at: datetime,
    offset: int,
    *,
    source: str = "/helpdesk",
    id_: str | None = None,
    stamp: int = 0,
    **extensions: str,
) -> ConsumerRecord[bytes, bytes]:
    """An action as a helpdesk writes it to the actions topic, keyed by its ticket."""
    envelope = CloudEvent(
        id=id_ or f"action-{offset}", source=source, type=kind, time=at, data=data, **extensions
    )
    key, value = str(data["ticket_id"]).encode(), encode_event(envelope)
    return ConsumerRecord(
        NAMES(Topic.ACTIONS), 0, offset, stamp, 0, key, value, None, len(key), len(value),
        (CONTENT_TYPE_HEADER,),
    )  # fmt: skip


async def test_an_action_dated_before_the_ticket_changed_is_taken_as_of_that_change() -> None:
    """A helpdesk clock behind, or a backlog of actions sent late: a reply dated before
    the ticket was even opened is recorded at the ticket's last change, so no metric
    counts it in a window before the ticket existed."""
    store, broker = InMemoryThreadStore(), Broker()
    await handler(store, broker).handle([inbound(ALICE, "hello", 0)])
    ticket = snapshot(broker.take())
    reply = {"ticket_id": ticket.id, "agent_id": "a1", "public": True}
    early = AT - timedelta(minutes=19)
    await handler(store, broker).handle([action_record("agent.replied", reply, early, 1)])
    responded = [event(r) for r in broker.take() if r.topic is Topic.TICKETS]
    assert [e["type"] for e in responded][-1] == "switchboard.ticket.responded"
    assert {datetime.fromisoformat(e["time"]) for e in responded} == {ticket.updated_at}
    assert snapshot_of(responded[-1]).updated_at == ticket.updated_at


def snapshot_of(lifecycle: dict[str, Any]) -> Ticket:
    return Ticket.model_validate(lifecycle["data"]["ticket"])


async def test_a_customer_reopen_takes_back_the_first_contact_the_resolution_counted() -> None:
    """Answered once and resolved as first contact; a courtesy reply after the
    resolution makes two replies, but the customer's reopen still takes back the first
    contact that was counted (``reopened_after_first_contact``)."""
    store, broker = InMemoryThreadStore(), Broker()
    await handler(store, broker).handle([inbound(ALICE, "printer broken", 0)])
    ticket = snapshot(broker.take())
    reply = {"ticket_id": ticket.id, "agent_id": "a1", "public": True}
    steps: list[tuple[str, dict[str, Any]]] = [
        ("agent.replied", reply),
        ("ticket.resolved", {"ticket_id": ticket.id, "agent_id": "a1"}),
        ("agent.replied", reply),
    ]
    for offset, (kind, data) in enumerate(steps, start=1):
        at = AT + timedelta(minutes=offset)
        await handler(store, broker).handle([action_record(kind, data, at, offset)])
    resolved = [event(r)["data"] for r in broker.take() if r.topic is Topic.TICKETS]
    assert [d["first_contact"] for d in resolved if "first_contact" in d] == [True]
    await handler(store, broker).handle([inbound(ALICE, "it broke again", 10)])
    published = broker.take()
    [reopened] = [event(r) for r in published if r.topic is Topic.TICKETS]
    assert reopened["type"] == EventType.TICKET_REOPENED
    assert reopened["data"]["was_first_contact"] is True
    after = snapshot(published)
    assert (after.status, after.agent_replies, after.resolved_first_contact) == ("open", 2, None)


STRANGER = "+15551239999"


def skipped(telemetry: Telemetry) -> float:
    labels = {"consumer": "router", "outcome": "skipped"}
    return telemetry.registry.get_sample_value("switchboard_consumer_records_total", labels) or 0


async def test_records_that_can_open_no_ticket_make_no_stored_customer_of_a_stranger() -> None:
    """Issue: a ringing call, a bounce or an out-of-office from someone never seen made
    them a stored customer (``GET /v1/customers/phone:.../tickets`` answered 200)."""
    store, broker, telemetry = InMemoryThreadStore(), Broker(), Telemetry()
    routing = handler(store, broker, telemetry=telemetry)
    poll = [
        call("ringing", 0, call_id="CA3", phone=STRANGER),
        call("answered", 1, call_id="CA4", phone=STRANGER),
        call("ended", 2, call_id="CA4", phone=STRANGER, talk_seconds=30),
        inbound("MAILER-DAEMON@mx.example.net", "Undelivered Mail", 3, auto_reply=True),
        inbound("away@example.org", "I am out of office", 4, auto_reply=True),
    ]
    await routing.handle(poll)
    await routing.handle(poll)  # redelivered: still nothing
    assert broker.take() == []
    identities = [
        f"phone:{STRANGER}",
        "email:mailer-daemon@mx.example.net",
        "email:away@example.org",
    ]
    assert [await store.customer_of(i) for i in identities] == [None, None, None]
    assert await store.known_customers([[i] for i in identities]) == [None, None, None]
    assert skipped(telemetry) == 2 * len(poll)


async def test_an_answered_call_of_a_known_caller_still_adds_handle_time_to_its_ticket() -> None:
    store, broker = InMemoryThreadStore(), Broker()
    # first contact ever, missed and called back in one poll: the answer finds the
    # customer the missed call made
    await handler(store, broker).handle(
        [
            call("ringing", 0, call_id="CA5", phone=STRANGER),
            call("missed", 1, call_id="CA5", phone=STRANGER),
            call("answered", 2, call_id="CA6", phone=STRANGER),
            call("ended", 6, call_id="CA6", phone=STRANGER, talk_seconds=200, wrap_seconds=20),
        ]
    )
    published = broker.take()
    after = snapshot(published[-1:])
    assert (after.customer_id, after.contacts, after.handle_seconds) == (
        await store.customer_of(f"phone:{STRANGER}"),
        1,
        220.0,
    )
    ended = [event(r)["data"] for r in published if r.topic is Topic.TICKETS][-1]
    assert (ended["contact"], ended["handle_seconds"]) == (False, 220.0)


async def test_a_strangers_bounce_of_a_customers_message_changes_nothing_and_stores_no_one() -> (
    None
):
    store, broker = InMemoryThreadStore(), Broker()
    await handler(store, broker).handle([inbound(ALICE, "printer broken", 0, message_id="<a1@x>")])
    opened = snapshot(broker.take())
    bounce = inbound(
        "postmaster@mx.example.net", "Delivery failed", 1, auto_reply=True, in_reply_to="<a1@x>"
    )
    await handler(store, broker).handle([bounce])
    assert broker.take() == []
    assert await store.customer_of("email:postmaster@mx.example.net") is None
    seen = await thread(store, ALICE)
    assert (seen.ticket, seen.ticket_version) == (opened, 1)  # no participant either


ACKNOWLEDGE = """
version: 1
queues: {general: {}}
defaults: {queue: general}
rules:
  - name: acknowledge
    then: {auto_reply: received, notify: [oncall]}
"""
"""Every message gets an auto-reply, and the on-call team a notification."""


async def test_an_email_auto_reply_carries_the_thread_it_answers() -> None:
    """So the notifier can write In-Reply-To and References as RFC 5322 asks: the
    customer's References, then their Message-ID (a long chain cut to 20 ids)."""
    rules = loads_ruleset(ACKNOWLEDGE)
    store, broker = InMemoryThreadStore(), Broker()
    chain = tuple(f"<old-{i}@example.com>" for i in range(30))
    record = inbound(ALICE, "hello", 0, message_id="<cust-1@example.com>", references=chain)
    await handler(store, broker, rules).handle([record])
    notes = [event(r)["data"] for r in broker.take() if event(r)["type"].endswith(".notification")]
    assert [n["kind"] for n in notes] == ["auto_reply", "notify"]
    thread = notes[0]["thread"]
    assert thread["message_id"] == "<cust-1@example.com>"
    assert thread["references"] == [chain[0], *chain[-19:]]
    assert "thread" not in notes[1]  # a team's notification answers nobody


async def test_a_reopen_a_rule_moves_says_the_queue_it_was_reopened_in() -> None:
    """Resolved in general; the customer's reopen is moved to billing by a rule on
    ``ticket.reopened``. The snapshot says billing, but the reopen happened in general,
    where the resolution was counted: the metrics count the reopen and its first-contact
    takeback there (its ``queue``)."""
    rules = loads_ruleset(
        """
version: 1
queues:
  general: {}
  billing: {}
defaults: {queue: general, priority: normal}
rules:
  - name: reopens to billing
    on: ticket.reopened
    then: {queue: billing}
"""
    )
    store, broker = InMemoryThreadStore(), Broker()
    await handler(store, broker, rules).handle([inbound(ALICE, "printer broken", 0)])
    ticket = snapshot(broker.take())
    resolve = {"ticket_id": ticket.id, "agent_id": "a1"}
    resolving = action_record("ticket.resolved", resolve, AT + timedelta(minutes=1), 1)
    await handler(store, broker, rules).handle([resolving])
    broker.take()
    await handler(store, broker, rules).handle([inbound(ALICE, "it broke again", 2)])
    published = [event(r) for r in broker.take() if r.topic is Topic.TICKETS]
    [reopened] = [e for e in published if e["type"] == EventType.TICKET_REOPENED]
    assert reopened["data"]["queue"] == "general"
    assert snapshot_of(reopened).queue == "billing"  # as the rule left it


async def test_two_writers_may_use_the_same_action_id_and_both_actions_apply() -> None:
    """CloudEvents names an event by source and id together: two helpdesk tools writing
    to the actions topic may both call theirs "1". Each note is recorded; only a copy
    of the same source's event is a duplicate."""
    store, broker = InMemoryThreadStore(), Broker()
    await handler(store, broker).handle([inbound(ALICE, "hello", 0)])
    ticket = snapshot(broker.take())
    note = "switchboard.ticket.note_added"
    first, second, again = (
        action_record(note, {"ticket_id": ticket.id, "agent_id": "a1", "text": text}, AT, n,
                      source=source, id_="1")
        for n, (text, source) in enumerate(
            [("from desk a", "/desk-a"), ("from desk b", "/desk-b"), ("from desk a", "/desk-a")],
            start=1,
        )
    )  # fmt: skip
    await handler(store, broker).handle([first])
    await handler(store, broker).handle([second])
    await handler(store, broker).handle([again])
    published = broker.take()
    notes = [event(r) for r in published if event(r)["type"] == note]
    assert [n["data"]["text"] for n in notes] == ["from desk a", "from desk b"]
    assert len({n["id"] for n in notes}) == 2


def foreign_inbound(email: str, source: str, id_: str, offset: int) -> ConsumerRecord[bytes, bytes]:
    """An inbound event another system wrote straight to the topic, with its own id."""
    record = inbound(email, f"from {source}", offset)
    value = orjson.loads(record.value or b"")
    value.update(id=id_, source=source)
    raw = orjson.dumps(value)
    return replace(record, value=raw, serialized_value_size=len(raw))


async def test_inbound_events_of_two_sources_with_one_id_open_a_ticket_each() -> None:
    store, broker = InMemoryThreadStore(), Broker()
    await handler(store, broker).handle(
        [foreign_inbound(ALICE, "/crm-a", "evt-1", 0), foreign_inbound(BOB, "/crm-b", "evt-1", 1)]
    )
    published = broker.take()
    created = [event(r) for r in published if event(r)["type"] == "switchboard.ticket.created"]
    tickets = {snapshot_of(e).id for e in created}
    assert (len(created), len(tickets)) == (2, 2)


async def test_a_poll_of_records_already_applied_says_so_in_one_line() -> None:
    """After a crash the restarted router re-reads from the last committed offset: an
    operator sees that it did, and that nothing was applied twice."""
    store, broker = InMemoryThreadStore(), Broker(down=1)
    poll = [inbound(ALICE, "my invoice is wrong", 0), inbound(BOB, "hello", 1)]
    with capture_logs() as first, pytest.raises(BackendUnavailable):
        await handler(store, broker).handle(poll)
    with capture_logs() as retried:
        await handler(store, broker).handle(poll)
    with capture_logs() as copied:
        await handler(store, broker).handle(poll)

    def lines(logs: list[dict[str, Any]]) -> list[tuple[int, int]]:
        return [
            (e["records"], e["outboxes_republished"])
            for e in logs
            if e["event"] == "redelivered_records_skipped"
        ]

    assert (lines(first), lines(retried), lines(copied)) == ([], [(2, 2)], [(2, 0)])


@pytest.mark.parametrize(("checked_in", "taken"), [("other", True), (None, False), ("own", False)])
async def test_a_transfer_to_a_queue_the_ingress_found_in_other_rules_is_taken(
    checked_in: str | None, taken: bool
) -> None:
    """A rules change reaches the ingress and the router at different moments (seconds
    apart, a minute on Kubernetes): a transfer the ingress answered 202 for, to a queue
    its newer rules declare, is taken by a router that lacks the queue yet, not
    dead-lettered. Without the ingress's mark, or marked with the router's own rules,
    the queue is unknown: dead-lettered, as before."""
    store, broker = InMemoryThreadStore(), Broker()
    await handler(store, broker).handle([inbound(ALICE, "hello", 0)])
    ticket = snapshot(broker.take())
    mark = {"own": RULES.version, "other": "0123456789ab", None: None}[checked_in]
    extensions = {"switchboardrules": mark} if mark else {}
    transfer = {"ticket_id": ticket.id, "queue": "vip"}
    record = action_record("ticket.transferred", transfer, AT, 1, **extensions)
    await handler(store, broker).handle([record])
    published = broker.take()
    dead = [r for r in published if r.topic is Topic.DEADLETTER]
    if taken:
        assert not dead
        assert snapshot(published).queue == "vip"
    else:
        assert len(dead) == 1


async def test_an_opt_out_keyword_gets_no_auto_reply() -> None:
    """Twilio answers STOP, START and HELP itself and refuses (21610) any other message
    to a number that sent STOP: the rule's auto-reply to it had been dead-lettered, an
    error-level line for every opt-out. The team is still told."""
    rules = loads_ruleset(ACKNOWLEDGE)
    store, broker = InMemoryThreadStore(), Broker()
    stop = inbound(ALICE, "STOP", 0, metadata={"opt_out_type": "STOP"})
    await handler(store, broker, rules).handle([stop])
    notes = [event(r)["data"] for r in broker.take() if event(r)["type"].endswith(".notification")]
    assert [n["kind"] for n in notes] == ["notify"]


async def test_a_message_and_an_action_of_one_poll_apply_in_the_order_they_arrived() -> None:
    """A backlog (a restart, a rebalance) reads the agent's resolve and the customer's
    "not solved" written after it in one poll. Messages went first: the ticket ended
    resolved with the complaint inside, never reopened."""
    store, broker = InMemoryThreadStore(), Broker()
    await handler(store, broker).handle([inbound(ALICE, "hello", 0)])
    ticket = snapshot(broker.take())
    resolved_at = AT + timedelta(minutes=2)
    resolve = action_record(
        "ticket.resolved",
        {"ticket_id": ticket.id},
        resolved_at,
        1,
        stamp=int(resolved_at.timestamp() * 1000),
    )
    complaint = inbound(ALICE, "wait, not solved", 5)  # written three minutes later
    await handler(store, broker).handle([complaint, resolve])
    kinds_seen = [event(r)["type"] for r in broker.take() if r.topic is Topic.TICKETS]
    assert [k for k in kinds_seen if k.endswith((".resolved", ".reopened"))] == [
        "switchboard.ticket.resolved",
        "switchboard.ticket.reopened",
    ]
    final = await thread(store, ALICE)
    assert final.ticket is not None
    assert (final.ticket.status, final.ticket.reopen_count) == ("open", 1)
