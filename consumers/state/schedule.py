"""The timer schedule in Redis, sharded: members ``ticket|target|kind`` scored by when they
are due (epoch seconds), each in the sorted set of its ticket's shard (``Keys.timers``,
``shard_of``). Each shard is its own hash tag, so a Redis Cluster spreads the shards over
its nodes, and each shard has a set of claims beside it (``Keys.timer_claims``).

Every timers process looks at every shard, but works only what it claimed
(``claim_timers.lua``): a due timer is claimed by one process at a time, until it settles
it (``settle_timers.lua``) or the claim lapses (``CLAIM_S``, a process that died). Two
processes therefore split the due timers between them instead of both firing each one; a
timer still fires exactly once when a claim lapses mid-work, because its event id is
derived from (ticket, target, kind, due) and the thread store keeps a dedupe marker.

``rehome`` moves what an earlier layout left (the single key ``p:timers`` of versions
before the shards, or the shards of another shard count) into the shards, without ever
holding a member in neither place.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from router.keys import DEFAULT_SHARDS, Keys, shard_of
from router.redis import RedisClient, load_script, redis_errors, text

CLAIM_S = 15.0
"""How long a claim holds: far longer than firing one batch takes."""
PAGE = 500
HERE = Path(__file__).parent


def ticket_of(member: str) -> str:
    """The ticket of a member (``ticket|...``): timers and places in line alike."""
    return member.partition("|")[0]


@dataclass(frozen=True, slots=True)
class Backlog:
    """What the last ``due`` saw: timers due and not fired (claimed ones too), and how
    late the earliest of them is, seconds."""

    due: int = 0
    late_s: float = 0.0


class TimerSchedule:
    def __init__(
        self,
        client: RedisClient,
        *,
        prefix: str,
        shards: int = DEFAULT_SHARDS,
        claim_s: float = CLAIM_S,
    ) -> None:
        self._r = client
        self._keys = Keys(prefix)
        self.shards = shards
        self._claim_s = claim_s
        self._claim = load_script(client, HERE / "claim_timers.lua")
        self._settle = load_script(client, HERE / "settle_timers.lua")
        self.backlog = Backlog()

    def shard(self, member: str) -> int:
        return shard_of(ticket_of(member), self.shards)

    def key_of(self, ticket_id: str) -> str:
        """The sorted set that holds the ticket's timers."""
        return self._keys.timers(shard_of(ticket_id, self.shards))

    def _by_shard(self, members: Iterable[str]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = defaultdict(list)
        for member in members:
            out[self.shard(member)].append(member)
        return out

    async def add(self, timers: dict[str, float]) -> None:
        """Schedule (or move) each member to its time: one ZADD per shard, pipelined."""
        if not timers:
            return
        with redis_errors():
            async with self._r.pipeline(transaction=False) as pipe:
                for shard, members in self._by_shard(timers).items():
                    pipe.zadd(self._keys.timers(shard), {m: timers[m] for m in members})
                await pipe.execute()

    async def remove(self, members: list[str]) -> None:
        """Unschedule these members (those not there: nothing): one ZREM per shard,
        pipelined. A member being fired meanwhile is settled by its firer as it finds it."""
        if not members:
            return
        with redis_errors():
            async with self._r.pipeline(transaction=False) as pipe:
                for shard, some in self._by_shard(members).items():
                    pipe.zrem(self._keys.timers(shard), *some)
                await pipe.execute()

    async def due(self, now: float, limit: int) -> list[tuple[str, float]]:
        """Claim about ``limit`` members due at ``now`` (earliest first), shared fairly
        among the shards that have any (one each at least); every one must then be
        ``settle``d, or its claim lapses. When idle this is one command per shard, in
        one round trip; with timers due, a count of them (``backlog``) in one more."""
        k = self._keys
        with redis_errors():
            async with self._r.pipeline(transaction=False) as pipe:
                for shard in range(self.shards):
                    pipe.zrange(k.timers(shard), 0, 0, withscores=True)
                probed: list[Any] = await pipe.execute()
            firsts = {shard: float(first[0][1]) for shard, first in enumerate(probed) if first}
            busy = [shard for shard, first in firsts.items() if first <= now]
            if not busy:
                self.backlog = Backlog()
                return []
            async with self._r.pipeline(transaction=False) as pipe:
                for shard in busy:
                    pipe.zcount(k.timers(shard), "-inf", now)
                counts: list[Any] = await pipe.execute()
            self.backlog = Backlog(sum(counts), now - min(firsts[shard] for shard in busy))
            share = max(1, limit // len(busy))
            lapse = now + self._claim_s
            claimed: list[Any] = []
            if len(busy) == 1:  # a pipeline of scripts would add a round trip to check them
                keys = [k.timers(busy[0]), k.timer_claims(busy[0])]
                claimed.append(await self._claim(keys=keys, args=[now, share, lapse]))
            else:
                async with self._r.pipeline(transaction=False) as pipe:
                    for shard in busy:
                        await self._claim(
                            keys=[k.timers(shard), k.timer_claims(shard)],
                            args=[now, share, lapse],
                            client=pipe,
                        )
                    claimed = await pipe.execute()
        out = [
            (text(flat[i]), float(flat[i + 1])) for flat in claimed for i in range(0, len(flat), 2)
        ]
        out.sort(key=lambda member_due: member_due[1])
        return out

    async def settle(
        self, claimed: list[tuple[str, float]], gone: Iterable[str], later: dict[str, float]
    ) -> None:
        """Let go of the ``claimed`` members: drop those ``gone`` (fired, stale), move those
        due ``later``, leave the rest to be claimed again (a compare-and-set conflict)."""
        if not claimed:
            return
        dropped = set(gone)
        by_shard: dict[int, list[Any]] = defaultdict(list)
        for member, due in claimed:
            after: Any = "gone" if member in dropped else later.get(member, "keep")
            by_shard[self.shard(member)] += [member, due, after]
        k = self._keys
        with redis_errors():
            if len(by_shard) == 1:
                [(shard, args)] = by_shard.items()
                await self._settle(keys=[k.timers(shard), k.timer_claims(shard)], args=args)
                return
            async with self._r.pipeline(transaction=False) as pipe:
                for shard, args in by_shard.items():
                    await self._settle(
                        keys=[k.timers(shard), k.timer_claims(shard)], args=args, client=pipe
                    )
                await pipe.execute()

    async def drop_tickets(self, ticket_ids: Iterable[str]) -> int:
        """Drop every timer of these tickets (an erased customer's), claimed or not; how
        many. Members are found by a scan of each ticket's shard for ``ticket|``: which
        targets a ticket was scheduled for depends on snapshots (policy, queue) that may
        be gone, and erasure is rare enough to afford the scan. A timer being fired
        meanwhile is not put back: ``settle`` moves or drops only what it still finds."""
        dropped = 0
        with redis_errors():
            for ticket_id in ticket_ids:
                shard = shard_of(ticket_id, self.shards)
                schedule = self._keys.timers(shard)
                pattern = _glob_literal(ticket_id) + "|*"
                members = [
                    text(member)
                    async for member, _ in self._r.zscan_iter(schedule, match=pattern, count=500)
                ]
                if members:
                    async with self._r.pipeline(transaction=False) as pipe:
                        pipe.zrem(schedule, *members)
                        pipe.zrem(self._keys.timer_claims(shard), *members)
                        removed, _ = await pipe.execute()
                    dropped += int(removed)
        return dropped

    async def bring_forward(self, kind: str, when: float) -> int:
        """Make every timer of ``kind`` (``assignment|timeout``) due by ``when`` at the
        latest, in every shard: each is then re-checked against its ticket as it fires
        (``ZADD LT``: one due earlier keeps its time). For a shorter accept timeout after
        a reload, which would otherwise take effect only at each offer's old deadline.
        How many moved; a scan of every shard, which a reload can afford."""
        moved = 0
        pattern = "*|" + _glob_literal(kind)
        with redis_errors():
            for shard in range(self.shards):
                schedule = self._keys.timers(shard)
                members = [
                    member
                    async for member, _ in self._r.zscan_iter(schedule, match=pattern, count=500)
                ]
                for start in range(0, len(members), PAGE):
                    page = dict.fromkeys(members[start : start + PAGE], when)
                    changed = await self._r.zadd(schedule, page, xx=True, lt=True, ch=True)
                    moved += int(changed or 0)
        return moved

    async def recorded_shards(self) -> int | None:
        """The shard count the timers role last worked with; None before the shards."""
        with redis_errors():
            raw = await self._r.get(self._keys.shards)
        return int(raw) if raw is not None else None

    async def record_shards(self) -> None:
        with redis_errors():
            await self._r.set(self._keys.shards, self.shards)

    async def rehome(self, previous: int | None) -> int:
        """Move into their shards the members of the single key of versions before the
        shards and, when ``previous`` (the shard count last worked with) differs from
        ours, those of the old shards. A member is added to its shard (unless the shard
        has it already: written later, from a newer snapshot) before it leaves the old
        key, so a crash halfway leaves it in both, never in neither. How many moved."""
        sources = [self._keys.legacy_timers]
        if previous and previous != self.shards:
            sources += [self._keys.timers(shard) for shard in range(previous)]
        moved = 0
        for source in sources:
            moved += await self._move(source)
        return moved

    async def _move(self, source: str) -> int:
        moved, start = 0, 0
        with redis_errors():
            while True:
                raw: list[Any] = await self._r.zrange(
                    source, start, start + PAGE - 1, withscores=True
                )
                if not raw:
                    break
                entries = [(text(member), float(score)) for member, score in raw]
                away = [(m, s) for m, s in entries if self._keys.timers(self.shard(m)) != source]
                if away:
                    scores = dict(away)
                    async with self._r.pipeline(transaction=False) as pipe:
                        for shard, members in self._by_shard(scores).items():
                            pipe.zadd(
                                self._keys.timers(shard), {m: scores[m] for m in members}, nx=True
                            )
                        await pipe.execute()
                    await self._r.zrem(source, *(m for m, _ in away))
                start += len(entries) - len(away)
                moved += len(away)
        return moved


def _glob_literal(value: str) -> str:
    """``value`` matched literally in a SCAN pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in value)
