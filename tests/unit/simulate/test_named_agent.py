"""A rule's ``assign:`` (the example rules give bigcorp's tickets to agent-maria): the
ticket is that agent's, counted in every figure and taking that agent's seat. It had
dropped out of every figure (only tickets waiting in line were offered), and the named
agent's capacity was never taken."""

from __future__ import annotations

import pytest

from rules import loads_ruleset
from tests.unit.simulate.helpers import ALL_WEEK, message, roster, run

pytestmark = pytest.mark.unit

RULES = loads_ruleset(
    """
version: 1
queues:
  general: {}
sla:
  standard: {first_response: {normal: 10m}, resolution: 1h}
defaults: {queue: general, priority: normal, sla: standard}
assignment: {capacity: {email: 1, chat: 1}}
rules:
  - {name: bigcorp, if: {text: {contains: [bigcorp]}}, then: {assign: maria}}
"""
)

ANYONE = f"  - {{id: anyone, shifts: {ALL_WEEK}}}\n"


def test_tickets_assigned_to_a_named_agent_take_her_seat_and_wait_for_her() -> None:
    """Two bigcorp emails a minute apart, ten minutes' work each, one seat: the second
    waits nine minutes for maria although ``anyone`` is free, and a plain ticket still
    goes to ``anyone`` at once."""
    maria = f"  - {{id: maria, shifts: {ALL_WEEK}}}\n"
    day = [message(0, "b1", "bigcorp"), message(1, "b2", "bigcorp"), message(2, "c", "hello")]
    result = run(roster(maria + ANYONE), day, RULES)
    overall = result.report["overall"]
    assert (overall["offered"], overall["handled"], overall["unserved"]) == (3, 3, 0)
    by_customer = {o.ticket.customer_id: o for o in result.outcomes}
    taken = sorted((o.created, o.agent, o.wait_s) for o in by_customer.values())
    assert [(agent, wait) for _, agent, wait in taken] == [
        ("maria", 0),
        ("maria", pytest.approx(540)),
        ("anyone", 0),
    ]
    # the nine-minute wait meets the 10-minute first response; maria's time is counted
    assert overall["sla"]["first_response"] == 1.0
    assert overall["occupancy"] == pytest.approx(30 / 40)  # 30 busy of 2 x 20 on shift


def test_a_named_agent_off_shift_sends_the_ticket_to_the_line() -> None:
    """The router's offer to an agent who is not working lapses unaccepted and the ticket
    goes to the line: here at once (accept timeouts are not simulated)."""
    maria = '  - {id: maria, shifts: {tue: ["09:00-17:00"]}}\n'
    result = run(roster(maria + ANYONE), [message(0, "b1", "bigcorp")], RULES)
    [outcome] = result.outcomes
    assert (outcome.agent, outcome.wait_s) == ("anyone", 0)
    assert result.report["overall"]["offered"] == 1


def test_a_named_ticket_waits_for_the_agents_next_shift_and_keeps_the_run_going() -> None:
    """Maria is on shift but busy when the second ticket comes, and her shift ends before
    she is free: it is hers, so it waits for Tuesday rather than ending unserved."""
    maria = '  - {id: maria, shifts: {mon: ["00:00-00:30"], tue: ["00:00-08:00"]}}\n'
    day = [message(0, "b1", "bigcorp"), message(1, "b2", "bigcorp")]
    result = run(roster(maria, "{fixed: 60m}"), day, RULES)
    waits = sorted(o.wait_s or 0 for o in result.outcomes)
    assert waits == [0, pytest.approx(24 * 3600 - 60)]
    assert result.report["overall"]["unserved"] == 0
    assert not result.unserved


def test_a_customer_waiting_for_the_named_agent_may_give_up() -> None:
    maria = f"  - {{id: maria, shifts: {ALL_WEEK}}}\n"
    day = [message(0, "b1", "bigcorp", channel="chat"), message(1, "b2", "bigcorp", channel="chat")]
    result = run(roster(maria, patience="{chat: {fixed: 5m}}"), day, RULES)
    overall = result.report["overall"]
    assert (overall["offered"], overall["handled"], overall["abandoned"]) == (2, 1, 1)
    gone = next(o for o in result.outcomes if o.abandoned_at is not None)
    assert gone.ticket.status == "closed"
    assert (gone.abandoned_at or 0) - gone.created == pytest.approx(300)
