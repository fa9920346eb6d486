"""A whole Switchboard (every role in one process) on the embedded broker and valkey."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from consumers.state.agents import AgentStore
from consumers.state.threads import RedisThreadStore
from router.app import roles
from router.app.embedded import free_port
from router.keys import Keys
from router.redis import make_redis
from router.settings import Settings
from rules import load_ruleset

if TYPE_CHECKING:
    from tests.component.pipeline.test_timers_rounds import Timers

RULES = Path(__file__).resolve().parents[2] / "fixtures" / "rules" / "basic.yaml"


@dataclass
class Running:
    settings: Settings
    url: str
    http: httpx.AsyncClient


WITHOUT_TIMERS = frozenset({"ingress", "router", "metrics"})


@asynccontextmanager
async def run_switchboard(
    settings: Settings, run: frozenset[str] = WITHOUT_TIMERS, *, dev: bool = False
) -> AsyncIterator[Running]:
    """The roles in this process on ``settings`` (a free HTTP port), until the block ends.

    Without the SLA timers by default: most tests send events dated in the past, whose
    SLA clocks would fire at once and add records the test is not about."""
    settings = settings.model_copy(update={"http_port": free_port()})
    stop = asyncio.Event()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    running = roles.run_roles(
        settings, set(run), stop, on_ready=ready.set_result, print_notifications=dev
    )
    task = asyncio.create_task(running)
    url = await asyncio.wait_for(ready, 20)
    # a connection per request: a kept-alive one idle past the server's keep-alive
    # timeout can be closed just as the next request goes out on it (a ReadError)
    fresh = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, limits=fresh) as http:
        yield Running(settings, url, http)
    stop.set()
    await asyncio.wait_for(task, 20)


@pytest.fixture
async def switchboard(settings: Settings) -> AsyncIterator[Running]:
    async with run_switchboard(settings.model_copy(update={"rules_path": RULES})) as running:
        yield running


@pytest.fixture
async def timers(settings: Settings) -> AsyncIterator[Timers]:
    """The timers role's stores on this test's prefix, with the basic rules."""
    from tests.component.pipeline.test_timers_rounds import Timers  # it imports RULES here

    redis = make_redis(settings)
    prefix = settings.topic_prefix
    yield Timers(
        redis,
        RedisThreadStore(redis, ttl_s=3600, prefix=prefix),
        AgentStore(redis, prefix=prefix),
        load_ruleset(RULES),
        Keys(prefix),
    )
    await redis.aclose()
