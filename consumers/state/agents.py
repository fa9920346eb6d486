"""Agents in Redis: presence, skills, capacity per channel, and who holds which ticket.

All agent keys share the hash tag ``{agents}``, so each Lua script runs in one slot (and on
Redis Cluster). ``assign`` is idempotent per ticket: the agent that holds a ticket's
capacity is remembered, so a retried assignment names the same agent and counts once.

A counter (``changes``) goes up whenever an assignment may have become possible: an
agent's presence, skills or capacity were recorded, or a ticket released its capacity.
The waiting line is walked again only when it moved, so an idle line costs one read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from consumers.domain.assignment import AssignRequest, FreeAgent
from router.errors import BackendUnavailable
from router.redis import text
from router.vocabulary import CHANNELS

ASSIGN = """
-- KEYS: 1 online set; ARGV: 1 key prefix, 2 ticket, 3 channel, 4 strategy, 5 queue,
--       6 default capacity for the channel, 7 agents to pass over (newline-separated),
--       8.. required skills
local p, ticket, channel = ARGV[1], ARGV[2], ARGV[3]
local held = redis.call('GET', p .. 'holder:' .. ticket)
if held then return held end
local agents = redis.call('SMEMBERS', KEYS[1])
table.sort(agents)
local pointer = redis.call('GET', p .. 'rr:' .. ARGV[5]) or ''
local best, best_load, first_free = false, math.huge, false
local passed = {}
for a in string.gmatch(ARGV[7], '[^\\n]+') do passed[a] = true end
for _, agent in ipairs(agents) do
  local raw = redis.call('HMGET', p .. 'agent:' .. agent, 'skills', 'capacity')
  local skills = cjson.decode(raw[1] or '[]')
  local capacity = cjson.decode(raw[2] or '{}')
  local have = {}
  for _, s in ipairs(skills) do have[s] = true end
  local ok = true
  for i = 8, #ARGV do if not have[ARGV[i]] then ok = false end end
  if passed[agent] then ok = false end
  local cap = tonumber(capacity[channel] or ARGV[6])
  local load = redis.call('SCARD', p .. 'load:' .. agent .. ':' .. channel)
  if ok and load < cap then
    if ARGV[4] == 'round_robin' then
      if not first_free then first_free = agent end
      if agent > pointer and not best then best = agent end
    elseif load < best_load then
      best, best_load = agent, load
    end
  end
end
if ARGV[4] == 'round_robin' and not best then best = first_free end
if not best then return false end
redis.call('SADD', p .. 'load:' .. best .. ':' .. channel, ticket)
redis.call('SET', p .. 'holder:' .. ticket, best)
redis.call('SET', p .. 'holder-channel:' .. ticket, channel)
redis.call('SET', p .. 'rr:' .. ARGV[5], best)
return best
"""

RELEASE = """
-- ARGV: 1 key prefix, 2 ticket. Frees the capacity the ticket holds; returns the agent.
-- Counts the change, so the waiting line is walked for the freed seat.
local p, ticket = ARGV[1], ARGV[2]
local held = redis.call('GET', p .. 'holder:' .. ticket)
if not held then return false end
local channel = redis.call('GET', p .. 'holder-channel:' .. ticket) or ''
redis.call('SREM', p .. 'load:' .. held .. ':' .. channel, ticket)
redis.call('DEL', p .. 'holder:' .. ticket, p .. 'holder-channel:' .. ticket)
redis.call('INCR', p .. 'changes')
return held
"""


class AgentStore:
    def __init__(self, client: aioredis.Redis, *, prefix: str) -> None:
        self._r = client
        self._p = f"{prefix}:{{agents}}:"
        self._assign = client.register_script(ASSIGN)
        self._release = client.register_script(RELEASE)

    async def presence(
        self,
        agent_id: str,
        status: str,
        skills: list[str] | None,
        capacity: Mapping[str, int] | None,
    ) -> None:
        """Record an agent's presence; skills and capacity only change when given. Counts
        a change either way: coming online or more capacity may let a waiting ticket in."""
        fields: dict[str, str | bytes] = {"status": status}
        if skills is not None:
            fields["skills"] = orjson.dumps(sorted(set(skills)))
        if capacity is not None:
            fields["capacity"] = orjson.dumps(dict(capacity))
        try:
            async with self._r.pipeline(transaction=True) as pipe:
                for name, value in fields.items():
                    pipe.hset(self._p + "agent:" + agent_id, name, value)
                if status == "online":
                    pipe.sadd(self._p + "online", agent_id)
                else:
                    pipe.srem(self._p + "online", agent_id)
                pipe.incr(self._p + "changes")
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise BackendUnavailable("redis", type(exc).__name__) from exc

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
        """``assign`` for each request, in order, in one round trip. Each script runs on
        its own and in sequence, so the outcome is the one of calling them one by one."""
        if not requests:
            return []
        try:
            async with self._r.pipeline(transaction=False) as pipe:
                for r in requests:
                    await self._assign(
                        keys=[self._p + "online"],
                        args=[
                            self._p,
                            r.ticket_id,
                            r.channel,
                            r.strategy,
                            r.queue,
                            r.default_capacity,
                            "\n".join(r.exclude),
                            *sorted(r.skills),
                        ],
                        client=pipe,
                    )
                replies = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise BackendUnavailable("redis", type(exc).__name__) from exc
        return [text(agent) if agent else None for agent in replies]

    async def changes(self) -> int:
        """How often an assignment may have become possible so far (see module doc)."""
        try:
            raw = await self._r.get(self._p + "changes")
        except (RedisError, OSError) as exc:
            raise BackendUnavailable("redis", type(exc).__name__) from exc
        return int(raw or 0)

    async def free_seats(self, default_capacity: Mapping[str, int]) -> list[FreeAgent]:
        """Every online agent with its skills and free seats per channel, in three round
        trips whatever the number of tickets: the walk of the waiting line asks this once
        and stops when nobody has a seat left. ``default_capacity``: per channel, for
        agents who did not state theirs."""
        try:
            online = sorted(text(a) for a in await self._r.smembers(self._p + "online"))
            if not online:
                return []
            async with self._r.pipeline(transaction=False) as pipe:
                for agent in online:
                    pipe.hmget(self._p + "agent:" + agent, "skills", "capacity")
                profiles = await pipe.execute()
            seats: list[tuple[str, frozenset[str], dict[str, int]]] = []
            for agent, (skills, capacity) in zip(online, profiles, strict=True):
                stated = orjson.loads(capacity) if capacity else {}
                caps: dict[str, int] = {}
                for channel in CHANNELS:
                    cap = int(stated.get(channel, default_capacity.get(channel, 1)))
                    if cap > 0:  # no seat on a channel costs no read of its load
                        caps[channel] = cap
                seats.append((agent, frozenset(orjson.loads(skills or b"[]")), caps))
            async with self._r.pipeline(transaction=False) as pipe:
                for agent, _, caps in seats:
                    for seat in caps:
                        pipe.scard(self._p + "load:" + agent + ":" + seat)
                loads = iter(await pipe.execute())
        except (RedisError, OSError) as exc:
            raise BackendUnavailable("redis", type(exc).__name__) from exc
        return [
            FreeAgent(agent, skills, {ch: cap - int(next(loads)) for ch, cap in caps.items()})
            for agent, skills, caps in seats
        ]

    async def release(self, ticket_ids: list[str]) -> None:
        """Free the capacity these tickets hold (idempotent)."""
        if not ticket_ids:
            return
        try:
            async with self._r.pipeline(transaction=False) as pipe:
                for ticket_id in ticket_ids:
                    await self._release(keys=[], args=[self._p, ticket_id], client=pipe)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise BackendUnavailable("redis", type(exc).__name__) from exc

    async def holders(self, ticket_ids: list[str]) -> list[str | None]:
        if not ticket_ids:
            return []
        try:
            raw = await self._r.mget([self._p + "holder:" + t for t in ticket_ids])
        except (RedisError, OSError) as exc:
            raise BackendUnavailable("redis", type(exc).__name__) from exc
        return [v.decode() if isinstance(v, bytes) else v for v in raw]

    async def load(self, agent_id: str, channel: str) -> int:
        return int(await self._r.scard(self._p + "load:" + agent_id + ":" + channel))
