"""The agent store while its slot moves to another node (resharding), on the real cluster.

A script that touches a key it did not declare fails outright ("non local key") when that
key has moved already, and is not rolled back. With every key declared, the node answers
TRYAGAIN or ASK instead, which the client follows or retries until the move is done. Each
test moves one key of the ``{agents}`` slot, calls the store, finishes the move once the
node has answered TRYAGAIN (or the call has ended), and checks what the call did.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from consumers.state.agents import AgentStore
from router.keys import Keys
from router.redis import RedisClient, text
from router.settings import Settings
from tests.component.cluster.conftest import Cluster
from tests.component.state.test_agents_store import req

pytestmark = pytest.mark.component

T = TypeVar("T")
PATIENT_TTL = 200
"""Redirects and TRYAGAINs the test's client follows per command (redis-py: 16, about
0.4 s of TRYAGAIN): enough for the test to finish the move while the call waits."""


class SlotMove:
    """Moving one slot from the node serving it to another, as ``valkey-cli --cluster
    reshard`` does: IMPORTING/MIGRATING, MIGRATE the keys, then SETSLOT NODE everywhere."""

    def __init__(self, cluster: Cluster, slot: int) -> None:
        self.slot = slot
        self.nodes = {port: aioredis.Redis(port=port) for port in cluster.ports}

    async def begin(self, first_keys: list[str]) -> None:
        ids = {
            port: text(await n.execute_command("CLUSTER MYID")) for port, n in self.nodes.items()
        }
        for port, node in self.nodes.items():
            if await node.execute_command("CLUSTER COUNTKEYSINSLOT", self.slot) or (
                await self._owner() == ids[port]
            ):
                self.source_port = port
        self.target_port = next(p for p in self.nodes if p != self.source_port)
        self.source, self.target = self.nodes[self.source_port], self.nodes[self.target_port]
        self.source_id, self.target_id = ids[self.source_port], ids[self.target_port]
        await self.target.execute_command("CLUSTER SETSLOT", self.slot, "IMPORTING", self.source_id)
        await self.source.execute_command("CLUSTER SETSLOT", self.slot, "MIGRATING", self.target_id)
        await self._migrate(first_keys)

    async def _owner(self) -> str:
        any_node = next(iter(self.nodes.values()))
        for start, end, primary, *_ in await any_node.execute_command("CLUSTER SLOTS"):
            if start <= self.slot <= end:
                return text(primary[2])
        raise AssertionError(f"nobody serves slot {self.slot}")

    async def _migrate(self, keys: list[str]) -> None:
        if keys:
            await self.source.execute_command(
                "MIGRATE", "127.0.0.1", self.target_port, "", 0, 5000, "KEYS", *keys
            )

    async def tryagains(self) -> int:
        stats = await self.source.info("errorstats")
        return int(stats.get("errorstat_TRYAGAIN", {}).get("count", 0))

    async def finish(self) -> None:
        while keys := await self.source.execute_command("CLUSTER GETKEYSINSLOT", self.slot, 100):
            await self._migrate([text(k) for k in keys])
        for node in (self.target, self.source, *self.nodes.values()):
            await node.execute_command("CLUSTER SETSLOT", self.slot, "NODE", self.target_id)

    async def close(self) -> None:
        for node in self.nodes.values():
            await node.aclose()


@pytest.fixture
async def patient(cluster_client: RedisClient) -> RedisClient:
    assert isinstance(cluster_client, RedisCluster)
    cluster_client.RedisClusterRequestTTL = PATIENT_TTL
    return cluster_client


@pytest.fixture
async def move(cluster: Cluster, settings: Settings) -> AsyncIterator[SlotMove]:
    probe = aioredis.Redis(port=cluster.ports[0])
    slot = int(await probe.execute_command("CLUSTER KEYSLOT", Keys(settings.topic_prefix).agents))
    await probe.aclose()
    moving = SlotMove(cluster, slot)
    yield moving
    await moving.close()


async def _while_moving(move: SlotMove, first_keys: list[str], call: Awaitable[T]) -> T:
    """Begin the move with ``first_keys`` moved, run ``call``, and finish the move once the
    source has answered TRYAGAIN (the call waits for the slot) or the call has ended."""
    await move.begin(first_keys)
    seen = await move.tryagains()
    task = asyncio.ensure_future(call)
    try:
        while await move.tryagains() == seen:  # a poll of the node, not a fixed wait
            done, _ = await asyncio.wait({task}, timeout=0.01)
            if done:
                break
    finally:
        await move.finish()
    return await task


async def test_a_release_while_the_agents_slot_moves_frees_every_seat_once(
    patient: RedisClient, settings: Settings, move: SlotMove
) -> None:
    agents = AgentStore(patient, prefix=settings.topic_prefix)
    load = Keys(settings.topic_prefix).agents + "load:"
    await agents.presence("a1", "online", [], {"email": 1})
    await agents.presence("a2", "online", [], {"email": 1})
    assert await agents.assign_many([req("T-1"), req("T-2")]) == ["a1", "a2"]
    changes = await agents.changes()
    freed = await _while_moving(move, [load + "a2:email"], agents.release_seats(["T-1", "T-2"]))
    assert freed == {"T-1": "a1", "T-2": "a2"}
    assert await agents.holders(["T-1", "T-2"]) == [None, None]
    assert (await agents.load("a1", "email"), await agents.load("a2", "email")) == (0, 0)
    assert await agents.changes() == changes + 1  # the line is walked for the freed seats
    assert await agents.assign_many([req("T-3"), req("T-4")]) == ["a1", "a2"]


async def test_a_roster_read_while_the_agents_slot_moves_sees_every_agent(
    patient: RedisClient, settings: Settings, move: SlotMove
) -> None:
    agents = AgentStore(patient, prefix=settings.topic_prefix)
    hash_of = Keys(settings.topic_prefix).agents + "agent:"
    await agents.presence("a1", "online", ["x"], {"chat": 2})
    await agents.presence("a2", "online", ["y"], {"chat": 3})
    assert await agents.assign_many([req("T-1", channel="chat", skills=["y"])]) == ["a2"]
    roster = await _while_moving(move, [hash_of + "a2"], agents.roster(["chat"], tickets=["T-1"]))
    got: dict[str, Any] = {
        a.agent_id: (sorted(a.skills), a.capacity, a.load) for a in roster.agents
    }
    assert got == {
        "a1": (["x"], {"chat": 2}, {"chat": 0}),
        "a2": (["y"], {"chat": 3}, {"chat": 1}),
    }
    assert roster.holders == {"T-1": "a2"}
