"""Slots moving to a primary just added, which serves none yet: an ASK redirect names a
node the client has never seen. redis-py looked it up, found none and failed with an
AttributeError, which stopped every role and answered 500 until the move was over."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from router.app.embedded import free_port
from router.redis import make_client
from router.settings import RedisSettings, Settings
from tests.component.cluster.conftest import Cluster, running_cluster

pytestmark = pytest.mark.component


@pytest.fixture
def growing() -> Iterator[Cluster]:
    """A cluster of its own: the shared one keeps its three nodes for the other tests."""
    with running_cluster() as running:
        yield running


async def test_a_key_asked_of_a_new_node_is_written_and_read_there(growing: Cluster) -> None:
    new_port = growing.add_node()
    key = "customer:{c-42}:ticket-data"
    nodes = {p: redis.Redis(port=p, socket_timeout=5) for p in growing.ports}
    try:
        slot = int(nodes[new_port].execute_command("CLUSTER KEYSLOT", key))
        ids = {p: n.execute_command("CLUSTER MYID").decode() for p, n in nodes.items()}
        [source] = [
            p
            for p, n in nodes.items()
            if n.execute_command("CLUSTER COUNTKEYSINSLOT", slot) or _owns(n, slot, ids[p])
        ]
        nodes[new_port].execute_command("CLUSTER SETSLOT", slot, "IMPORTING", ids[source])
        nodes[source].execute_command("CLUSTER SETSLOT", slot, "MIGRATING", ids[new_port])
        client = make_client(Settings(redis=RedisSettings(url=growing.url)))
        try:  # the key is not on the source: it answers ASK, naming the new node
            await client.set(key, "open")
            assert await client.get(key) == b"open"
        finally:
            await client.aclose()
        assert nodes[new_port].execute_command("CLUSTER COUNTKEYSINSLOT", slot) == 1
    finally:
        for node in nodes.values():
            node.close()


def _owns(node: redis.Redis, slot: int, node_id: str) -> bool:
    for start, end, primary, *_ in node.execute_command("CLUSTER SLOTS"):
        if start <= slot <= end:
            return bool(primary[2].decode() == node_id)
    return False


async def test_a_url_naming_several_nodes_starts_from_one_that_answers(cluster: Cluster) -> None:
    """The node a one-node URL names failed over or removed, no role could start on the
    healthy cluster; a list lets the client start from another."""
    gone = free_port()  # nothing listens there
    url = f"redis+cluster://127.0.0.1:{gone},127.0.0.1:{cluster.ports[1]}"
    client = make_client(Settings(redis=RedisSettings(url=url)))
    try:
        await client.set("seeded-{k}", "yes")
        assert await client.get("seeded-{k}") == b"yes"
    finally:
        await client.aclose()
