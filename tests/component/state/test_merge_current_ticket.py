"""An identity merge carries the absorbed customer's current ticket over to the survivor
when it is the one a later message should join or reopen (``threads.carries_over``).

Audit: the survivor had only a closed ticket, the absorbed customer the open one; the
merge re-pointed identities, profile and ``merged`` but not the current ticket, so the
next message opened a new ticket and the open one was orphaned for good. The contract
part runs on both stores, as ``test_thread_store_contract.py``; the Redis store's own
steps (``carry.lua``, contacts) run on Redis alone.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from consumers.state.memory import InMemoryThreadStore
from consumers.state.thread_reads import MessageOwner
from consumers.state.threads import Commit, RedisThreadStore, ThreadView, ViewRequest
from router.app.embedded import EmbeddedServices
from router.events import Ticket
from router.redis import ScriptCall, make_redis, run_batch
from tests.conftest import make_settings

pytestmark = pytest.mark.component

AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
EMAIL, PHONE = "email:jack@aud.example", "phone:+15550004444"
SMS = {"customer": {"phone": "+15550004444"}, "text": "hello, about my shipping costs"}

Store = RedisThreadStore | InMemoryThreadStore


async def redis_store(services: EmbeddedServices) -> AsyncIterator[RedisThreadStore]:
    prefix = f"merge-{uuid.uuid4().hex[:12]}"
    client = make_redis(make_settings(services, prefix))
    try:
        yield RedisThreadStore(client, ttl_s=3600, prefix=prefix)
    finally:
        await client.aclose()


@pytest.fixture(params=["redis", "memory"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "memory":
        yield InMemoryThreadStore()
        return
    async for made in redis_store(request.getfixturevalue("services")):
        yield made


@pytest.fixture
async def redis_threads(services: EmbeddedServices) -> AsyncIterator[RedisThreadStore]:
    async for made in redis_store(services):
        yield made


def ticket(ticket_id: str, customer_id: str, status: str = "open", **changes: Any) -> Ticket:
    return Ticket.model_validate(
        {
            "id": ticket_id,
            "channel": "sms",
            "customer_id": customer_id,
            "created_at": AT,
            "updated_at": AT,
            "status": status,
            **changes,
        }
    )


async def view(store: Store, customer: str, *refs: str, event: str = "e-next") -> ThreadView:
    [seen] = await store.views([ViewRequest(customer, event, list(refs))])
    return seen


async def two_customers(store: Store) -> tuple[str, str]:
    """Jack by email (who will survive the merge) and Jack by phone, not yet linked."""
    email, phone = await store.resolve_customers([[EMAIL], [PHONE]])
    assert email != phone
    return email, phone


async def phones_open_ticket(store: Store, phone: str, status: str = "open", **more: Any) -> None:
    """The phone's ticket T-2, written twice (version 2), with a message id and a kept
    last message."""
    first = Commit(phone, "p1", ticket("T-2", phone, "new"), 0, [], ["<m2@x>"], "T-2", SMS)
    again = Commit(phone, "p2", ticket("T-2", phone, status, **more), 1)
    assert await store.commit_many([first, again]) == ["OK", "OK"]


async def emails_ticket(store: Store, email: str, status: str, **more: Any) -> None:
    opened = Commit(email, "w1", ticket("T-1", email, status, **more), 0, open_ticket="T-1")
    assert await store.commit_many([opened]) == ["OK"]


async def merge(store: Store, email: str) -> None:
    assert await store.resolve_customers([[EMAIL, PHONE]]) == [email]


async def test_the_absorbed_customers_open_ticket_becomes_the_survivors(store: Store) -> None:
    email, phone = await two_customers(store)
    await emails_ticket(store, email, "closed")
    await phones_open_ticket(store, phone)
    await merge(store, email)

    seen = await view(store, email)
    assert seen.ticket == ticket("T-2", phone)  # the snapshot as it was: its customer's
    assert (seen.ticket_version, seen.message) == (2, SMS)
    assert await store.ticket_owners(["T-1", "T-2"]) == [email, email]  # actions find it
    assert await store.message_tickets(["<m2@x>"]) == [MessageOwner(email, "T-2")]
    replied = await view(store, email, "<m2@x>")
    assert (replied.ticket, replied.by_reply) == (ticket("T-2", phone), True)
    assert (await view(store, phone)).ticket is None  # no second holder of it

    joined = ticket("T-2", phone, contacts=2)
    assert await store.commit_many([Commit(email, "s45", joined, 2)]) == ["OK"]
    await merge(store, email)  # a repeat changes nothing
    after = await view(store, email)
    assert (after.ticket, after.ticket_version) == (joined, 3)
    assert await store.forget(email) == ["T-1", "T-2"]


async def test_when_both_have_an_open_ticket_the_survivors_stays_current(store: Store) -> None:
    email, phone = await two_customers(store)
    await emails_ticket(store, email, "open")
    await phones_open_ticket(store, phone)
    await merge(store, email)
    assert (await view(store, email)).ticket == ticket("T-1", email)
    assert await store.ticket_owners(["T-2"]) == [phone]  # stays theirs, listed as merged
    assert await store.merged_customers(email) == [phone]
    [named] = await store.views([ViewRequest(phone, "act-1", [], "T-2")])
    assert (named.ticket, named.ticket_version) == (ticket("T-2", phone), 2)


RESOLVED_EARLY = {"status": "resolved", "resolved_at": AT}
RESOLVED_LATE = {"status": "resolved", "resolved_at": AT + timedelta(days=2)}


@pytest.mark.parametrize(
    ("survivors", "absorbed", "carried"),
    [
        (None, {"status": "open"}, True),
        (None, {"status": "pending"}, True),
        ({"status": "closed"}, RESOLVED_EARLY, True),  # it may still be reopened
        ({"status": "resolved", "resolved_at": AT}, {"status": "new"}, True),
        (RESOLVED_EARLY, RESOLVED_LATE, True),  # the one reopenable the longest
        (RESOLVED_LATE, RESOLVED_EARLY, False),
        ({"status": "pending"}, {"status": "open"}, False),
        ({"status": "open"}, RESOLVED_LATE, False),
        (None, {"status": "closed"}, False),  # takes no message: nothing to carry
    ],
)
async def test_the_ticket_a_later_message_would_take_is_the_one_kept_current(
    store: Store, survivors: dict[str, Any] | None, absorbed: dict[str, Any], carried: bool
) -> None:
    email, phone = await two_customers(store)
    if survivors is not None:
        await emails_ticket(store, email, **survivors)
    await phones_open_ticket(store, phone, **absorbed)
    await merge(store, email)
    current = (await view(store, email)).ticket
    expected = "T-2" if carried else ("T-1" if survivors else None)
    assert (current.id if current else None) == expected
    assert await store.ticket_owners(["T-2"]) == [email if carried else phone]


async def test_a_participant_of_the_carried_ticket_is_still_forgotten_out_of_it(
    store: Store,
) -> None:
    email, phone = await two_customers(store)
    [dave] = await store.resolve_customers([["email:dave@x.io"]])
    await phones_open_ticket(store, phone)
    daves = ticket("T-2", phone, message_ids=["<m2@x>", "<d3@x>"], participants=[dave])
    reply = Commit(phone, "d3", daves, 2, message_ids=["<d3@x>"], participant=dave)
    assert await store.commit_many([reply]) == ["OK"]
    await merge(store, email)
    assert await store.message_tickets(["<d3@x>"]) == [MessageOwner(email, "T-2")]

    assert await store.forget(dave) == []
    left = await view(store, email)
    assert left.ticket is not None
    assert (left.ticket.participants, left.ticket.message_ids) == ([], ["<m2@x>"])
    assert await store.message_tickets(["<d3@x>"]) == [None]


async def test_the_notifier_reaches_the_customer_of_a_carried_ticket(
    redis_threads: RedisThreadStore,
) -> None:
    """The notifier asks by the snapshot's customer, the absorbed one."""
    email, phone = await two_customers(redis_threads)
    await emails_ticket(redis_threads, email, "closed")
    await phones_open_ticket(redis_threads, phone)
    await merge(redis_threads, email)
    [contact] = await redis_threads.contacts([(phone, "T-2")])
    assert contact["phone"] == "+15550004444"


async def test_a_merge_stopped_half_way_through_the_carry_is_finished_by_its_repeat(
    redis_threads: RedisThreadStore,
) -> None:
    """A crash after the survivor's side of ``carry.lua`` and before the identities
    were re-pointed: the redelivered upsert merges again and finishes the move."""
    email, phone = await two_customers(redis_threads)
    await emails_ticket(redis_threads, email, "closed")
    await phones_open_ticket(redis_threads, phone)
    k = redis_threads._keys  # noqa: SLF001 - the store's own key names
    survivors = [k.ticket_data(email), k.open_ticket(email), k.message_index(email)]
    absorbed = [k.ticket_data(phone), k.open_ticket(phone), k.message_index(phone)]
    raw = ticket("T-2", phone).model_dump_json()
    carry = redis_threads._carry  # noqa: SLF001 - the script, one side at a time
    stale_pointer = ScriptCall(carry, survivors, ["in", "T-2", 2, raw, "", "T-9", "<m2@x>"])
    taken = ScriptCall(carry, survivors, ["in", "T-2", 2, raw, "", "T-1", "<m2@x>"])
    stale_version = ScriptCall(carry, absorbed, ["out", "T-2", 1, "<m2@x>"])
    assert await run_batch(redis_threads._r, [stale_pointer, taken, stale_version]) == [0, 1, 0]  # noqa: SLF001

    assert (await view(redis_threads, phone)).ticket_version == 2  # the other side is untouched
    await merge(redis_threads, email)
    assert (await view(redis_threads, email)).ticket_version == 2
    assert (await view(redis_threads, phone)).ticket is None
    assert await redis_threads.ticket_owners(["T-2"]) == [email]
    assert await redis_threads.customer_ticket_ids(phone) == []
