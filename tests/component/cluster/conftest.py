"""A real three-node Redis Cluster for the cluster tests, started from the embedded
valkey-server binary (no Docker): three nodes with cluster mode on, the 16,384 slots
split in three with ``CLUSTER ADDSLOTSRANGE``, joined with ``CLUSTER MEET``. It lives as
long as the test session; its nodes die with the process that started them."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from redis.crc import key_slot

from consumers.state.threads import RedisThreadStore
from router.app.embedded import (
    EmbeddedServices,
    _terminate,
    free_port,
    start_server,
    valkey_binary,
)
from router.keys import DEFAULT_SHARDS, Keys
from router.redis import RedisClient, make_client
from router.settings import RedisSettings, Settings
from router.topic_admin import ensure_topics
from tests.conftest import make_settings

SLOTS = 16384
NODES = 3
_prefixes = itertools.count()
START_TIMEOUT_S = 20.0


@dataclass
class Cluster:
    ports: list[int] = field(default_factory=list)
    started_in_s: float = 0.0
    _buses: list[int] = field(default_factory=list)
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _tmp: Path | None = None

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"

    def start(self) -> Cluster:
        began = time.monotonic()
        self._tmp = Path(tempfile.mkdtemp(prefix="switchboard-cluster-"))
        try:
            for _ in range(NODES):
                self._spawn(free_port())
            nodes = [redis.Redis(port=p, socket_timeout=5) for p in self.ports]
            share = SLOTS // NODES
            for i, node in enumerate(nodes):
                last = SLOTS - 1 if i == NODES - 1 else (i + 1) * share - 1
                node.execute_command("CLUSTER ADDSLOTSRANGE", i * share, last)
            for port, bus in zip(self.ports[1:], self._buses[1:], strict=True):
                nodes[0].execute_command("CLUSTER MEET", "127.0.0.1", port, bus)
            self._wait_ok(nodes)
            for node in nodes:
                node.close()
        except BaseException:
            self.stop()
            raise
        self.started_in_s = time.monotonic() - began
        return self

    def add_node(self) -> int:
        """One more primary, serving no slot yet, met by the others (as a platform team
        adds one before moving slots to it): its port, once every node knows it."""
        self._spawn(free_port())
        port, bus = self.ports[-1], self._buses[-1]
        nodes = [redis.Redis(port=p, socket_timeout=5) for p in self.ports]
        try:
            nodes[0].execute_command("CLUSTER MEET", "127.0.0.1", port, bus)
            deadline = time.monotonic() + START_TIMEOUT_S
            while time.monotonic() < deadline:
                infos = [n.cluster("INFO") for n in nodes]
                if all(
                    info.get("cluster_state") == "ok"
                    and int(info["cluster_known_nodes"]) == len(nodes)
                    for info in infos
                ):
                    return port
                time.sleep(0.05)  # a poll, not a wait for a fixed time
            raise RuntimeError(f"node {port} was not met by every node: {infos}")
        finally:
            for node in nodes:
                node.close()

    def _spawn(self, port: int) -> None:
        assert self._tmp is not None
        cmd = [valkey_binary(), "--port", str(port), "--bind", "127.0.0.1"]
        cmd += ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf"]
        bus = free_port()  # not port + 10000, which may be taken or out of range
        cmd += ["--cluster-port", str(bus)]
        self._buses.append(bus)
        cmd += ["--save", "", "--appendonly", "no", "--dir", str(self._tmp)]
        log = self._tmp / f"node-{port}.log"
        name = f"cluster node {port}"
        self._procs.append(start_server(cmd, log, name, port, START_TIMEOUT_S))
        self.ports.append(port)

    @staticmethod
    def _wait_ok(nodes: list[redis.Redis]) -> None:
        """Until every node agrees the cluster is whole: all slots served, all nodes known."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            infos = [node.cluster("INFO") for node in nodes]
            if all(
                info.get("cluster_state") == "ok" and int(info["cluster_known_nodes"]) == NODES
                for info in infos
            ):
                return
            time.sleep(0.05)  # a poll, not a wait for a fixed time
        raise RuntimeError(f"the test cluster did not reach cluster_state:ok: {infos}")

    def stop(self) -> None:
        for proc in reversed(self._procs):
            _terminate(proc)
        self._procs.clear()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def keys_per_node(self, pattern: str) -> list[int]:
        """How many keys matching ``pattern`` each node holds."""
        counts = []
        for port in self.ports:
            with contextlib.closing(redis.Redis(port=port)) as node:
                counts.append(sum(1 for _ in node.scan_iter(match=pattern, count=1000)))
        return counts


@contextlib.contextmanager
def running_cluster() -> Iterator[Cluster]:
    """A cluster of three nodes of its own, stopped at the end."""
    running = Cluster().start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    with running_cluster() as running:
        yield running


def spread_prefix() -> str:
    """A fresh topic prefix whose timer and line shards are 16 slots each. For about one
    prefix in a thousand, two shard names hash to one slot (CRC16 of ``…:timers:1`` and
    ``…:timers:11`` can meet; still correct, one slot fewer: see the README's Redis
    Cluster section); the shard tests assert the spread of the others."""
    while True:
        prefix = f"t{os.getpid()}c{next(_prefixes)}"
        tags = [Keys(prefix).timers(s) for s in range(DEFAULT_SHARDS)]
        tags += [Keys(prefix).waiting(s) for s in range(DEFAULT_SHARDS)]
        if len({key_slot(tag.encode()) for tag in tags}) == 2 * DEFAULT_SHARDS:
            return prefix


def cluster_settings(services: EmbeddedServices, cluster: Cluster, prefix: str) -> Settings:
    """Settings on the embedded broker whose Redis is the test cluster."""
    s = make_settings(services, prefix)
    return s.model_copy(update={"redis": RedisSettings(url=cluster.url)})


@pytest.fixture
async def settings(services: EmbeddedServices, cluster: Cluster) -> Settings:
    """As the shared ``settings`` (fresh topics on the embedded broker), on the cluster."""
    s = cluster_settings(services, cluster, spread_prefix())
    await ensure_topics(s)
    return s


@pytest.fixture
async def cluster_client(settings: Settings) -> AsyncIterator[RedisClient]:
    client = make_client(settings)
    try:
        yield client
    finally:
        await client.aclose()


# --- the state suites' fixtures, overridden for the cluster (see test_cluster_stores.py)


@pytest.fixture
async def store(services: EmbeddedServices, cluster: Cluster) -> AsyncIterator[RedisThreadStore]:
    """The contract suite's store, on the cluster: an empty one under a prefix of its own."""
    prefix = f"contract-{uuid.uuid4().hex[:12]}"
    client = make_client(cluster_settings(services, cluster, prefix))
    try:
        yield RedisThreadStore(client, ttl_s=3600, prefix=prefix)
    finally:
        await client.aclose()


@pytest.fixture(name="redis")
def scripts_redis(cluster_client: RedisClient) -> RedisClient:
    """The scripts suite's client (``test_scripts.py``), on the cluster."""
    return cluster_client


@pytest.fixture(name="client")
def agents_client(cluster_client: RedisClient) -> RedisClient:
    """The agent store suite's client (``test_agents_store.py``), on the cluster."""
    return cluster_client
