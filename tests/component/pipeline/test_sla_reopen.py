"""A ticket resolved before its first response was due, then reopened after that due time
passed, on the real broker and valkey: its SLA clock did not run while it was resolved,
so the warning and breach that follow the reopen are dated after it (and the breach's due
with them), never back in the minutes the ticket spent resolved."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from router.app import roles
from router.ids import ticket_id as named_after
from router.settings import Settings
from router.topics import Topic
from tests.component.pipeline.conftest import run_switchboard
from tests.component.pipeline.test_next_response import of_type, wait_for
from tests.conftest import read_topic, values

pytestmark = pytest.mark.component

AUTH = {"authorization": "Bearer tok"}
RULES = """
version: 1
queues:
  general: {}
sla:
  fast:
    first_response: 6s
    warn_before: 3s
defaults: {queue: general, priority: normal, sla: fast}
"""


def when(value: str) -> datetime:
    return datetime.fromisoformat(value)


@pytest.mark.slow
async def test_a_reopened_ticket_is_warned_and_breached_after_the_reopen_only(
    settings: Settings, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    update = {"rules_path": rules, "api_tokens": SecretStr("tok")}
    async with run_switchboard(settings.model_copy(update=update), frozenset(roles.ROLES)) as sb:
        hello = {"email": "ines@example.com", "message": "where is my parcel?"}
        posted = await sb.http.post("/v1/channels/webform", json=hello)
        assert posted.status_code == 202
        ticket_id = named_after(posted.json()["id"])  # known as soon as it exists

        async def act(kind: str, **data: Any) -> int:
            body = {"type": kind, "data": {"ticket_id": ticket_id, **data}}
            resp = await sb.http.post("/v1/actions", json=body, headers=AUTH)
            assert resp.status_code in (202, 404), resp.text
            return resp.status_code

        # resolved (no public reply) the moment the router has opened it
        for _ in range(600):
            if await act("ticket.resolved", agent_id="z") == 202:
                break
            await asyncio.sleep(0.05)
        await wait_for(sb, Topic.TICKETS, lambda e: bool(of_type(e, "resolved")))
        # the first response's due time (6 s after the ticket opened) passes while resolved
        await asyncio.sleep(7)
        await act("ticket.reopened")
        await wait_for(sb, Topic.TICKETS, lambda e: bool(of_type(e, "sla_breached")))
        events = values(await read_topic(sb.settings, Topic.TICKETS, expect=1))

    [created] = of_type(events, "created")
    due = when(created["data"]["ticket"]["sla"]["first_response"]["due"])
    [resolved] = of_type(events, "resolved")
    assert when(resolved["time"]) < due  # resolved inside its target
    [reopened] = of_type(events, "reopened")
    reopened_at = when(reopened["time"])
    assert reopened_at > due
    clock = reopened["data"]["ticket"]["sla"]["first_response"]
    # the time left at the resolve is left from the reopen
    assert when(clock["due"]) - reopened_at == due - when(resolved["time"])
    after = events[events.index(reopened) + 1 :]
    fired = [e for e in after if e["type"].endswith(("sla_warning", "sla_breached"))]
    # the warning too, unless it fired before the resolve (a slow start)
    assert "sla_breached" in fired[-1]["type"]
    assert all(when(e["time"]) >= reopened_at for e in fired)
    assert len(of_type(events, "sla_warning")) <= 1
    [breach] = of_type(events, "sla_breached")
    assert breach["data"]["due"] == clock["due"]
    # nothing was due, so nothing fired, while the ticket was resolved
    between = events[events.index(resolved) + 1 : events.index(reopened)]
    assert not [e for e in between if "sla_" in e["type"]]
