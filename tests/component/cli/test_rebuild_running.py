"""``switchboard state rebuild`` while a role runs, on the real embedded broker: a live
member in a role's consumer group makes it refuse (a line naming the group, exit 2,
nothing written to Redis); forced, or once the role stopped, it rebuilds."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer

from consumers.state.epoch import StateEpoch
from router.app.rebuild import RolesRunning, rebuild, running_roles
from router.kafka import make_consumer
from router.redis import make_redis
from router.settings import Settings
from router.topics import Topic
from tests.component.cli.test_processes import ROOT
from tests.conftest import settings_env

pytestmark = pytest.mark.component

JOIN_WITHIN_S = 20.0


@pytest.fixture
async def metrics_member(settings: Settings) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer in the metrics role's group, as a running metrics role has, polling
    (so it stays a member) until the test ends."""
    consumer = make_consumer(settings, "metrics", Topic.TICKETS)
    await consumer.start()
    stop = asyncio.Event()

    async def poll() -> None:
        while not stop.is_set():
            await consumer.getmany(timeout_ms=100)

    async with asyncio.timeout(JOIN_WITHIN_S):
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=100)
    polling = asyncio.create_task(poll())
    try:
        yield consumer
    finally:
        stop.set()
        await polling
        await consumer.stop()


def rebuild_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = settings_env(settings)
    return subprocess.run(
        [sys.executable, "-m", "router.app", "state", "rebuild", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )


async def has_state_marker(settings: Settings) -> bool:
    """Whether a rebuild wrote its state marker (its last step)."""
    redis = make_redis(settings)
    try:
        return bool(await redis.exists(StateEpoch(redis, settings.topic_prefix).key))
    finally:
        await redis.aclose()


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_rebuild_refuses_while_a_role_group_has_a_live_member(
    settings: Settings, metrics_member: AIOKafkaConsumer
) -> None:
    group = f"{settings.consumer_group_prefix}.metrics"
    assert await running_roles(settings) == {group: "1 live member"}

    result = await asyncio.to_thread(rebuild_cli, settings)

    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()  # one line: no progress drawn before it
    assert line.startswith("error: state rebuild: roles are running"), result.stderr
    assert f"{group} (1 live member)" in line
    assert "stop every role" in line
    assert "--force" in line
    assert "restored" not in result.stdout
    assert not await has_state_marker(settings)
    with pytest.raises(RolesRunning):
        await rebuild(settings)
    forced = await asyncio.to_thread(rebuild_cli, settings, "--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert "restored 0 tickets" in forced.stdout
    assert await has_state_marker(settings)


@pytest.mark.slow
async def test_rebuild_runs_once_the_roles_left_their_groups(settings: Settings) -> None:
    consumer = make_consumer(settings, "timers", Topic.TICKETS)
    await consumer.start()
    async with asyncio.timeout(JOIN_WITHIN_S):
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=100)
    assert await running_roles(settings) == {
        f"{settings.consumer_group_prefix}.timers": "1 live member"
    }
    await consumer.stop()  # leaves the group (the embedded broker lists it a session on)
    done = await rebuild(settings)  # waits for it to go: no --force needed
    assert done.tickets == 0
