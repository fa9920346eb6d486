"""Per-queue backlog gauges for the workload metric: ``open``, ``waiting`` and
``oldest_waiting_seconds`` (contract section 8), kept from the ticket snapshots.

``open`` counts tickets not resolved or closed; ``waiting`` those of them waiting on an
agent (status new or open, not pending on the customer), and ``oldest_waiting_seconds``
is the age of the oldest such wait, from the customer's first message not answered yet.
Each lifecycle record is followed once, by its event id (a marker kept as long as the
dedupe markers): a record delivered again, even behind newer ones (a router's outbox
published again after a crash), changes nothing.
"""

from __future__ import annotations

from redis.asyncio.cluster import RedisCluster

from router.events import Ticket
from router.keys import Keys
from router.redis import (
    Command,
    RedisClient,
    delete_many,
    redis_errors,
    run_batch,
    scan_every,
    text,
)
from router.vocabulary import AWAITING_AGENT, SETTLED

WAITING = AWAITING_AGENT
DONE_TTL_S = 7 * 86400
ERASED = "\x00erased"
"""Where an erased customer's ticket is recorded to be: in no queue, for good."""


class Backlog:
    def __init__(self, client: RedisClient, *, prefix: str, ttl_s: int = DONE_TTL_S) -> None:
        """``ttl_s``: how long a followed record's marker is kept (the dedupe markers')."""
        self._r = client
        self._keys = Keys(prefix)
        self._ttl_s = ttl_s

    async def follow(self, snapshots: list[tuple[str, Ticket]], *, once: bool = True) -> None:
        """Move each ticket to where its latest snapshot says it is. ``snapshots``: the
        event id and ticket of each lifecycle record, in the order read; ``once``: a
        record followed already is left out (its marker), and the others are marked
        after their changes are written."""
        fresh = await self._fresh(snapshots) if once else snapshots
        if not fresh:
            return
        k = self._keys
        seen: dict[str, list[Ticket]] = {}
        for _, ticket in fresh:
            seen.setdefault(ticket.id, []).append(ticket)
        latest = [tickets[-1] for tickets in seen.values()]
        with redis_errors():
            before = await self._r.hmget(k.backlog_where, [t.id for t in latest])
        current = [
            (ticket, None if previous is None else text(previous))
            for ticket, previous in zip(latest, before, strict=True)
        ]
        waits = await self._waits(current)
        commands: list[Command] = []
        queues: set[str] = set()
        for ticket, previous in current:
            queue = ticket.queue or "none"
            if previous == ERASED:
                continue  # a snapshot that was in flight when its customer was erased
            if previous is not None and previous != queue:
                commands += self._leave(previous, ticket.id)
            if ticket.status in SETTLED:
                commands += self._leave(queue, ticket.id)
                commands.append(("HDEL", k.backlog_where, ticket.id))
                continue
            queues.add(queue)
            commands.append(("HSET", k.backlog_where, ticket.id, queue))
            opened = ticket.created_at.timestamp()
            commands.append(("ZADD", k.backlog_open(queue), opened, ticket.id))
            since = waited_through(seen[ticket.id], waits.get(ticket.id))
            if since is not None:
                commands.append(("ZADD", k.backlog_waiting(queue), since, ticket.id))
            else:
                commands.append(("ZREM", k.backlog_waiting(queue), ticket.id))
        if queues:
            commands.append(("SADD", k.backlog_queues, *sorted(queues)))
        marks: list[Command] = []
        if once:  # last: a retry after a failure part-way finds them unmarked
            marks = [("SET", k.backlog_done(e), 1, "EX", self._ttl_s) for e, _ in fresh]
        with redis_errors():
            if isinstance(self._r, RedisCluster):
                # each node applies its part of a round trip on its own: markers sent
                # with the changes could stay while the changes failed on another node
                await run_batch(self._r, commands)
                commands = []
            await run_batch(self._r, commands + marks)

    async def follow_again(self) -> int:
        """Forget which records were followed (``state rebuild``, before its replay of
        ``tickets``): the replay follows every record again, in order, to where the
        latest says each ticket is. A cluster node that came back empty took some
        gauges' state and left the markers on the others, which made the replay skip
        those records. Returns how many markers were dropped."""
        dropped, chunk = 0, []
        with redis_errors():  # a chunk at a time: a week of markers is millions of keys
            async for key in scan_every(self._r, self._keys.backlog_done("*")):
                chunk.append(text(key))
                if len(chunk) == 1000:
                    await delete_many(self._r, chunk)
                    dropped, chunk = dropped + len(chunk), []
            await delete_many(self._r, chunk)
        return dropped + len(chunk)

    async def _fresh(self, snapshots: list[tuple[str, Ticket]]) -> list[tuple[str, Ticket]]:
        """The records not followed yet (no marker), in their order."""
        if not snapshots:
            return []
        with redis_errors():
            async with self._r.pipeline(transaction=False) as pipe:
                for event_id, _ in snapshots:
                    pipe.exists(self._keys.backlog_done(event_id))
                followed = await pipe.execute()
        return [s for s, done in zip(snapshots, followed, strict=True) if not done]

    async def _waits(self, current: list[tuple[Ticket, str | None]]) -> dict[str, float]:
        """Since when each ticket has been waiting, as counted so far: in the queue it
        was counted in (a transfer takes its wait along)."""
        if not current:
            return {}
        with redis_errors():
            async with self._r.pipeline(transaction=False) as pipe:
                for ticket, where in current:
                    pipe.zscore(
                        self._keys.backlog_waiting(where or ticket.queue or "none"), ticket.id
                    )
                scores = await pipe.execute()
        return {t.id: s for (t, _), s in zip(current, scores, strict=True) if s is not None}

    async def drop(self, tickets: list[Ticket]) -> None:
        """Stop counting these tickets (an erased customer's), whatever their status: as a
        settled ticket leaves, out of the queue recorded for it and of the one its
        snapshot names (the two differ while a move is not followed yet), and marked so
        that a snapshot still in flight does not count them again. Idempotent."""
        closed = [("", t.model_copy(update={"status": "closed"})) for t in tickets]
        await self.follow(closed, once=False)
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


def waited_through(snapshots: list[Ticket], counted: float | None) -> float | None:
    """When the wait of the ticket in its last snapshot began, following its snapshots of
    one batch in order from ``counted`` (the start on record before them); None when it
    is not waiting."""
    since = counted
    for ticket in snapshots:
        since = waiting_since(ticket, since) if ticket.status in WAITING else None
    return since


def waiting_since(ticket: Ticket, counted: float | None) -> float:
    """When the wait of a ticket waiting on an agent began (epoch seconds): the customer's
    first message not answered yet, so a customer who writes again ("any news?") does not
    seem to have waited less. ``counted``: the start already on record, kept while no
    public reply came after it. A ticket waiting again with no word from the customer
    since the last reply (an agent reopened it) waits since that change."""
    customer = ticket.last_customer_at or ticket.created_at
    replied = ticket.last_reply_at
    if counted is not None and (replied is None or counted >= replied.timestamp()):
        return counted
    if replied is not None and replied >= customer:
        return ticket.updated_at.timestamp()
    return customer.timestamp()
