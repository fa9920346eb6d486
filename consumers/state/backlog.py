"""Per-queue backlog gauges for the workload metric: ``open``, ``waiting`` and
``oldest_waiting_seconds`` (contract section 8), kept from the ticket snapshots.

``open`` counts tickets not resolved or closed; ``waiting`` those of them waiting on an
agent (status new or open, not pending on the customer), and ``oldest_waiting_seconds``
is the age of the oldest such wait. Updates are idempotent per ticket, so redelivered
snapshots change nothing.
"""

from __future__ import annotations

from typing import Any

from router.events import Ticket
from router.keys import Keys
from router.redis import RedisClient, redis_errors, text
from router.vocabulary import AWAITING_AGENT, SETTLED

WAITING = AWAITING_AGENT


class Backlog:
    def __init__(self, client: RedisClient, *, prefix: str) -> None:
        self._r = client
        self._keys = Keys(prefix)

    async def follow(self, tickets: list[Ticket]) -> None:
        """Move each ticket to where its latest snapshot says it is."""
        if not tickets:
            return
        k = self._keys
        with redis_errors():
            before = await self._r.hmget(k.backlog_where, [t.id for t in tickets])
            async with self._r.pipeline(transaction=False) as pipe:
                for ticket, previous in zip(tickets, before, strict=True):
                    queue = ticket.queue or "none"
                    if previous is not None and text(previous) != queue:
                        self._leave(pipe, text(previous), ticket.id)
                    if ticket.status in SETTLED:
                        self._leave(pipe, queue, ticket.id)
                        pipe.hdel(k.backlog_where, ticket.id)
                        continue
                    pipe.hset(k.backlog_where, ticket.id, queue)
                    pipe.sadd(k.backlog_queues, queue)
                    pipe.zadd(k.backlog_open(queue), {ticket.id: ticket.created_at.timestamp()})
                    since = ticket.last_customer_at or ticket.created_at
                    if ticket.status in WAITING:
                        pipe.zadd(k.backlog_waiting(queue), {ticket.id: since.timestamp()})
                    else:
                        pipe.zrem(k.backlog_waiting(queue), ticket.id)
                await pipe.execute()

    def _leave(self, pipe: Any, queue: str, ticket_id: str) -> None:
        pipe.zrem(self._keys.backlog_open(queue), ticket_id)
        pipe.zrem(self._keys.backlog_waiting(queue), ticket_id)

    async def gauges(self, now: float) -> dict[str, dict[str, int]]:
        """queue -> {open, waiting, oldest_waiting_seconds}, measured now."""
        k = self._keys
        with redis_errors():
            queues = sorted(text(q) for q in await self._r.smembers(k.backlog_queues))
            async with self._r.pipeline(transaction=False) as pipe:
                for queue in queues:
                    pipe.zcard(k.backlog_open(queue))
                    pipe.zcard(k.backlog_waiting(queue))
                    pipe.zrange(k.backlog_waiting(queue), 0, 0, withscores=True)
                replies = await pipe.execute()
        out = {}
        for i, queue in enumerate(queues):
            open_, waiting, oldest = replies[3 * i : 3 * i + 3]
            age = max(0, int(now - oldest[0][1])) if oldest else 0
            out[queue] = {"open": open_, "waiting": waiting, "oldest_waiting_seconds": age}
        return out
