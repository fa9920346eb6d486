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

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from consumers.assignment import (
    Seats,
    assign_event_id,
    assigned,
    needs,
    parse_member,
    queued,
    queued_event_id,
    waiting_member,
    worth_offering,
)
from consumers.outputs import Change
from router.agents import AgentStore, AssignRequest
from router.errors import BackendUnavailable
from router.events import Ticket
from router.redis import text
from router.state import Commit, OutRecord, RedisThreadStore, ViewRequest
from rules import RuleSet

PAGE = 500
PLACE = (Path(__file__).parent / "waiting.lua").read_text()


class Entry(NamedTuple):
    """A place in line: the member ``ticket|round`` and its score."""

    member: str
    score: float


def _entries(raw: list[Any]) -> list[Entry]:
    return [Entry(text(member), float(score)) for member, score in raw]


class WaitingLine:
    """The keys of the line (see the module doc), each Redis call one round trip."""

    def __init__(self, client: aioredis.Redis, *, prefix: str) -> None:
        self._r = client
        self.key = f"{prefix}:waiting"
        tag = "{" + self.key + "}"  # the slot of the line itself
        self.needs_key = f"{tag}:needs"
        self.counts_key = f"{tag}:counts"
        self.recheck_key = f"{tag}:recheck"
        self._place = client.register_script(PLACE)

    async def follow(self, tickets: Iterable[Ticket]) -> None:
        """Put each ticket where its latest snapshot says. Those that may now be assigned
        or must be announced are marked for a recheck in the same step: new in line (a
        new ticket, a new round), moved to another queue or channel, or not announced
        yet. A snapshot that changes nothing the line cares about (a message, a
        priority, our own ``ticket.queued``) costs no offer."""
        places: list[tuple[str, str, float, bool]] = []
        for ticket in tickets:
            place = waiting_member(ticket)
            if place is None:
                places.append((f"{ticket.id}|{ticket.assignment_round}", "", 0.0, False))
                continue
            member, score = place
            places.append((member, needs(ticket), score, ticket.queued_at is None))
        await self._put(places)

    async def _put(self, places: list[tuple[str, str, float, bool]]) -> None:
        """Run the placing script (``waiting.lua``) for (member, needs or '' to leave,
        score, recheck anyway)."""
        if not places:
            return
        args: list[str | float] = []
        for member, need, score, force in places:
            args += [member, need, score, "1" if force else "0"]
        keys = [self.key, self.needs_key, self.counts_key, self.recheck_key]
        try:
            await self._place(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            raise BackendUnavailable("redis", type(exc).__name__) from exc

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
        try:
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
        except (RedisError, OSError) as exc:
            raise BackendUnavailable("redis", type(exc).__name__) from exc

    async def needs_of(self, entries: list[Entry]) -> list[str | None]:
        """``channel|queue`` of each member; None where unknown (written before this
        version, or gone)."""
        if not entries:
            return []
        try:
            raw = await self._r.hmget(self.needs_key, [e.member for e in entries])
        except (RedisError, OSError) as exc:
            raise BackendUnavailable("redis", type(exc).__name__) from exc
        return [text(v) if v is not None else None for v in raw]

    async def mark(self, entries: list[Entry]) -> None:
        """Remember these members until ``settle``: what a crash interrupts is rechecked."""
        if entries:
            try:
                await self._r.zadd(self.recheck_key, {e.member: e.score for e in entries})
            except (RedisError, OSError) as exc:
                raise BackendUnavailable("redis", type(exc).__name__) from exc

    async def waiting(self) -> dict[str, int]:
        """How many members wait with each needs (``channel|queue``): one small hash."""
        try:
            raw = await self._r.hgetall(self.counts_key)
        except (RedisError, OSError) as exc:
            raise BackendUnavailable("redis", type(exc).__name__) from exc
        return {text(need): int(n) for need, n in raw.items()}

    async def settle(self, *, left: list[str], waiting: list[Ticket], done: list[str]) -> None:
        """After an offer: ``left`` the line (assigned, settled, forgotten, a later round);
        ``waiting`` still, placed as their tickets are now; ``done`` need no recheck."""
        places = [(member, "", 0.0, False) for member in left]
        for ticket in waiting:
            place = waiting_member(ticket)
            if place is not None:
                places.append((place[0], needs(ticket), place[1], False))
        await self._put(places)
        if done:
            try:
                await self._r.zrem(self.recheck_key, *done)
            except (RedisError, OSError) as exc:
                raise BackendUnavailable("redis", type(exc).__name__) from exc


@dataclass(slots=True)
class Offered:
    """What one offer did: member -> (agent, channel) of the tickets now assigned, and
    the members still waiting."""

    assigned: dict[str, tuple[str, str]] = field(default_factory=dict)
    waiting: set[str] = field(default_factory=set)


CommitFor = Callable[[str, str, Change, int, datetime], Commit]
Send = Callable[[list[OutRecord]], Awaitable[None]]


class LineSweep:
    """Offers waiting tickets to the agents when something changed (see the module doc).

    Holds in memory only the agents' change counter and the rules hash of the last
    complete walk; losing them (a restart) costs one walk, nothing else.
    """

    def __init__(
        self,
        line: WaitingLine,
        store: RedisThreadStore,
        agents: AgentStore,
        *,
        rules: Callable[[], RuleSet],
        commit_for: CommitFor,
        send: Send,
    ) -> None:
        self._line = line
        self._store = store
        self._agents = agents
        self._rules = rules
        self._commit_for = commit_for
        self._send = send
        self._walked: tuple[int, str] | None = None

    async def sweep(self, now: float) -> None:
        """Walk the line if an assignment may have become possible, then offer what is
        marked for a recheck (new arrivals first among them)."""
        rules = self._rules()
        at = datetime.fromtimestamp(now, UTC)
        seen = (await self._agents.changes(), rules.hash)
        if seen != self._walked:
            await self._walk(rules, at, complete=self._walked is None)
            self._walked = seen
        after: Entry | None = None
        while page := await self._line.recheck_page(after):
            after = page[-1]
            await self._offer(page, rules, at)

    async def _walk(self, rules: RuleSet, at: datetime, *, complete: bool) -> None:
        """Offer, in line order, the tickets the free seats could take, until nobody could
        take any of those still ahead (or to the end when ``complete``, for members
        whose needs are unknown)."""
        skills = {name: queue.skills for name, queue in rules.queues.items()}
        ahead = await self._line.waiting()
        seats = Seats(await self._agents.free_seats(rules.assignment.capacity))
        after: Entry | None = None
        while complete or seats.serve_any(ahead, skills):
            page = await self._line.page(after)
            if not page:
                return
            after = page[-1]
            place = {e.member: e for e in page}
            pending = dict(zip(place, await self._line.needs_of(page), strict=True))
            for need in pending.values():
                if need is not None and need in ahead:
                    ahead[need] -= 1
            while picks := worth_offering(pending.items(), seats, skills):
                expected = {m for m in picks if pending[m] is not None}
                offered = await self._offer([place[m] for m in picks], rules, at)
                for member in picks:
                    del pending[member]
                if offered.waiting & expected:  # the seats were wrong (declined, or moved)
                    seats = Seats(await self._agents.free_seats(rules.assignment.capacity))
                    continue
                for agent, channel in offered.assigned.values():
                    seats.take(agent, channel)

    async def _offer(self, entries: list[Entry], rules: RuleSet, at: datetime) -> Offered:
        """Assign each ticket if an agent is free, else announce once that it waits; then
        publish, and only then let go of the recheck marks."""
        await self._line.mark(entries)
        outputs, offers, left = await self._read(entries)
        strategy = rules.assignment.strategy
        agents = await self._agents.assign_many([_request(o.ticket, rules) for o in offers])
        commits: list[tuple[Offer, str | None, Commit]] = []
        for offer, agent in zip(offers, agents, strict=True):
            ticket = offer.ticket
            if agent is not None:
                change, event_id = assigned(ticket, agent, strategy, at), assign_event_id
            elif ticket.queued_at is None:
                change, event_id = queued(ticket, at), queued_event_id
            else:
                continue
            eid = event_id(ticket.id, offer.round)
            commits.append(
                (offer, agent, self._commit_for(offer.owner, eid, change, offer.version, at))
            )
        results = await self._store.commit_many([c for _, _, c in commits]) if commits else []
        acked: list[tuple[str, str]] = []
        conflicts: set[str] = set()
        done = Offered()
        for (offer, agent, commit), result in zip(commits, results, strict=True):
            if result == "CONFLICT":  # the ticket moved meanwhile: rechecked, fresh, next sweep
                conflicts.add(offer.member)
                continue
            if result == "OK":  # 'DUP': another sweep applied it and publishes it
                outputs.extend(commit.outbox)
                acked.append((commit.customer_id, commit.event_id))
            if agent is not None:
                done.assigned[offer.member] = (agent, offer.ticket.channel)
                left.append(offer.member)
        await self._send(outputs)
        await self._store.clear_outboxes(acked)
        still = [o for o in offers if o.member not in done.assigned and o.member not in conflicts]
        done.waiting = {o.member for o in still}
        await self._line.settle(
            left=left,
            waiting=[o.ticket for o in still],
            done=[e.member for e in entries if e.member not in conflicts],
        )
        return done

    async def _read(self, entries: list[Entry]) -> tuple[list[OutRecord], list[Offer], list[str]]:
        """The tickets still waiting in the round their member names, with their versions;
        the records of earlier outcomes still to publish; the members that left the line."""
        lined = [(e.member, *parse_member(e.member)) for e in entries]
        owners = await self._store.ticket_owners([tid for _, tid, _ in lined])
        found = [(entry, o) for entry, o in zip(lined, owners, strict=True) if o]
        left = [m for (m, _, _), o in zip(lined, owners, strict=True) if not o]  # forgotten
        views = await self._store.views(
            [
                ViewRequest(owner, eid(tid, round_), ticket_id=tid)
                for (_, tid, round_), owner in found
                for eid in (assign_event_id, queued_event_id)
            ]
        )
        outputs: list[OutRecord] = []
        offers: list[Offer] = []
        for i, ((member, _, round_), owner) in enumerate(found):
            assign_view, queued_view = views[2 * i], views[2 * i + 1]
            if assign_view.done:  # assigned before: publish what may still be pending
                outputs.extend(assign_view.outbox or [])
                left.append(member)
                continue
            ticket = assign_view.ticket
            current = waiting_member(ticket) if ticket else None
            if ticket is None or current is None or current[0] != member:
                left.append(member)  # no longer waiting in this round
                continue
            if queued_view.done:
                outputs.extend(queued_view.outbox or [])
            offers.append(Offer(member, owner, ticket, round_, assign_view.ticket_version))
        return outputs, offers, left


class Offer(NamedTuple):
    """A waiting ticket as read for an offer: its compare-and-set version included."""

    member: str
    owner: str
    ticket: Ticket
    round: int
    version: int


def _request(ticket: Ticket, rules: RuleSet) -> AssignRequest:
    queue = rules.queues.get(ticket.queue or "")
    return AssignRequest(
        ticket.id,
        ticket.channel,
        ticket.queue or "",
        queue.skills if queue else frozenset(),
        rules.assignment.strategy,
        rules.assignment.capacity.get(ticket.channel, 1),
        tuple(ticket.declined_by),
    )
