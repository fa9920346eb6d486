"""Assignments that do not come from the waiting line: a rule's ``assign`` is an offer like
any other (``.assigned``, the seat, the accept timeout), and a transfer to another queue
takes the ticket from its assignee to the new queue's agents."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from consumers.state.agents import AgentStore
from router.app import roles
from router.redis import make_redis
from router.settings import Settings
from router.topics import Topic
from tests.component.pipeline.conftest import Running, run_switchboard
from tests.component.pipeline.test_assignment import until_online
from tests.conftest import read_topic, values

pytestmark = pytest.mark.component

AUTH = {"authorization": "Bearer tok"}
RULES = """\
version: 1
queues:
  general: {}
  billing: {skills: [billing]}
defaults: {queue: general}
assignment: {accept_timeout: %s}
rules:
  - name: maria takes vip
    if: {text: {contains: [vip]}}
    then: {assign: agent-maria}
"""


@asynccontextmanager
async def helpdesk(
    settings: Settings, tmp_path: Path, accept_timeout: str
) -> AsyncIterator[Running]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES % accept_timeout, encoding="utf-8")
    update = {"rules_path": rules, "api_tokens": SecretStr("tok")}
    async with run_switchboard(settings.model_copy(update=update), frozenset(roles.ROLES)) as r:
        yield r


async def act(running: Running, action: dict[str, Any]) -> None:
    resp = await running.http.post("/v1/actions", json=action, headers=AUTH)
    assert resp.status_code == 202, resp.text


async def online(running: Running, agent_id: str, skills: list[str]) -> None:
    data = {"agent_id": agent_id, "status": "online", "skills": skills, "capacity": {"webform": 1}}
    await act(running, {"type": "agent.presence", "data": data})
    await until_online(running, agent_id)


async def open_ticket(running: Running, email: str, text: str) -> str:
    resp = await running.http.post("/v1/channels/webform", json={"email": email, "message": text})
    assert resp.status_code == 202
    sent = resp.json()["id"]
    for _ in range(100):
        for event in values(await read_topic(running.settings, Topic.TICKETS, expect=1)):
            if event["data"].get("interaction", {}).get("event_id") == sent:
                return str(event["data"]["ticket"]["id"])
        await asyncio.sleep(0.1)
    raise AssertionError(f"no ticket for {email}")


def outcomes(events: list[dict[str, Any]], ticket_id: str) -> list[tuple[str, Any]]:
    """The assignment story of one ticket, in order: who was offered it, why it waits."""
    out: list[tuple[str, Any]] = []
    for e in events:
        kind = e["type"].rsplit(".", 1)[1]
        if e["data"]["ticket"]["id"] == ticket_id and kind in ("assigned", "queued"):
            out.append((kind, e["data"]["reason" if kind == "queued" else "agent_id"]))
    return out


async def story_until(
    running: Running, ticket_id: str, done: Callable[[list[tuple[str, Any]]], bool]
) -> tuple[list[tuple[str, Any]], list[dict[str, Any]]]:
    """The ticket's outcomes and records, read again until ``done`` holds (or 30 s)."""
    deadline = asyncio.get_running_loop().time() + 30
    seen: list[tuple[str, Any]] = []
    mine: list[dict[str, Any]] = []
    while asyncio.get_running_loop().time() < deadline:
        records = values(await read_topic(running.settings, Topic.TICKETS, expect=1))
        mine = [e for e in records if e["data"]["ticket"]["id"] == ticket_id]
        seen = outcomes(mine, ticket_id)
        if done(seen):
            break
        await asyncio.sleep(0.3)
    return seen, mine


async def holder(running: Running, ticket_id: str) -> str | None:
    client = make_redis(running.settings)
    try:
        [held] = await AgentStore(client, prefix=running.settings.topic_prefix).holders([ticket_id])
        return held
    finally:
        await client.aclose()


async def test_a_rules_assign_is_an_offer_that_times_out_back_to_the_line(
    settings: Settings, tmp_path: Path
) -> None:
    async with helpdesk(settings, tmp_path, "1s") as desk:
        await online(desk, "agent-maria", [])
        ticket_id = await open_ticket(desk, "vip@example.com", "vip here, invoice?")
        seen, records = await story_until(desk, ticket_id, lambda s: len(s) >= 1)
        assert seen[:1] == [("assigned", "agent-maria")]
        offer = next(e for e in records if e["type"].endswith(".assigned"))
        snapshot = offer["data"]["ticket"]
        assert snapshot["assignee"] == "agent-maria"
        assert snapshot["assigned_at"] is not None
        assert snapshot["accepted"] is False
        assert offer["data"]["strategy"] == "named"
        assert await holder(desk, ticket_id) == "agent-maria"  # her seat is taken

        # maria does not accept within the second: back in line, offered to a2 instead
        await online(desk, "a2", [])
        seen, _ = await story_until(desk, ticket_id, lambda s: len(s) >= 3)
        assert seen[:3] == [
            ("assigned", "agent-maria"),
            ("queued", "accept_timeout"),
            ("assigned", "a2"),
        ]
        assert await holder(desk, ticket_id) == "a2"


async def test_a_transfer_to_another_queue_goes_to_that_queues_agents(
    settings: Settings, tmp_path: Path
) -> None:
    async with helpdesk(settings, tmp_path, "10m") as desk:  # a1 accepts in time
        await online(desk, "a1", [])
        ticket_id = await open_ticket(desk, "kim@example.com", "my invoice is wrong")
        seen, _ = await story_until(desk, ticket_id, lambda s: len(s) >= 1)
        assert seen[:1] == [("assigned", "a1")]
        await act(
            desk,
            {"type": "assignment.accepted", "data": {"ticket_id": ticket_id, "agent_id": "a1"}},
        )
        await online(desk, "b1", ["billing"])

        transfer = {"ticket_id": ticket_id, "queue": "billing"}
        await act(desk, {"type": "ticket.transferred", "data": transfer})
        seen, records = await story_until(desk, ticket_id, lambda s: len(s) >= 3)
        assert seen[:3] == [("assigned", "a1"), ("queued", "transferred"), ("assigned", "b1")]
        moved = next(e for e in records if e["type"].endswith(".transferred"))
        assert moved["data"]["to"] == {"queue": "billing", "agent_id": None}
        assert moved["data"]["ticket"]["assignee"] is None
        assert await holder(desk, ticket_id) == "b1"  # a1's seat is free again


async def test_a_transfer_away_goes_to_another_agent_not_back_to_the_one_who_held_it(
    settings: Settings, tmp_path: Path
) -> None:
    """a1, who has billing's skills too, transferred the ticket to billing and was offered
    it straight back (least loaded, idle longest): b1 gets it."""
    async with helpdesk(settings, tmp_path, "10m") as desk:
        await online(desk, "a1", ["billing"])
        ticket_id = await open_ticket(desk, "lee@example.com", "my invoice is wrong")
        seen, _ = await story_until(desk, ticket_id, lambda s: len(s) >= 1)
        assert seen[:1] == [("assigned", "a1")]
        await act(
            desk,
            {"type": "assignment.accepted", "data": {"ticket_id": ticket_id, "agent_id": "a1"}},
        )
        await online(desk, "b1", ["billing"])

        transfer = {"ticket_id": ticket_id, "queue": "billing"}
        await act(desk, {"type": "ticket.transferred", "data": transfer})
        seen, _ = await story_until(desk, ticket_id, lambda s: len(s) >= 3)
        assert seen[:3] == [("assigned", "a1"), ("queued", "transferred"), ("assigned", "b1")]
        assert await holder(desk, ticket_id) == "b1"

        # to the queue it is in, with nobody named: nothing moves, nothing is published
        await act(desk, {"type": "ticket.transferred", "data": transfer})
        note = {"ticket_id": ticket_id, "text": "after the second transfer"}
        await act(desk, {"type": "ticket.note_added", "data": note})
        for _ in range(100):
            _, mine = await story_until(desk, ticket_id, bool)
            if any(e["data"].get("text") == note["text"] for e in mine):
                break
            await asyncio.sleep(0.1)
        assert [e["type"].rsplit(".", 1)[1] for e in mine].count("transferred") == 1
