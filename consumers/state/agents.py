"""Agents in Redis: presence, skills, capacity per channel, and who holds which ticket.

Keys come from ``Keys(prefix).agents`` (``router/keys.py`` lists them); all share the hash
tag ``{agents}``, so each script runs in one slot (and on Redis Cluster). Every key a
script touches is declared in its KEYS, none built inside from ARGV: while a cluster moves
the slot, a script touching an undeclared key fails mid-way ("non local key") instead of
being redirected, and a failed script is not rolled back.

Assigning is read, choose, claim. One script call reads the online agents with their
skills, capacity and load, the tickets' holders and the round-robin pointers
(``roster.lua``); ``choose_in_turn`` (pure, ``consumers/domain/turns.py``: what
``choose_agent`` answers ticket by ticket) names the agents; one script call claims every
chosen seat (``claim.lua``), checking again that the ticket is not held and that the agent
is online with a free seat. A claim that lost a race (another claimer took the seat, the
agent left) is read and chosen again, a few rounds at most. The read declares the keys of
the agents this store last saw online; when the online set is no longer those, it answers
the set's members and is made again (one round trip more, only after a presence changed
it; under a login storm the last try takes the agents found still online). So a batch
costs two round trips when nobody competes. Reading every agent is the costly part at a
contact centre's size (16 ms of valkey at 1,000 agents): an offer within
``ROSTER_REUSE_S`` of the last read reads only the holders and pointers, and takes the
agents as then read with this store's claims since. A claim is idempotent per ticket:
the agent that holds a ticket's capacity is remembered, so a retried assignment names the
same agent and counts once, and capacity is never exceeded however many claimers race.

A counter (``changes``) goes up whenever an assignment may have become possible: an
agent's presence, skills or capacity were recorded, or a ticket released its capacity.
The waiting line is walked again only when it moved, so an idle line costs one read.

Releasing reads the tickets' holders and channels first (one MGET), then frees their
seats (``release.lua``) only if they are still what was read: a claim or release in
between makes it answer what they are now, to free again with that.

An agent who goes away or offline is recorded as a departure (hash ``left``: agent ->
``status marker``, one marker per presence) until the timers role's sweep has dealt with
it. Coming back online before that keeps the offers but not the entry's removal: only the
sweep removes it, after publishing what a withdrawal committed before a crash left
pending (its event id comes from the entry, so nothing else could reach it again).
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, NamedTuple, cast

import orjson
from redis.typing import EncodableT, FieldT

from consumers.domain.assignment import AgentState, AssignRequest, FreeAgent
from consumers.domain.turns import choose_in_turn
from router.errors import BackendUnavailable
from router.keys import Keys
from router.redis import (
    RedisClient,
    get_many,
    glob_escape,
    load_script,
    redis_errors,
    scan_slot,
    text,
)
from router.vocabulary import CHANNELS

INDEXED_FOR_S = 3600
"""How long the agent list trusts the set every presence adds to before a scan looks for
agents recorded without it (by processes of an earlier version)."""
HERE = Path(__file__).parent
ROSTER = HERE / "roster.lua"
CLAIM = HERE / "claim.lua"
RELEASE = HERE / "release.lua"
DEPARTED = HERE / "departed.lua"
AWAY = HERE / "away.lua"

KEYS_KEPT = 100_000
"""Agents whose roster keys are kept built (``AgentStore._agent_keys``); more start over."""

CLAIM_ROUNDS = 5
"""Reads and claims for one batch at most: each lost claim means another one succeeded,
so rounds are only spent while seats are being filled."""

READ_ROUNDS = 5
"""Calls of ``roster.lua`` or ``release.lua`` for one read or release at most: each call
that finds the state changed since it was read answers the state now, so another round
is needed only when it changed again meanwhile. The roster's last round takes the agents
it found still online (a login storm changes the set faster than it is read): those who
came online meanwhile are left for the next read, as an offer is only a hint."""

ROSTER_REUSE_S = 1.0
"""How long the agents read for one step of a sweep (the walk's free seats, an offer)
serve the offers after it, with this store's own claims counted in: the holders and
round-robin pointers are still read each time (one MGET), but not every agent's hash and
loads, an O(agents) read that holds Redis for 16 ms at 1,000 agents. A claim checks the
seat again, so a stale load costs at most a claim round; seats freed by other processes
meanwhile count a change, and the next sweep reads afresh."""

Outcome = Literal["claimed", "held", "full", "offline"]
WON: frozenset[Outcome] = frozenset({"claimed", "held"})


class Claim(NamedTuple):
    """What ``claim.lua`` answered for one ticket (see its header): the agent holding the
    ticket when the outcome is ``claimed`` or ``held``, else the agent that was refused."""

    outcome: Outcome
    agent_id: str


class Departure(NamedTuple):
    """An agent who went away or offline (``status``), with the marker of that presence:
    one per time they left, so a departure dealt with is told from a newer one. ``back``:
    they are online again (their offers stay; only a withdrawal already done is left to
    publish)."""

    agent_id: str
    status: str
    marker: str
    back: bool = False


class Roster(NamedTuple):
    """The agents as read at one moment, with the tickets' holders and the pointers."""

    agents: list[AgentState]
    holders: dict[str, str | None]
    pointers: dict[str, str | None]


class AgentStore:
    def __init__(
        self, client: RedisClient, *, prefix: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._clock = clock
        self._r = client
        self._p = Keys(prefix).agents
        self._roster = load_script(client, ROSTER)
        self._claim = load_script(client, CLAIM)
        self._release = load_script(client, RELEASE)
        self._departed = load_script(client, DEPARTED)
        self._away = load_script(client, AWAY)
        self._seen_online: list[str] = []  # the online set as last read, for roster.lua
        self._keys_of: dict[str, tuple[list[str], list[str]]] = {}  # ``_agent_keys``
        self._read: _RosterRead | None = None  # the agents as last read (``ROSTER_REUSE_S``)

    # --- key names, all under ``Keys(prefix).agents`` ---------------------------------
    @property
    def _online(self) -> str:
        return self._p + "online"

    @property
    def _everyone(self) -> str:
        return self._p + "everyone"

    @property
    def _indexed(self) -> str:
        return self._p + "everyone-indexed"

    @property
    def _left(self) -> str:
        return self._p + "left"

    @property
    def _changes(self) -> str:
        return self._p + "changes"

    def _agent(self, agent_id: str) -> str:
        return self._p + "agent:" + agent_id

    def _load(self, agent_id: str, channel: str) -> str:
        return self._p + "load:" + agent_id + ":" + channel

    def _agent_keys(self, agent_id: str, channels: list[str]) -> list[str]:
        """The keys ``roster.lua`` reads of one agent: its hash, its load on ``channels``.
        Kept, as the roster is read per offer with every online agent's."""
        known = self._keys_of.get(agent_id)
        if known is None or known[0] != channels:
            if len(self._keys_of) >= KEYS_KEPT:
                self._keys_of.clear()
            keys = [self._agent(agent_id), *(self._load(agent_id, c) for c in channels)]
            known = self._keys_of[agent_id] = (channels, keys)
        return known[1]

    def _holder(self, ticket_id: str) -> str:
        return self._p + "holder:" + ticket_id

    def _holder_channel(self, ticket_id: str) -> str:
        return self._p + "holder-channel:" + ticket_id

    def _pointer(self, queue: str) -> str:
        return self._p + "rr:" + queue

    # --- presence ---------------------------------------------------------------------
    async def presence(
        self,
        agent_id: str,
        status: str,
        skills: list[str] | None,
        capacity: Mapping[str, int] | None,
    ) -> None:
        """Record an agent's presence; skills and capacity only change when given. Counts
        a change either way: coming online or more capacity may let a waiting ticket in,
        and going away or offline (a ``Departure``) takes back the offers not accepted."""
        fields: dict[FieldT, EncodableT] = {"status": status}
        if skills is not None:
            fields["skills"] = orjson.dumps(sorted(set(skills)))
        if capacity is not None:
            fields["capacity"] = orjson.dumps(dict(capacity))
        with redis_errors():
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.hset(self._agent(agent_id), mapping=fields)
                pipe.sadd(self._everyone, agent_id)
                if status == "online":
                    pipe.sadd(self._online, agent_id)  # a departure stays for the sweep
                else:
                    pipe.srem(self._online, agent_id)
                    pipe.hset(self._left, agent_id, f"{status} {uuid.uuid4().hex}")
                pipe.incr(self._changes)
                await pipe.execute()

    async def step_away(self, agent_ids: Sequence[str]) -> list[str]:
        """Set away the agents who let an offer time out, as their own ``away`` presence
        would (``away.lua``): an agent who stops answering is offered nothing more, and
        the sweep gives their other unaccepted offers to the others (accepted work stays)
        until their next ``agent.presence``. Only agents still online: one who went
        offline stays offline. Answers those set away."""
        agent_ids = list(dict.fromkeys(agent_ids))
        if not agent_ids:
            return []
        keys = [self._online, self._left, self._changes, *map(self._agent, agent_ids)]
        args = [value for a in agent_ids for value in (a, f"away {uuid.uuid4().hex}")]
        with redis_errors():
            replies = await self._away(keys=keys, args=args)
        return [text(agent) for agent in replies]

    # --- assignment -------------------------------------------------------------------
    async def assign(
        self,
        ticket_id: str,
        channel: str,
        *,
        queue: str,
        skills: frozenset[str],
        strategy: str,
        default_capacity: int,
        exclude: list[str] | None = None,
    ) -> str | None:
        """An online agent with the skills and free capacity on the channel, now holding
        this ticket's capacity; None when nobody is free. ``exclude``: agents who
        declined this ticket."""
        request = AssignRequest(
            ticket_id, channel, queue, skills, strategy, default_capacity, tuple(exclude or ())
        )
        [agent] = await self.assign_many([request])
        return agent

    async def assign_many(self, requests: Sequence[AssignRequest]) -> list[str | None]:
        """``assign`` for each request, in order: each choice sees the seats the ones before
        it took, as if they were called one by one. Two round trips when no other claimer
        competes (see the module doc); a request still losing races after
        ``CLAIM_ROUNDS`` gets None and counts a change, so the next sweep offers it again."""
        chosen: list[str | None] = [None] * len(requests)
        pending = list(range(len(requests)))
        for round_ in range(CLAIM_ROUNDS):
            if not pending:
                return chosen
            batch = [requests[i] for i in pending]
            roster = await self.roster(
                CHANNELS,  # occupancy weighs every channel
                tickets=[r.ticket_id for r in batch],
                queues=[r.queue for r in batch],
                reuse_s=ROSTER_REUSE_S if round_ == 0 else 0.0,  # lost a claim: read again
            )
            choices = choose_in_turn(batch, roster.agents, roster.pointers, roster.holders)
            picks: list[tuple[int, AssignRequest, str]] = []
            for i, request, agent in zip(pending, batch, choices, strict=True):
                if agent is not None and roster.holders[request.ticket_id] is None:
                    picks.append((i, request, agent))
                else:
                    chosen[i] = agent  # held already, or nobody can take it
            claims = await self.claim([(request, agent) for _, request, agent in picks])
            pending = []
            for (i, _, _), claim in zip(picks, claims, strict=True):
                if claim.outcome in WON:
                    chosen[i] = claim.agent_id
                else:
                    pending.append(i)
        if pending:
            with redis_errors():
                await self._r.incr(self._changes)
        return chosen

    async def roster(
        self,
        channels: Iterable[str],
        *,
        tickets: Sequence[str] = (),
        queues: Sequence[str] = (),
        reuse_s: float = 0.0,
    ) -> Roster:
        """The online agents with their load on ``channels``, the holders of ``tickets``
        and the round-robin pointers of ``queues``, read in one step (``roster.lua``): one
        round trip, two when the online set changed since this store last read it.
        ``reuse_s``: agents this store read that recently (on the same channels) are
        taken as read, with its claims since counted in; only the holders and pointers
        are read then (``ROSTER_REUSE_S``)."""
        counted = sorted(set(channels))
        tickets = list(dict.fromkeys(tickets))
        queues = list(dict.fromkeys(queues))
        gets = [*(self._holder(t) for t in tickets), *(self._pointer(q) for q in queues)]
        last = self._read
        if last and last.channels == counted and time.monotonic() - last.at < reuse_s:
            with redis_errors():  # one MGET, on a cluster too: the keys share {agents}
                values = await self._r.mget(gets) if gets else []
            agents = list(last.agents.values())
        else:
            agents, values = await self._read_roster(counted, gets)
            self._read = _RosterRead(time.monotonic(), counted, {a.agent_id: a for a in agents})
        found = [text(v) if v else None for v in values]  # '' (the script) or None (MGET)
        return Roster(
            agents,
            dict(zip(tickets, found[: len(tickets)], strict=True)),
            dict(zip(queues, found[len(tickets) :], strict=True)),
        )

    async def _read_roster(
        self, counted: list[str], gets: list[str]
    ) -> tuple[list[AgentState], list[Any]]:
        """``roster.lua`` until it reads the online set as expected (``READ_ROUNDS``)."""
        for round_ in range(1, READ_ROUNDS + 1):
            expected = self._seen_online
            keys = [self._online, *gets]
            for agent in expected:
                keys += self._agent_keys(agent, counted)
            with redis_errors():
                last = "1" if round_ == READ_ROUNDS else "0"
                reply = await self._roster(
                    keys=keys, args=[len(gets), len(counted), last, *expected]
                )
            status, rows, values, members = reply
            status = text(status)
            if status != "ok":  # the set as it is now: for the next round, or the next read
                self._seen_online = sorted(text(agent) for agent in members)
            if status == "ok" or round_ == READ_ROUNDS:  # the last: the agents still online
                return [_agent_state(row, counted) for row in rows], values
        raise AssertionError("unreachable: the last round returns")

    async def claim(
        self,
        picks: Sequence[tuple[AssignRequest, str]],
        *,
        force: bool = False,
        while_online: Container[str] = (),
    ) -> list[Claim]:
        """Claim each ticket's capacity with the agent chosen for it, in order and in one
        atomic step (``claim.lua``): the choice was made on a read that may be stale, so
        each claim is checked again. No round trip when there is nothing to claim.
        ``force``: the agent was named by a rule, so the seat is counted even when it is
        offline or full (its load must show it). ``while_online``: tickets among forced
        picks that are offers the agent had not accepted: counted even when full, but
        refused ('offline') when the agent is away or offline, for the offer to go back
        in line rather than wait for nobody."""
        if not picks:
            return []
        now = self._clock()
        keys = [self._online]
        args: list[str | int | float] = []
        for request, agent in picks:
            keys += [
                self._holder(request.ticket_id),
                self._holder_channel(request.ticket_id),
                self._load(agent, request.channel),
                self._agent(agent),
                self._pointer(request.queue),
            ]
            args += [
                request.ticket_id,
                agent,
                request.channel,
                request.default_capacity,
                now,
                _check(request.ticket_id, force, while_online),
            ]
        with redis_errors():
            replies = await self._claim(keys=keys, args=args)
        claims = [Claim(cast(Outcome, text(outcome)), text(agent)) for outcome, agent in replies]
        if any(c.outcome not in WON for c in claims):
            self._read = None  # the agents moved since read: the next offer reads them
        elif self._read is not None:
            self._read.count(picks, claims, now)
        return claims

    async def free_seats(self, default_capacity: Mapping[str, int]) -> list[FreeAgent]:
        """Every online agent with its skills and free seats per channel, read afresh (one
        round trip, two after a presence changed the online set): the walk of the waiting
        line asks this once, and again at most once a page when an offer finds it wrong.
        ``default_capacity``: per channel, for agents who did not state theirs."""
        roster = await self.roster(CHANNELS)
        free = []
        for agent in sorted(roster.agents, key=lambda a: a.agent_id):
            seats: dict[str, int] = {}
            for channel in CHANNELS:
                capacity = agent.capacity_on(channel, default_capacity.get(channel, 1))
                if capacity > 0:
                    seats[channel] = capacity - agent.load.get(channel, 0)
            free.append(FreeAgent(agent.agent_id, agent.skills, seats))
        return free

    async def statuses(self, agent_ids: Sequence[str]) -> dict[str, str]:
        """Each agent's presence as last recorded ('offline' for one never seen), in one
        round trip."""
        agent_ids = list(dict.fromkeys(agent_ids))
        if not agent_ids:
            return {}
        with redis_errors():
            async with self._r.pipeline(transaction=False) as pipe:
                for agent_id in agent_ids:
                    pipe.hget(self._agent(agent_id), "status")
                replies = await pipe.execute()
        return {a: text(s) if s else "offline" for a, s in zip(agent_ids, replies, strict=True)}

    # --- departures -------------------------------------------------------------------
    async def departures(self) -> list[Departure]:
        """The agents who went away or offline and whose departure the sweep has not dealt
        with yet, each told whether they are online again. One read when there is none."""
        with redis_errors():
            raw = await self._r.hgetall(self._left)
            if not raw:
                return []
            left = sorted((text(k), text(v)) for k, v in raw.items())
            online = await self._r.smismember(self._online, [agent for agent, _ in left])
        return [
            Departure(agent, value.split(" ", 1)[0], value, bool(back))
            for (agent, value), back in zip(left, online, strict=True)
        ]

    async def held(self, agent_ids: Sequence[str]) -> dict[str, list[str]]:
        """The tickets each agent holds a seat for, on every channel, in one round trip."""
        agent_ids = list(dict.fromkeys(agent_ids))
        if not agent_ids:
            return {}
        with redis_errors():
            async with self._r.pipeline(transaction=False) as pipe:
                for agent_id in agent_ids:
                    for channel in CHANNELS:
                        pipe.smembers(self._load(agent_id, channel))
                replies = await pipe.execute()
        step = len(CHANNELS)
        return {
            agent_id: sorted(text(t) for held in replies[i * step : (i + 1) * step] for t in held)
            for i, agent_id in enumerate(agent_ids)
        }

    async def departed(self, departures: Sequence[Departure]) -> None:
        """Forget ``departures`` once their offers are withdrawn (``departed.lua``): a
        departure recorded since, with the same agent, is kept."""
        if not departures:
            return
        args = [value for d in departures for value in (d.agent_id, d.marker)]
        with redis_errors():
            await self._departed(keys=[self._left], args=args)

    # --- release and reads ------------------------------------------------------------
    async def release(self, ticket_ids: list[str]) -> None:
        """Free the capacity these tickets hold (idempotent), in two round trips: read the
        holders, free their seats (see ``release_seats``)."""
        await self.release_seats(ticket_ids)

    async def release_seats(self, ticket_ids: list[str]) -> dict[str, str]:
        """``release``, answering which agent each freed ticket was held by: erasing a
        customer says whose seats it gave back (tickets that held none are left out).
        The holders and their channels are read first, as ``release.lua`` declares the
        load sets it frees; it frees nothing unless they are still what was read, and
        otherwise answers them as they are now, to try again with."""
        ticket_ids = list(dict.fromkeys(ticket_ids))
        if not ticket_ids:
            return {}
        self._read = None  # the seats freed: the next offer reads the agents again
        read = [k for t in ticket_ids for k in (self._holder(t), self._holder_channel(t))]
        with redis_errors():  # one MGET, on a cluster too: the keys share {agents}
            seen = [text(v) if v is not None else "" for v in await self._r.mget(read)]
        for _ in range(READ_ROUNDS):
            keys = [self._changes]
            args: list[str] = []
            for i, ticket_id in enumerate(ticket_ids):
                holder, channel = seen[2 * i], seen[2 * i + 1]
                load = self._load(holder, channel) if holder else self._holder(ticket_id)
                keys += [self._holder(ticket_id), self._holder_channel(ticket_id), load]
                args += [ticket_id, holder, channel if holder else ""]
            with redis_errors():
                status, values = await self._release(keys=keys, args=args)
            if text(status) == "ok":
                held = [text(agent) for agent in values]
                return {t: agent for t, agent in zip(ticket_ids, held, strict=True) if agent}
            seen = [text(v) for v in values]
        raise BackendUnavailable("redis", "the tickets' holders kept changing while released")

    async def changes(self) -> int:
        """How often an assignment may have become possible so far (see module doc)."""
        with redis_errors():
            raw = await self._r.get(self._changes)
        return int(raw or 0)

    async def holders(self, ticket_ids: list[str]) -> list[str | None]:
        if not ticket_ids:
            return []
        with redis_errors():
            raw = await get_many(self._r, [self._holder(t) for t in ticket_ids])
        return [text(v) if v is not None else None for v in raw]

    async def load(self, agent_id: str, channel: str) -> int:
        with redis_errors():
            return int(await self._r.scard(self._load(agent_id, channel)))

    async def known(self, agent_ids: list[str]) -> list[bool]:
        """Whether each agent was ever seen (an ``agent.presence``): one EXISTS each, in
        one pipeline (one slot: every agent key has the ``{agents}`` hash tag)."""
        if not agent_ids:
            return []
        with redis_errors():
            async with self._r.pipeline(transaction=False) as pipe:
                for agent_id in agent_ids:
                    pipe.exists(self._agent(agent_id))
                replies = await pipe.execute()
        return [bool(reply) for reply in replies]

    async def online(self) -> list[str]:
        """The agents online now (the set presence keeps), sorted: what a summary of the
        queues reads, not every agent ever seen."""
        with redis_errors():
            members = await self._r.smembers(self._online)
        return sorted(text(m) for m in members)

    async def _everyone_ids(self) -> list[str]:
        """Every agent ever seen, from the set every presence adds to: one read, however
        large the keyspace (a SCAN walks all of it, so the agent list took seconds on a
        database of a million customers). Agents recorded before that set existed are
        found by a scan and added, and so, at most once an hour (``INDEXED_FOR_S``), are
        those a process of an earlier version recorded since (a rolling upgrade, a
        rollback): it adds them to no set but the online one, read here too."""
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.smembers(self._everyone)
            pipe.smembers(self._online)
            pipe.exists(self._indexed)
            members, online, indexed = await pipe.execute()
        found = {text(m) for m in (*members, *online)}
        if not indexed:
            prefix = self._agent("")
            keys = await scan_slot(self._r, glob_escape(prefix) + "*", prefix)
            earlier = [key[len(prefix) :] for key in keys]
            async with self._r.pipeline(transaction=True) as pipe:
                if earlier:
                    pipe.sadd(self._everyone, *earlier)
                pipe.set(self._indexed, "1", ex=INDEXED_FOR_S)
                await pipe.execute()
            found.update(earlier)
        return sorted(found)

    async def ids(self) -> list[str]:
        """Every agent ever seen, sorted by id: what a page of them is cut from."""
        with redis_errors():
            return await self._everyone_ids()

    async def records(self, agent_ids: list[str] | None = None) -> list[AgentRecord]:
        """Every agent ever seen (``agent_ids`` None), or those named (unknown ones left
        out), sorted by id. Every key has the ``{agents}`` hash tag, so this is two
        pipelines in one slot, on a cluster too."""
        with redis_errors():
            if agent_ids is None:
                agent_ids = await self._everyone_ids()
            agent_ids = sorted(set(agent_ids))
            async with self._r.pipeline(transaction=False) as pipe:
                for agent_id in agent_ids:
                    pipe.hgetall(self._agent(agent_id))
                    for channel in CHANNELS:
                        pipe.smembers(self._load(agent_id, channel))
                replies = await pipe.execute() if agent_ids else []
        out = []
        step = 1 + len(CHANNELS)
        for i, agent_id in enumerate(agent_ids):
            fields = {text(k): v for k, v in replies[i * step].items()}
            if not fields:
                continue
            held = replies[i * step + 1 : (i + 1) * step]
            out.append(
                AgentRecord(
                    agent_id,
                    text(fields.get("status", b"offline")),
                    orjson.loads(fields["skills"]) if fields.get("skills") else [],
                    orjson.loads(fields["capacity"]) if fields.get("capacity") else {},
                    {
                        channel: sorted(text(t) for t in tickets)
                        for channel, tickets in zip(CHANNELS, held, strict=True)
                        if tickets
                    },
                )
            )
        return out


@dataclass(slots=True)
class _RosterRead:
    """The agents as ``roster.lua`` last read them (``ROSTER_REUSE_S``), with the seats
    this store claimed since."""

    at: float  # time.monotonic()
    channels: list[str]
    agents: dict[str, AgentState]

    def count(
        self, picks: Sequence[tuple[AssignRequest, str]], claims: list[Claim], now: float
    ) -> None:
        """The seats ``claims`` took (``claimed``: not those held before) held by their
        agents, who are the busiest from ``now`` on, as ``claim.lua`` records them."""
        for (request, agent_id), claim in zip(picks, claims, strict=True):
            agent = self.agents.get(agent_id)
            if claim.outcome == "claimed" and agent is not None:
                self.agents[agent_id] = agent.holding(request.channel, now)


class AgentRecord(NamedTuple):
    """An agent as stored, for the read API: presence, skills, the capacity it stated
    (channels it did not state take the rules' default) and the tickets it holds."""

    agent_id: str
    status: str
    skills: list[str]
    capacity: dict[str, int]
    tickets: dict[str, list[str]]


def _check(ticket_id: str, force: bool, while_online: Container[str]) -> str:
    """How ``claim.lua`` checks one claim (see its header)."""
    if not force:
        return "0"
    return "online" if ticket_id in while_online else "1"


def _agent_state(row: list[Any], channels: list[str]) -> AgentState:
    """One agent as ``roster.lua`` returns it: id, skills, capacity, loads on ``channels``."""
    agent_id, skills, capacity, idle_since, *loads = row
    return AgentState(
        text(agent_id),
        _skills(skills),
        _capacity(capacity),
        dict(zip(channels, map(int, loads), strict=True)),
        float(idle_since or 0),
    )


@functools.lru_cache(maxsize=1024)
def _skills(stored: bytes) -> frozenset[str]:
    """An agent's skills as stored; agents share a few sets of skills, so a roster of
    thousands parses each set once."""
    return frozenset(orjson.loads(stored)) if stored else frozenset()


@functools.lru_cache(maxsize=1024)
def _capacity(stored: bytes) -> Mapping[str, int]:
    """An agent's stated capacity as stored, parsed once per distinct value (read-only:
    agents share it)."""
    stated = orjson.loads(stored) if stored else {}
    return MappingProxyType({str(channel): int(n) for channel, n in stated.items()})
