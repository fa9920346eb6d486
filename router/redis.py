"""Redis client built from settings, with a fail-fast check naming the setting."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from router.errors import ConfigError
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
