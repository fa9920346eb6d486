"""An escalation to another queue is a transfer there: the assignee, who may lack the new
queue's skills, gives the ticket up, their seat is freed and the new queue's agents get
it. Before, the snapshot said ``tech-t2`` while the tier-1 agent kept the ticket and no
tier-2 agent ever saw it (the audit's repro with ``switchboard dev``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from consumers.state.agents import AgentStore
from router.app import roles
from router.redis import make_redis
from router.settings import Settings
from tests.component.pipeline.conftest import run_switchboard
from tests.component.pipeline.test_assignment_lifecycle import (
    act,
    holder,
    online,
    open_ticket,
    story_until,
)

pytestmark = pytest.mark.component

RULES = """\
version: 1
queues:
  general: {}
  tech: {skills: [tech]}
  tech-t2: {skills: [tech, tier2]}
sla:
  quick:
    first_response: 6s
defaults: {queue: general, sla: quick}
assignment: {accept_timeout: 10m}
rules:
  - name: tech
    if: {text: {contains: [router]}}
    then: {queue: tech}
escalations:
  - name: breach to tier 2
    on: sla.first_response.breached
    if: {queue: tech}
    then: {queue: tech-t2, priority: urgent, tags: [escalated]}
"""


@pytest.mark.slow
async def test_a_breach_escalated_to_tier_2_goes_to_a_tier_2_agent(
    settings: Settings, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    update = {"rules_path": rules, "api_tokens": SecretStr("tok")}
    async with run_switchboard(settings.model_copy(update=update), frozenset(roles.ROLES)) as sb:
        await online(sb, "tt", ["tech"])
        ticket_id = await open_ticket(sb, "ana@example.com", "my router is down")
        seen, _ = await story_until(sb, ticket_id, lambda s: len(s) >= 1)
        assert seen[:1] == [("assigned", "tt")]
        accept = {"ticket_id": ticket_id, "agent_id": "tt"}
        await act(sb, {"type": "assignment.accepted", "data": accept})
        await online(sb, "t2", ["tech", "tier2"])  # after tt took it: the line chose tt

        seen, records = await story_until(sb, ticket_id, lambda s: len(s) >= 3)
        assert seen[:3] == [("assigned", "tt"), ("queued", "escalated"), ("assigned", "t2")]
        escalated = next(e for e in records if e["type"].endswith(".escalated"))
        assert escalated["data"]["to"] == {"queue": "tech-t2", "priority": "urgent"}
        snapshot = escalated["data"]["ticket"]
        assert (snapshot["queue"], snapshot["assignee"]) == ("tech-t2", None)
        assert await holder(sb, ticket_id) == "t2"
        client = make_redis(sb.settings)
        try:
            agents = AgentStore(client, prefix=sb.settings.topic_prefix)
            assert await agents.load("tt", "webform") == 0  # tt's seat is free again
        finally:
            await client.aclose()


REROUTING = """\
version: 1
queues:
  general: {}
  tech: {skills: [tech]}
  billing: {skills: [billing]}
defaults: {queue: general}
assignment: {accept_timeout: 10m}
rules:
  - name: tech
    on: [ticket.created]
    if: {text: {contains: [router]}}
    then: {queue: tech}
  - name: billing follow-up
    on: [message.received]
    if: {text: {contains: [invoice]}}
    then: {queue: billing}
"""


async def test_a_rule_that_moves_a_ticket_on_a_new_message_hands_it_to_that_queue(
    settings: Settings, tmp_path: Path
) -> None:
    """The same for a routing rule on ``message.received``: the tech agent who accepted
    the ticket has no billing skills, so it goes to the billing agent."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(REROUTING, encoding="utf-8")
    update = {"rules_path": rules, "api_tokens": SecretStr("tok")}
    async with run_switchboard(settings.model_copy(update=update), frozenset(roles.ROLES)) as sb:
        await online(sb, "tt", ["tech"])
        await online(sb, "bb", ["billing"])
        ticket_id = await open_ticket(sb, "ana@example.com", "my router is down")
        seen, _ = await story_until(sb, ticket_id, lambda s: len(s) >= 1)
        assert seen[:1] == [("assigned", "tt")]
        await act(
            sb, {"type": "assignment.accepted", "data": {"ticket_id": ticket_id, "agent_id": "tt"}}
        )
        again = {"email": "ana@example.com", "message": "also, my invoice is wrong"}
        assert (await sb.http.post("/v1/channels/webform", json=again)).status_code == 202

        seen, records = await story_until(sb, ticket_id, lambda s: len(s) >= 3)
        assert seen[:3] == [("assigned", "tt"), ("queued", "rerouted"), ("assigned", "bb")]
        routed = [e for e in records if e["type"].endswith(".routed")]
        assert routed[-1]["data"]["ticket"]["queue"] == "billing"
        assert await holder(sb, ticket_id) == "bb"
