"""``state rebuild`` on real Redis and Kafka restores what Kafka says, no more: an
accepted offer stays accepted, a colleague who only replied keeps their identity, CRM
links and merges come back, and a forgotten participant stays forgotten."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from consumers.state.backlog import Backlog
from consumers.state.threads import RedisThreadStore
from router.app import roles
from router.app.forget import forget
from router.app.rebuild import rebuild, release_erased
from router.ids import derived_id, scoped_id
from router.kafka import make_producer
from router.keys import Keys
from router.redis import make_redis
from router.settings import Settings
from router.topic_admin import ensure_topics
from router.topics import Topic, TopicNames
from router.vocabulary import EventType

pytestmark = pytest.mark.component

AT, LATER = "2026-11-23T10:00:00Z", "2026-11-23T10:05:00Z"


def ticket(customer: str, **changes: Any) -> dict[str, Any]:
    base = {"id": "T-hank", "channel": "email", "customer_id": customer}
    return {**base, "created_at": AT, "updated_at": AT, **changes}


def event(id_: str, kind: str, data: dict[str, Any]) -> bytes:
    return orjson.dumps(
        {"specversion": "1.0", "id": id_, "source": "/t", "type": kind, "data": data}
    )


def said(email: str, event_id: str) -> dict[str, Any]:
    return {"channel": "email", "customer": {"email": email}, "event_id": event_id}


async def produce(settings: Settings, records: list[tuple[Topic, str, bytes | None]]) -> None:
    await ensure_topics(settings)
    names = TopicNames(settings.topic_prefix)
    producer = make_producer(settings)
    await producer.start()
    try:
        for topic, key, value in records:
            await producer.send_and_wait(names(topic), value, key=key.encode())
    finally:
        await producer.stop()


async def wipe(settings: Settings) -> None:
    redis = make_redis(settings)
    try:
        keys = [k async for k in redis.scan_iter(match=f"{settings.topic_prefix}:*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


async def with_store(settings: Settings, ask: Any) -> Any:
    redis = make_redis(settings)
    try:
        return await ask(RedisThreadStore(redis, ttl_s=3600, prefix=settings.topic_prefix))
    finally:
        await redis.aclose()


def hanks_billing_ticket() -> list[tuple[Topic, str, bytes | None]]:
    """Hank's ticket opened in the billing queue: its record and its snapshot."""
    opened = ticket("C-hank", queue="billing", message_ids=["<h1@x>"])
    created = {"ticket": opened, "interaction": said("hank@example.com", "e-h1")}
    return [
        (Topic.TICKETS, "T-hank", event("r1", "switchboard.ticket.created", created)),
        (Topic.TICKET_STATE, "T-hank", event("s1", "switchboard.ticket.snapshot", created)),
    ]


def hank_and_ivy() -> list[tuple[Topic, str, bytes | None]]:
    """Hank's ticket, then Ivy's reply on it (she becomes a participant)."""
    opened = ticket("C-hank", message_ids=["<h1@x>"])
    joined = ticket("C-hank", message_ids=["<h1@x>", "<i1@x>"], participants=["C-ivy"])
    created = {"ticket": opened, "interaction": said("hank@example.com", "e-h1")}
    replied = {"ticket": joined, "interaction": said("ivy@example.com", "e-i1")}
    return [
        (Topic.TICKETS, "T-hank", event("r1", "switchboard.ticket.created", created)),
        (Topic.TICKET_STATE, "T-hank", event("s1", "switchboard.ticket.snapshot", created)),
        (Topic.TICKETS, "T-hank", event("r2", "switchboard.ticket.message_added", replied)),
        (Topic.TICKET_STATE, "T-hank", event("s2", "switchboard.ticket.snapshot", replied)),
    ]


async def test_an_accepted_offer_stays_accepted_and_its_action_stays_done(
    settings: Settings,
) -> None:
    offered = ticket("C-hank", assignee="a1", assigned_at=AT)
    accepted = {**offered, "accepted": True}  # the accept moved no clock: updated_at ties
    accept: dict[str, Any] = {"ticket_id": "T-hank", "agent_id": "a1"}
    cause = scoped_id("/t", "act-1")  # the helpdesk's id, scoped by its source
    snapshot_id = derived_id(cause, EventType.TICKET_SNAPSHOT.value)
    await produce(
        settings,
        [
            (
                Topic.TICKETS,
                "T-hank",
                event("r1", "switchboard.ticket.assigned", {"ticket": offered}),
            ),
            (
                Topic.TICKET_STATE,
                "T-hank",
                event("s1", "switchboard.ticket.snapshot", {"ticket": offered}),
            ),
            (Topic.ACTIONS, "T-hank", event("act-1", "assignment.accepted", accept)),
            (
                Topic.TICKET_STATE,
                "T-hank",
                event(snapshot_id, "switchboard.ticket.snapshot", {"ticket": accepted}),
            ),
        ],
    )
    await rebuild(settings)
    [restored] = await with_store(settings, lambda s: s.tickets(["T-hank"]))
    assert restored.accepted
    redis = make_redis(settings)
    try:
        assert await redis.exists(Keys(settings.topic_prefix).done("C-hank", cause))
    finally:
        await redis.aclose()


async def test_a_colleague_who_only_replied_keeps_their_identity(settings: Settings) -> None:
    await produce(settings, hank_and_ivy())
    await rebuild(settings)
    assert await with_store(settings, lambda s: s.customer_of("email:ivy@example.com")) == "C-ivy"
    gone = await forget(settings, "ivy@example.com")
    assert gone.customer_id == "C-ivy"
    [after] = await with_store(settings, lambda s: s.tickets(["T-hank"]))
    assert after.participants == []
    assert after.message_ids == ["<h1@x>"]  # her `wrote` index was restored


async def test_crm_links_and_merges_come_back(settings: Settings) -> None:
    await produce(
        settings,
        [
            *hank_and_ivy(),
            (
                Topic.ACTIONS,
                "customer:42",
                event(
                    "u1",
                    "customer.upserted",
                    {"id": "42", "email": "hank@example.com", "phone": "+15550001", "name": "Hank"},
                ),
            ),
            (
                Topic.ACTIONS,
                "customer:43",
                event(
                    "u2",
                    "customer.upserted",
                    {"id": "43", "email": "ivy@example.com", "phone": "+15550001"},
                ),
            ),
        ],
    )
    await rebuild(settings)
    phone = await with_store(settings, lambda s: s.customer_of("phone:+15550001"))
    assert phone in {"C-hank", "C-ivy"}  # known from the CRM only
    survivor = await with_store(settings, lambda s: s.survivor_of("C-ivy"))
    assert survivor == await with_store(settings, lambda s: s.survivor_of("C-hank"))


@pytest.mark.slow
async def test_a_forgotten_participant_stays_forgotten_after_a_rebuild(settings: Settings) -> None:
    upsert = {"id": "43", "email": "ivy@example.com", "name": "Ivy"}
    await produce(
        settings,
        [*hank_and_ivy(), (Topic.ACTIONS, "customer:43", event("u2", "customer.upserted", upsert))],
    )
    await rebuild(settings)
    await forget(settings, "ivy@example.com")
    await wipe(settings)
    await rebuild(settings)
    [hank] = await with_store(settings, lambda s: s.tickets(["T-hank"]))
    assert hank.participants == []
    assert "<i1@x>" not in hank.message_ids
    assert await with_store(settings, lambda s: s.customer_of("email:ivy@example.com")) is None
    assert await with_store(settings, lambda s: s.customer_of("crm:43")) is None
    redis = make_redis(settings)
    try:
        left = [k async for k in redis.scan_iter(match=f"{settings.topic_prefix}:*C-ivy*")]
    finally:
        await redis.aclose()
    assert left == []


@pytest.mark.slow
async def test_a_forgotten_owner_and_their_crm_profile_stay_forgotten_after_a_rebuild(
    settings: Settings,
) -> None:
    """Every ticket of Hank's erased: his identities were on no restored ticket, so the
    replay of his CRM upserts (email, phone, CRM id, name and address) linked them again,
    with his profile. An upsert naming only his CRM id is his too. One written after the
    erasure is a person seen again, and comes back."""
    profile = {
        "id": "42",
        "email": "hank@example.com",
        "name": "Hank",
        "attributes": {"street": "Elm 1"},
    }
    by_crm_id = {"id": "42", "tier": "gold"}
    await produce(
        settings,
        [
            *hank_and_ivy(),
            (Topic.ACTIONS, "customer:42", event("u1", "customer.upserted", profile)),
            (Topic.ACTIONS, "customer:42", event("u2", "customer.upserted", by_crm_id)),
        ],
    )
    await rebuild(settings)
    assert await with_store(settings, lambda s: s.customer_of("crm:42")) == "C-hank"
    await forget(settings, "hank@example.com")
    seen_again = {"email": "hank@example.com", "name": "Hank again"}
    await produce(
        settings, [(Topic.ACTIONS, "customer:x", event("u3", "customer.upserted", seen_again))]
    )
    await wipe(settings)
    await rebuild(settings)
    assert await with_store(settings, lambda s: s.customer_of("crm:42")) is None
    again = await with_store(settings, lambda s: s.customer_of("email:hank@example.com"))
    assert again not in (None, "C-hank")  # the upsert after the erasure: someone new
    redis = make_redis(settings)
    try:
        kept = await redis.get(Keys(settings.topic_prefix).profile(again))
    finally:
        await redis.aclose()
    assert kept is not None
    assert b"Elm 1" not in kept
    assert b"Hank again" in kept


@pytest.mark.slow
async def test_an_erased_ticket_is_not_counted_in_the_backlog_again_after_a_rebuild(
    settings: Settings,
) -> None:
    """The replay of ``tickets`` reads an erased ticket's records like any other's, and
    an erased ticket never settles: it counted as open in the gauges for good."""
    await produce(settings, hanks_billing_ticket())
    await rebuild(settings)
    await forget(settings, "hank@example.com")
    await wipe(settings)
    done = await rebuild(settings)
    await roles.replay_tickets(settings, done.lifecycle)
    await release_erased(settings, done.gone)
    redis = make_redis(settings)
    try:
        gauges = await Backlog(redis, prefix=settings.topic_prefix).gauges(0)
    finally:
        await redis.aclose()
    assert gauges.get("billing", {}).get("open", 0) == 0


async def test_the_backlog_is_counted_again_when_its_gauges_were_lost_and_its_markers_not(
    settings: Settings,
) -> None:
    """On a cluster a node that comes back empty takes some keys and leaves others: the
    gauges' sets gone, the records' markers (spread over every node) still there. The
    rebuild's replay skipped every record so marked, and the ticket was counted nowhere."""
    await produce(settings, hanks_billing_ticket())
    for _ in range(2):  # the second follows what the timers wrote in the first too
        done = await rebuild(settings)
        await roles.replay_tickets(settings, done.lifecycle)
    redis = make_redis(settings)
    backlog = Backlog(redis, prefix=settings.topic_prefix)
    keys = Keys(settings.topic_prefix)
    try:
        assert (await backlog.gauges(0))["billing"]["open"] == 1
        assert await redis.exists(keys.backlog_done("r1"))  # followed once, by its marker
        # the node holding the gauges' keys came back empty; the markers' node did not
        await redis.delete(keys.backlog_where, keys.backlog_queues, keys.backlog_open("billing"))

        done = await rebuild(settings)
        await roles.replay_tickets(settings, done.lifecycle)

        assert (await backlog.gauges(0))["billing"]["open"] == 1
    finally:
        await redis.aclose()
