"""The SLA timer worker: a ticket nobody answered is warned, breached and escalated,
exactly once each, and the sla and workload metrics count it."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from router.app import roles
from router.events import Customer, Interaction
from router.settings import Settings
from router.topics import Topic
from tests.component.pipeline.conftest import RULES, run_switchboard
from tests.component.pipeline.test_slice import _produce, interaction_event
from tests.conftest import read_topic, values

pytestmark = pytest.mark.component

SLA_EVENTS = {
    "switchboard.ticket.sla_warning",
    "switchboard.ticket.sla_breached",
    "switchboard.ticket.escalated",
}


async def wait_for_sla_events(settings: Settings, count: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for _ in range(60):
        events = values(await read_topic(settings, Topic.TICKETS, expect=1))
        if sum(e["type"] in SLA_EVENTS for e in events) >= count:
            break
        await asyncio.sleep(0.2)
    return events


async def test_unanswered_ticket_is_warned_breached_and_escalated_once(
    settings: Settings,
) -> None:
    settings = settings.model_copy(update={"rules_path": RULES})
    async with run_switchboard(settings, frozenset(roles.ROLES)) as running:
        # dated 2026-11-23 10:00: every SLA clock of this ticket ran out long ago
        old = interaction_event(
            "sla", Interaction(channel="chat", customer=Customer(email="sam@example.com"), text="?")
        )
        await _produce(running, old)
        await wait_for_sla_events(settings, 5)
        # a second overdue ticket: once its timers fired, the timers role ticked past the
        # first ticket's again, and nothing of the first may have fired twice
        later = interaction_event(
            "sla-2",
            Interaction(channel="chat", customer=Customer(email="kim@example.com"), text="?"),
        )
        await _produce(running, later)
        events = await wait_for_sla_events(settings, 10)
        first = next(
            e["subject"]
            for e in events
            if e["type"] == "switchboard.ticket.created"
            and e["data"]["interaction"]["customer"]["email"] == "sam@example.com"
        )
        events = [e for e in events if e["data"]["ticket"]["id"] == first]

    fired = Counter(
        (e["type"].rsplit(".", 1)[1], e["data"].get("target"))
        for e in events
        if e["type"] in SLA_EVENTS
    )
    assert fired == {
        ("sla_warning", "first_response"): 1,
        ("sla_breached", "first_response"): 1,
        ("escalated", None): 1,
        ("sla_warning", "resolution"): 1,
        ("sla_breached", "resolution"): 1,
    }
    breach = next(
        e
        for e in events
        if e["type"] == "switchboard.ticket.sla_breached"
        and e["data"]["target"] == "first_response"
    )
    assert breach["time"] == breach["data"]["due"] == "2026-11-23T14:00:00Z"
    escalated = next(e for e in events if e["type"] == "switchboard.ticket.escalated")
    assert escalated["data"]["reason"] == "sla.first_response.breached"
    assert escalated["data"]["matched"] == ["late first answer"]
    assert escalated["data"]["to"] == {"queue": "general", "priority": "urgent"}
    final = events[-1]["data"]["ticket"]
    assert final["priority"] == "urgent"
    assert "escalated" in final["tags"]
    assert final["sla"]["first_response"]["breached"] is True
    assert final["sla"]["resolution"]["breached"] is True

    sla = values(await read_topic(settings, Topic.METRICS_SLA, expect=1, timeout=15))
    latest = {}
    for record in sla:
        latest[(record["window"]["start"], record["dimensions"]["target"])] = record
    breached = latest[("2026-11-23T14:00:00Z", "first_response")]
    assert breached["counters"] == {"met": 0, "breached": 2, "warned": 0}  # both, once each
    assert breached["values"] == {"compliance": 0.0}
    assert breached["dimensions"]["policy"] == "standard"
