"""next_response end to end on the real broker and valkey: after an agent's public reply the
customer writes again and nobody answers, so the next reply is warned, breached and
escalated exactly once each, and the sla metric counts it under that target."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from consumers.state.schedule import TimerSchedule
from router.app import roles
from router.redis import make_redis
from router.settings import Settings
from router.topics import Topic
from tests.component.pipeline.conftest import Running, run_switchboard
from tests.conftest import read_topic, values

pytestmark = pytest.mark.component

AUTH = {"authorization": "Bearer tok"}
# seconds, so the clocks run out while the test watches; the first response is far off
RULES = """
version: 1
queues:
  general: {}
  tier2: {}
sla:
  quick:
    first_response: 1h
    next_response: 3s
    warn_before: 2s
defaults: {queue: general, priority: normal, sla: quick}
escalations:
  - name: late next answer
    on: sla.next_response.breached
    then: {queue: tier2, priority: urgent, tags: [escalated]}
"""
SLA_EVENTS = {
    "switchboard.ticket.sla_warning",
    "switchboard.ticket.sla_breached",
    "switchboard.ticket.escalated",
}
Events = list[dict[str, Any]]


async def wait_for(
    running: Running, topic: Topic, done: Callable[[Events], bool], timeout: float = 30
) -> Events:
    """The records of ``topic`` once ``done`` holds for them (or what there is at the
    timeout, for the assertion to show)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    found: Events = []
    while loop.time() < deadline:
        found = values(await read_topic(running.settings, topic, expect=1, timeout=2))
        if done(found):
            break
        await asyncio.sleep(0.1)
    return found


async def wait_until_unscheduled(running: Running, ticket_id: str, timeout: float = 30) -> None:
    """Until the timer worker holds no next_response timer of the ticket: what fired is
    settled, so anything still to come would be a second firing."""
    client = make_redis(running.settings)
    key = TimerSchedule(client, prefix=running.settings.topic_prefix).key_of(ticket_id)
    members = [f"{ticket_id}|next_response|{kind}" for kind in ("warning", "breached")]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while loop.time() < deadline:
            if all(s is None for s in await client.zmscore(key, members)):
                return
            await asyncio.sleep(0.1)
        pytest.fail(f"next_response timers of {ticket_id} still scheduled after {timeout}s")
    finally:
        await client.aclose()


def of_type(events: Events, kind: str) -> Events:
    return [e for e in events if e["type"] == f"switchboard.ticket.{kind}"]


@pytest.mark.slow
async def test_unanswered_next_message_is_warned_breached_and_escalated_once(
    settings: Settings, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    update = {"rules_path": rules, "api_tokens": SecretStr("tok")}
    async with run_switchboard(settings.model_copy(update=update), frozenset(roles.ROLES)) as sb:
        hello = {"email": "noor@example.com", "message": "my order never arrived"}
        assert (await sb.http.post("/v1/channels/webform", json=hello)).status_code == 202
        created = await wait_for(sb, Topic.TICKETS, lambda e: bool(of_type(e, "created")))
        ticket_id = of_type(created, "created")[0]["data"]["ticket"]["id"]

        answer = {
            "type": "agent.replied",
            "data": {"ticket_id": ticket_id, "agent_id": "a1", "public": True},
        }
        resp = await sb.http.post("/v1/actions", json=answer, headers=AUTH)
        assert resp.status_code == 202, resp.text
        await wait_for(sb, Topic.TICKETS, lambda e: bool(of_type(e, "responded")))

        again = {"email": "noor@example.com", "message": "it is still not here"}
        assert (await sb.http.post("/v1/channels/webform", json=again)).status_code == 202
        await wait_for(
            sb,
            Topic.TICKETS,
            lambda e: {"sla_breached", "escalated"} <= {x["type"].rsplit(".", 1)[1] for x in e},
        )
        await wait_until_unscheduled(sb, ticket_id)
        events = values(await read_topic(sb.settings, Topic.TICKETS, expect=1))
        sla = await wait_for(
            sb,
            Topic.METRICS_SLA,
            lambda r: latest_next_response(r) == {"warned": 1, "breached": 1},
        )

    assert {e["data"]["ticket"]["id"] for e in events} == {ticket_id}
    fired = Counter(
        (e["type"].rsplit(".", 1)[1], e["data"].get("target"), e["data"].get("reason"))
        for e in events
        if e["type"] in SLA_EVENTS
    )
    assert fired == {
        ("sla_warning", "next_response", None): 1,
        ("sla_breached", "next_response", None): 1,
        ("escalated", None, "sla.next_response.breached"): 1,
    }

    [joined] = of_type(events, "message_added")
    clock = joined["data"]["ticket"]["sla"]["next_response"]
    assert clock["due"] is not None
    assert (clock["breached"], clock["met_at"]) == (False, None)
    [breach] = of_type(events, "sla_breached")
    assert breach["data"] == {**breach["data"], "policy": "quick", "due": clock["due"]}
    [escalated] = of_type(events, "escalated")
    assert escalated["data"]["matched"] == ["late next answer"]
    assert escalated["data"]["to"] == {"queue": "tier2", "priority": "urgent"}
    final = events[-1]["data"]["ticket"]
    assert (final["queue"], final["priority"]) == ("tier2", "urgent")
    assert final["sla"]["next_response"]["breached"] is True
    assert final["sla"]["first_response"]["met_at"] is not None

    assert latest_next_response(sla) == {"warned": 1, "breached": 1}


def latest_next_response(records: Events) -> dict[str, int]:
    """next_response counters summed over the newest revision of every record key."""
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    for r in records:
        if r["dimensions"].get("target") == "next_response":
            newest[(r["window"]["start"], str(sorted(r["dimensions"].items())))] = r
    total: Counter[str] = Counter()
    for r in newest.values():
        total.update(r["counters"])
    return {k: v for k, v in total.items() if v}  # 0: not counted
