"""Per-queue backlog gauges for the workload metric: ``open``, ``waiting`` and
``oldest_waiting_seconds`` (contract section 8), kept from the ticket snapshots.

``open`` counts tickets not resolved or closed; ``waiting`` those of them waiting on an
agent (status new or open, not pending on the customer), and ``oldest_waiting_seconds``
is the age of the oldest such wait. Updates are idempotent per ticket, so redelivered
snapshots change nothing.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from router.errors import BackendUnavailable
from router.events import Ticket
from router.redis import text
from router.vocabulary import AWAITING_AGENT, SETTLED

WAITING = AWAITING_AGENT


class Backlog:
    def __init__(self, client: aioredis.Redis, *, prefix: str) -> None:
        self._r = client
        self._p = f"{prefix}:backlog"

    async def follow(self, tickets: list[Ticket]) -> None:
        """Move each ticket to where its latest snapshot says it is."""
        if not tickets:
            return
        where = f"{self._p}:where"
        try:
            before = await self._r.hmget(where, [t.id for t in tickets])
            async with self._r.pipeline(transaction=False) as pipe:
                for ticket, previous in zip(tickets, before, strict=True):
                    queue = ticket.queue or "none"
                    if previous is not None and text(previous) != queue:
                        self._leave(pipe, text(previous), ticket.id)
                    if ticket.status in SETTLED:
                        self._leave(pipe, queue, ticket.id)
                        pipe.hdel(where, ticket.id)
                        continue
                    pipe.hset(where, ticket.id, queue)
                    pipe.sadd(f"{self._p}:queues", queue)
                    pipe.zadd(f"{self._p}:open:{queue}", {ticket.id: ticket.created_at.timestamp()})
                    since = ticket.last_customer_at or ticket.created_at
                    if ticket.status in WAITING:
                        pipe.zadd(f"{self._p}:waiting:{queue}", {ticket.id: since.timestamp()})
                    else:
                        pipe.zrem(f"{self._p}:waiting:{queue}", ticket.id)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise BackendUnavailable("redis", type(exc).__name__) from exc

    def _leave(self, pipe: Any, queue: str, ticket_id: str) -> None:
        pipe.zrem(f"{self._p}:open:{queue}", ticket_id)
        pipe.zrem(f"{self._p}:waiting:{queue}", ticket_id)

    async def gauges(self, now: float) -> dict[str, dict[str, int]]:
        """queue -> {open, waiting, oldest_waiting_seconds}, measured now."""
        try:
            queues = sorted(text(q) for q in await self._r.smembers(f"{self._p}:queues"))
            async with self._r.pipeline(transaction=False) as pipe:
                for queue in queues:
                    pipe.zcard(f"{self._p}:open:{queue}")
                    pipe.zcard(f"{self._p}:waiting:{queue}")
                    pipe.zrange(f"{self._p}:waiting:{queue}", 0, 0, withscores=True)
                replies = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise BackendUnavailable("redis", type(exc).__name__) from exc
        out = {}
        for i, queue in enumerate(queues):
            open_, waiting, oldest = replies[3 * i : 3 * i + 3]
            age = max(0, int(now - oldest[0][1])) if oldest else 0
            out[queue] = {"open": open_, "waiting": waiting, "oldest_waiting_seconds": age}
        return out
