"""The facts a rule sees in the router: every documented ``ticket.<field>``, and the
CRM profile's attributes by name (``customer.plan``), as rules files use them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from router.events import Customer, Interaction, SlaClock, Ticket
from rules import loads_ruleset
from rules.facts import facts
from rules.fields import TICKET_FIELDS

pytestmark = pytest.mark.unit

AT = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
TICKET = Ticket(
    id="T-1",
    channel="email",
    channels_seen=["email", "chat"],
    customer_id="C-1",
    queue="tech",
    assignee="a-7",
    agent_replies=2,
    sla_policy="standard",
    sla={"first_response": SlaClock(due=AT, breached=True)},
    created_at=AT,
    updated_at=AT,
)
MESSAGE = Interaction(channel="email", customer=Customer(email="ada@example.com"), text="hi")


def test_every_ticket_field_a_rule_may_name_has_its_value() -> None:
    seen = facts(TICKET, MESSAGE)["ticket"]
    assert set(seen) == set(TICKET_FIELDS)
    assert (seen["agent_replies"], seen["assignee"], seen["channels_seen"]) == (
        2,
        "a-7",
        ["email", "chat"],
    )
    assert seen["sla"]["first_response"]["breached"] is True
    assert seen["created_at"] == "2026-03-02T10:00:00Z"


def test_crm_attributes_are_customer_fields_by_name() -> None:
    """``customer.upserted {attributes: {plan: enterprise}}`` makes ``customer.plan``."""
    profile = {"tier": "gold", "attributes": {"plan": "enterprise"}}
    ruleset = loads_ruleset(
        """
version: 1
queues: {general: {}, tech-t2: {}}
defaults: {queue: general}
rules:
  - name: tier 2
    if: {customer.plan: {in: [business, enterprise]}, ticket.agent_replies: {gte: 2}}
    then: {queue: tech-t2}
"""
    )
    seen = facts(TICKET, MESSAGE, profile)
    assert (seen["customer"]["plan"], seen["customer"]["tier"]) == ("enterprise", "gold")
    assert seen["customer"]["email"] == "ada@example.com"  # the message's own word wins
    assert ruleset.evaluate(seen, now=AT).queue == "tech-t2"
