"""Redis stops answering mid-stream: the router retries the same poll, loses nothing and
doubles nothing, and carries on when Redis is back."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator

import pytest
import structlog

from router.app.embedded import EmbeddedServices
from router.events import Customer, Interaction
from router.settings import RedisSettings, Settings
from router.topics import Topic
from tests.component.pipeline.conftest import RULES, run_switchboard
from tests.component.pipeline.test_slice import _produce, interaction_event, types
from tests.conftest import read_topic, values

pytestmark = pytest.mark.component


@pytest.fixture
def private_redis() -> Iterator[EmbeddedServices]:
    """A valkey of this test's own, so pausing it disturbs no other test."""
    services = EmbeddedServices()
    services.start_redis()
    yield services
    services.stop()


async def test_router_rides_out_a_redis_stall(
    settings: Settings, private_redis: EmbeddedServices
) -> None:
    redis = RedisSettings(url=private_redis.redis_url, socket_timeout_s=0.5)
    settings = settings.model_copy(update={"rules_path": RULES, "redis": redis})
    [valkey] = private_redis.pids
    async with run_switchboard(settings) as running:
        first = interaction_event(
            "o1", Interaction(channel="chat", customer=Customer(email="ana@example.com"), text="a")
        )
        await _produce(running, first)
        assert len(await read_topic(settings, Topic.TICKETS, expect=2)) == 2

        with structlog.testing.capture_logs() as logs:
            os.kill(valkey, signal.SIGSTOP)
            try:
                others = [
                    interaction_event(
                        f"o{i}",
                        Interaction(
                            channel="chat", customer=Customer(email=f"c{i}@example.com"), text="b"
                        ),
                    )
                    for i in range(2, 5)
                ]
                await _produce(running, *others)
                for _ in range(300):  # a loaded machine may take a while to poll
                    if any(e["event"] == "batch_retry" for e in logs):
                        break
                    await asyncio.sleep(0.1)
            finally:
                os.kill(valkey, signal.SIGCONT)
        assert any(e["event"] == "batch_retry" and e["consumer"] == "router" for e in logs)

        tickets = values(await read_topic(settings, Topic.TICKETS, expect=8, timeout=20))
        created = [t for t in tickets if t["type"] == "switchboard.ticket.created"]
        assert len({t["id"] for t in created}) == 4
        assert types(tickets).count("switchboard.ticket.created") == 4
