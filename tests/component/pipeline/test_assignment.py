"""Assignment by skills and capacity, waiting in line, and capacity freed by resolution."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from consumers.domain.assignment import AssignRequest
from consumers.state.agents import AgentStore
from router.app import roles
from router.redis import make_redis
from router.settings import Settings
from router.topics import Topic
from tests.component.pipeline.conftest import RULES, Running, run_switchboard
from tests.conftest import read_topic, values

pytestmark = pytest.mark.component

AUTH = {"authorization": "Bearer tok"}


@pytest.fixture
async def agents(settings: Settings) -> AsyncIterator[AgentStore]:
    client = make_redis(settings)
    yield AgentStore(client, prefix=settings.topic_prefix)
    await client.aclose()


async def test_store_respects_skills_capacity_and_strategy(agents: AgentStore) -> None:
    await agents.presence("a1", "online", ["billing"], {"email": 1})
    await agents.presence("a2", "online", ["billing", "tech"], {"email": 2})
    await agents.presence("a3", "away", ["billing", "tech"], {"email": 5})

    def assign(ticket: str, skills: set[str], strategy: str = "least_loaded") -> Any:
        return agents.assign(
            ticket,
            "email",
            queue="q",
            skills=frozenset(skills),
            strategy=strategy,
            default_capacity=1,
        )

    assert await assign("T1", {"tech"}) == "a2"  # only a2 is online with tech
    assert await assign("T1", {"tech"}) == "a2"  # idempotent per ticket
    assert await agents.load("a2", "email") == 1
    assert await assign("T2", {"billing"}) == "a1"  # a1 has 0 load, a2 has 1
    assert await assign("T3", {"billing"}) == "a2"  # a1 is full (capacity 1)
    assert await assign("T4", {"billing"}) is None  # everyone full, a3 is away
    await agents.release(["T2"])
    await agents.release(["T2"])  # idempotent
    assert await agents.load("a1", "email") == 0
    assert await assign("T4", {"billing"}) == "a1"


async def test_a_seat_a_rule_gave_is_counted_and_the_idle_longest_wins_ties(
    agents: AgentStore,
) -> None:
    def next_ticket(ticket: str) -> Any:
        return agents.assign(
            ticket,
            "email",
            queue="q",
            skills=frozenset(),
            strategy="least_loaded",
            default_capacity=1,
        )

    await agents.presence("m1", "online", [], {"email": 1})
    await agents.presence("m2", "online", [], {"email": 1})
    named = AssignRequest("T-rule", "email", "q", frozenset(), "least_loaded", 1)
    [claimed] = await agents.claim([(named, "m2")], force=True)
    assert claimed.outcome == "claimed"
    [again] = await agents.claim([(named, "m2")], force=True)
    assert again.outcome == "held"  # counted once
    assert await agents.load("m2", "email") == 1
    assert await next_ticket("T-next") == "m1"  # m2's seat holds the rule's ticket
    # a rule may name an agent who is away or full: the seat still counts
    await agents.presence("m3", "away", [], {"email": 1})
    for ticket in ("T-a", "T-b"):
        request = AssignRequest(ticket, "email", "q", frozenset(), "least_loaded", 1)
        [forced] = await agents.claim([(request, "m3")], force=True)
        assert forced.outcome == "claimed"
    assert await agents.load("m3", "email") == 2
    # both free again, equal occupancy: m2 got its ticket first, so it was idle longest
    await agents.release(["T-rule", "T-next"])
    assert await next_ticket("T-tie") == "m2"


async def test_round_robin_takes_turns(agents: AgentStore) -> None:
    for agent in ("r1", "r2"):
        await agents.presence(agent, "online", ["x"], {"chat": 5})
    picked = [
        await agents.assign(
            f"T{i}",
            "chat",
            queue="rr",
            skills=frozenset({"x"}),
            strategy="round_robin",
            default_capacity=1,
        )
        for i in range(4)
    ]
    assert picked == ["r1", "r2", "r1", "r2"]


@pytest.fixture
async def desk(settings: Settings) -> AsyncIterator[Running]:
    update = {"rules_path": RULES, "api_tokens": SecretStr("tok")}
    async with run_switchboard(settings.model_copy(update=update), frozenset(roles.ROLES)) as r:
        yield r


async def lifecycle(running: Running, expect: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for _ in range(50):
        events = [
            e
            for e in values(await read_topic(running.settings, Topic.TICKETS, expect=1))
            if e["type"].endswith((".assigned", ".queued"))
        ]
        if len(events) >= expect:
            break
        await asyncio.sleep(0.1)
    return events


def outcomes(events: list[dict[str, Any]], ticket_id: str) -> list[tuple[str, Any]]:
    """What happened to one ticket, in order (the topic orders records per ticket)."""
    out: list[tuple[str, Any]] = []
    for e in events:
        if e["data"]["ticket"]["id"] == ticket_id:
            kind = e["type"].rsplit(".", 1)[1]
            out.append((kind, e["data"]["reason" if kind == "queued" else "agent_id"]))
    return out


async def test_tickets_wait_for_a_free_agent_and_move_on_decline(desk: Running) -> None:
    presence = {
        "type": "agent.presence",
        "data": {
            "agent_id": "a1",
            "status": "online",
            "skills": ["billing"],
            "capacity": {"webform": 1},
        },
    }
    assert (await desk.http.post("/v1/actions", json=presence, headers=AUTH)).status_code == 202
    await until_online(desk, "a1")
    first_id = await open_ticket(desk, "x@example.com")
    waiting_id = await open_ticket(desk, "y@example.com")
    events = await lifecycle(desk, 2)
    assert outcomes(events, first_id) == [("assigned", "a1")]
    assert outcomes(events, waiting_id) == [
        ("queued", "no online agent with the skills and capacity")
    ]

    resolve = {"type": "ticket.resolved", "data": {"ticket_id": first_id}}
    assert (await desk.http.post("/v1/actions", json=resolve, headers=AUTH)).status_code == 202
    events = await lifecycle(desk, 3)
    assert outcomes(events, waiting_id)[-1] == ("assigned", "a1")

    decline = {
        "type": "assignment.declined",
        "data": {"ticket_id": waiting_id, "agent_id": "a1"},
    }
    assert (await desk.http.post("/v1/actions", json=decline, headers=AUTH)).status_code == 202
    events = await lifecycle(desk, 4)
    assert outcomes(events, waiting_id)[-1] == ("queued", "declined")
    # a1 is free but declined it: the next ticket, behind it in line, gets a1 instead
    later_id = await open_ticket(desk, "z@example.com")
    events = await lifecycle(desk, 5)
    assert outcomes(events, later_id) == [("assigned", "a1")]
    assert outcomes(events, waiting_id)[-1] == ("queued", "declined")

    presence["data"]["agent_id"] = "a2"  # type: ignore[index]
    assert (await desk.http.post("/v1/actions", json=presence, headers=AUTH)).status_code == 202
    events = await lifecycle(desk, 6)
    assert outcomes(events, waiting_id)[-1] == ("assigned", "a2")
    ticket = [e for e in events if e["data"]["ticket"]["id"] == waiting_id][-1]["data"]["ticket"]
    assert (ticket["assignee"], ticket["assignment_round"], ticket["declined_by"]) == (
        "a2",
        1,
        ["a1"],
    )


async def test_a_ticket_followed_up_on_another_channel_waits_for_a_seat_there(
    desk: Running,
) -> None:
    """A web form nobody has a web-form seat for, followed up by chat from the same
    customer: the conversation is a chat now, and the agent with a free chat seat gets it."""
    presence = {
        "type": "agent.presence",
        "data": {
            "agent_id": "a-chat",
            "status": "online",
            "skills": ["billing"],
            "capacity": {"webform": 0, "chat": 2},
        },
    }
    assert (await desk.http.post("/v1/actions", json=presence, headers=AUTH)).status_code == 202
    await until_online(desk, "a-chat")
    ticket_id = await open_ticket(desk, "switcher@example.com")
    events = await lifecycle(desk, 1)
    assert outcomes(events, ticket_id) == [
        ("queued", "no online agent with the skills and capacity")
    ]
    chat = {
        "conversation_id": "conv-switch",
        "visitor": {"id": "v-switch", "email": "switcher@example.com"},
        "text": "any news on my invoice?",
    }
    assert (await desk.http.post("/v1/channels/chat", json=chat)).status_code == 202
    events = await lifecycle(desk, 2)
    assert outcomes(events, ticket_id)[-1] == ("assigned", "a-chat")
    ticket = [e for e in events if e["data"]["ticket"]["id"] == ticket_id][-1]["data"]["ticket"]
    assert (ticket["channel"], ticket["last_channel"]) == ("webform", "chat")


async def until_online(running: Running, agent_id: str) -> None:
    """Wait until the router applied the agent's presence."""
    client = make_redis(running.settings)
    try:
        store = AgentStore(client, prefix=running.settings.topic_prefix)
        for _ in range(150):
            if any(a.agent_id == agent_id for a in await store.free_seats({})):
                return
            await asyncio.sleep(0.1)
    finally:
        await client.aclose()
    raise AssertionError(f"{agent_id} never came online")


async def statuses(running: Running, agent_ids: list[str]) -> dict[str, str]:
    """The agents' presence as GET /v1/agents reports it."""
    client = make_redis(running.settings)
    try:
        store = AgentStore(client, prefix=running.settings.topic_prefix)
        return {a.agent_id: a.status for a in await store.records(agent_ids)}
    finally:
        await client.aclose()


async def open_ticket(running: Running, email: str) -> str:
    resp = await running.http.post(
        "/v1/channels/webform", json={"email": email, "message": "invoice?"}
    )
    assert resp.status_code == 202
    for _ in range(50):
        for event in values(await read_topic(running.settings, Topic.TICKETS, expect=1)):
            if event["data"].get("interaction", {}).get("event_id") == resp.json()["id"]:
                return str(event["data"]["ticket"]["id"])
        await asyncio.sleep(0.1)
    raise AssertionError(f"no ticket for {email}")


@pytest.mark.slow
async def test_an_unaccepted_offer_moves_on_and_comes_back_when_its_agent_does(
    settings: Settings, tmp_path: Path
) -> None:
    """a1 lets the offer time out: a2 gets it; a2 does too: it waits in line, and both
    are set away by their timeouts. a1 comes back online, nobody else can take it: a1 is
    offered it again at once, skipped or not (it had waited out a1's skip, five accept
    timeouts, while a1 was serving newer tickets)."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "rules.yaml").write_text(
        "version: 1\nqueues: {general: {}}\ndefaults: {queue: general}\n"
        "assignment: {accept_timeout: 1s}\n",
        encoding="utf-8",
    )
    update = {"rules_path": rules, "api_tokens": SecretStr("tok")}
    async with run_switchboard(settings.model_copy(update=update), frozenset(roles.ROLES)) as r:
        for agent in ("a1", "a2"):
            presence = {
                "type": "agent.presence",
                "data": {"agent_id": agent, "status": "online", "capacity": {"webform": 1}},
            }
            resp = await r.http.post("/v1/actions", json=presence, headers=AUTH)
            assert resp.status_code == 202
            await until_online(r, agent)
        ticket_id = await open_ticket(r, "t@example.com")
        deadline = asyncio.get_running_loop().time() + 40
        seen: list[tuple[str, Any]] = []
        back = False
        while len(seen) < 5 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.5)
            records = values(await read_topic(r.settings, Topic.TICKETS, expect=1))
            seen = outcomes(
                [e for e in records if e["type"].endswith((".assigned", ".queued"))], ticket_id
            )
            if len(seen) >= 4 and not back:  # both timed out, so both were set away
                assert await statuses(r, ["a1", "a2"]) == {"a1": "away", "a2": "away"}
                presence = {
                    "type": "agent.presence",
                    "data": {"agent_id": "a1", "status": "online"},
                }
                resp = await r.http.post("/v1/actions", json=presence, headers=AUTH)
                assert resp.status_code == 202
                back = True
    assert seen[:5] == [
        ("assigned", "a1"),
        ("queued", "accept_timeout"),
        ("assigned", "a2"),  # a2 first: a1 is skipped while another agent can take it
        ("queued", "accept_timeout"),  # nobody left to offer it to: it waits in line
        ("assigned", "a1"),  # a1 is back: the ticket comes back to them
    ]
