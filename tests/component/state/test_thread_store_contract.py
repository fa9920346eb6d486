"""The ``ThreadStore`` contract: one suite, run against every implementation.

The routing consumer trusts these answers for exactly-once effects (DUP), for safe
concurrent updates (CONFLICT) and for threading (open ticket, reply refs). The in-memory
store that the fast handler tests use is only worth having while it answers like the
Redis one, so both run the same tests here, Redis on the real embedded valkey.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Protocol

import pytest

from consumers.state.memory import InMemoryThreadStore
from consumers.state.thread_reads import MessageOwner
from consumers.state.threads import (
    Commit,
    RedisThreadStore,
    ThreadStore,
    ThreadView,
    ViewRequest,
)
from router.app.embedded import EmbeddedServices
from router.codec import CONTENT_TYPE_HEADER
from router.events import Ticket
from router.ids import customer_id_for
from router.redis import make_redis
from router.topics import OutRecord, Topic
from tests.conftest import make_settings

pytestmark = pytest.mark.component

AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
ALICE = "C-alice"
BOB = "C-bob"


class Store(ThreadStore, Protocol):
    """What the contract covers beyond the router's Protocol: the ``forget`` tool's calls."""

    async def forget(self, customer_id: str) -> list[str]: ...
    async def customer_of(self, identity: str) -> str | None: ...
    async def merged_customers(self, customer_id: str) -> list[str]: ...


@pytest.fixture(params=["redis", "memory"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """Each test gets an empty store: Redis under a key prefix of its own."""
    if request.param == "memory":
        yield InMemoryThreadStore()
        return
    services: EmbeddedServices = request.getfixturevalue("services")
    prefix = f"contract-{uuid.uuid4().hex[:12]}"
    client = make_redis(make_settings(services, prefix))
    try:
        yield RedisThreadStore(client, ttl_s=3600, prefix=prefix)
    finally:
        await client.aclose()


def ticket(ticket_id: str = "T-1", customer_id: str = ALICE, **changes: Any) -> Ticket:
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


def record(ticket_id: str, n: int) -> OutRecord:
    return OutRecord(Topic.TICKETS, ticket_id, f'{{"n": {n}}}'.encode(), (CONTENT_TYPE_HEADER,))


async def commit(store: ThreadStore, *commits: Commit) -> list[str]:
    return await store.commit_many(list(commits))


async def view(
    store: ThreadStore,
    customer_id: str = ALICE,
    event_id: str = "e-next",
    refs: tuple[str, ...] = (),
    ticket_id: str | None = None,
) -> ThreadView:
    [seen] = await store.views([ViewRequest(customer_id, event_id, list(refs), ticket_id)])
    return seen


# --- OK, DUP, CONFLICT and the version --------------------------------------------------


async def test_an_event_applies_once_and_its_repeat_is_dup_changing_nothing(
    store: Store,
) -> None:
    assert await commit(store, Commit(ALICE, "e1", ticket(), 0, open_ticket="T-1")) == ["OK"]
    again = Commit(ALICE, "e1", ticket(subject="changed"), 1, open_ticket="T-1")
    assert await commit(store, again) == ["DUP"]
    seen = await view(store, event_id="e1")
    assert seen.done is True
    assert (seen.ticket, seen.ticket_version) == (ticket(), 1)
    assert (await view(store, event_id="e2")).done is False


async def test_a_stale_version_is_a_conflict_that_leaves_the_event_to_retry(
    store: Store,
) -> None:
    await commit(store, Commit(ALICE, "e1", ticket(), 0, open_ticket="T-1"))
    racing = [
        Commit(ALICE, "e2", ticket(subject="behind"), 0),
        Commit(ALICE, "e3", ticket(subject="ahead"), 2),
    ]
    assert await store.commit_many(racing) == ["CONFLICT", "CONFLICT"]
    seen = await view(store, event_id="e2")
    assert (seen.done, seen.ticket, seen.ticket_version) == (False, ticket(), 1)
    assert await commit(store, Commit(ALICE, "e2", ticket(subject="re-read"), 1)) == ["OK"]
    assert (await view(store)).ticket == ticket(subject="re-read")


async def test_an_applied_event_is_dup_even_when_its_version_is_stale(store: Store) -> None:
    await commit(store, Commit(ALICE, "e1", ticket(), 0, open_ticket="T-1"))
    assert await commit(store, Commit(ALICE, "e1", ticket(), 0)) == ["DUP"]


async def test_every_ticket_write_counts_one_version_and_a_ticketless_event_none(
    store: Store,
) -> None:
    await commit(store, Commit(ALICE, "e1", ticket(), 0, open_ticket="T-1"))
    for n, event in enumerate(("e2", "e3"), start=1):
        assert await commit(store, Commit(ALICE, event, ticket(contacts=n), n)) == ["OK"]
    assert await commit(store, Commit(ALICE, "bounce", None, 0)) == ["OK"]
    assert await commit(store, Commit(ALICE, "bounce", None, 0)) == ["DUP"]
    seen = await view(store)
    assert (seen.ticket, seen.ticket_version) == (ticket(contacts=2), 3)


async def test_an_event_that_changes_no_ticket_applies_whatever_version_it_read(
    store: Store,
) -> None:
    await commit(store, Commit(ALICE, "e1", ticket(), 0, open_ticket="T-1"))
    # an auto-reply to the open ticket: the router passes on the version it read
    assert await commit(store, Commit(ALICE, "auto", None, 1, message_ids=["<a@x>"])) == ["OK"]
    assert await commit(store, Commit(ALICE, "auto", None, 1)) == ["DUP"]
    seen = await view(store, refs=("<a@x>",))  # indexes nothing: no ticket to find by it
    assert (seen.ticket, seen.ticket_version, seen.by_reply) == (ticket(), 1, False)


async def test_one_batch_answers_each_commit_on_its_own(store: Store) -> None:
    answers = await store.commit_many(
        [
            Commit(ALICE, "e1", ticket(), 0, open_ticket="T-1"),
            Commit(ALICE, "e2", ticket(contacts=2), 1),  # sees the first one's write
            Commit(ALICE, "e2", ticket(contacts=3), 2),
            Commit(BOB, "e3", ticket("T-2", BOB), 5),
        ]
    )
    assert answers == ["OK", "OK", "DUP", "CONFLICT"]
    assert (await view(store)).ticket_version == 2


async def test_a_new_ticket_conflicts_when_another_opened_one_since_the_view(
    store: Store,
) -> None:
    """Two routers read "no open ticket" for one customer at once (an email and an SMS of
    one person, on two partitions): the one that commits second conflicts, and the
    global entries it wrote for its ticket are taken back, so its retry joins the first
    ticket and indexes its message there."""
    assert (await view(store)).open_ticket == ""
    first = Commit(
        ALICE, "e1", ticket(), 0, message_ids=["<m1@x>"], open_ticket="T-1", open_seen=""
    )
    assert await commit(store, first) == ["OK"]
    assert (await view(store)).open_ticket == "T-1"
    second = Commit(
        ALICE, "e2", ticket("T-2"), 0, [record("T-2", 1)], ["<m2@x>"], "T-2", open_seen=""
    )
    assert await commit(store, second) == ["CONFLICT"]
    seen = await view(store, event_id="e2")
    assert (seen.done, seen.outbox, seen.ticket, seen.open_ticket) == (False, None, ticket(), "T-1")
    assert await store.ticket_owners(["T-1", "T-2"]) == [ALICE, None]
    assert await store.message_tickets(["<m1@x>", "<m2@x>"]) == [MessageOwner(ALICE, "T-1"), None]
    joined = Commit(ALICE, "e2", ticket(contacts=2), 1, message_ids=["<m2@x>"], open_ticket="T-1")
    assert await commit(store, joined) == ["OK"]
    assert await store.message_tickets(["<m2@x>"]) == [MessageOwner(ALICE, "T-1")]


# --- which ticket a view finds ----------------------------------------------------------


async def test_the_open_ticket_is_kept_set_and_cleared(store: Store) -> None:
    await commit(store, Commit(ALICE, "e1", ticket("T-1"), 0, open_ticket="T-1"))
    await commit(store, Commit(ALICE, "e2", ticket("T-1", status="open"), 1))  # None: keep
    assert (await view(store)).ticket == ticket("T-1", status="open")
    await commit(store, Commit(ALICE, "e3", ticket("T-2"), 0, open_ticket="T-2"))
    assert (await view(store)).ticket == ticket("T-2")
    await commit(store, Commit(ALICE, "e4", ticket("T-2", status="closed"), 1, open_ticket=""))
    seen = await view(store)
    assert (seen.ticket, seen.ticket_version, seen.by_reply) == (None, 0, False)


async def test_a_reply_finds_the_ticket_of_the_message_it_answers(store: Store) -> None:
    await commit(store, Commit(ALICE, "e1", ticket("T-1"), 0, message_ids=["<m1@x>"]))
    await commit(
        store, Commit(ALICE, "e2", ticket("T-2"), 0, message_ids=["<m2@x>"], open_ticket="T-2")
    )
    replied = await view(store, refs=("<unknown@x>", "<m1@x>"))
    assert (replied.ticket, replied.ticket_version, replied.by_reply) == (ticket("T-1"), 1, True)
    first_known_ref = await view(store, refs=("<m2@x>", "<m1@x>"))
    assert (first_known_ref.ticket, first_known_ref.by_reply) == (ticket("T-2"), True)
    unknown_refs = await view(store, refs=("<unknown@x>",))
    assert (unknown_refs.ticket, unknown_refs.by_reply) == (ticket("T-2"), False)


async def test_a_reply_to_a_ticket_followed_up_finds_the_follow_up_while_it_is_current(
    store: Store,
) -> None:
    closed = ticket("T-1", status="closed")
    await commit(store, Commit(ALICE, "e1", closed, 0, message_ids=["<m1@x>"], open_ticket=""))
    follow_up = ticket("T-2", follow_up_of="T-1")
    await commit(
        store, Commit(ALICE, "e2", follow_up, 0, message_ids=["<m2@x>"], open_ticket="T-2")
    )
    again = await view(store, refs=("<m1@x>",))  # a second reply to the closed ticket
    assert (again.ticket, again.ticket_version, again.by_reply) == (follow_up, 1, True)
    await commit(store, Commit(ALICE, "e3", ticket("T-3"), 0, open_ticket="T-3"))
    other = await view(store, refs=("<m1@x>",))  # the current ticket is about something else
    assert (other.ticket, other.by_reply) == (closed, True)


async def test_a_colleagues_reply_to_a_ticket_followed_up_goes_on_in_the_follow_up(
    store: Store,
) -> None:
    """A colleague's reply is routed as the owner's, naming the ticket it answers: to a
    closed ticket whose conversation went on in a follow-up, it joins the follow-up, as
    the owner's own reply does (each had opened a follow-up more). An action naming the
    closed ticket (no refs) still finds that ticket."""
    closed = ticket("T-1", status="closed")
    await commit(store, Commit(ALICE, "e1", closed, 0, message_ids=["<m1@x>"], open_ticket=""))
    follow_up = ticket("T-2", follow_up_of="T-1")
    await commit(
        store, Commit(ALICE, "e2", follow_up, 0, message_ids=["<m2@x>"], open_ticket="T-2")
    )
    colleague = await view(store, refs=("<m1@x>",), ticket_id="T-1")
    assert (colleague.ticket, colleague.ticket_version) == (follow_up, 1)
    action = await view(store, ticket_id="T-1")
    assert (action.ticket, action.ticket_version) == (closed, 1)


async def test_any_customer_can_find_whose_ticket_a_message_is_on(store: Store) -> None:
    await commit(store, Commit(ALICE, "e1", ticket("T-1"), 0, message_ids=["<m1@x>"]))
    await commit(store, Commit(ALICE, "e2", ticket("T-1"), 1, message_ids=["<m2@x>"]))
    # a later message under the same id cannot take the thread over
    await commit(store, Commit(BOB, "e3", ticket("T-9", BOB), 0, message_ids=["<m1@x>"]))
    found = await store.message_tickets(["<m2@x>", "<nope@x>", "<m1@x>"])
    assert found == [MessageOwner(ALICE, "T-1"), None, MessageOwner(ALICE, "T-1")]
    assert await store.message_tickets([]) == []


async def test_a_named_ticket_wins_over_refs_and_the_open_ticket(store: Store) -> None:
    await commit(store, Commit(ALICE, "e1", ticket("T-1"), 0, message_ids=["<m1@x>"]))
    await commit(store, Commit(ALICE, "e2", ticket("T-2"), 0, open_ticket="T-2"))
    named = await view(store, refs=("<m1@x>",), ticket_id="T-2")
    assert (named.ticket, named.ticket_version, named.by_reply) == (ticket("T-2"), 1, False)
    missing = await view(store, ticket_id="T-404")
    assert (missing.ticket, missing.ticket_version) == (None, 0)


async def test_a_customer_never_sees_another_customers_threads(store: Store) -> None:
    await commit(
        store,
        Commit(ALICE, "e1", ticket("T-1"), 0, message_ids=["<m1@x>"], open_ticket="T-1"),
    )
    seen = await view(store, BOB, "e1", refs=("<m1@x>",))
    assert (seen.ticket, seen.done, seen.by_reply) == (None, False, False)
    assert (await view(store, BOB, ticket_id="T-1")).ticket is None


# --- what else a view carries -----------------------------------------------------------


async def test_the_outbox_is_in_the_view_until_it_is_cleared(store: Store) -> None:
    records = [record("T-1", 0), record("T-1", 1)]
    await commit(
        store,
        Commit(ALICE, "e1", ticket(), 0, outbox=records, open_ticket="T-1"),
        Commit(ALICE, "e2", ticket(), 1),
    )
    assert (await view(store, event_id="e1")).outbox == records
    assert (await view(store, event_id="e2")).outbox is None  # nothing to publish
    await store.clear_outboxes([(ALICE, "e1")])
    cleared = await view(store, event_id="e1")
    assert (cleared.outbox, cleared.done) == (None, True)


async def test_a_profile_merge_replaces_the_given_fields_and_keeps_the_rest(
    store: Store,
) -> None:
    assert (await view(store)).profile == {}
    await store.merge_profile(ALICE, {"name": "Alice", "tier": "gold"})
    await store.merge_profile(ALICE, {"tier": "platinum", "attributes": {"plan": "pro"}})
    expected = {"name": "Alice", "tier": "platinum", "attributes": {"plan": "pro"}}
    assert (await view(store)).profile == expected
    assert (await view(store, BOB)).profile == {}


async def test_the_last_customer_message_stays_with_its_ticket_until_replaced(
    store: Store,
) -> None:
    first, second = {"text": "my invoice", "channel": "email"}, {"text": "still waiting"}
    await commit(store, Commit(ALICE, "e1", ticket("T-1"), 0, open_ticket="T-1", message=first))
    await commit(store, Commit(ALICE, "e2", ticket("T-1", status="open"), 1))  # None: keep
    assert (await view(store)).message == first
    await commit(store, Commit(ALICE, "e3", ticket("T-1"), 2, message=second))
    assert (await view(store)).message == second
    await commit(store, Commit(ALICE, "e4", ticket("T-2"), 0, open_ticket="T-2"))
    assert (await view(store)).message is None
    assert (await view(store, ticket_id="T-1")).message == second


# --- ticket owners ----------------------------------------------------------------------


async def test_ticket_owners_name_the_customer_of_known_tickets_only(store: Store) -> None:
    await commit(
        store,
        Commit(ALICE, "e1", ticket("T-1"), 0),
        Commit(BOB, "e2", ticket("T-2", BOB), 0),
        Commit(ALICE, "e3", ticket("T-1", status="open"), 1),
    )
    assert await store.ticket_owners(["T-2", "T-404", "T-1"]) == [BOB, None, ALICE]
    assert await store.ticket_owners([]) == []


async def test_a_new_tickets_owner_is_known_from_its_first_commit(store: Store) -> None:
    """Recorded with the commit whatever its answer: a ticket id derives from the event
    that opens it, so an owner never names the wrong customer, and a crash between the
    commit and a later write cannot leave a ticket without one."""
    await commit(store, Commit(ALICE, "e1", ticket("T-1"), 0, open_ticket="T-1"))
    assert await commit(store, Commit(ALICE, "e1", ticket("T-1"), 0)) == ["DUP"]
    assert await store.ticket_owners(["T-1", "T-never"]) == [ALICE, None]


# --- customers --------------------------------------------------------------------------


async def test_a_new_customer_gets_an_id_no_one_can_compute_and_keeps_every_identity(
    store: Store,
) -> None:
    """Issue: a customer id was a public hash of the address, recomputable by anyone."""
    first = await store.resolve_customers([["email:alice@example.com", "phone:+15550001"]])
    [named] = first
    assert named.startswith("C-")
    assert len(named) == len("C-") + 16
    assert named != customer_id_for("email:alice@example.com")
    assert await store.resolve_customers([["phone:+15550001"]]) == [named]
    assert await store.customer_of("phone:+15550001") == named
    assert await store.customer_of("phone:+15559999") is None


async def test_identity_lists_sharing_an_identity_resolve_to_one_customer(
    store: Store,
) -> None:
    [alice] = await store.resolve_customers([["email:alice@example.com"]])
    [linked] = await store.resolve_customers([["phone:+15550001", "email:alice@example.com"]])
    assert linked == alice
    again = await store.resolve_customers(
        [["phone:+15550001"], ["email:alice@example.com", "phone:+15550001"]]
    )
    assert again == [alice, alice]
    assert await store.resolve_customers([["email:bob@example.com"]]) != [alice]


async def test_lists_in_one_batch_sharing_a_new_identity_resolve_to_one_customer(
    store: Store,
) -> None:
    shared = "phone:+15550001"
    batch = [["email:alice@example.com", shared], ["email:alice.work@example.com", shared]]
    first, second = await store.resolve_customers(batch)
    assert first == second
    assert await store.resolve_customers([["email:alice.work@example.com"]]) == [first]


async def test_a_list_naming_two_known_customers_merges_them_into_the_first(
    store: Store,
) -> None:
    """Contract section 7: identities merge when a CRM update or a message links them. The
    first identity's customer stays; the other's identities and profile go to it."""
    alice, bob = await store.resolve_customers(
        [["email:alice@example.com", "phone:+15550001"], ["email:bob@x.io"]]
    )
    assert alice != bob
    await store.merge_profile(alice, {"tier": "gold", "name": "Alice"})
    await store.merge_profile(bob, {"name": "Bob"})
    both = await store.resolve_customers([["email:bob@x.io", "email:alice@example.com"]])
    assert both == [bob]
    assert await store.resolve_customers([["email:alice@example.com"]]) == [bob]
    assert await store.resolve_customers([["phone:+15550001"]]) == [bob]
    assert await store.merged_customers(bob) == [alice]
    assert await store.merged_customers(alice) == []
    profile = (await view(store, bob, "e-merged")).profile
    assert profile == {"tier": "gold", "name": "Bob"}  # the survivor's own fields win


async def test_known_customers_looks_up_without_linking_anything(store: Store) -> None:
    """Issue: a ringing call or a bounce from someone never seen made them a stored
    customer. Their records are looked up only: an unknown identity stays unknown."""
    assert await store.known_customers([]) == []
    alice, bob = await store.resolve_customers(
        [["email:alice@example.com", "phone:+15550001"], ["email:bob@x.io"]]
    )
    found = await store.known_customers(
        [
            ["phone:+15559999"],  # never seen
            ["phone:+15559999", "phone:+15550001"],  # the first known identity's owner
            ["email:bob@x.io", "email:alice@example.com"],  # two customers: the first, no merge
            ["email:alice@example.com"],
        ]
    )
    assert found == [None, alice, bob, alice]
    assert await store.customer_of("phone:+15559999") is None
    assert await store.merged_customers(bob) == []
    await store.resolve_customers([["email:bob@x.io", "email:alice@example.com"]])  # a merge
    assert await store.known_customers([["phone:+15550001"]]) == [bob]  # the survivor


async def test_concurrent_and_repeated_resolutions_agree(store: Store) -> None:
    lists = [["email:alice@example.com", "phone:+15550001"]]
    answers = await asyncio.gather(*(store.resolve_customers(lists) for _ in range(5)))
    assert len({tuple(a) for a in answers}) == 1
    [[alice]] = answers[:1]
    assert await store.customer_of("email:alice@example.com") == alice
    assert await store.customer_of("phone:+15550001") == alice  # no second customer


async def test_a_customer_forgotten_and_seen_again_is_a_new_customer(store: Store) -> None:
    """Issue: the same address got the same id back after ``forget``, so a new message
    was silently linked to the erased history (in others' participants, Kafka records)."""
    [before] = await store.resolve_customers([["email:ada@example.com"]])
    await store.forget(before)
    [after] = await store.resolve_customers([["email:ada@example.com"]])
    assert after != before


async def test_forget_erases_the_customer_and_names_their_tickets(store: Store) -> None:
    [alice] = await store.resolve_customers([["email:alice@example.com", "phone:+15550001"]])
    [bob] = await store.resolve_customers([["email:bob@x.io"]])
    await commit(
        store,
        Commit(alice, "e1", ticket("T-2", alice), 0, open_ticket="T-2", outbox=[record("T-2", 0)]),
        Commit(alice, "e2", ticket("T-1", alice), 0, message_ids=["<m1@x>"]),
        Commit(bob, "e3", ticket("T-3", bob), 0, open_ticket="T-3"),
    )
    await store.merge_profile(alice, {"tier": "gold"})
    assert await store.forget(alice) == ["T-1", "T-2"]
    assert await store.customer_of("email:alice@example.com") is None
    assert await store.ticket_owners(["T-1", "T-2", "T-3"]) == [None, None, bob]
    assert await store.message_tickets(["<m1@x>"]) == [None]
    seen = await view(store, alice, "e1", refs=("<m1@x>",))
    assert (seen.ticket, seen.done, seen.outbox, seen.profile) == (None, False, None, {})
    assert (await view(store, bob)).ticket == ticket("T-3", bob)


async def test_forget_takes_a_participant_out_of_the_tickets_of_others_they_wrote_on(
    store: Store,
) -> None:
    """Issue: Ada replied on Bob's thread; after ``forget`` Bob's ticket still kept her
    address and words (its last message), her message id in the reply indexes and her
    customer id in ``participants``. Bob's ticket stays Bob's, without her."""
    [bob] = await store.resolve_customers([["email:bob@example.com"]])
    [ada] = await store.resolve_customers([["email:ada@example.com"]])
    bobs = {"customer": {"email": "bob@example.com"}, "text": "it crashes"}
    adas = {"customer": {"email": "ada@example.com"}, "text": "I see the same crash as Bob"}
    opened = ticket("T-bob", bob, message_ids=["<bob-1@x>"])
    await commit(store, Commit(bob, "b1", opened, 0, message_ids=["<bob-1@x>"], message=bobs))
    joined = ticket(
        "T-bob", bob, message_ids=["<bob-1@x>", "<ada-2@x>"], participants=[ada], contacts=2
    )
    reply = Commit(bob, "a2", joined, 1, message_ids=["<ada-2@x>"], message=adas, participant=ada)
    assert await commit(store, reply) == ["OK"]

    assert await store.forget(ada) == []  # no ticket of her own
    seen = await view(store, bob, ticket_id="T-bob")
    assert seen.ticket is not None
    assert (seen.ticket.customer_id, seen.ticket.participants) == (bob, [])
    assert seen.ticket.message_ids == ["<bob-1@x>"]
    assert seen.message is None  # her address and words were the kept message
    assert await store.message_tickets(["<ada-2@x>", "<bob-1@x>"]) == [
        None,
        MessageOwner(bob, "T-bob"),
    ]
    assert (await view(store, bob, refs=("<ada-2@x>",))).by_reply is False
    # the router's next commit on Bob's ticket reads the new version, as after any change
    assert await commit(store, Commit(bob, "b3", seen.ticket, seen.ticket_version)) == ["OK"]


async def test_forget_keeps_the_owners_last_message_on_a_ticket_the_participant_left(
    store: Store,
) -> None:
    [bob] = await store.resolve_customers([["email:bob@example.com"]])
    [ada] = await store.resolve_customers([["email:ada@example.com"]])
    bobs = {"customer": {"email": "bob@example.com"}, "text": "still crashing"}
    joined = ticket("T-bob", bob, message_ids=["<ada-2@x>"], participants=[ada])
    await commit(store, Commit(bob, "a2", joined, 0, message_ids=["<ada-2@x>"], participant=ada))
    await commit(store, Commit(bob, "b3", joined, 1, message=bobs))
    await store.forget(ada)
    seen = await view(store, bob, ticket_id="T-bob")
    assert seen.message == bobs
    assert seen.ticket is not None
    assert seen.ticket.participants == []


async def test_own_replies_tells_whether_a_customers_own_thread_files_a_ref(store: Store) -> None:
    """The router asks before routing a reply into the thread that holds its parent's id
    first: a customer whose own thread files one of the refs answers their own mail."""
    shared = "<same@shop.example>"
    await commit(
        store,
        Commit(BOB, "b1", ticket("T-bob", BOB), 0, message_ids=[shared]),
        Commit(ALICE, "a1", ticket("T-alice", ALICE), 0, message_ids=[shared, "<a1@x>"]),
    )
    assert await store.message_tickets([shared]) == [MessageOwner(BOB, "T-bob")]
    asked = [(ALICE, ["<nope@x>", shared]), (ALICE, ["<nope@x>"]), ("C-carol", [shared])]
    assert await store.own_replies(asked) == [True, False, False]
    assert await store.own_replies([]) == []
