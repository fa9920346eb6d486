"""The facts a rule sees in the router: every documented ``ticket.<field>``, and the
CRM profile's attributes by name (``customer.plan``), as rules files use them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from consumers.domain.threading import place
from router.events import Customer, Interaction, SlaClock, Ticket
from router.ids import customer_id_for
from rules import loads_ruleset
from rules.facts import NEW_TICKET_ID, facts
from rules.fields import TICKET_FIELDS
from rules.replay import INTERACTION_TYPE, facts_from

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


ROUTED = [
    Interaction(
        channel="email",
        customer=Customer(email="Ada@Example.com", name="Ada"),
        inbox="support@acme.example",
        subject="Export",
        text="The export fails",
    ),
    Interaction(channel="sms", customer=Customer(phone="+4915112345678"), text="hi"),
    Interaction(channel="chat", customer=Customer(handles={"chat": "v-9"}), inbox="web"),
    Interaction(channel="webform", customer=Customer(), text="no identity at all"),
]


@pytest.mark.parametrize("interaction", ROUTED, ids=lambda i: i.channel)
def test_tools_see_a_new_ticket_as_the_router_builds_it(interaction: Interaction) -> None:
    """``rules explain/simulate/test`` read an inbound event to the same ``ticket.*`` and
    ``customer.id`` facts the router evaluates for the ticket it opens (a new customer),
    so ``{ticket.inbox: ...}`` or ``{customer.id: {exists: true}}`` match in both."""

    event_id = f"evt-{interaction.channel}"
    # the router resolves the customer from the inbound record's key (the sender key)
    identity = (interaction.customer.identities() or [interaction.sender_key()])[0]
    placed = place(
        interaction,
        None,
        event_id=event_id,
        customer_id=customer_id_for(identity),  # the tools' stand-in for a new one
        at=AT,
        reopen_window=timedelta(days=7),
        rules=loads_ruleset("version: 1\nqueues: {general: {}}\ndefaults: {queue: general}\n"),
    )
    assert placed.ticket is not None
    router = facts(placed.ticket, interaction)
    envelope = {
        "specversion": "1.0",
        "id": event_id,
        "type": INTERACTION_TYPE,
        "source": f"/channels/{interaction.channel}",
        "time": "2026-03-02T10:00:00Z",
        "data": interaction.model_dump(mode="json", exclude_none=True),
    }
    found = facts_from(envelope)
    assert found is not None
    tools = found[0]
    assert tools["ticket"] == router["ticket"]
    assert tools["ticket"]["id"] is not None
    assert tools["ticket"]["customer_id"] is not None
    assert tools["customer"]["id"] == router["customer"]["id"]
    assert tools["inbox"] == router["inbox"]


def test_plain_facts_without_an_event_get_a_placeholder_id_and_a_stand_in_customer() -> None:
    seen = facts(None, {"channel": "email", "customer": {"email": "ada@example.com"}})
    assert seen["ticket"]["id"] == NEW_TICKET_ID
    assert seen["customer"]["id"] == customer_id_for("email:ada@example.com")
    assert seen["ticket"]["customer_id"] == seen["customer"]["id"]
    named = facts(None, {"channel": "email", "customer": {"id": "C-42"}})
    assert (named["customer"]["id"], named["ticket"]["customer_id"]) == ("C-42", "C-42")
