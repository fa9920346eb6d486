"""The agent store on the real embedded valkey: read, choose, claim, release.

Each branch of ``roster.lua``, ``claim.lua`` and ``release.lua`` has a test of its own;
the races are real ones, several stores with clients of their own on one Redis.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest
import redis.asyncio as aioredis

from consumers.domain.assignment import AssignRequest
from consumers.state import agents as agents_module
from consumers.state.agents import CLAIM_ROUNDS, READ_ROUNDS, AgentStore, Claim
from router.errors import BackendUnavailable
from router.keys import Keys
from router.redis import make_redis
from router.settings import Settings

pytestmark = pytest.mark.component


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    redis = make_redis(settings)
    yield redis
    await redis.aclose()


@pytest.fixture
def agents(client: aioredis.Redis, settings: Settings) -> AgentStore:
    return AgentStore(client, prefix=settings.topic_prefix)


@pytest.fixture
def key(settings: Settings) -> Callable[[str], str]:
    """The name of an agent key, e.g. ``key("holder:T-1")``."""
    return lambda rest: Keys(settings.topic_prefix).agents + rest


def req(
    ticket: str,
    *,
    channel: str = "email",
    queue: str = "q",
    skills: Sequence[str] = (),
    strategy: str = "least_loaded",
    default_capacity: int = 1,
    exclude: Sequence[str] = (),
) -> AssignRequest:
    return AssignRequest(
        ticket, channel, queue, frozenset(skills), strategy, default_capacity, tuple(exclude)
    )


class Interrupted(AgentStore):
    """A store in which something happens between the read and each claim: another
    claimer, an agent leaving. The race, made to happen every time."""

    meanwhile: Callable[[Sequence[tuple[AssignRequest, str]]], Awaitable[None]] | None = None

    async def claim(self, picks: Sequence[tuple[AssignRequest, str]]) -> list[Claim]:
        if self.meanwhile is not None and picks:
            await self.meanwhile(picks)
        return await super().claim(picks)


# --- assign and assign_many ----------------------------------------------------------


async def test_assignment_is_idempotent_per_ticket(agents: AgentStore) -> None:
    await agents.presence("a1", "online", [], {"email": 5})
    await agents.presence("a2", "online", [], {"email": 5})
    assert await agents.assign_many([req("T-1")]) == ["a1"]
    assert await agents.assign_many([req("T-1"), req("T-2"), req("T-1")]) == ["a1", "a2", "a1"]
    again = agents.assign(
        "T-1", "email", queue="q", skills=frozenset(), strategy="x", default_capacity=1
    )
    assert await again == "a1"
    assert (await agents.load("a1", "email"), await agents.load("a2", "email")) == (1, 1)


async def test_the_same_ticket_assigned_by_racing_stores_is_held_once(
    settings: Settings, agents: AgentStore
) -> None:
    for n in range(4):
        await agents.presence(f"a{n}", "online", [], {"chat": 1})
    clients = [make_redis(settings) for _ in range(6)]
    try:
        stores = [AgentStore(c, prefix=settings.topic_prefix) for c in clients]
        got = await asyncio.gather(*(s.assign_many([req("T-1", channel="chat")]) for s in stores))
    finally:
        for c in clients:
            await c.aclose()
    assert {agent for [agent] in got} == {"a0"}
    assert [await agents.load(f"a{n}", "chat") for n in range(4)] == [1, 0, 0, 0]


@pytest.mark.parametrize("strategy", ["least_loaded", "round_robin"])
async def test_capacity_is_never_exceeded_when_many_stores_race(
    settings: Settings, agents: AgentStore, strategy: str
) -> None:
    capacity = {"a1": 1, "a2": 3, "a3": 2, "a4": 4, "a5": 0}
    for agent, seats in capacity.items():
        await agents.presence(agent, "online", ["x"], {"chat": seats})
    clients = [make_redis(settings) for _ in range(5)]
    try:
        stores = [AgentStore(c, prefix=settings.topic_prefix) for c in clients]
        batches = [
            [req(f"T-{s}-{n}", channel="chat", skills=["x"], strategy=strategy) for n in range(6)]
            + [req("T-shared", channel="chat", skills=["x"], strategy=strategy)]
            for s in range(len(stores))
        ]
        got = await asyncio.gather(
            *(s.assign_many(b) for s, b in zip(stores, batches, strict=True))
        )
    finally:
        for c in clients:
            await c.aclose()
    loads = {agent: await agents.load(agent, "chat") for agent in capacity}
    assert all(loads[agent] <= seats for agent, seats in capacity.items()), loads
    assigned = {
        r.ticket_id: a
        for b, g in zip(batches, got, strict=True)
        for r, a in zip(b, g, strict=True)
        if a
    }
    assert sum(loads.values()) == len(assigned) == sum(capacity.values())  # every seat taken
    assert await agents.holders(list(assigned)) == list(assigned.values())
    assert len({a for [*_, a] in got}) == 1  # the shared ticket: one holder for everybody


async def test_a_claim_that_lost_its_agent_goes_to_another(
    client: aioredis.Redis, settings: Settings, agents: AgentStore
) -> None:
    await agents.presence("a1", "online", [], {"email": 1})
    await agents.presence("a2", "online", [], {"email": 1})
    racer = Interrupted(client, prefix=settings.topic_prefix)

    async def rival_takes_the_seat(picks: Sequence[tuple[AssignRequest, str]]) -> None:
        racer.meanwhile = None
        assert [agent for _, agent in picks] == ["a1"]
        assert await agents.assign_many([req("T-rival")]) == ["a1"]

    racer.meanwhile = rival_takes_the_seat
    assert await racer.assign_many([req("T-1")]) == ["a2"]
    assert await agents.holders(["T-rival", "T-1"]) == ["a1", "a2"]


async def test_a_claim_that_lost_the_last_seat_waits(
    client: aioredis.Redis, settings: Settings, agents: AgentStore
) -> None:
    await agents.presence("a1", "online", [], {"email": 1})
    racer = Interrupted(client, prefix=settings.topic_prefix)

    async def rival_takes_the_seat(picks: Sequence[tuple[AssignRequest, str]]) -> None:
        racer.meanwhile = None
        await agents.assign_many([req("T-rival")])

    racer.meanwhile = rival_takes_the_seat
    changes = await agents.changes()
    assert await racer.assign_many([req("T-1"), req("T-2")]) == [None, None]
    assert (await agents.load("a1", "email"), await agents.changes()) == (1, changes)


async def test_an_agent_leaving_before_the_claim_sends_the_ticket_elsewhere(
    client: aioredis.Redis, settings: Settings, agents: AgentStore
) -> None:
    await agents.presence("a1", "online", [], None)
    await agents.presence("a2", "online", [], None)
    racer = Interrupted(client, prefix=settings.topic_prefix)

    async def a1_leaves(picks: Sequence[tuple[AssignRequest, str]]) -> None:
        racer.meanwhile = None
        await agents.presence("a1", "offline", None, None)

    racer.meanwhile = a1_leaves
    assert await racer.assign_many([req("T-1")]) == ["a2"]
    assert await agents.load("a1", "email") == 0


async def test_claims_that_keep_losing_give_up_and_count_a_change(
    client: aioredis.Redis, settings: Settings, agents: AgentStore
) -> None:
    roster = [f"a{n}" for n in range(CLAIM_ROUNDS + 1)]
    for agent in roster:
        await agents.presence(agent, "online", [], None)
    racer = Interrupted(client, prefix=settings.topic_prefix)
    left: list[str] = []

    async def the_chosen_one_leaves(picks: Sequence[tuple[AssignRequest, str]]) -> None:
        [(_, agent)] = picks
        left.append(agent)
        await agents.presence(agent, "offline", None, None)

    racer.meanwhile = the_chosen_one_leaves
    changes = await agents.changes()
    assert await racer.assign_many([req("T-1")]) == [None]
    assert left == roster[:CLAIM_ROUNDS]  # one read and claim per round, then no more
    assert await agents.changes() == changes + CLAIM_ROUNDS + 1  # the leaves, and the give-up
    assert await agents.holders(["T-1"]) == [None]


async def test_a_batch_costs_two_round_trips(
    client: aioredis.Redis, agents: AgentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await agents.presence("a1", "online", [], {"email": 9})
    await agents.assign_many([req("T-warm")])  # the scripts are loaded now
    sent: list[Any] = []
    execute: Callable[..., Awaitable[Any]] = client.execute_command

    async def counted(*args: Any, **options: Any) -> Any:
        sent.append(args[0])
        return await execute(*args, **options)

    def no_pipeline(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a pipeline would add a SCRIPT EXISTS round trip")

    monkeypatch.setattr(agents_module, "ROSTER_REUSE_S", 60.0)  # however slow the machine
    monkeypatch.setattr(client, "execute_command", counted)
    monkeypatch.setattr(client, "pipeline", no_pipeline)
    assert await agents.assign_many([req(f"T-{n}") for n in range(5)]) == ["a1"] * 5
    # read (the agents were read just now: their tickets' holders only), claim
    assert sent == ["MGET", "EVALSHA"]
    sent.clear()
    assert await agents.assign_many([req("T-1"), req("T-2")]) == ["a1", "a1"]
    assert sent == ["MGET"]  # all held: read only
    await agents.release(["T-0"])  # a seat freed: the agents are read again
    sent.clear()
    assert await agents.assign_many([req("T-5")]) == ["a1"]
    assert sent == ["EVALSHA", "EVALSHA"]  # read every agent, claim


async def test_an_empty_batch_costs_nothing(agents: AgentStore) -> None:
    assert await agents.assign_many([]) == []
    assert await agents.claim([]) == []
    await agents.release([])


# --- roster.lua ------------------------------------------------------------------------


async def test_roster_reads_online_agents_with_loads_holders_and_pointers(
    agents: AgentStore,
) -> None:
    await agents.presence("a1", "online", ["b", "a"], {"chat": 2})
    await agents.presence("a2", "online", None, None)  # never stated skills or capacity
    await agents.presence("a3", "away", ["a"], None)
    await agents.assign_many([req("T-1", channel="chat", queue="q1")])
    roster = await agents.roster(
        ["chat", "email"], tickets=["T-1", "T-2", "T-1"], queues=["q1", "q2"]
    )
    by_id = {a.agent_id: a for a in roster.agents}
    assert sorted(by_id) == ["a1", "a2"]
    assert (by_id["a1"].skills, by_id["a1"].capacity) == (frozenset("ab"), {"chat": 2})
    assert by_id["a1"].load == {"chat": 1, "email": 0}
    assert (by_id["a2"].skills, by_id["a2"].capacity) == (frozenset(), {})
    assert by_id["a2"].load == {"chat": 0, "email": 0}
    assert roster.holders == {"T-1": "a1", "T-2": None}
    assert roster.pointers == {"q1": "a1", "q2": None}


async def test_roster_with_nobody_online(agents: AgentStore) -> None:
    await agents.presence("a1", "offline", ["x"], None)
    assert await agents.roster(["chat"], tickets=["T-1"]) == ([], {"T-1": None}, {})
    assert await agents.free_seats({"chat": 3}) == []


async def test_roster_sees_agents_who_came_online_since_its_last_read(
    client: aioredis.Redis, settings: Settings, agents: AgentStore
) -> None:
    await agents.presence("a1", "online", [], None)
    assert [a.agent_id for a in (await agents.roster(["chat"])).agents] == ["a1"]
    other = AgentStore(client, prefix=settings.topic_prefix)
    await other.presence("a2", "online", ["x"], {"chat": 4})
    await other.presence("a1", "offline", None, None)
    roster = await agents.roster(["chat"])
    assert [(a.agent_id, a.skills, a.capacity) for a in roster.agents] == [
        ("a2", frozenset({"x"}), {"chat": 4})
    ]


async def test_roster_under_a_login_storm_takes_the_agents_it_found_online(
    agents: AgentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone comes online before every read: after a few reads the roster is the agents
    found still online, not an error that stopped the sweep for as long as the storm
    lasted (those who came online meanwhile are in the next read)."""
    read = agents._roster  # noqa: SLF001 - the race is made between the store's calls
    comers = iter(range(READ_ROUNDS + 1))

    async def someone_comes_online(**call: Any) -> Any:
        await agents.presence(f"a{next(comers)}", "online", [], None)
        return await read(**call)

    monkeypatch.setattr(agents, "_roster", someone_comes_online)
    stormy = await agents.roster(["chat"])
    assert [a.agent_id for a in stormy.agents] == [f"a{i}" for i in range(READ_ROUNDS - 1)]
    monkeypatch.undo()
    assert len((await agents.roster(["chat"])).agents) == READ_ROUNDS


async def test_offers_right_after_a_read_reuse_its_agents_with_their_own_claims(
    agents: AgentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The walk reads every agent for its free seats, then offers page after page: each
    offer reads the tickets' holders and the pointers, not every agent again, and sees
    the seats the offers before it claimed."""
    monkeypatch.setattr(agents_module, "ROSTER_REUSE_S", 60.0)  # however slow the machine
    await agents.presence("a1", "online", [], {"email": 2})
    await agents.presence("a2", "online", [], {"email": 2})
    await agents.free_seats({"email": 2})
    reads = 0
    read = agents._roster  # noqa: SLF001 - counting the store's reads of every agent

    async def counted(**call: Any) -> Any:
        nonlocal reads
        reads += 1
        return await read(**call)

    monkeypatch.setattr(agents, "_roster", counted)
    first = await agents.assign_many([req("T-1")])
    second = await agents.assign_many([req("T-2")])
    assert (first, second, reads) == (["a1"], ["a2"], 0)  # least loaded: a1 holds one
    assert await agents.assign_many([req("T-1")]) == ["a1"]  # its holder, read each time
    await agents.presence("a2", "offline", None, None)  # the kept read does not know
    assert await agents.assign_many([req("T-3"), req("T-4")]) == ["a1", None]
    # a2's refused claim made the next round read every agent again: twice, as the online
    # set is no longer the one last read
    assert reads == 2


async def test_free_seats_count_stated_or_default_capacity_minus_load(
    agents: AgentStore,
) -> None:
    await agents.presence("a2", "online", ["x"], {"email": 3, "chat": 0})
    await agents.presence("a1", "online", [], None)
    await agents.assign_many([req("T-1", default_capacity=2), req("T-2", default_capacity=2)])
    seats = await agents.free_seats({"email": 2, "voice": 0})
    assert [s.agent_id for s in seats] == ["a1", "a2"]
    assert seats[0].free == {
        "email": 1,
        "chat": 1,
        "sms": 1,
        "whatsapp": 1,
        "messenger": 1,
        "webform": 1,
    }  # a1 took T-1 (least loaded, first id); no voice seat by default
    assert seats[1].skills == frozenset({"x"})
    assert seats[1].free["email"] == 2
    assert "chat" not in seats[1].free  # stated no seat


# --- claim.lua -------------------------------------------------------------------------


async def test_claim_records_load_holder_channel_and_pointer(
    client: aioredis.Redis, agents: AgentStore, key: Callable[[str], str]
) -> None:
    await agents.presence("a1", "online", [], {"chat": 1})
    assert await agents.claim([(req("T-1", channel="chat", queue="q"), "a1")]) == [
        Claim("claimed", "a1")
    ]
    assert await client.smembers(key("load:a1:chat")) == {b"T-1"}
    assert await client.get(key("holder:T-1")) == b"a1"
    assert await client.get(key("holder-channel:T-1")) == b"chat"
    assert await client.get(key("rr:q")) == b"a1"


async def test_claim_of_a_held_ticket_answers_its_holder_and_changes_nothing(
    agents: AgentStore,
) -> None:
    await agents.presence("a1", "online", [], {"email": 5})
    await agents.presence("a2", "online", [], {"email": 5})
    await agents.claim([(req("T-1", queue="q"), "a1")])
    assert await agents.claim([(req("T-1", queue="other"), "a2")]) == [Claim("held", "a1")]
    assert await agents.load("a2", "email") == 0
    assert (await agents.roster([], queues=["other"])).pointers == {"other": None}


async def test_claim_for_an_agent_not_online_is_refused(agents: AgentStore) -> None:
    await agents.presence("a1", "away", [], {"email": 5})
    assert await agents.claim([(req("T-1"), "a1"), (req("T-2"), "ghost")]) == [
        Claim("offline", "a1"),
        Claim("offline", "ghost"),
    ]
    assert await agents.holders(["T-1", "T-2"]) == [None, None]
    assert await agents.load("a1", "email") == 0


async def test_claim_on_a_full_agent_is_refused_by_its_stated_capacity(
    agents: AgentStore,
) -> None:
    await agents.presence("a1", "online", [], {"email": 1})
    refused = await agents.claim([(req("T-1", default_capacity=9), "a1"), (req("T-2"), "a1")])
    assert refused == [Claim("claimed", "a1"), Claim("full", "a1")]  # in order, in one step
    assert await agents.holders(["T-2"]) == [None]


async def test_claim_on_a_full_agent_is_refused_by_the_default_capacity(
    agents: AgentStore,
) -> None:
    await agents.presence("a1", "online", [], {"chat": 5})  # nothing stated for email
    await agents.claim([(req("T-1", default_capacity=1), "a1")])
    assert await agents.claim([(req("T-2", default_capacity=1), "a1")]) == [Claim("full", "a1")]
    assert await agents.claim([(req("T-2", default_capacity=2), "a1")]) == [Claim("claimed", "a1")]


# --- release.lua -----------------------------------------------------------------------


async def test_release_frees_the_seat_and_counts_one_change(
    client: aioredis.Redis, agents: AgentStore, key: Callable[[str], str]
) -> None:
    await agents.presence("a1", "online", [], {"email": 2})
    assert await agents.assign_many([req("T-1"), req("T-2")]) == ["a1", "a1"]
    assert await agents.assign_many([req("T-3")]) == [None]
    changes = await agents.changes()
    await agents.release(["T-1", "T-2"])
    assert await agents.changes() == changes + 1
    assert await agents.load("a1", "email") == 0
    assert await agents.holders(["T-1", "T-2"]) == [None, None]
    assert await client.exists(key("holder-channel:T-1"), key("holder-channel:T-2")) == 0
    assert await agents.assign_many([req("T-3")]) == ["a1"]


async def test_release_of_tickets_not_held_changes_nothing(agents: AgentStore) -> None:
    await agents.presence("a1", "online", [], {"email": 1})
    await agents.assign_many([req("T-1")])
    changes = await agents.changes()
    await agents.release(["T-unknown"])
    await agents.release(["T-1"])
    await agents.release(["T-1"])  # idempotent
    assert await agents.changes() == changes + 1
    assert await agents.load("a1", "email") == 0


async def test_release_of_a_holder_without_its_channel_still_lets_go(
    client: aioredis.Redis, agents: AgentStore, key: Callable[[str], str]
) -> None:
    await client.set(key("holder:T-old"), "a1")  # no holder-channel, as never written today
    changes = await agents.changes()
    await agents.release(["T-old"])
    assert await agents.holders(["T-old"]) == [None]
    assert await agents.changes() == changes + 1


async def test_release_frees_the_seat_of_whoever_holds_the_ticket_when_it_runs(
    client: aioredis.Redis, settings: Settings, agents: AgentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The holders are read before the seats are freed; a claim in between (the ticket
    released and taken by another agent) is seen, and the new holder's seat freed."""
    await agents.presence("a1", "online", [], {"email": 1})
    await agents.presence("a2", "online", [], {"email": 1})
    assert await agents.assign_many([req("T-1")]) == ["a1"]
    rival = AgentStore(client, prefix=settings.topic_prefix)
    free = agents._release  # noqa: SLF001 - the race is made between the store's calls
    calls = 0

    async def rival_moves_the_ticket_first(**call: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            assert await rival.release_seats(["T-1"]) == {"T-1": "a1"}
            assert await rival.claim([(req("T-1"), "a2")]) == [Claim("claimed", "a2")]
        return await free(**call)

    monkeypatch.setattr(agents, "_release", rival_moves_the_ticket_first)
    changes = await agents.changes()
    assert await agents.release_seats(["T-1", "T-1"]) == {"T-1": "a2"}
    assert (await agents.load("a1", "email"), await agents.load("a2", "email")) == (0, 0)
    assert await agents.holders(["T-1"]) == [None]
    assert await agents.changes() == changes + 2  # the rival's release, and this one


async def test_release_gives_up_when_the_holders_keep_changing(
    client: aioredis.Redis, settings: Settings, agents: AgentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await agents.presence("a1", "online", [], {"email": 1})
    await agents.presence("a2", "online", [], {"email": 1})
    assert await agents.assign_many([req("T-1")]) == ["a1"]
    rival = AgentStore(client, prefix=settings.topic_prefix)
    free = agents._release  # noqa: SLF001 - the race is made between the store's calls

    async def rival_moves_the_ticket_every_time(**call: Any) -> Any:
        [held_by] = await rival.holders(["T-1"])
        await rival.release(["T-1"])
        other = "a2" if held_by == "a1" else "a1"
        assert await rival.claim([(req("T-1"), other)]) == [Claim("claimed", other)]
        return await free(**call)

    monkeypatch.setattr(agents, "_release", rival_moves_the_ticket_every_time)
    with pytest.raises(BackendUnavailable):  # retriable: the batch is tried again
        await agents.release(["T-1"])
    loads = [await agents.load(a, "email") for a in ("a1", "a2")]
    assert sorted(loads) == [0, 1]  # held by one agent, counted once: nothing half done
    monkeypatch.undo()
    await agents.release(["T-1"])
    assert [await agents.load(a, "email") for a in ("a1", "a2")] == [0, 0]


async def test_the_agent_list_reads_its_own_set_and_adds_agents_recorded_before_it_once(
    agents: AgentStore, client: aioredis.Redis, key: Callable[[str], str]
) -> None:
    """``GET /v1/agents`` read every agent by scanning the whole keyspace: seconds on a
    database of a million customers. Agents now stand in one set; those recorded by an
    earlier version (a hash, no set) are found by one scan, once, and added."""
    await client.hset(key("agent:earlier"), mapping={"status": "away"})  # no set entry
    await agents.presence("ada", "online", ["billing"], {"email": 2})
    assert [r.agent_id for r in await agents.records()] == ["ada", "earlier"]
    assert await client.smembers(key("everyone")) == {b"ada", b"earlier"}
    # from now on the set is the list: a hash no presence announced is not scanned for
    await client.hset(key("agent:unannounced"), mapping={"status": "online"})
    await agents.presence("bo", "away", None, None)
    assert [r.agent_id for r in await agents.records()] == ["ada", "bo", "earlier"]


async def test_agents_an_earlier_version_records_after_the_index_are_listed(
    agents: AgentStore, client: aioredis.Redis, key: Callable[[str], str]
) -> None:
    """A router of an earlier version (a rolling upgrade, a rollback) records a presence
    in the agent's hash and the online set, not in the set of everyone: an agent it sets
    online is listed at once, one it sets away once the index lapses (within the hour)."""
    await agents.presence("ada", "online", ["billing"], {"email": 2})
    assert [r.agent_id for r in await agents.records()] == ["ada"]  # indexed now
    assert 0 < await client.ttl(key("everyone-indexed")) <= 3600
    await client.hset(key("agent:old-online"), mapping={"status": "online"})
    await client.sadd(key("online"), "old-online")
    await client.hset(key("agent:old-away"), mapping={"status": "away"})
    assert [r.agent_id for r in await agents.records()] == ["ada", "old-online"]
    await client.delete(key("everyone-indexed"))  # as when it lapses
    listed = [r.agent_id for r in await agents.records()]
    assert listed == ["ada", "old-away", "old-online"]
