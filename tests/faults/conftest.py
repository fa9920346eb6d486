"""Fixtures of the fault tests: a broker and a valkey per test, role processes on them.

Not the session-wide ``services``: these tests stop, kill and restart their backends."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from router.topic_admin import ensure_topics
from tests.faults.harness import ChildServer, Deployment, Scale, tansu_broker, valkey_server

_prefixes = itertools.count()


@pytest.fixture(scope="session")
def scale() -> Scale:
    return Scale.from_env()


@pytest.fixture
def broker() -> Iterator[ChildServer]:
    """A Tansu broker of this test's own (memory only)."""
    server = tansu_broker()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def valkey() -> Iterator[ChildServer]:
    """A valkey of this test's own, without persistence."""
    server = valkey_server()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def deployment(
    broker: ChildServer, valkey: ChildServer, tmp_path: Path
) -> AsyncIterator[Deployment]:
    """Topics ensured on the test's broker; every role process it spawns is stopped at
    teardown (before the broker and valkey)."""
    env = {k: v for k, v in os.environ.items() if k.startswith("SWITCHBOARD_")}
    assert not env, f"tests must not inherit SWITCHBOARD_* settings: {sorted(env)}"
    deployment = Deployment(broker, valkey, f"f{os.getpid()}x{next(_prefixes)}", tmp_path)
    await ensure_topics(deployment.settings())
    try:
        yield deployment
    finally:
        if broker.paused:
            broker.resume()
        if valkey.paused:
            valkey.resume()
        deployment.stop_all()
