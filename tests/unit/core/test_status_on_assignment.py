"""A ticket is ``new`` until it is assigned to an agent, then ``open``, and never ``new``
again, as Zendesk's system rule has it: an offer that times out leaves it ``open`` in
the line; a ticket waiting on the customer (``pending``) stays so when it is offered."""

from __future__ import annotations

from datetime import timedelta

import pytest

from consumers.domain.assignment import assigned, unassigned
from consumers.domain.lifecycle import apply_action
from router.actions import AgentReplied, AssignmentAccepted
from router.vocabulary import EventType
from tests.unit.core.test_lifecycle import AT, RULES, ticket

pytestmark = pytest.mark.unit


def test_an_offer_opens_a_new_ticket_and_a_timeout_does_not_make_it_new_again() -> None:
    offered = assigned(ticket(), "a1", "longest_idle", AT + timedelta(minutes=1))
    assert offered.events[0][0] == EventType.TICKET_ASSIGNED
    assert offered.ticket.status == "open"
    back = unassigned(offered.ticket, "accept_timeout", AT + timedelta(minutes=3))
    assert back.ticket.assignee is None
    assert back.ticket.status == "open"


def test_an_accepted_offer_is_open_and_a_public_reply_makes_it_pending() -> None:
    offered = assigned(ticket(), "a1", "named", AT).ticket
    accept = AssignmentAccepted(ticket_id="T-1", agent_id="a1")
    taken = apply_action(offered, accept, AT + timedelta(minutes=1), RULES)
    assert taken is not None
    assert taken.ticket.status == "open"
    reply = AgentReplied(ticket_id="T-1", agent_id="a1", public=True)
    answered = apply_action(taken.ticket, reply, AT + timedelta(minutes=2), RULES)
    assert answered is not None
    assert answered.ticket.status == "pending"


def test_a_ticket_waiting_on_the_customer_stays_pending_when_offered() -> None:
    offered = assigned(ticket(status="pending"), "a2", "round_robin", AT)
    assert offered.ticket.status == "pending"
