"""A Redis client on the session's valkey, for the state tests that talk to it directly."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from router.redis import RedisClient, make_redis
from router.settings import Settings


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[RedisClient]:
    client = make_redis(settings)
    try:
        yield client
    finally:
        await client.aclose()
