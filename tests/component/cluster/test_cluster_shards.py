"""The sharded schedule and line (``tests/component/pipeline/test_shards.py``) on the
three-node cluster: imported unchanged, its ``settings`` from this folder's conftest; and
what only a cluster shows: the shards live in many slots, on every node."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from router.keys import DEFAULT_SHARDS
from tests.component.cluster.conftest import Cluster
from tests.component.pipeline import test_shards
from tests.component.pipeline.test_shards import Desk

pytestmark = pytest.mark.component


def _import(module: Any) -> None:
    for name in dir(module):
        item = getattr(module, name)
        fixture = type(item).__name__ == "FixtureFunctionDefinition"
        if name.startswith("test_") or fixture:
            globals()[name] = item


_import(test_shards)


async def test_the_shards_are_spread_over_the_slots_and_nodes(desk: Desk, cluster: Cluster) -> None:
    records = await desk.open_tickets(300, due=datetime.now(UTC) + timedelta(days=1))
    await desk.handler().handle(records)
    k = desk.keys
    with contextlib.closing(redis.Redis(port=cluster.ports[0])) as node:
        slots = {
            part: {node.cluster("KEYSLOT", key(s)) for s in range(DEFAULT_SHARDS)}
            for part, key in (("timers", k.timers), ("waiting", k.waiting))
        }
    assert len(slots["timers"]) == len(slots["waiting"]) == DEFAULT_SHARDS
    prefix = desk.settings.topic_prefix
    timers = cluster.keys_per_node(f"{{{prefix}:timers:*")
    line = cluster.keys_per_node(f"{{{prefix}:waiting:*")
    assert sum(timers) == DEFAULT_SHARDS
    assert all(n > 0 for n in timers), timers  # every node holds some of the schedule
    assert all(n > 0 for n in line), line  # and of the line (its needs and counts too)
