"""Helpers shared by the channel component tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from consumers.state.threads import Commit, RedisThreadStore
from router.app import web
from router.events import Ticket, utcnow
from router.redis import make_redis
from router.settings import Settings
from router.topics import Topic
from tests.conftest import read_topic
from tests.problems import PROBLEM, assert_problem  # noqa: F401 - the channel tests import them from here


@asynccontextmanager
async def client_for(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An ingress over ASGI for settings the shared fixture does not give (secrets set)."""
    async with web.ingress(settings) as ing:
        transport = httpx.ASGITransport(app=ing.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingress") as client:
            yield client


async def assert_nothing_written(settings: Settings) -> None:
    for topic in (Topic.INBOUND, Topic.ACTIONS):
        assert await read_topic(settings, topic, expect=0, settle=0.2) == [], topic


async def create_tickets(settings: Settings, *ticket_ids: str) -> None:
    """Tickets written the way the router writes them, so the ingress knows they exist."""
    redis = make_redis(settings)
    store = RedisThreadStore(redis, ttl_s=60, prefix=settings.topic_prefix)
    now = utcnow()
    commits = [
        Commit(
            customer_id="C-test",
            event_id=f"create-{ticket_id}",
            ticket=Ticket(
                id=ticket_id,
                channel="webform",
                customer_id="C-test",
                created_at=now,
                updated_at=now,
            ),
            expected_version=0,
        )
        for ticket_id in ticket_ids
    ]
    try:
        assert await store.commit_many(commits) == ["OK"] * len(ticket_ids)
    finally:
        await redis.aclose()
