"""The notifier's ledger: one Redis hash per delivery (``Keys.notification``), so each
notification reaches each recipient once, across restarts too.

A send is bracketed: ``begin`` writes the marker ``sending`` before it (``notifications.lua``,
one atomic step), ``finish`` writes the outcome after it. A marker still ``sending`` when
the delivery comes round again means the process died inside the send: the provider may
or may not have the message, so it is sent once more (an email with the same Message-ID),
and a send whose outcome is unknown a second time is never followed by a third. A send
refused by the provider counts as an attempt; when every attempt failed the caller
dead-letters the record and ``finish`` writes ``failed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from router.keys import Keys
from router.redis import RedisClient, load_script, redis_errors, text

Verdict = Literal["send", "done", "exhausted", "uncertain"]
Outcome = Literal["sent", "retry", "failed", "skipped"]


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
        self._begin = load_script(client, Path(__file__).parent / "notifications.lua")

    async def begin(self, delivery_id: str, *, max_attempts: int) -> Begun:
        """Mark a send as begun, unless the delivery is settled or out of attempts."""
        with redis_errors():
            raw = await self._begin(
                keys=[self._keys.notification(delivery_id)], args=[max_attempts, self._ttl]
            )
        verdict, attempts, unknown, answer = raw
        return Begun(cast(Verdict, text(verdict)), int(attempts), int(unknown), text(answer))

    async def finish(
        self, delivery_id: str, outcome: Outcome, answer: str, *, unknown: bool = False
    ) -> None:
        """Record what the send came to. ``unknown``: it ended without the provider's
        answer (a timeout, a dropped connection), so it may have been delivered."""
        key = self._keys.notification(delivery_id)
        with redis_errors():
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping={"state": outcome, "answer": answer[:2000]})
                if unknown:
                    pipe.hincrby(key, "unknown", 1)
                pipe.expire(key, self._ttl)
                await pipe.execute()

    async def state(self, delivery_id: str) -> dict[str, str]:
        """The delivery's fields as stored (empty when never begun)."""
        with redis_errors():
            raw = await self._r.hgetall(self._keys.notification(delivery_id))
        return {text(k): text(v) for k, v in raw.items()}
