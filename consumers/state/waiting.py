"""The waiting line in Redis and the sweep that moves it (part of the ``timers`` role).

Keys, for a topic prefix ``p``. The line keeps the name it always had; the others carry
its name as their hash tag, so all of them live in the line's slot and the placing
script (``waiting.lua``) can update them in one atomic step, on Redis Cluster too:

- ``p:waiting`` (sorted set): the line. Member ``ticket|round``, score priority rank *
  1e11 + creation time, so urgent first, then oldest (contract section 9).
- ``{p:waiting}:needs`` (hash): member -> ``channel|queue``, what the ticket asks of an
  agent, so a walk tells which tickets the free seats could take without reading them.
- ``{p:waiting}:counts`` (hash): ``channel|queue`` -> how many members wait with it, so
  a walk knows what is still ahead of it and stops when nobody could take any of it.
- ``{p:waiting}:recheck`` (sorted set, same scores): members to offer at the next sweep:
  tickets new in line or moved to another queue or channel, and every offer until its
  outcome is committed and published. A crash or a compare-and-set conflict halfway
  therefore leaves the member here, and the next sweep finishes the job.

Cost follows what changed, not the length of the line. A sweep reads the agents' change
counter and the recheck set (two commands when idle). The line itself is walked only when
an assignment may have become possible (an agent's presence, skills or capacity changed,
capacity was released, the rules were reloaded): page by page in line order, offering
only the tickets some free seat could take, and stopping as soon as no free seat fits
any ticket still ahead. The first walk after a start reads every page once (a page is two
commands), to pick up what an older version left unannounced.

Every outcome is written through the thread store under an id derived from (ticket,
round): a redelivered or retried offer finds its dedupe marker and re-publishes the stored
records, and a capacity claim is idempotent per ticket, so each waiting ticket is
announced (``ticket.queued``) once and assigned once per round.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, NamedTuple

from consumers.domain.assignment import needs, waiting_member
from router.events import Ticket
from router.keys import Keys
from router.redis import RedisClient, load_script, redis_errors, text

PAGE = 500
Mode = Literal["leave", "place", "recheck"]
"""What ``waiting.lua`` does with a member (see its header)."""


class Entry(NamedTuple):
    """A place in line: the member ``ticket|round`` and its score."""

    member: str
    score: float


def _entries(raw: list[Any]) -> list[Entry]:
    return [Entry(text(member), float(score)) for member, score in raw]


class WaitingLine:
    """The keys of the line (see the module doc), each Redis call one round trip."""

    def __init__(self, client: RedisClient, *, prefix: str) -> None:
        self._r = client
        keys = Keys(prefix)
        self.key = keys.waiting
        self.needs_key = keys.waiting_needs
        self.counts_key = keys.waiting_counts
        self.recheck_key = keys.waiting_recheck
        self._place = load_script(client, Path(__file__).parent / "waiting.lua")

    async def follow(self, tickets: Iterable[Ticket]) -> None:
        """Put each ticket where its latest snapshot says. Those that may now be assigned
        or must be announced are marked for a recheck in the same step: new in line (a
        new ticket, a new round), moved to another queue or channel, or not announced
        yet. A snapshot that changes nothing the line cares about (a message, a
        priority, our own ``ticket.queued``) costs no offer."""
        places: list[tuple[str, Mode, str, float]] = []
        for ticket in tickets:
            place = waiting_member(ticket)
            if place is None:
                member = f"{ticket.id}|{ticket.assignment_round}"
                places.append((member, "leave", "", 0.0))
                continue
            member, score = place
            mode: Mode = "recheck" if ticket.queued_at is None else "place"
            places.append((member, mode, needs(ticket), score))
        await self._put(places)

    async def _put(self, places: list[tuple[str, Mode, str, float]]) -> None:
        """Run the placing script (``waiting.lua``) for (member, mode, needs, score)."""
        if not places:
            return
        args = [arg for place in places for arg in place]
        keys = [self.key, self.needs_key, self.counts_key, self.recheck_key]
        with redis_errors():
            await self._place(keys=keys, args=args)

    async def page(self, after: Entry | None, size: int = PAGE) -> list[Entry]:
        """Up to ``size`` places in line after ``after`` (from the front when None)."""
        return await self._page(self.key, after, size)

    async def recheck_page(self, after: Entry | None, size: int = PAGE) -> list[Entry]:
        """Up to ``size`` members to offer again, in line order, after ``after``."""
        return await self._page(self.recheck_key, after, size)

    async def _page(self, key: str, after: Entry | None, size: int) -> list[Entry]:
        """A cursor over (score, member), the order Redis keeps: members that join or
        leave meanwhile neither shift nor repeat what is left to read, as an index would.
        Equal scores (tickets created in the same instant) are told apart by member."""
        with redis_errors():
            if after is None:
                return _entries(await self._r.zrange(key, 0, size - 1, withscores=True))
            raw = await self._r.zrangebyscore(
                key, after.score, "+inf", start=0, num=size, withscores=True
            )
            page = [e for e in _entries(raw) if (e.score, e.member) > (after.score, after.member)]
            if page or len(raw) < size:
                return page
            # a whole page tied with the cursor, all read: go past the tie by member
            ties = _entries(
                await self._r.zrangebyscore(key, after.score, after.score, withscores=True)
            )
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
        with redis_errors():
            raw = await self._r.hmget(self.needs_key, [e.member for e in entries])
        return [text(v) if v is not None else None for v in raw]

    async def mark(self, entries: list[Entry]) -> None:
        """Remember these members until ``settle``: what a crash interrupts is rechecked."""
        if entries:
            with redis_errors():
                await self._r.zadd(self.recheck_key, {e.member: e.score for e in entries})

    async def waiting(self) -> dict[str, int]:
        """How many members wait with each needs (``channel|queue``): one small hash."""
        with redis_errors():
            raw = await self._r.hgetall(self.counts_key)
        return {text(need): int(n) for need, n in raw.items()}

    async def settle(self, *, left: list[str], waiting: list[Ticket], done: list[str]) -> None:
        """After an offer: ``left`` the line (assigned, settled, forgotten, a later round);
        ``waiting`` still, placed as their tickets are now; ``done`` need no recheck."""
        places: list[tuple[str, Mode, str, float]] = [(member, "leave", "", 0.0) for member in left]
        for ticket in waiting:
            place = waiting_member(ticket)
            if place is not None:
                places.append((place[0], "place", needs(ticket), place[1]))
        await self._put(places)
        if done:
            with redis_errors():
                await self._r.zrem(self.recheck_key, *done)
