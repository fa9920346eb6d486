"""A reload that changes ``assignment.accept_timeout`` applies to offers already made.
Longer: the offer's timer, found early as it fires, moves on to the new deadline (it
had been dropped as stale, leaving the offer and the agent's seat held with no timeout
until the ticket's next record, days on a business-hours SLA). Shorter: every offer's
timer is brought forward and re-checked, so one past its new deadline times out at once
(it had waited for the old deadline)."""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import ConsumerRecord

from consumers.domain.assignment import AssignRequest
from router.events import Ticket
from rules import RuleSet
from tests.component.pipeline.test_accept_timeout_away import offer, queued_reasons
from tests.component.pipeline.test_timers_rounds import Timers

pytestmark = pytest.mark.component

MEMBER = "{}|assignment|timeout"


def with_timeout(rules: RuleSet, minutes: float) -> RuleSet:
    reloaded = copy.copy(rules)
    reloaded.assignment = dataclasses.replace(
        rules.assignment, accept_timeout=timedelta(minutes=minutes)
    )
    return reloaded


async def offered(timers: Timers, ticket: Ticket) -> ConsumerRecord[bytes, bytes]:
    """The ticket offered to its assignee, and its record as the router wrote it."""
    agent = ticket.assignee or ""
    await timers.agents.presence(agent, "online", [], {"chat": 10})
    record = await timers.open(ticket)
    seat = AssignRequest(ticket.id, "chat", "general", frozenset(), "least_loaded", 3)
    await timers.agents.claim([(seat, agent)], force=True)
    return record


async def test_a_longer_accept_timeout_moves_an_offers_deadline_on(timers: Timers) -> None:
    ticket = offer(1, minutes_ago=3)  # past the 2 minutes it was offered under
    record = await offered(timers, ticket)
    timers.lag = timedelta(hours=1)  # scheduled under the old rules, not fired yet
    handler = timers.handler()
    await handler.handle([record])
    assert ticket.assigned_at is not None
    old = (ticket.assigned_at + timedelta(minutes=2)).timestamp()
    assert (await timers.scheduled())[MEMBER.format(ticket.id)] == pytest.approx(old)

    timers.rules = with_timeout(timers.rules, 10)  # the reload
    timers.lag = timedelta(0)
    await handler.tick()

    new = (ticket.assigned_at + timedelta(minutes=10)).timestamp()
    assert (await timers.scheduled()).get(MEMBER.format(ticket.id)) == pytest.approx(new)
    assert queued_reasons(timers) == {}  # not taken back: it has 7 minutes left
    assert await timers.agents.holders([ticket.id]) == ["absent"]


async def test_a_shorter_accept_timeout_takes_back_an_offer_past_it(timers: Timers) -> None:
    timers.rules = with_timeout(timers.rules, 10)
    late = offer(1, minutes_ago=3)
    fresh = offer(2, minutes_ago=0).model_copy(update={"assignee": "other"})
    records = [await offered(timers, ticket) for ticket in (late, fresh)]
    handler = timers.handler()
    await handler.handle(records)
    assert queued_reasons(timers) == {}  # 7 and 10 minutes left

    timers.rules = with_timeout(timers.rules, 2)  # the reload
    await handler.tick()

    assert queued_reasons(timers) == {late.id: "accept_timeout"}
    assert fresh.assigned_at is not None
    now = datetime.now(UTC)
    due = (await timers.scheduled())[MEMBER.format(fresh.id)]
    assert due == pytest.approx((fresh.assigned_at + timedelta(minutes=2)).timestamp())
    assert due > now.timestamp()
