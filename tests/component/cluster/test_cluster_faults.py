"""Faults of one node of a real three-node cluster, and of all of them: a node that comes
back empty stops the roles as an emptied single Redis does; paused nodes cost a request
about one socket timeout, not a timeout per retry and per node asked for the topology;
and a plain ``redis://`` URL naming a cluster node is refused at start."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
import redis
from redis.exceptions import ClusterDownError

from channels.state_marker import StateMarker
from consumers.state import erasure
from consumers.state.agents import AgentStore
from consumers.state.backlog import Backlog
from consumers.state.epoch import StateEpoch
from consumers.state.threads import Commit, RedisThreadStore
from router.app import roles
from router.app.embedded import EmbeddedServices
from router.app.forget import Forgotten, forget
from router.errors import BackendUnavailable, ConfigError, Unrecoverable
from router.events import Ticket, utcnow
from router.keys import Keys
from router.redis import (
    UNAVAILABLE,
    RedisClient,
    check_redis,
    make_client,
    redis_errors,
    serves_every_key,
)
from router.settings import RedisSettings, Settings
from router.topic_admin import ensure_topics
from tests.component.cluster.conftest import Cluster, cluster_settings
from tests.component.pipeline.conftest import RULES

pytestmark = pytest.mark.component

TIMEOUT_S = 0.5


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[Cluster]:
    """A cluster of this module's own: its nodes are emptied and paused here."""
    running = Cluster().start()
    try:
        yield running
    finally:
        _signal(running, signal.SIGCONT)
        running.stop()


@pytest.fixture
async def own_client(own_cluster: Cluster) -> AsyncIterator[RedisClient]:
    client = make_client(_settings(own_cluster))
    try:
        yield client
    finally:
        await client.aclose()


def _settings(cluster: Cluster) -> Settings:
    return Settings(redis=RedisSettings(url=cluster.url, socket_timeout_s=TIMEOUT_S))


def _signal(cluster: Cluster, sig: signal.Signals, *ports: int) -> None:
    procs = cluster._procs  # noqa: SLF001  # the fixture keeps its node processes private
    for port, proc in zip(cluster.ports, procs, strict=True):
        if not ports or port in ports:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, sig)


def _flush_a_node_without(cluster: Cluster, client: RedisClient, key: str) -> None:
    """FLUSHALL on a node that does not hold ``key``: what a restart with no data
    (no replica, no persistence) leaves of it."""
    holder = client.get_node_from_key(key).port  # type: ignore[union-attr]
    port = next(p for p in cluster.ports if p != holder)
    with contextlib.closing(redis.Redis(port=port)) as node:
        node.flushall()


# --- 1. a node that restarts empty -------------------------------------------------------


async def test_one_node_losing_its_data_fails_the_state_check(
    own_cluster: Cluster, own_client: RedisClient
) -> None:
    prefix = f"epoch-{uuid.uuid4().hex[:8]}"
    epoch = StateEpoch(own_client, prefix)
    await epoch.establish(has_history=False)
    await epoch.check()
    assert sum(own_cluster.keys_per_node(f"{prefix}:epoch*")) > 0
    assert all(own_cluster.keys_per_node(f"{prefix}:epoch*"))  # a copy on every node

    _flush_a_node_without(own_cluster, own_client, Keys(prefix).epoch)

    with pytest.raises(Unrecoverable) as stopped:
        await epoch.check()
    assert "state marker" in stopped.value.message
    assert "switchboard state rebuild" in stopped.value.hint
    with pytest.raises(ConfigError) as refused:
        await StateEpoch(own_client, prefix).establish(has_history=True)
    assert "missing" in refused.value.message
    await StateEpoch(own_client, prefix).establish(has_history=True, accept_empty=True)


async def test_the_check_reads_one_key_per_node(own_client: RedisClient) -> None:
    epoch = StateEpoch(own_client, f"epoch-{uuid.uuid4().hex[:8]}")
    await epoch.establish(has_history=False)
    checked = epoch.checked_keys()
    assert len(checked) == 1 + 3
    assert len({own_client.get_node_from_key(k).name for k in checked[1:]}) == 3  # type: ignore[union-attr]


async def test_a_marker_written_before_the_copies_is_kept(own_client: RedisClient) -> None:
    """A deployment from before the copies: its marker alone is no lost state."""
    prefix = f"epoch-{uuid.uuid4().hex[:8]}"
    await own_client.set(Keys(prefix).epoch, b"old")
    epoch = StateEpoch(own_client, prefix)
    assert await epoch.establish(has_history=True) == b"old"
    await epoch.check()


async def test_a_running_role_stops_when_one_node_comes_back_empty(
    services: EmbeddedServices, own_cluster: Cluster, own_client: RedisClient
) -> None:
    settings = cluster_settings(services, own_cluster, f"t{os.getpid()}e{uuid.uuid4().hex[:6]}")
    settings = settings.model_copy(update={"rules_path": RULES, "http_port": 0})
    await ensure_topics(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(roles.run_roles(settings, {"router"}, stop))
    marker = Keys(settings.topic_prefix).epoch
    try:
        await own_client.exists(marker)  # the client knows the cluster's slots from here on
        copies = StateEpoch(own_client, settings.topic_prefix).checked_keys()
        for _ in range(200):  # the marker, then a copy on every node, are written at start
            if await own_client.exists(*copies) == len(copies):
                break
            await asyncio.sleep(0.05)
        _flush_a_node_without(own_cluster, own_client, marker)
        with pytest.raises(Unrecoverable) as stopped:
            await asyncio.wait_for(task, 10)
    finally:
        stop.set()
    assert "state marker" in stopped.value.message


async def test_the_ingress_and_forget_see_one_node_come_back_empty(
    services: EmbeddedServices, own_cluster: Cluster, own_client: RedisClient
) -> None:
    """The ingress answers 503 (not a final 404) while state is lost, and ``forget``
    does not confirm "no such customer" for one whose keys the lost node held: both
    read the marker's copies too, as the roles do, not the marker alone."""
    settings = cluster_settings(services, own_cluster, f"t{os.getpid()}m{uuid.uuid4().hex[:6]}")
    await ensure_topics(settings)
    await StateEpoch(own_client, settings.topic_prefix).establish(has_history=False)
    marker = StateMarker(own_client, settings.topic_prefix)
    assert not await marker.lost()
    assert await forget(settings, "nobody@example.com") == Forgotten(None, [])

    _flush_a_node_without(own_cluster, own_client, Keys(settings.topic_prefix).epoch)

    assert await marker.lost()
    with pytest.raises(ConfigError) as refused:
        await forget(settings, "nobody@example.com")
    assert "nothing was erased" in refused.value.message
    await StateEpoch(own_client, settings.topic_prefix).renew()  # `state rebuild` ends it
    assert not await marker.lost()


async def test_a_forget_that_failed_part_way_is_finished_by_running_it_again(
    services: EmbeddedServices,
    own_cluster: Cluster,
    own_client: RedisClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The customer's node refuses writes while ``forget`` deletes (a failover): the run
    fails, and the run again by the same address, as the README says to do, finds the
    customer and finishes. The identity (on another node) was deleted with the rest, and
    the second run had found no one while the customer's tickets were still stored."""
    settings = cluster_settings(services, own_cluster, f"t{os.getpid()}f{uuid.uuid4().hex[:6]}")
    settings = settings.model_copy(update={"redis": _settings(own_cluster).redis})
    await ensure_topics(settings)
    await StateEpoch(own_client, settings.topic_prefix).establish(has_history=False)
    keys = Keys(settings.topic_prefix)
    store = RedisThreadStore(own_client, ttl_s=600, prefix=settings.topic_prefix)
    node_of = own_client.get_node_from_key
    for n in range(100):  # a customer whose identity lives on another node than their keys
        who = f"email:bob{n}@example.com"
        [customer] = await store.resolve_customers([[who]])
        if node_of(keys.identity(who)).port != node_of(keys.ticket_data(customer)).port:  # type: ignore[union-attr]
            break
    now = utcnow()
    opened = Ticket(
        id="T-bob", channel="email", customer_id=customer, created_at=now, updated_at=now
    )
    assert await store.commit_many([Commit(customer, "e1", opened, 0, open_ticket="T-bob")]) == [
        "OK"
    ]
    real = erasure.delete_many

    async def paused_node(client: RedisClient, doomed: list[str]) -> None:
        port = node_of(keys.ticket_data(customer)).port  # type: ignore[union-attr]
        with contextlib.closing(redis.Redis(port=port)) as node:
            node.execute_command("CLIENT", "PAUSE", 1500, "WRITE")
        await real(client, doomed)

    monkeypatch.setattr(erasure, "delete_many", paused_node)
    with pytest.raises(BackendUnavailable):
        await forget(settings, who)
    monkeypatch.setattr(erasure, "delete_many", real)
    await asyncio.sleep(1.6)

    again = await forget(settings, who)

    assert (again.customer_id, again.tickets) == (customer, ["T-bob"])
    assert await store.customer_ticket_ids(customer) == []
    assert await own_client.get(keys.identity(who)) is None


async def test_the_backlog_follows_a_batch_a_node_refused_part_of(
    own_cluster: Cluster, own_client: RedisClient
) -> None:
    """A node refusing writes (memory full) while the backlog follows a batch: the batch
    fails and the consumer retries it. The records' markers, on other nodes, had been
    written while the gauges' changes were refused, and the retry skipped them: 30
    tickets open, the gauge said 8."""
    prefix = f"backlog-{uuid.uuid4().hex[:8]}"
    keys, backlog = Keys(prefix), Backlog(own_client, prefix=prefix)
    now = utcnow()
    records = [
        (
            f"e-{n}",
            Ticket(
                id=f"T-{n}",
                channel="email",
                customer_id="C-1",
                queue="billing",
                status="new",
                created_at=now,
                updated_at=now,
            ),
        )
        for n in range(30)
    ]
    await own_client.exists(keys.backlog_where)  # the client knows the slots from here on
    port = own_client.get_node_from_key(keys.backlog_open("billing")).port  # type: ignore[union-attr]
    with contextlib.closing(redis.Redis(port=port)) as node:
        node.config_set("maxmemory", "1")
        try:
            with pytest.raises(BackendUnavailable):
                await backlog.follow(records)
        finally:
            node.config_set("maxmemory", "0")
    await backlog.follow(records)  # the consumer's retry of the same batch

    assert (await backlog.gauges(0))["billing"]["open"] == 30


# --- 2. paused nodes ---------------------------------------------------------------------


async def _timed_get(client: RedisClient, key: str) -> tuple[str, float]:
    began = time.monotonic()
    try:
        with redis_errors():
            await client.get(key)
    except BackendUnavailable:
        return "unavailable", time.monotonic() - began
    return "ok", time.monotonic() - began


async def test_a_paused_cluster_fails_within_two_socket_timeouts(
    own_cluster: Cluster, own_client: RedisClient
) -> None:
    keys = [f"paused-{i}" for i in range(6)]
    for key in keys:
        await own_client.set(key, b"1")
    _signal(own_cluster, signal.SIGSTOP)
    try:
        outcomes = [await _timed_get(own_client, key) for key in keys]
    finally:
        _signal(own_cluster, signal.SIGCONT)
    assert [o for o, _ in outcomes] == ["unavailable"] * len(keys)
    assert max(s for _, s in outcomes) < 2 * TIMEOUT_S + 0.3, outcomes


async def test_one_paused_node_costs_its_keys_one_timeout_and_the_others_nothing(
    own_cluster: Cluster, own_client: RedisClient
) -> None:
    keys = [f"one-paused-{i}" for i in range(12)]
    for key in keys:
        await own_client.set(key, b"1")
    paused = own_client.get_node_from_key(keys[0]).port  # type: ignore[union-attr]
    on_paused = {k for k in keys if own_client.get_node_from_key(k).port == paused}  # type: ignore[union-attr]
    _signal(own_cluster, signal.SIGSTOP, paused)
    try:
        outcomes = await asyncio.gather(*(_timed_get(own_client, k) for k in keys + keys))
    finally:
        _signal(own_cluster, signal.SIGCONT, paused)
    for key, (outcome, took) in zip(keys + keys, outcomes, strict=True):
        if key in on_paused:
            assert outcome == "unavailable"
            assert took < 2 * TIMEOUT_S + 0.3, (key, took)
        else:
            assert (outcome, took < TIMEOUT_S) == ("ok", True), (key, took)


async def test_the_agent_list_is_served_while_a_node_without_the_agents_is_paused(
    own_cluster: Cluster, own_client: RedisClient
) -> None:
    """Every agent key has the ``{agents}`` hash tag: listing them asks that slot's node
    only. It had scanned every primary, so one paused node elsewhere made ``GET
    /v1/agents`` a 503 after the socket timeout."""
    agents = AgentStore(own_client, prefix="list")
    await agents.presence("a-1", "online", ["tech"], {"chat": 2})
    holder = own_client.get_node_from_key(Keys("list").agents).port  # type: ignore[union-attr]
    other = next(port for port in own_cluster.ports if port != holder)
    _signal(own_cluster, signal.SIGSTOP, other)
    try:
        began = time.monotonic()
        listed = await agents.records()
        took = time.monotonic() - began
    finally:
        _signal(own_cluster, signal.SIGCONT, other)
    assert [a.agent_id for a in listed] == ["a-1"]
    assert took < TIMEOUT_S, took


async def test_readiness_asks_every_node_not_the_one_a_ping_reaches(
    own_cluster: Cluster, own_client: RedisClient
) -> None:
    """PING reaches one node: with another paused, or with the cluster short of a slot
    (every node still answers PING), requests failed while ``/readyz`` said ready."""
    await serves_every_key(own_client)
    other = own_cluster.ports[-1]
    _signal(own_cluster, signal.SIGSTOP, other)
    try:
        with pytest.raises(UNAVAILABLE):
            await serves_every_key(own_client)
    finally:
        _signal(own_cluster, signal.SIGCONT, other)
    with contextlib.closing(redis.Redis(port=other)) as node:
        first = node.cluster("SLOTS")[0]  # the first range of the cluster, and its owner
    slot, owner = int(first[1]), int(first[2][1])
    # unbound on every node, its owner first: one that still binds it would gossip the
    # binding back to the others, and the cluster could be whole again before it is seen
    ports = [owner, *(port for port in own_cluster.ports if port != owner)]
    for port in ports:
        with contextlib.closing(redis.Redis(port=port)) as node:
            node.execute_command("CLUSTER DELSLOTS", slot)
    try:
        assert await own_client.ping()
        with pytest.raises(ClusterDownError, match="cluster_state:fail"):
            await _until_raises(lambda: serves_every_key(own_client))
    finally:
        with contextlib.closing(redis.Redis(port=owner)) as node:
            node.execute_command("CLUSTER ADDSLOTS", slot)
    await _until_ok(lambda: serves_every_key(own_client))


async def _until_raises(check: Callable[[], Awaitable[None]]) -> None:
    """``check`` until it raises: a node takes a cron tick to see its state change."""
    for _ in range(100):
        await check()
        await asyncio.sleep(0.05)


async def _until_ok(check: Callable[[], Awaitable[None]]) -> None:
    for _ in range(100):
        with contextlib.suppress(ClusterDownError):
            await check()
            return
        await asyncio.sleep(0.05)
    await check()


# --- 3. a plain URL naming a cluster node ------------------------------------------------


async def test_a_plain_url_to_a_cluster_node_is_refused(cluster: Cluster) -> None:
    plain = Settings(redis=RedisSettings(url=f"redis://127.0.0.1:{cluster.ports[0]}"))
    with pytest.raises(ConfigError) as refused:
        await check_redis(plain)
    assert refused.value.setting == "SWITCHBOARD_REDIS_URL"
    assert "cluster mode" in refused.value.message
    assert f"redis+cluster://127.0.0.1:{cluster.ports[0]}" in refused.value.message
    await check_redis(Settings(redis=RedisSettings(url=cluster.url)))
