"""A stopping role leaves its consumer group within a bound: with the broker away,
aiokafka waits about 30 s for a coordinator, and an orchestrator kills at 30 s."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import pytest
from aiokafka import AIOKafkaConsumer

from router.app import roles

pytestmark = pytest.mark.unit


class CoordinatorAway:
    """A consumer whose LeaveGroup waits for a coordinator that never answers."""

    async def stop(self) -> None:
        await asyncio.sleep(3600)


class Quick:
    async def stop(self) -> None:
        return None


async def test_a_consumer_that_cannot_leave_its_group_stops_within_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(roles, "LEAVE_GROUP_S", 0.2)
    started = time.monotonic()
    await roles._stop_consumer(cast(AIOKafkaConsumer, CoordinatorAway()))  # noqa: SLF001
    assert time.monotonic() - started < 10  # bounded (the stop itself would take an hour)


async def test_a_consumer_that_leaves_at_once_is_not_held(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(roles, "LEAVE_GROUP_S", 5.0)
    started = time.monotonic()
    consumer: Any = Quick()
    await roles._stop_consumer(consumer)  # noqa: SLF001
    assert time.monotonic() - started < 4  # not held for the 5 s bound
