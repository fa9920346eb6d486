"""A failure between the round trips that link a new identity must not leave the identity
out of what ``forget`` erases: linked first and entered in the customer's set after, a
crash in between left the address in Redis after the customer was forgotten (the retry
finds the identity known and enters nothing)."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import pytest

from consumers.state import threads
from consumers.state.threads import RedisThreadStore
from router.errors import BackendUnavailable
from router.keys import Keys
from router.redis import RedisClient

pytestmark = pytest.mark.component


@pytest.fixture
async def store(redis: RedisClient) -> RedisThreadStore:
    return RedisThreadStore(redis, ttl_s=600, prefix=f"idf-{uuid.uuid4().hex[:10]}")


def fail_after_linking(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first round trip that links identities (SET NX) applies only its links and
    then fails: a crash after them, or on a cluster the other nodes' part of the round
    trip failing (each node applies its own part)."""
    real = threads.run_batch
    failed = False

    async def run_batch(client: RedisClient, commands: list[Any]) -> list[Any]:
        nonlocal failed
        links = [c for c in commands if c[0] == "SET" and c[-1] == "NX"]
        if links and not failed:
            failed = True
            await real(client, links)
            raise BackendUnavailable("redis", "connection lost")
        return await real(client, commands)

    monkeypatch.setattr(threads, "run_batch", run_batch)


@pytest.mark.parametrize(
    "identities",
    [["email:eve@example.com"], ["email:eve@example.com", "phone:+15550009"]],
    ids=["new customer", "new customer, two identities"],
)
async def test_an_identity_linked_before_a_failure_is_erased_by_forget(
    store: RedisThreadStore,
    redis: RedisClient,
    monkeypatch: pytest.MonkeyPatch,
    identities: list[str],
) -> None:
    fail_after_linking(monkeypatch)
    with pytest.raises(BackendUnavailable):
        await store.resolve_customers([identities])
    [customer] = await store.resolve_customers([identities])  # the redelivered message
    assert await store.customer_of(identities[0]) == customer

    await store.forget(customer)

    keys = Keys(store._keys.prefix)  # noqa: SLF001  # the store's own prefix
    assert [await redis.get(keys.identity(i)) for i in identities] == [None] * len(identities)


async def test_a_known_customers_new_identity_linked_before_a_failure_is_erased(
    store: RedisThreadStore, redis: RedisClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    [customer] = await store.resolve_customers([["email:eve@example.com"]])
    fail_after_linking(monkeypatch)
    both = ["email:eve@example.com", "phone:+15550009"]
    with pytest.raises(BackendUnavailable):
        await store.resolve_customers([both])
    assert await store.resolve_customers([both]) == [customer]

    await store.forget(customer)

    assert await redis.get(Keys(store._keys.prefix).identity("phone:+15550009")) is None  # noqa: SLF001


async def test_a_merge_whose_identities_moved_before_a_failure_is_done_again(
    store: RedisThreadStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two customers found to be one person (a message names both addresses): when the
    absorbed customer's identities came to name the survivor and the rest of the merge
    failed, the redelivered message found them naming the survivor and merged nothing:
    the absorbed customer's tickets were listed under neither, and ``forget`` of the
    person missed them."""
    ada, eve = await store.resolve_customers([["email:ada@example.com"], ["phone:+15550009"]])
    real = threads.run_batch
    failed = False

    async def run_batch(client: RedisClient, commands: list[Any]) -> list[Any]:
        nonlocal failed
        moved = [c for c in commands if c[0] == "SET" and c[1].endswith(":id:phone:+15550009")]
        if moved and not failed:  # only the identities' node applied its part
            failed = True
            await real(client, moved)
            raise BackendUnavailable("redis", "connection lost")
        return await real(client, commands)

    monkeypatch.setattr(threads, "run_batch", run_batch)
    both = ["email:ada@example.com", "phone:+15550009"]
    with contextlib.suppress(BackendUnavailable):
        await store.resolve_customers([both])
    assert await store.resolve_customers([both]) == [ada]  # the redelivered message

    assert await store.merged_customers(ada) == [eve]
    assert await store.survivor_of(eve) == ada
