"""Escalation rules see what routing rules see: the CRM profile and the ticket's last
customer message, not just the ticket. Before, an escalation on ``customer.tier`` never
matched in production although ``rules explain`` said it would."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from router.app import roles
from router.settings import Settings
from router.topics import Topic
from tests.component.pipeline.conftest import run_switchboard
from tests.component.pipeline.test_next_response import AUTH, of_type, wait_for

pytestmark = pytest.mark.component

RULES = """
version: 1
queues:
  general: {}
  vip: {}
sla:
  quick:
    first_response: 2s
defaults: {queue: general, priority: normal, sla: quick}
escalations:
  - name: gold customers waiting
    on: sla.first_response.breached
    if: {customer.tier: gold, metadata.category: billing, text: {contains: Rechnung}}
    then: {queue: vip, priority: urgent}
"""


async def test_an_escalation_matches_on_the_profile_and_the_last_message(
    settings: Settings, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    update = {"rules_path": rules, "api_tokens": SecretStr("tok")}
    async with run_switchboard(settings.model_copy(update=update), frozenset(roles.ROLES)) as sb:
        crm = {"type": "customer.upserted", "data": {"email": "lea@example.de", "tier": "gold"}}
        assert (await sb.http.post("/v1/actions", json=crm, headers=AUTH)).status_code == 202
        plain = {"type": "customer.upserted", "data": {"email": "max@example.de"}}
        assert (await sb.http.post("/v1/actions", json=plain, headers=AUTH)).status_code == 202
        for email in ("lea@example.de", "max@example.de"):
            form = {"email": email, "message": "Wo bleibt meine Rechnung?", "category": "billing"}
            assert (await sb.http.post("/v1/channels/webform", json=form)).status_code == 202
        events = await wait_for(sb, Topic.TICKETS, lambda e: len(of_type(e, "sla_breached")) >= 2)

    email_of = {
        e["subject"]: e["data"]["interaction"]["customer"]["email"]
        for e in of_type(events, "created")
    }
    assert sorted(email_of.values()) == ["lea@example.de", "max@example.de"]
    escalated = of_type(events, "escalated")
    assert [email_of[e["subject"]] for e in escalated] == ["lea@example.de"]
    assert escalated[0]["data"]["matched"] == ["gold customers waiting"]
    assert escalated[0]["data"]["to"] == {"queue": "vip", "priority": "urgent"}
