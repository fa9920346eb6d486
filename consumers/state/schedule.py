"""The timer schedule in Redis: one sorted set (``Keys.timers``) of members
``ticket|target|kind`` scored by when they are due (epoch seconds)."""

from __future__ import annotations

from typing import Any

from router.keys import Keys
from router.redis import RedisClient, redis_errors, text


class TimerSchedule:
    def __init__(self, client: RedisClient, *, prefix: str) -> None:
        self._r = client
        self.key = Keys(prefix).timers

    async def add(self, timers: dict[str, float]) -> None:
        """Schedule (or move) each member to its time."""
        if timers:
            with redis_errors():
                await self._r.zadd(self.key, timers)

    async def due(self, now: float, limit: int) -> list[tuple[str, float]]:
        """Up to ``limit`` members due at ``now``, earliest first."""
        with redis_errors():
            raw: list[Any] = await self._r.zrangebyscore(
                self.key, "-inf", now, 0, limit, withscores=True
            )
        return [(text(member), float(score)) for member, score in raw]

    async def settle(self, gone: list[str], later: dict[str, float]) -> None:
        """Drop the members that fired or went stale; move the postponed ones."""
        with redis_errors():
            if gone:
                await self._r.zrem(self.key, *gone)
            if later:
                await self._r.zadd(self.key, later)
