"""Rule authors edit the file; the running router picks it up, or keeps the last good rules."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from itertools import count
from pathlib import Path
from typing import Any

import pytest
import structlog

from router.settings import Settings
from router.topics import Topic
from tests.component.pipeline.conftest import RULES, Running, run_switchboard
from tests.conftest import read_topic, values

pytestmark = pytest.mark.component

NEW_RULE = """
  - name: cancellations to billing
    if: {text: {contains: [cancel]}}
    then: {queue: billing, tags: [churn-risk]}
"""


@pytest.fixture
async def editable(settings: Settings, tmp_path: Path) -> AsyncIterator[tuple[Running, Path]]:
    rules = tmp_path / "rules.yaml"
    shutil.copy(RULES, rules)
    async with run_switchboard(settings.model_copy(update={"rules_path": rules})) as running:
        yield running, rules


async def routed_for(running: Running, email: str) -> dict[str, Any]:
    """Post one message; the ``.routed`` data of the ticket it opened."""
    resp = await running.http.post(
        "/v1/channels/webform", json={"email": email, "message": "please cancel my plan"}
    )
    assert resp.status_code == 202
    for _ in range(50):
        events = values(await read_topic(running.settings, Topic.TICKETS, expect=1))
        ticket = next(
            (
                e["data"]["ticket"]["id"]
                for e in events
                if e["data"].get("interaction", {}).get("event_id") == resp.json()["id"]
            ),
            None,
        )
        for event in events:
            if event["type"] == "switchboard.ticket.routed" and event["subject"] == ticket:
                return event["data"]  # type: ignore[no-any-return]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no routed event for {email}")


async def routed_after_change(running: Running, before: str, n: count[int]) -> dict[str, Any]:
    """Post until the router shows a ruleset version other than ``before`` (bounded)."""
    for _ in range(30):
        routed = await routed_for(running, f"r{next(n)}@example.com")
        if routed["rules_version"] != before:
            return routed
        await asyncio.sleep(0.5)
    raise AssertionError("the router never picked up the new rules")


@pytest.mark.slow
async def test_a_saved_rule_file_is_picked_up_and_a_broken_one_is_not(
    editable: tuple[Running, Path],
) -> None:
    running, rules = editable
    n = count()
    first = await routed_for(running, f"r{next(n)}@example.com")
    assert first["matched"] == []

    rules.write_text(
        rules.read_text().replace("escalations:", NEW_RULE.lstrip("\n") + "escalations:")
    )
    second = await routed_after_change(running, first["rules_version"], n)
    assert second["matched"] == ["cancellations to billing"]
    assert second["rules_hash"] != first["rules_hash"]

    with structlog.testing.capture_logs() as logs:
        broken = "  - name: broken\n    if: {text: {nope: 1}}\nescalations:"
        rules.write_text(rules.read_text().replace("escalations:", broken))
        for _ in range(40):
            if any(e["event"] == "rules.reload_failed" for e in logs):
                break
            await asyncio.sleep(0.1)
    failed = [e for e in logs if e["event"] == "rules.reload_failed"]
    assert failed, "a broken file is reported"
    assert any(":" in err and "nope" in err for err in failed[0]["errors"])
    third = await routed_for(running, f"r{next(n)}@example.com")
    assert third["rules_version"] == second["rules_version"]
    assert third["matched"] == ["cancellations to billing"]
