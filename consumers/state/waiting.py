"""The waiting line in Redis and the sweep that moves it (part of the ``timers`` role).

The line is sharded by ticket (``shard_of``, ``SWITCHBOARD_TIMERS_SHARDS``), so a Redis
Cluster spreads it over its nodes. Keys of shard ``s``, for a topic prefix ``p``: the
shard's line is named ``{p:waiting:s}`` and its other keys carry that name as their hash
tag, so all of them live in one slot and the placing script (``waiting.lua``) updates them
in one atomic step:

- ``{p:waiting:s}`` (sorted set): the shard's part of the line. Member ``ticket|round``,
  score priority rank * 1e11 + creation time, so urgent first, then oldest (contract
  section 9).
- ``{p:waiting:s}:needs`` (hash): member -> ``channel|queue``, what the ticket asks of an
  agent, so a walk tells which tickets the free seats could take without reading them.
- ``{p:waiting:s}:counts`` (hash): ``channel|queue`` -> how many members wait with it, so
  a walk knows what is still ahead of it and stops when nobody could take any of it.
- ``{p:waiting:s}:recheck`` (sorted set, same scores): members to offer at the next sweep:
  tickets new in line or moved to another queue or channel, and every offer until its
  outcome is committed and published. A crash or a compare-and-set conflict halfway
  therefore leaves the member here, and the next sweep finishes the job.

The line is read as one: a page is the merge of every shard's head after the cursor
(``page``, ``recheck_page``), so tickets are offered in priority-then-age order across
shards; the counts are summed over the shards. Versions before the shards kept one line
(``p:waiting``, ``{p:waiting}:needs|counts|recheck``): ``rehome`` moves it into the shards.

Cost follows what changed, not the length of the line. A sweep reads the agents' change
counter and the recheck sets (one command per shard, in one round trip, when idle). The
line itself is walked only when an assignment may have become possible (an agent's
presence, skills or capacity changed, capacity was released, the rules were reloaded):
page by page in line order, offering only the tickets some free seat could take, and
stopping as soon as no free seat fits any ticket still ahead. The first walk after a
start reads every page once (a page is two commands per shard), to pick up what an
older version left unannounced.

One timers process at a time sweeps (``lead``): every process keeps the line in step with
the tickets it follows, but offers are made by the holder of ``{p:waiting}:sweeper``, which
renews its hold at every sweep. Two sweeps at once would both offer the head of the line
and both publish the outcome; one sweeper also keeps the line's order exact. Assignment
is serialised on the agents' slot anyway, so nothing is lost by it.

Every outcome is written through the thread store under an id derived from (ticket,
round): a redelivered or retried offer finds its dedupe marker and re-publishes the stored
records, and a capacity claim is idempotent per ticket, so each waiting ticket is
announced (``ticket.queued``) once and assigned once per round.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Container, Iterable
from pathlib import Path
from typing import Any, Literal, NamedTuple

from consumers.domain.assignment import needs, waiting_member
from consumers.state.schedule import ticket_of
from router.events import Ticket
from router.keys import DEFAULT_SHARDS, Keys, shard_of
from router.redis import RedisClient, RedisPipeline, load_script, redis_errors, text

PAGE = 500
SHARD_PAGE = 16
"""The least a page reads of each shard."""
Mode = Literal["leave", "place", "recheck"]
"""What ``waiting.lua`` does with a member (see its header)."""
Place = tuple[str, Mode, str, float]


class Entry(NamedTuple):
    """A place in line: the member ``ticket|round`` and its score."""

    member: str
    score: float


def _entries(raw: list[Any]) -> list[Entry]:
    return [Entry(text(member), float(score)) for member, score in raw]


def _order(entry: Entry) -> tuple[float, str]:
    """Line order: the order Redis keeps, score then member."""
    return entry.score, entry.member


ROUNDS_BEHIND = 16
"""How many earlier rounds a ticket's snapshot takes out of the line (``follow``)."""


class WaitingLine:
    """The keys of the line (see the module doc); each call one round trip per node."""

    def __init__(self, client: RedisClient, *, prefix: str, shards: int = DEFAULT_SHARDS) -> None:
        self._r = client
        self.keys = Keys(prefix)
        self.shards = shards
        self._place = load_script(client, Path(__file__).parent / "waiting.lua")
        self._lead = load_script(client, Path(__file__).parent / "lead.lua")

    def shard(self, member: str) -> int:
        return shard_of(ticket_of(member), self.shards)

    def key_of(self, ticket_id: str) -> str:
        """The shard of the line a ticket waits in."""
        return self.keys.waiting(shard_of(ticket_id, self.shards))

    def _script_keys(self, shard: int) -> list[str]:
        k = self.keys
        return [
            k.waiting(shard),
            k.waiting_needs(shard),
            k.waiting_counts(shard),
            k.waiting_recheck(shard),
        ]

    async def lead(self, owner: str, hold_s: float) -> bool:
        """Take or renew the hold on the line for ``hold_s``: True when ``owner`` may sweep
        it now (see ``lead.lua``)."""
        with redis_errors():
            held = await self._lead(
                keys=[self.keys.waiting_sweeper], args=[owner, "hold", int(hold_s * 1000)]
            )
        return bool(held)

    async def resign(self, owner: str) -> None:
        """Let go of the hold, if ``owner`` has it: another process may sweep at once."""
        with redis_errors():
            await self._lead(keys=[self.keys.waiting_sweeper], args=[owner, "resign", 0])

    async def follow(self, tickets: Iterable[Ticket], announced: Container[str] = ()) -> None:
        """Put each ticket where its latest snapshot says. Those that may now be assigned
        or must be announced are marked for a recheck in the same step: new in line (a
        new ticket, a new round), moved to another queue or channel, or not announced
        yet (neither by the snapshot nor in ``announced``, the members known to be). A
        snapshot that changes nothing the line cares about (a message, a priority, our
        own ``ticket.queued``) costs no offer. A ticket in a new round (an offer that
        timed out, a skip that ended, a transfer) leaves the places of its earlier rounds:
        one ticket, one place in line. The last ``ROUNDS_BEHIND`` rounds are left, not
        only the one before: a poll holds only a ticket's latest snapshot, so two
        transfers in one poll (or all that happened while the role was down) skip a
        round, whose member would otherwise stay in line for good."""
        places: list[Place] = []
        for ticket in tickets:
            last = ticket.assignment_round
            places += [
                (f"{ticket.id}|{r}", "leave", "", 0.0)
                for r in range(max(0, last - ROUNDS_BEHIND), last)
            ]
            place = waiting_member(ticket)
            if place is None:
                member = f"{ticket.id}|{ticket.assignment_round}"
                places.append((member, "leave", "", 0.0))
                continue
            member, score = place
            fresh = ticket.queued_at is None and member not in announced
            mode: Mode = "recheck" if fresh else "place"
            places.append((member, mode, needs(ticket), score))
        await self._put(places)

    async def _put(self, places: list[Place], done: Iterable[str] = ()) -> None:
        """Run the placing script (``waiting.lua``) for (member, mode, needs, score), one
        call per shard; drop ``done`` from the rechecks. One round trip per node."""
        args: dict[int, list[Any]] = defaultdict(list)
        for place in places:
            args[self.shard(place[0])].extend(place)
        finished: dict[int, list[str]] = defaultdict(list)
        for member in done:
            finished[self.shard(member)].append(member)
        if not args and not finished:
            return
        with redis_errors():
            if len(args) == 1 and not finished:  # one shard: a pipeline would only add a check
                [(shard, shard_args)] = args.items()
                await self._place(keys=self._script_keys(shard), args=shard_args)
                return
            async with self._r.pipeline(transaction=False) as pipe:
                for shard, shard_args in args.items():
                    await self._place(keys=self._script_keys(shard), args=shard_args, client=pipe)
                for shard, members in finished.items():
                    pipe.zrem(self.keys.waiting_recheck(shard), *members)
                await pipe.execute()

    async def page(self, after: Entry | None, size: int = PAGE) -> list[Entry]:
        """Up to ``size`` places in line after ``after`` (from the front when None)."""
        return await self._merged(self.keys.waiting, after, size)

    async def recheck_page(self, after: Entry | None, size: int = PAGE) -> list[Entry]:
        """Up to ``size`` members to offer again, in line order, after ``after``."""
        return await self._merged(self.keys.waiting_recheck, after, size)

    async def _merged(
        self, key_of: Callable[[int], str], after: Entry | None, size: int
    ) -> list[Entry]:
        """The next places after ``after`` across the shards: each shard's head (a cursor
        over (score, member), so members that join or leave meanwhile neither shift nor
        repeat what is left to read), merged. A shard that may hold more than it gave
        bounds the page: nothing past its last entry is returned, since its next one
        could come first."""
        per_shard = min(size, max(SHARD_PAGE, math.ceil(2 * size / self.shards)))
        keys = [key_of(shard) for shard in range(self.shards)]
        with redis_errors():
            async with self._r.pipeline(transaction=False) as pipe:
                for key in keys:
                    _head(pipe, key, after, per_shard)
                raws: list[Any] = await pipe.execute()
            heads: list[tuple[list[Entry], bool]] = []
            for key, raw in zip(keys, raws, strict=True):
                entries = _entries(raw)
                if after is not None:
                    entries = [e for e in entries if _order(e) > _order(after)]
                    if not entries and len(raw) == per_shard:
                        entries = await self._past_ties(key, after, per_shard)
                        heads.append((entries, bool(entries)))
                        continue
                heads.append((entries, len(raw) == per_shard))
        bound = min((_order(e[-1]) for e, more in heads if more and e), default=None)
        merged = sorted(
            (e for entries, _ in heads for e in entries if bound is None or _order(e) <= bound),
            key=_order,
        )
        return merged[:size]

    async def _past_ties(self, key: str, after: Entry, size: int) -> list[Entry]:
        """After a whole page tied with the cursor, all read: go past the tie by member.
        Equal scores (tickets created in the same instant) are told apart by member."""
        ties = _entries(await self._r.zrangebyscore(key, after.score, after.score, withscores=True))
        page = [e for e in ties if e.member > after.member][:size]
        if page:
            return page
        raw = await self._r.zrangebyscore(
            key, f"({after.score!r}", "+inf", start=0, num=size, withscores=True
        )
        return _entries(raw)

    async def needs_of(self, entries: list[Entry]) -> list[str | None]:
        """``channel|queue`` of each member; None where unknown (written before this
        version, or gone)."""
        if not entries:
            return []
        at: dict[int, list[int]] = defaultdict(list)
        for i, entry in enumerate(entries):
            at[self.shard(entry.member)].append(i)
        out: list[str | None] = [None] * len(entries)
        with redis_errors():
            async with self._r.pipeline(transaction=False) as pipe:
                for shard, where in at.items():
                    pipe.hmget(self.keys.waiting_needs(shard), [entries[i].member for i in where])
                replies: list[Any] = await pipe.execute()
        for where, raw in zip(at.values(), replies, strict=True):
            for i, value in zip(where, raw, strict=True):
                out[i] = text(value) if value is not None else None
        return out

    async def mark(self, entries: list[Entry]) -> None:
        """Remember these members until ``settle``: what a crash interrupts is rechecked."""
        if not entries:
            return
        by_shard: dict[int, dict[str, float]] = defaultdict(dict)
        for e in entries:
            by_shard[self.shard(e.member)][e.member] = e.score
        with redis_errors():
            async with self._r.pipeline(transaction=False) as pipe:
                for shard, scores in by_shard.items():
                    pipe.zadd(self.keys.waiting_recheck(shard), scores)
                await pipe.execute()

    async def waiting(self) -> dict[str, int]:
        """How many members wait with each needs (``channel|queue``): one small hash per
        shard, summed."""
        with redis_errors():
            async with self._r.pipeline(transaction=False) as pipe:
                for shard in range(self.shards):
                    pipe.hgetall(self.keys.waiting_counts(shard))
                replies: list[Any] = await pipe.execute()
        out: dict[str, int] = {}
        for raw in replies:
            for need, n in raw.items():
                out[text(need)] = out.get(text(need), 0) + int(n)
        return out

    async def settle(self, *, left: list[str], waiting: list[Ticket], done: list[str]) -> None:
        """After an offer: ``left`` the line (assigned, settled, forgotten, a later round);
        ``waiting`` still, placed as their tickets are now; ``done`` need no recheck."""
        places: list[Place] = [(member, "leave", "", 0.0) for member in left]
        for ticket in waiting:
            place = waiting_member(ticket)
            if place is not None:
                places.append((place[0], "place", needs(ticket), place[1]))
        await self._put(places, done)

    async def drop(self, tickets: Iterable[Ticket]) -> None:
        """Take these tickets out of the line (an erased customer's): the member of every
        round up to the snapshot's, so one an earlier round left behind goes too. Leaving
        is idempotent: a member not in line changes nothing."""
        await self._put(
            [
                (f"{ticket.id}|{round_}", "leave", "", 0.0)
                for ticket in tickets
                for round_ in range(ticket.assignment_round + 1)
            ]
        )

    async def rehome(self, previous: int | None) -> int:
        """Move into their shards the line of versions before the shards and, when
        ``previous`` (the shard count last worked with) differs from ours, the old
        shards. Each member is placed in its shard (and marked for a recheck) before it
        leaves the old keys, so a crash halfway leaves it in both, never in neither.
        How many moved."""
        k = self.keys
        sources = [[k.legacy_waiting, *(k.legacy_waiting_part(p) for p in LEGACY_PARTS)]]
        if previous and previous != self.shards:
            sources += [self._script_keys(shard) for shard in range(previous)]
        moved = 0
        with redis_errors():
            for source in sources:
                moved += await self._move(source)
        return moved

    async def _move(self, source: list[str]) -> int:
        line, recheck = source[0], source[3]
        moved = 0
        for key in (line, recheck):  # the line, then offers interrupted after leaving it
            start = 0
            while raw := await self._r.zrange(key, start, start + PAGE - 1, withscores=True):
                entries = _entries(raw)
                away = [e for e in entries if self.keys.waiting(self.shard(e.member)) != line]
                if away:
                    await self._move_entries(source, away, in_line=key == line)
                start += len(entries) - len(away)
                moved += len(away) if key == line else 0
        return moved

    async def _move_entries(self, source: list[str], away: list[Entry], *, in_line: bool) -> None:
        members = [e.member for e in away]
        known: list[Any] = await self._r.hmget(source[1], members) if in_line else []
        places: list[Place] = []
        async with self._r.pipeline(transaction=False) as pipe:
            for i, entry in enumerate(away):
                home = self.shard(entry.member)
                need = known[i] if in_line else None
                if need is not None:
                    places.append((entry.member, "place", text(need), entry.score))
                    continue
                if in_line:  # needs unknown (older than the needs): as that version left it
                    pipe.zadd(self.keys.waiting(home), {entry.member: entry.score})
                pipe.zadd(self.keys.waiting_recheck(home), {entry.member: entry.score})
            await pipe.execute()
        await self._put(places)
        await self._place(keys=source, args=[a for m in members for a in (m, "leave", "", 0)])


LEGACY_PARTS = ("needs", "counts", "recheck")


def _head(pipe: RedisPipeline, key: str, after: Entry | None, size: int) -> None:
    """Queue the read of up to ``size`` members of ``key`` from ``after`` on."""
    if after is None:
        pipe.zrange(key, 0, size - 1, withscores=True)
    else:
        pipe.zrangebyscore(key, after.score, "+inf", start=0, num=size, withscores=True)
