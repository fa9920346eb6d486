"""The timers role with a contact centre's agents online: the backlog's tickets are
offered and assigned as they arrive, not only put in line.

The timers-alone row has nobody online, so every new ticket is announced as waiting and
nothing more. Here ``AGENTS`` agents are online before the timers role starts on the
router's records, with two neighbouring skills of the example rules' queues each (every
fifth has ``tech`` and ``tier2``) and the rules' capacities; the clock stops when the
role has committed the topic's end and the waiting line is empty, i.e. every ticket was
offered to an agent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from consumers.state.agents import AgentStore
from consumers.state.waiting import WaitingLine
from router.app.bench.processes import RoleProcesses
from router.app.bench.raw import produce_all
from router.app.bench.solo import Solo, role_alone
from router.redis import RedisClient, make_redis
from router.settings import Settings
from router.topics import Topic, TopicNames

AGENTS = 1000
SKILLS = ("billing", "tech", "tier2", "sales", "vip")


@dataclass(frozen=True)
class Staffed:
    """The timers role's run (``solo``) with ``agents`` online, who hold ``assigned``
    tickets at the end; ``waiting`` were left in line."""

    solo: Solo
    agents: int
    assigned: int
    waiting: int


class Floor:
    """The agents put online and the waiting line, as the bench reads them."""

    def __init__(self, client: RedisClient, settings: Settings, agents: int) -> None:
        self.line = WaitingLine(client, prefix=settings.topic_prefix, shards=settings.timers_shards)
        self.store = AgentStore(client, prefix=settings.topic_prefix)
        self.ids = [f"agent-{i:05d}" for i in range(agents)]

    async def online(self) -> None:
        for i, agent in enumerate(self.ids):
            skills = [SKILLS[i % len(SKILLS)], SKILLS[(i + 1) % len(SKILLS)]]
            await self.store.presence(agent, "online", skills, None)

    async def waiting(self) -> int:
        return sum((await self.line.waiting()).values())

    async def empty(self) -> bool:
        return not await self.waiting()

    async def assigned(self) -> int:
        return sum(len(tickets) for tickets in (await self.store.held(self.ids)).values())


async def staffed_timers(
    settings: Settings,
    roles: RoleProcesses,
    events: list[tuple[bytes, bytes]],
    say: Callable[[str], None],
    *,
    agents: int = AGENTS,
) -> Staffed:
    """Route ``events`` (untimed), put ``agents`` online, then time the timers role
    through the router's records until the line is empty. ``settings``: a side prefix of
    its own (its tickets must be new)."""
    await produce_all(settings, TopicNames(settings.topic_prefix)(Topic.INBOUND), events)
    await role_alone(settings, roles, "router", Topic.INBOUND, say)
    client = make_redis(settings)
    try:
        floor = Floor(client, settings, agents)
        await floor.online()
        solo = await role_alone(
            settings, roles, "timers", Topic.TICKETS, say, until=floor.empty, label="timers staffed"
        )
        return Staffed(solo, agents, await floor.assigned(), await floor.waiting())
    finally:
        await client.aclose()
