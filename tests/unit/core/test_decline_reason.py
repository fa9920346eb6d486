"""Why an agent declined (``assignment.declined``'s ``reason``) is carried onto the
``.queued`` record the decline leaves, as ``decline_reason``: the supervisor who sees the
ticket waiting sees why. A ``.queued`` of any other cause has no such field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from consumers.domain.assignment import unassigned
from consumers.domain.lifecycle import apply_action
from router.actions import AssignmentDeclined
from router.events import Ticket
from router.vocabulary import EventType
from tests.unit.core.test_lifecycle import RULES

pytestmark = pytest.mark.unit

AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def offered() -> Ticket:
    return Ticket(
        id="T-1",
        status="open",
        channel="chat",
        customer_id="C-1",
        queue="general",
        assignee="ann",
        assigned_at=AT,
        created_at=AT,
        updated_at=AT,
    )


def test_a_decline_reason_is_on_the_queued_record() -> None:
    change = unassigned(offered(), "declined", AT, decline_reason="not my language")
    [(kind, data)] = change.events
    assert kind is EventType.TICKET_QUEUED
    assert data["reason"] == "declined"
    assert data["decline_reason"] == "not my language"
    assert data["agent_id"] == "ann"


def test_other_requeues_carry_no_decline_reason() -> None:
    [(_, data)] = unassigned(offered(), "accept_timeout", AT).events
    assert "decline_reason" not in data


def test_a_declined_action_carries_its_reason_to_the_line() -> None:
    """Through the action as the router applies it, not only the domain function."""
    decline = AssignmentDeclined(ticket_id="T-1", agent_id="ann", reason="not my language")
    change = apply_action(offered(), decline, AT, RULES)
    assert change is not None
    queued = [data for kind, data in change.events if kind is EventType.TICKET_QUEUED]
    assert [data.get("decline_reason") for data in queued] == ["not my language"]
