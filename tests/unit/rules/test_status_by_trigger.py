"""Each trigger finds the ticket in a few statuses only when the rules run: a message
has moved a pending ticket back to open, a reopen made it open, and an accept timeout
follows an offer, which made a new ticket open. ``rules check`` warns of a status
condition none of them holds, and the offline tools see the ticket as the router does."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rules import loads_ruleset
from rules.analysis import find_warnings
from rules.replay import facts_from, opened_at

pytestmark = pytest.mark.unit

RULES = """version: 1
queues: {general: {}}
defaults: {queue: general}
rules:
  - {name: msg on pending, on: message.received, if: {ticket.status: pending}, then: {tags: [p]}}
  - {name: msg on open, on: message.received, if: {status: open}, then: {tags: [o]}}
  - {name: reopen from resolved, on: ticket.reopened, if: {status: resolved}, then: {tags: [r]}}
escalations:
  - {name: timeout while new, on: assignment.timeout, if: {status: new}, then: {tags: [n]}}
  - {name: timeout while open, on: assignment.timeout, if: {status: open}, then: {tags: [t]}}
  - name: breach while pending
    on: sla.first_response.breached
    if: {status: pending}
    then: {tags: [b]}
"""
AT = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def test_rules_check_names_the_status_conditions_no_trigger_finds() -> None:
    said = [w.message for w in find_warnings(loads_ruleset(RULES, file="r.yaml"))]
    never = sorted(m.split("'")[1] for m in said if "can never match" in m)
    assert never == ["msg on pending", "reopen from resolved", "timeout while new"]
    [timeout] = [m for m in said if "timeout while new" in m]
    assert "on assignment.timeout the ticket is open or pending" in timeout


@pytest.mark.parametrize(
    ("trigger", "status", "tags"),
    [
        ("assignment.timeout", "open", ["t"]),
        ("ticket.reopened", "open", []),
        ("message.received", "new", []),
    ],
)
def test_the_tools_see_the_status_the_trigger_finds(
    trigger: str, status: str, tags: list[str]
) -> None:
    ruleset = loads_ruleset(RULES, file="r.yaml")
    found = facts_from({"channel": "chat", "customer": {"email": "a@example.com"}})
    assert found is not None
    facts = opened_at(found[0], AT, trigger)
    assert facts["ticket"]["status"] == status
    assert list(ruleset.evaluate(facts, trigger=trigger, now=AT).tags) == tags


def test_a_status_the_input_gives_is_kept() -> None:
    found = facts_from({"channel": "chat", "ticket": {"status": "pending"}})
    assert found is not None
    assert opened_at(found[0], AT, "assignment.timeout")["ticket"]["status"] == "pending"
