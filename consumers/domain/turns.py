"""Choosing assignees for a batch of tickets, in turn: the answer of ``choose_agent`` for
each ticket in order, each one seeing the seats and round-robin pointers the choices
before it left, at the cost of a heap operation per ticket instead of a pass over every
online agent.

``choose_agent`` reads the whole roster per ticket (sort, filter, minimum): 0.9 ms per
ticket at 1,000 agents online and 2.4 ms at 3,000, so a contact centre's waiting line
was offered at a few hundred tickets a second. Here the agents are grouped once per kind
of ticket (``_Pool``: the skills asked, the channel and the capacities the rules give):
the pool's agents with a free seat sit in a heap by (occupancy, idle since, id), the order
``least_loaded`` picks in, and in a sorted list of ids for ``round_robin``. An agent who
takes a ticket is pushed again with its new occupancy into every pool it belongs to (the
old entries are skipped when they surface) and leaves the free list of the pools of that
channel once full. The answer is the same as ``choose_agent``'s, ties included
(``tests/unit/core/test_assignment_turns.py`` compares the two on random rosters).
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterable, Mapping, Sequence

from consumers.domain.assignment import AgentState, AssignRequest

PoolKey = tuple[frozenset[str], str, int, tuple[tuple[str, int], ...]]
Entry = tuple[float, float, str, int]  # occupancy, idle since, id, the agent's version


def choose_in_turn(
    requests: Sequence[AssignRequest],
    candidates: Iterable[AgentState],
    pointers: Mapping[str, str | None],
    holders: Mapping[str, str | None],
) -> list[str | None]:
    """``choose_agent`` for each request in order, each one seeing the loads and pointers
    the choices before it left: the outcome of assigning them one by one. A ticket already
    held (``holders``: ticket -> agent) keeps its holder. ``pointers``: queue -> the
    round-robin pointer; every choice moves its queue's pointer, whatever the strategy."""
    turns = _Turns(candidates)
    pointer = dict(pointers)
    held = dict(holders)
    chosen: list[str | None] = []
    for request in requests:
        agent = held.get(request.ticket_id)
        if agent is None:
            agent = turns.choose(request, pointer.get(request.queue))
            if agent is not None:
                turns.take(agent, request.channel)
                pointer[request.queue] = held[request.ticket_id] = agent
        chosen.append(agent)
    return chosen


class _Pool:
    """The agents who could take one kind of ticket, those with a free seat ordered both
    ways the strategies pick."""

    def __init__(
        self, request: AssignRequest, members: list[AgentState], versions: Mapping[str, int]
    ):
        # the first request of this kind: the others ask the same of an agent (``_key``)
        self.request = request
        self.channel = request.channel
        free = [a for a in members if self.has_seat(a)]
        self.free_ids = [a.agent_id for a in free]  # members come in id order
        self.heap = [self.entry(a, versions[a.agent_id]) for a in free]
        heapq.heapify(self.heap)

    def has_seat(self, agent: AgentState) -> bool:
        return agent.has_seat(self.channel, self.request.default_capacity)

    def entry(self, agent: AgentState, version: int) -> Entry:
        busy = round(agent.occupancy(self.request), 9)
        return (busy, agent.idle_since, agent.agent_id, version)

    def least_loaded(self, request: AssignRequest, versions: Mapping[str, int]) -> str | None:
        """The free agent first by (occupancy, idle since, id), passing over who declined
        the ticket and, unless nobody else could take it, whom it avoids."""
        heap, put_back = self.heap, []
        found: str | None = None
        avoided: str | None = None
        while heap:
            entry = heap[0]
            agent = entry[2]
            if versions[agent] != entry[3]:
                heapq.heappop(heap)  # an older occupancy of this agent
                continue
            if agent not in request.exclude:
                if agent not in request.avoid:
                    found = agent
                    break
                if avoided is None:
                    avoided = agent
            put_back.append(heapq.heappop(heap))
        for entry in put_back:
            heapq.heappush(heap, entry)
        return avoided if found is None else found

    def round_robin(self, request: AssignRequest, after: str | None) -> str | None:
        """The first free agent after ``after`` in id order, wrapping around; passing over
        as ``least_loaded`` does."""
        ids = self.free_ids
        start = bisect.bisect_right(ids, after or "")
        avoided: str | None = None
        for i in range(len(ids)):
            agent = ids[(start + i) % len(ids)]
            if agent in request.exclude:
                continue
            if agent not in request.avoid:
                return agent
            if avoided is None:
                avoided = agent
        return avoided


class _Turns:
    """The roster during one ``choose_in_turn``: each agent as the choices so far left it,
    and the pools asked for so far."""

    def __init__(self, candidates: Iterable[AgentState]) -> None:
        self._agents = {a.agent_id: a for a in sorted(candidates, key=_by_id)}
        self._versions = dict.fromkeys(self._agents, 0)
        self._busiest = max((a.idle_since for a in self._agents.values()), default=0.0)
        self._pools: dict[PoolKey, _Pool] = {}
        self._pools_of: dict[str, list[_Pool]] = {agent: [] for agent in self._agents}

    def choose(self, request: AssignRequest, pointer: str | None) -> str | None:
        pool = self._pool(request)
        if request.strategy == "round_robin":
            return pool.round_robin(request, pointer)
        return pool.least_loaded(request, self._versions)

    def take(self, agent_id: str, channel: str) -> None:
        """One more ticket on ``channel`` for the agent, got now: it is the busiest."""
        self._busiest += 1
        agent = self._agents[agent_id].holding(channel, self._busiest)
        self._agents[agent_id] = agent
        version = self._versions[agent_id] = self._versions[agent_id] + 1
        for pool in self._pools_of[agent_id]:
            if pool.has_seat(agent):
                heapq.heappush(pool.heap, pool.entry(agent, version))
            elif pool.channel == channel:  # its last seat there: out of the free list
                i = bisect.bisect_left(pool.free_ids, agent_id)
                if i < len(pool.free_ids) and pool.free_ids[i] == agent_id:
                    del pool.free_ids[i]

    def _pool(self, request: AssignRequest) -> _Pool:
        key = _key(request)
        pool = self._pools.get(key)
        if pool is None:
            members = [a for a in self._agents.values() if request.skills <= a.skills]
            pool = self._pools[key] = _Pool(request, members, self._versions)
            for agent in members:
                self._pools_of[agent.agent_id].append(pool)
        return pool


def _key(request: AssignRequest) -> PoolKey:
    """What a request asks of an agent: its skills, a seat on its channel, and the
    capacities its occupancy is weighed by. Requests alike in these share a pool."""
    return (
        request.skills,
        request.channel,
        request.default_capacity,
        tuple(sorted(request.capacities.items())),
    )


def _by_id(agent: AgentState) -> str:
    return agent.agent_id
