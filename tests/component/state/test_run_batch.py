"""``run_batch`` on one server takes its connection from the client's pool on every call,
as redis-py's pipeline does: a pooled connection the server closed while idle (an idle
timeout, a restart) is replaced at checkout instead of failing the caller's work. (A
connection lost under a batch fails that batch, as the pipeline did with our client
settings, which retry nothing: the consumer retries the batch, the ingress answers 503.)"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from router.errors import ConfigError
from router.keys import Keys
from router.redis import check_redis, make_redis, run_batch
from router.settings import RedisSettings, Settings

pytestmark = pytest.mark.component


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    client = make_redis(settings)
    assert isinstance(client, aioredis.Redis)
    try:
        yield client
    finally:
        await client.aclose()


async def test_a_connection_the_server_closed_while_idle_is_replaced(
    redis: aioredis.Redis, settings: Settings
) -> None:
    key = Keys(settings.topic_prefix).identity("idle")
    [pooled] = await run_batch(redis, [("CLIENT", "ID")])
    other = make_redis(settings)
    try:
        assert await other.execute_command("CLIENT", "KILL", "ID", pooled) == 1
    finally:
        await other.aclose()

    assert await run_batch(redis, [("SET", key, "1"), ("GET", key)]) == [b"OK", b"1"]
    [again] = await run_batch(redis, [("CLIENT", "ID")])
    assert again != pooled


async def test_credentials_redis_refuses_are_named_as_such(settings: Settings) -> None:
    """A wrong password is no network trouble: the line says what to fix, masked."""
    admin = make_redis(settings)
    try:
        await admin.execute_command("ACL", "SETUSER", "sb-ops", "on", ">right-one", "~*", "+@all")
    finally:
        await admin.aclose()
    wrong = settings.redis.url.replace("redis://", "redis://sb-ops:wrong-one@", 1)
    away = settings.model_copy(update={"redis": RedisSettings(url=wrong)})
    with pytest.raises(ConfigError, match="refused the user or password") as raised:
        await check_redis(away)
    assert "wrong-one" not in str(raised.value)
    assert raised.value.setting == "SWITCHBOARD_REDIS_URL"
