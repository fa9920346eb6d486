"""Redis for every store: the client built from settings, a fail-fast check naming the
setting, the one error wrapper, and Lua scripts loaded from ``.lua`` files."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from router.errors import BackendUnavailable, ConfigError
from router.settings import Settings

REDIS_SETTING = "SWITCHBOARD_REDIS_URL"


def make_redis(settings: Settings) -> aioredis.Redis:
    cfg = settings.redis
    if not cfg.url:
        raise ConfigError(REDIS_SETTING, "not set (use `switchboard dev` for an embedded one)")
    opts: dict[str, Any] = {
        "socket_timeout": cfg.socket_timeout_s,
        "socket_connect_timeout": cfg.socket_timeout_s,
        "decode_responses": False,
    }
    if cfg.url.startswith("rediss://"):
        opts.update(
            ssl_ca_certs=str(cfg.ssl_ca_certs) if cfg.ssl_ca_certs else None,
            ssl_certfile=str(cfg.ssl_certfile) if cfg.ssl_certfile else None,
            ssl_keyfile=str(cfg.ssl_keyfile) if cfg.ssl_keyfile else None,
        )
    return aioredis.Redis.from_url(cfg.url, **opts)


async def check_redis(settings: Settings) -> None:
    client = make_redis(settings)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        raise ConfigError(
            REDIS_SETTING, f"no Redis answers at {settings.redis.url} ({type(exc).__name__})"
        ) from None
    finally:
        await client.aclose()


def text(value: bytes | str) -> str:
    """A Redis reply as text, whatever ``decode_responses`` says."""
    return value.decode() if isinstance(value, bytes) else value


@contextmanager
def redis_errors() -> Iterator[None]:
    """Any Redis or socket failure inside becomes ``BackendUnavailable("redis")``: the
    caller's batch is retried (consumers) or answered 503 (ingress), never half-applied."""
    try:
        yield
    except (RedisError, OSError) as exc:
        raise BackendUnavailable("redis", type(exc).__name__) from exc


def load_script(client: aioredis.Redis, path: Path) -> AsyncScript:
    """Register the Lua script in ``path`` (read once; EVALSHA with a reload on NOSCRIPT)."""
    return client.register_script(path.read_text())
