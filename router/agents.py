"""Agents in Redis: presence, skills, capacity per channel, and who holds which ticket.

All agent keys share the hash tag ``{agents}``, so each Lua script runs in one slot (and on
Redis Cluster). ``assign`` is idempotent per ticket: the agent that holds a ticket's
capacity is remembered, so a retried assignment names the same agent and counts once.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from router.errors import BackendUnavailable

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
local p, ticket = ARGV[1], ARGV[2]
local held = redis.call('GET', p .. 'holder:' .. ticket)
if not held then return false end
local channel = redis.call('GET', p .. 'holder-channel:' .. ticket) or ''
redis.call('SREM', p .. 'load:' .. held .. ':' .. channel, ticket)
redis.call('DEL', p .. 'holder:' .. ticket, p .. 'holder-channel:' .. ticket)
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
        """Record an agent's presence; skills and capacity only change when given."""
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
        try:
            agent = await self._assign(
                keys=[self._p + "online"],
                args=[
                    self._p,
                    ticket_id,
                    channel,
                    strategy,
                    queue,
                    default_capacity,
                    "\n".join(exclude or ()),
                    *sorted(skills),
                ],
            )
        except (RedisError, OSError) as exc:
            raise BackendUnavailable("redis", type(exc).__name__) from exc
        if not agent:
            return None
        return agent.decode() if isinstance(agent, bytes) else str(agent)

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
