"""``switchboard forget`` on real Redis and Kafka: whom it finds (every identity form, an
absorbed customer's id), what it takes out of the tickets of others, and a run that fails
halfway changing nothing, so that running it again finishes the job."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from consumers.state.epoch import StateEpoch
from consumers.state.threads import Commit, RedisThreadStore
from router.app.embedded import EmbeddedServices
from router.app.forget import forget
from router.errors import ConfigError
from router.events import Ticket
from router.redis import make_redis, text
from router.settings import Settings
from router.topic_admin import ensure_topics, missing_topics
from router.topics import Topic, TopicNames
from tests.conftest import make_settings, read_topic

pytestmark = pytest.mark.component

AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def ticket(ticket_id: str, customer_id: str, **changes: Any) -> Ticket:
    return Ticket.model_validate(
        {
            "id": ticket_id,
            "channel": "email",
            "customer_id": customer_id,
            "created_at": AT,
            "updated_at": AT,
            **changes,
        }
    )


def said(email: str, words: str) -> dict[str, Any]:
    """A kept message as the router keeps it: the sender's address and words."""
    return {"channel": "email", "text": words, "customer": {"email": email}}


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[RedisThreadStore]:
    client = make_redis(settings)
    try:
        yield RedisThreadStore(client, ttl_s=3600, prefix=settings.topic_prefix)
    finally:
        await client.aclose()


async def customer_with_ticket(
    store: RedisThreadStore, identities: list[str], ticket_id: str
) -> str:
    [customer] = await store.resolve_customers([identities])
    opened = ticket(ticket_id, customer, message_ids=[f"<{ticket_id}@x>"])
    commit = Commit(customer, f"e-{ticket_id}", opened, 0, message_ids=[f"<{ticket_id}@x>"])
    assert await store.commit_many([commit]) == ["OK"]
    return customer


async def stored_text(settings: Settings) -> str:
    """Every key and value of the deployment in Redis, as one text to search."""
    redis = make_redis(settings)
    parts: list[str] = []
    try:
        async for key in redis.scan_iter(match=f"{settings.topic_prefix}:*"):
            kind = text(await redis.type(key))
            parts.append(text(key))
            if kind == "string":
                parts.append(text(await redis.get(key) or b""))
            elif kind == "hash":
                for field, value in (await redis.hgetall(key)).items():
                    parts += [text(field), text(value)]
            elif kind == "set":
                parts += [text(m) for m in await redis.smembers(key)]
    finally:
        await redis.aclose()
    return "\n".join(parts)


async def test_forget_takes_participants_out_of_the_tickets_they_wrote_on(
    settings: Settings, store: RedisThreadStore
) -> None:
    """Issue: Ada replied on Bob's thread and Dave (a colleague in copy) only ever replied;
    after ``forget`` their addresses, words, message ids and customer ids stayed on Bob's
    ticket, and Dave was "0 tickets erased" with all of it kept."""
    bob = await customer_with_ticket(store, ["email:bob@example.com"], "T-bob")
    [ada, dave] = await store.resolve_customers([["email:ada@example.com"], ["email:dave@x.io"]])
    replies = [
        (ada, "<ada-2@example.com>", said("ada@example.com", "I see the same crash as Bob")),
        (dave, "<dave-3@x.io>", said("dave@x.io", "cc: my laptop too")),
    ]
    ids = ["<T-bob@x>"]
    for version, (who, message_id, message) in enumerate(replies, start=1):
        ids.append(message_id)
        joined = ticket("T-bob", bob, message_ids=list(ids), participants=[ada, dave][:version])
        reply = Commit(bob, f"r{version}", joined, version, [], [message_id], None, message)
        reply.participant = who
        assert await store.commit_many([reply]) == ["OK"]

    assert (await forget(settings, "ada@example.com")).customer_id == ada
    done = await forget(settings, "dave@x.io")
    assert (done.customer_id, done.tickets) == (dave, [])

    left = await stored_text(settings)
    for gone in ("ada@", "ada-2", "dave@", "dave-3", "same crash", "my laptop", ada, dave):
        assert gone not in left
    [kept] = await store.tickets(["T-bob"])
    assert kept is not None
    assert (kept.customer_id, kept.participants, kept.message_ids) == (bob, [], ["<T-bob@x>"])
    # only the forgotten customers' own tickets get tombstones: Bob's gets a snapshot
    # without them (what `state rebuild` restores), one per forget that took one out
    state = await read_topic(settings, Topic.TICKET_STATE, expect=0, settle=0.5)
    assert {r.key for r in state} == {b"T-bob"}
    assert all(r.value is not None for r in state)
    for gone in ("ada@", "dave@", ada, dave):
        assert gone.encode() not in state[-1].value


async def test_forget_by_an_absorbed_customers_id_erases_the_whole_person(
    settings: Settings, store: RedisThreadStore
) -> None:
    """Issue: after a CRM merge, ``forget --customer <absorbed id>`` erased only the
    absorbed customer's ticket; the survivor's identities and tickets stayed."""
    ada = await customer_with_ticket(store, ["email:ada@example.com"], "T-mail")
    phone = await customer_with_ticket(store, ["phone:+15550001"], "T-phone")
    merged = await store.resolve_customers([["email:ada@example.com", "phone:+15550001"]])
    assert merged == [ada]  # the CRM says they are one person: ada absorbed the phone's

    done = await forget(settings, phone)
    assert (done.customer_id, done.tickets) == (ada, ["T-mail", "T-phone"])
    assert await store.customer_of("email:ada@example.com") is None
    assert await store.customer_of("phone:+15550001") is None
    assert await store.tickets(["T-mail", "T-phone"]) == [None, None]
    state = await read_topic(settings, Topic.TICKET_STATE, expect=2)
    assert sorted((r.key, r.value) for r in state) == [(b"T-mail", None), (b"T-phone", None)]


@pytest.mark.parametrize(
    ("identity", "who"),
    [
        ("email:bob@example.com", "email:Bob@Example.com"),
        ("email:bob@example.com", "mailto:bob@example.com"),
        ("phone:+15551234567", "phone:+1 555 123 4567"),
        ("phone:+15551234567", "+15551234567"),
        ("chat:v-frank", "chat:v-frank"),
        ("crm:42", "crm:42"),
    ],
)
async def test_forget_finds_a_customer_by_every_identity_form(
    settings: Settings, store: RedisThreadStore, identity: str, who: str
) -> None:
    """Issue: ``email:bob@example.com`` (as the read API spells it) said "no such
    customer", and ``chat:``/``crm:`` were refused: such customers could only be
    forgotten by their id."""
    customer = await customer_with_ticket(store, [identity], "T-1")
    done = await forget(settings, who)
    assert (done.customer_id, done.tickets) == (customer, ["T-1"])
    assert await store.customer_of(identity) is None


async def test_forget_with_the_ticket_state_topic_missing_erases_nothing_until_run_again(
    services: EmbeddedServices,
) -> None:
    """Issue: Redis was erased before the tombstones were written, so a failed write could
    never be retried (a rerun found "no such customer")."""
    settings = make_settings(services, f"t{os.getpid()}f{uuid.uuid4().hex[:8]}")
    client = make_redis(settings)
    try:
        store = RedisThreadStore(client, ttl_s=3600, prefix=settings.topic_prefix)
        ada = await customer_with_ticket(store, ["email:ada@example.com"], "T-1")
        with pytest.raises(ConfigError, match="topics ensure"):
            await forget(settings, "ada@example.com")
        assert await store.customer_of("email:ada@example.com") == ada  # Redis untouched
        assert [t.id for t in await store.customer_tickets(ada)] == ["T-1"]
        state = TopicNames(settings.topic_prefix)(Topic.TICKET_STATE)
        assert state in await missing_topics(settings)  # not created by the attempt

        await ensure_topics(settings)
        done = await forget(settings, "ada@example.com")  # run again: finishes the job
        assert (done.customer_id, done.tickets) == (ada, ["T-1"])
        assert await store.customer_of("email:ada@example.com") is None
    finally:
        await client.aclose()
    [tombstone] = await read_topic(settings, Topic.TICKET_STATE, expect=1)
    assert (tombstone.key, tombstone.value) == (b"T-1", None)


async def test_forget_with_the_wrong_prefix_or_redis_database_is_an_error_not_no_one(
    settings: Settings, store: RedisThreadStore, services: EmbeddedServices
) -> None:
    """Issue: with ``SWITCHBOARD_TOPIC_PREFIX`` (or the database in
    ``SWITCHBOARD_REDIS_URL``) not the deployment's, ``forget`` found no one and said "no
    such customer: nothing stored, nothing to erase", exit 0: an erasure confirmed that
    never happened. Now it names the setting (exit 2) and the customer is still there."""
    ada = await customer_with_ticket(store, ["email:ada@example.com"], "T-1")
    await write_state_marker(settings)

    wrong_prefix = make_settings(services, f"t{os.getpid()}w{uuid.uuid4().hex[:8]}")
    with pytest.raises(ConfigError) as no_topic:
        await forget(wrong_prefix, "ada@example.com")
    assert no_topic.value.setting == "SWITCHBOARD_TOPIC_PREFIX"

    await ensure_topics(wrong_prefix)  # topics there, but nothing of it in Redis
    with pytest.raises(ConfigError) as no_state:
        await forget(wrong_prefix, "ada@example.com")
    assert no_state.value.setting == "SWITCHBOARD_REDIS_URL"
    assert wrong_prefix.topic_prefix in str(no_state.value)

    url = settings.redis.url or ""
    other_database = settings.model_copy(
        update={"redis": settings.redis.model_copy(update={"url": url.rsplit("/", 1)[0] + "/7"})}
    )
    with pytest.raises(ConfigError, match="state marker"):
        await forget(other_database, "ada@example.com")

    assert await store.customer_of("email:ada@example.com") == ada  # nothing erased
    assert (await forget(settings, "nobody@example.com")).customer_id is None  # the right ones
    assert (await forget(settings, "ada@example.com")).customer_id == ada


async def write_state_marker(settings: Settings) -> None:
    """As the first role to start writes it: the deployment's Redis database."""
    client = make_redis(settings)
    try:
        await StateEpoch(client, settings.topic_prefix).establish(has_history=False)
    finally:
        await client.aclose()
