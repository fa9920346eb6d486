"""The state suites, run again on a real three-node Redis Cluster (``conftest.py``).

The thread-store contract, the Lua scripts' branches and the agent store's races are
imported from their suites unchanged; only their client fixtures (``store``, ``redis``,
``client``) come from this folder's conftest and point at the cluster. What only a
cluster can show is tested below: data of many customers spread over the nodes, reads
and deletes across slots, erasure finding keys on every node, scripts reloaded after a
node forgot them.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from consumers.state.counters import Increment, WindowCounters
from consumers.state.threads import Commit, RedisThreadStore, ViewRequest
from router.app.embedded import free_port
from router.errors import BackendUnavailable, ConfigError
from router.redis import RedisClient, check_redis, get_many, make_client
from router.settings import RedisSettings, Settings
from tests.component.cluster.conftest import Cluster
from tests.component.state import (
    test_agents_store,
    test_scripts,
    test_thread_store_contract,
)
from tests.component.state.test_agents_store import agents, key
from tests.component.state.test_scripts import keys, thread
from tests.component.state.test_thread_store_contract import record, ticket

pytestmark = pytest.mark.component

_SKIP = {"test_redis_away_is_backend_unavailable"}  # about a server that is not there


def _import_tests(module: Any) -> None:
    for name in dir(module):
        if name.startswith("test_") and name not in _SKIP:
            globals()[name] = getattr(module, name)


for _suite in (test_thread_store_contract, test_scripts, test_agents_store):
    _import_tests(_suite)
__all__ = ["agents", "key", "keys", "thread"]  # the suites' own fixtures, used as they are


# --- what only a cluster shows ----------------------------------------------------------


def test_the_client_is_the_cluster_client(cluster_client: RedisClient) -> None:
    assert isinstance(cluster_client, RedisCluster)


async def _customers(store: RedisThreadStore, n: int) -> list[str]:
    """``n`` customers, each with one ticket whose first event is committed."""
    customers = await store.resolve_customers([[f"email:c{i}@example.com"] for i in range(n)])
    commits = [
        Commit(
            c, f"e-{c}", ticket(f"T-{c}", c), 0, outbox=[record(f"T-{c}", 1)], open_ticket=f"T-{c}"
        )
        for c in customers
    ]
    assert await store.commit_many(commits) == ["OK"] * n
    return customers


async def test_many_customers_resolve_commit_view_and_clear_across_slots(
    store: RedisThreadStore, cluster: Cluster
) -> None:
    customers = await _customers(store, 12)
    assert len(set(customers)) == 12
    views = await store.views([ViewRequest(c, f"e-{c}") for c in customers])
    assert [v.ticket.id if v.ticket else None for v in views] == [f"T-{c}" for c in customers]
    assert all(v.done and v.outbox for v in views)
    assert await store.ticket_owners([f"T-{c}" for c in customers]) == customers
    await store.clear_outboxes([(c, f"e-{c}") for c in customers])
    views = await store.views([ViewRequest(c, f"e-{c}") for c in customers])
    assert [v.outbox for v in views] == [None] * 12
    again = await store.resolve_customers([[f"email:c{i}@example.com"] for i in range(12)])
    assert again == customers
    # the customers' keys are spread over the nodes, not kept on one
    spread = cluster.keys_per_node(f"{store._keys.prefix}:*")  # noqa: SLF001 - the test's prefix
    assert sum(1 for n in spread if n) > 1, spread


async def test_forget_erases_keys_on_every_node(store: RedisThreadStore, cluster: Cluster) -> None:
    customers = await _customers(store, 6)
    prefix = store._keys.prefix  # noqa: SLF001 - the test's own prefix
    for c in customers:
        await store.merge_profile(c, {"name": c})
        assert await store.forget(c) == [f"T-{c}"]
    assert cluster.keys_per_node(f"{prefix}:*") == [0, 0, 0]


async def test_scripts_are_loaded_again_after_a_node_forgot_them(
    cluster_client: RedisClient, cluster: Cluster
) -> None:
    """A restarted or new node knows no script: the batch fails retriably once, the next
    attempt loads the scripts on every primary and goes through."""
    prefix = f"reload-{uuid.uuid4().hex[:8]}"
    store = RedisThreadStore(cluster_client, ttl_s=600, prefix=prefix)
    counters = WindowCounters(cluster_client, prefix=prefix, ttl_s=600)
    inc = Increment("w/1", "e1", "created", 1, {"metric": "m"}, 0.0)
    assert await counters.add([inc]) == [True]
    for port in cluster.ports:
        node = aioredis.Redis(port=port)
        await node.script_flush()
        await node.aclose()
    with pytest.raises(BackendUnavailable):
        await counters.add([Increment("w/2", "e1", "created", 1, {"metric": "m"}, 0.0)])
    assert await counters.add([Increment("w/2", "e1", "created", 1, {"metric": "m"}, 0.0)]) == [
        True
    ]
    views = await store.views([ViewRequest("C-x", "e1")])
    assert views[0].ticket is None


async def test_reads_across_slots_keep_their_order(cluster_client: RedisClient) -> None:
    keys = [f"order-{uuid.uuid4().hex[:6]}-{i}" for i in range(20)]
    async with cluster_client.pipeline(transaction=False) as pipe:
        for i, key in enumerate(keys[::2]):
            pipe.set(key, str(i), ex=60)
        await pipe.execute()
    got = await get_many(cluster_client, keys)
    assert got == [str(i // 2).encode() if i % 2 == 0 else None for i in range(20)]


async def test_a_cluster_that_does_not_answer_is_backend_unavailable(settings: Settings) -> None:
    away = settings.model_copy(
        update={"redis": RedisSettings(url=f"redis+cluster://127.0.0.1:{free_port()}")}
    )
    client = make_client(away)
    try:
        store = RedisThreadStore(client, ttl_s=600, prefix=settings.topic_prefix)
        with pytest.raises(BackendUnavailable) as raised:
            await store.ticket_owners(["T-1"])
        assert raised.value.retriable is True
    finally:
        await client.aclose()
    with pytest.raises(ConfigError, match="SWITCHBOARD_REDIS_URL"):
        await check_redis(away)
