"""Per-queue backlog gauges for the workload metric: ``open``, ``waiting`` and
``oldest_waiting_seconds`` (contract section 8), kept from the ticket snapshots.

``open`` counts tickets not resolved or closed; ``waiting`` those of them waiting on an
agent (status new or open, not pending on the customer), and ``oldest_waiting_seconds``
is the age of the oldest such wait. Updates are idempotent per ticket, so redelivered
snapshots change nothing.
"""

from __future__ import annotations

from router.events import Ticket
from router.keys import Keys
from router.redis import Command, RedisClient, redis_errors, run_batch, text
from router.vocabulary import AWAITING_AGENT, SETTLED

WAITING = AWAITING_AGENT
ERASED = "\x00erased"
"""Where an erased customer's ticket is recorded to be: in no queue, for good."""


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
        commands: list[Command] = []
        queues: set[str] = set()
        for ticket, previous in zip(tickets, before, strict=True):
            queue = ticket.queue or "none"
            if previous is not None and text(previous) == ERASED:
                continue  # a snapshot that was in flight when its customer was erased
            if previous is not None and text(previous) != queue:
                commands += self._leave(text(previous), ticket.id)
            if ticket.status in SETTLED:
                commands += self._leave(queue, ticket.id)
                commands.append(("HDEL", k.backlog_where, ticket.id))
                continue
            queues.add(queue)
            commands.append(("HSET", k.backlog_where, ticket.id, queue))
            opened = ticket.created_at.timestamp()
            commands.append(("ZADD", k.backlog_open(queue), opened, ticket.id))
            since = ticket.last_customer_at or ticket.created_at
            if ticket.status in WAITING:
                commands.append(("ZADD", k.backlog_waiting(queue), since.timestamp(), ticket.id))
            else:
                commands.append(("ZREM", k.backlog_waiting(queue), ticket.id))
        if queues:
            commands.append(("SADD", k.backlog_queues, *sorted(queues)))
        with redis_errors():
            await run_batch(self._r, commands)

    async def drop(self, tickets: list[Ticket]) -> None:
        """Stop counting these tickets (an erased customer's), whatever their status: as a
        settled ticket leaves, out of the queue recorded for it and of the one its
        snapshot names (the two differ while a move is not followed yet), and marked so
        that a snapshot still in flight does not count them again. Idempotent."""
        await self.follow([t.model_copy(update={"status": "closed"}) for t in tickets])
        if tickets:
            with redis_errors():
                await self._r.hset(
                    self._keys.backlog_where, mapping={t.id: ERASED for t in tickets}
                )

    def _leave(self, queue: str, ticket_id: str) -> list[Command]:
        return [
            ("ZREM", self._keys.backlog_open(queue), ticket_id),
            ("ZREM", self._keys.backlog_waiting(queue), ticket_id),
        ]

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
