"""A rules reload that drops a queue: the tickets waiting in it are offered to nobody
(no agent's skills can be checked against a queue the rules no longer have) and wait,
logged once for the platform team, while the rest of the line is served; a later reload
that brings the queue back serves them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import structlog
from pydantic import SecretStr

from router.settings import Settings
from router.topics import Topic
from tests.component.pipeline.conftest import Running, run_switchboard
from tests.conftest import read_topic, values

pytestmark = pytest.mark.component

AUTH = {"authorization": "Bearer tok"}
QUEUED = "switchboard.ticket.queued"
ASSIGNED = "switchboard.ticket.assigned"
WITH_VIP = """\
version: 1
queues:
  tech: {skills: [tech]}
  vip: {skills: [vip]}
sla:
  relaxed: {first_response: 1d, resolution: 7d}
defaults: {queue: tech, priority: normal, sla: relaxed}
assignment: {strategy: round_robin}
rules:
  - name: platinum customers
    if: {text: {contains: [platinum]}}
    then: {queue: vip}
"""
WITHOUT_VIP = """\
version: 1
queues:
  tech: {skills: [tech]}
sla:
  relaxed: {first_response: 1d, resolution: 7d}
defaults: {queue: tech, priority: normal, sla: relaxed}
assignment: {strategy: round_robin}
rules: []
"""


async def tickets_until(
    settings: Settings, done: Callable[[list[dict[str, Any]]], bool], *, within: float = 15
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + within
    events: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        events = values(await read_topic(settings, Topic.TICKETS, expect=1, settle=0.1))
        if done(events):
            break
        await asyncio.sleep(0.2)
    return events


def assigned_to(events: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Ticket id -> the agents it was offered to, in order."""
    out: dict[str, list[str]] = {}
    for e in events:
        if e["type"] == ASSIGNED:
            out.setdefault(e["data"]["ticket"]["id"], []).append(e["data"]["ticket"]["assignee"])
    return out


async def until_logged(logs: list[dict[str, Any]], event: str, n: int = 1) -> list[dict[str, Any]]:
    for _ in range(200):
        found = [e for e in logs if e["event"] == event]
        if len(found) >= n:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"never logged {event} ({n})")


async def post(desk: Running, path: str, body: dict[str, Any]) -> str:
    resp = await desk.http.post(path, json=body, headers=AUTH)
    assert resp.status_code == 202, resp.text
    return str(resp.json().get("id", ""))


async def online(desk: Running, agent: str, skills: list[str]) -> None:
    data = {"agent_id": agent, "status": "online", "skills": skills}
    await post(desk, "/v1/actions", {"type": "agent.presence", "data": data})


@pytest.mark.slow
async def test_tickets_of_a_dropped_queue_wait_for_its_skills_while_the_line_moves(
    settings: Settings, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(WITH_VIP)
    update = {"rules_path": rules, "api_tokens": SecretStr("tok")}
    run = frozenset({"ingress", "router", "timers"})
    async with run_switchboard(settings.model_copy(update=update), run) as desk:
        # the vip ticket first: it is ahead of the tech one in line
        for email, text in (("vip@example.com", "platinum help"), ("t@example.com", "hello")):
            await post(desk, "/v1/channels/webform", {"email": email, "message": text})
        events = await tickets_until(settings, lambda ev: sum(e["type"] == QUEUED for e in ev) >= 2)
        queue_of = {
            e["data"]["ticket"]["id"]: e["data"]["queue"] for e in events if e["type"] == QUEUED
        }
        vip = next(t for t, q in queue_of.items() if q == "vip")
        tech = next(t for t, q in queue_of.items() if q == "tech")

        with structlog.testing.capture_logs() as logs:
            rules.write_text(WITHOUT_VIP)
            [reloaded] = await until_logged(logs, "rules.reloaded")
            for agent in ("a1", "a2"):
                await online(desk, agent, ["tech"])
            events = await tickets_until(settings, lambda ev: tech in assigned_to(ev))
            assert vip not in assigned_to(events), "offered without the vip skills"
            [warned] = await until_logged(logs, "queue_not_in_rules")
            # more sweeps with the dropped queue still in line: still one warning
            await online(desk, "a3", ["billing"])
            events = values(await read_topic(settings, Topic.TICKETS, expect=1))
            assert vip not in assigned_to(events), "offered without the vip skills"
            assert assigned_to(events)[tech] in (["a1"], ["a2"])
            assert {k: warned[k] for k in ("queue", "waiting", "rules_version")} == {
                "queue": "vip",
                "waiting": 1,
                "rules_version": reloaded["version"],
            }
            assert len([e for e in logs if e["event"] == "queue_not_in_rules"]) == 1

            # the queue comes back: its ticket is served by an agent with its skills
            rules.write_text(WITH_VIP)
            await until_logged(logs, "rules.reloaded", 2)
            await online(desk, "v1", ["vip"])
            events = await tickets_until(settings, lambda ev: vip in assigned_to(ev))
    assert assigned_to(events)[vip] == ["v1"]
