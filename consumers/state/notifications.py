"""The notifier's ledger: one Redis hash per delivery (``Keys.notification``), so each
notification reaches each recipient once, across restarts too.

A send is bracketed: ``begin`` writes the marker ``sending`` before it (``notifications.lua``,
one atomic step), ``finish`` writes the outcome after it. A marker still ``sending`` when
the delivery comes round again means the process died inside the send: the provider may
or may not have the message, so it is sent once more (an email with the same Message-ID),
and a send whose outcome is unknown a second time is never followed by a third (the
verdict ``uncertain`` until the caller reported it and wrote ``maybe_sent``). A send
refused for now is ``parked``: the consumer passes it over, and the retry loop
(``RetrySchedule``) sends it when due. When it can never be sent the caller dead-letters
the record and ``finish`` writes ``failed``.

``own_message`` files the Message-ID of an email sent on a ticket where the router's
reply threading looks (``Keys.message_owner`` and the customer's message index), so a
reply naming only our message joins the ticket.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from consumers.deadletter import redacted
from consumers.state.thread_reads import OWNER_SEP
from router.ids import message_key
from router.keys import Keys
from router.redis import RedisClient, load_script, redis_errors, text

Verdict = Literal["send", "done", "parked", "exhausted", "uncertain"]
Outcome = Literal["sent", "retry", "parked", "failed", "skipped", "maybe_sent"]
MEDIA = ("email", "sms", "whatsapp")
"""The media a delivery goes by (``consumers/notify/plan.py``), each with its index."""
HERE = Path(__file__).parent


@dataclass(frozen=True, slots=True)
class Begun:
    """``begin``'s answer: the verdict, sends begun so far (this one included), sends that
    ended without an outcome, and the provider's last answer."""

    verdict: Verdict
    attempts: int
    unknown: int
    answer: str


class NotificationLedger:
    def __init__(self, client: RedisClient, *, prefix: str, ttl_s: int) -> None:
        self._r = client
        self._keys = Keys(prefix)
        self._ttl = ttl_s
        self._begin = load_script(client, HERE / "notifications.lua")

    async def begin(
        self, delivery_id: str, *, max_attempts: int, retrying: bool = False, replay: bool = False
    ) -> Begun:
        """Mark a send as begun, unless the delivery is settled, out of attempts, or
        parked (``retrying``: the retry loop, which sends parked ones). ``replay``: the
        first send of a dead letter sent back by ``deadletter replay``; a delivery that
        failed starts afresh (one that may have been delivered is not sent again)."""
        mode = "retry" if retrying else "replay" if replay else "line"
        with redis_errors():
            raw = await self._begin(
                keys=[self._keys.notification(delivery_id)], args=[max_attempts, self._ttl, mode]
            )
        verdict, attempts, unknown, answer = raw
        return Begun(cast(Verdict, text(verdict)), int(attempts), int(unknown), text(answer))

    async def finish(
        self, delivery_id: str, outcome: Outcome, answer: str, *, unknown: bool = False
    ) -> None:
        """Record what the send came to. ``unknown``: it ended without the provider's
        answer (a timeout, a dropped connection), so it may have been delivered. The
        answer is kept without addresses or phone numbers (``redacted``): the entry lives
        for days, and ``forget`` does not know its key."""
        key = self._keys.notification(delivery_id)
        with redis_errors():
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping={"state": outcome, "answer": redacted(answer)[:2000]})
                if unknown:
                    pipe.hincrby(key, "unknown", 1)
                pipe.expire(key, self._ttl)
                await pipe.execute()

    async def state(self, delivery_id: str) -> dict[str, str]:
        """The delivery's fields as stored (empty when never begun)."""
        with redis_errors():
            raw = await self._r.hgetall(self._keys.notification(delivery_id))
        return {text(k): text(v) for k, v in raw.items()}

    async def own_message(self, message_id: str, customer_id: str, ticket_id: str) -> None:
        """File ``message_id`` (as ``router.ids.message_key`` files every thread's ids)
        under the ticket as the thread store files an inbound one:
        the global reply index (first writer wins, no TTL) and the customer's message
        index (which erasure reads to delete both)."""
        mid = message_key(message_id.strip().strip("<>"))
        with redis_errors():
            async with self._r.pipeline(transaction=False) as pipe:
                pipe.set(
                    self._keys.message_owner(mid), f"{customer_id}{OWNER_SEP}{ticket_id}", nx=True
                )
                pipe.hsetnx(self._keys.message_index(customer_id), mid, ticket_id)
                await pipe.execute()


CLAIM_S = 120.0
"""How long the retry loop's claim on a parked delivery holds: longer than a send."""


class RetrySchedule:
    """Parked deliveries: ``{p:notify-retry}`` scores each delivery id by when to send it
    again, ``:data`` holds what the retry loop needs (the message, the record to
    dead-letter), ``:ticket:<t>`` the ids parked for each ticket (so ``forget`` finds and
    removes them) and ``:medium:<m>`` each medium's ids by when they were first parked (so
    a provider back from an outage gets its backlog in that order, ``hurry``). Data and
    indexes are written and removed together (one MULTI in one slot): whatever holds a
    message is found by its ticket. Claimed and settled with the timers' scripts
    (``claim_timers.lua``, ``settle_timers.lua``): two notifier processes never send one
    delivery at once, and a claim of a process that died lapses. One hash tag:
    notifications are few, and their sends, not Redis, are what takes time."""

    def __init__(self, client: RedisClient, *, prefix: str, claim_s: float = CLAIM_S) -> None:
        self._r = client
        self._keys = keys = Keys(prefix)
        self._due = keys.notify_retries()
        self._claims = keys.notify_retries("claims")
        self._data = keys.notify_retries("data")
        self._claim_s = claim_s
        self._claim = load_script(client, HERE / "claim_timers.lua")
        self._settle = load_script(client, HERE / "settle_timers.lua")
        self._hurry = load_script(client, HERE / "notify_hurry.lua")

    async def park(
        self,
        delivery_id: str,
        due: float,
        data: bytes,
        *,
        ticket_id: str,
        medium: str,
        parked_at: float,
    ) -> None:
        """Schedule ``delivery_id`` of ``ticket_id`` at ``due`` with its data (durable on
        return, indexes included). Parked again, it keeps its first parking time."""
        k = self._keys
        with redis_errors():
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.hset(self._data, delivery_id, data)
                pipe.zadd(self._due, {delivery_id: due})
                pipe.sadd(k.notify_retry_ticket(ticket_id), delivery_id)
                pipe.zadd(k.notify_retry_medium(medium), {delivery_id: parked_at}, nx=True)
                await pipe.execute()

    async def due(self, now: float, limit: int) -> list[tuple[str, float, bytes | None]]:
        """Claim up to ``limit`` deliveries due at ``now``, with their data (None when it
        is gone); each must be ``settle``d, or its claim lapses."""
        with redis_errors():
            flat: list[Any] = await self._claim(
                keys=[self._due, self._claims], args=[now, limit, now + self._claim_s]
            )
            if not flat:
                return []
            ids = [text(flat[i]) for i in range(0, len(flat), 2)]
            data: list[Any] = await self._r.hmget(self._data, ids)
        return [
            (member, float(flat[2 * i + 1]), None if blob is None else bytes(blob))
            for i, (member, blob) in enumerate(zip(ids, data, strict=True))
        ]

    async def settle(
        self,
        delivery_id: str,
        claimed: float,
        *,
        later: float | None,
        ticket_id: str | None = None,
        medium: str | None = None,
    ) -> None:
        """Let go of a claimed delivery: drop it (``later`` None) with its data and its
        places in the indexes of ``ticket_id`` and ``medium``, or move it to ``later``."""
        after: Any = "gone" if later is None else later
        with redis_errors():
            await self._settle(keys=[self._due, self._claims], args=[delivery_id, claimed, after])
            if later is None:
                async with self._r.pipeline(transaction=True) as pipe:
                    pipe.hdel(self._data, delivery_id)
                    if ticket_id is not None:
                        pipe.srem(self._keys.notify_retry_ticket(ticket_id), delivery_id)
                    if medium is not None:
                        pipe.zrem(self._keys.notify_retry_medium(medium), delivery_id)
                    await pipe.execute()

    async def hurry(self, medium: str, now: float) -> int:
        """Make every parked delivery of ``medium`` not claimed now due at once, ordered by
        when each was first parked; how many were moved."""
        with redis_errors():
            moved = await self._hurry(
                keys=[self._due, self._claims, self._keys.notify_retry_medium(medium)],
                args=[now],
            )
        return int(moved)

    async def drop_tickets(self, ticket_ids: list[str]) -> int:
        """Remove every delivery parked for these tickets (``forget``): schedule, claim,
        data and indexes, in one MULTI; how many. A delivery parked meanwhile keeps its
        index entry, so a second run finds it (and the retry loop drops it anyway, its
        ticket gone)."""
        if not ticket_ids:
            return 0
        k = self._keys
        index = [k.notify_retry_ticket(t) for t in ticket_ids]
        with redis_errors():
            async with self._r.pipeline(transaction=False) as pipe:
                for key in index:
                    pipe.smembers(key)
                found: list[Any] = await pipe.execute()
            parked = {
                key: [text(m) for m in members]
                for key, members in zip(index, found, strict=True)
                if members
            }
            ids = [m for members in parked.values() for m in members]
            if not ids:
                return 0
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.zrem(self._due, *ids)
                pipe.zrem(self._claims, *ids)
                pipe.hdel(self._data, *ids)
                for medium in MEDIA:
                    pipe.zrem(k.notify_retry_medium(medium), *ids)
                for key, members in parked.items():
                    pipe.srem(key, *members)
                await pipe.execute()
        return len(ids)

    async def waiting(self) -> int:
        """How many deliveries are parked."""
        with redis_errors():
            return int(await self._r.zcard(self._due))

    async def parked(self, now: float) -> dict[str, tuple[int, float]]:
        """Per medium: deliveries parked, and seconds since the first of them was parked
        (0 when none is)."""
        with redis_errors():
            async with self._r.pipeline(transaction=False) as pipe:
                for medium in MEDIA:
                    pipe.zcard(self._keys.notify_retry_medium(medium))
                    pipe.zrange(self._keys.notify_retry_medium(medium), 0, 0, withscores=True)
                found: list[Any] = await pipe.execute()
        out: dict[str, tuple[int, float]] = {}
        for medium, count, first in zip(MEDIA, found[::2], found[1::2], strict=True):
            out[medium] = (int(count), max(0.0, now - float(first[0][1])) if first else 0.0)
        return out
