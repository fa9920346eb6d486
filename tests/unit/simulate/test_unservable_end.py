"""A ticket no agent of the roster can ever take must not keep the run going: the
shifts of the rest of the week would be idle time in every figure. A ticket waiting for
next week's shift of an agent who can take it is a real wait and does keep it going."""

from __future__ import annotations

import pytest

from tests.unit.simulate.helpers import ALL_WEEK, message, roster, run

pytestmark = pytest.mark.unit

MONDAY_ONLY = '  - {id: a-1, shifts: {mon: ["08:00-17:00"]}}\n'  # no skills: general only
GENERAL = [message(600 + i, f"g{i}") for i in range(3)]  # 10:00, 10:01, 10:02


def test_one_unservable_ticket_leaves_the_other_figures_unchanged() -> None:
    alone = run(roster(MONDAY_ONLY), GENERAL).report
    day = sorted([*GENERAL, message(601.5, "b", "my invoice")], key=lambda e: e.at)
    result = run(roster(MONDAY_ONLY), day)
    mixed = result.report
    assert mixed["queues"]["general"] == alone["queues"]["general"]
    overall, before = mixed["overall"], alone["overall"]
    # three 10-minute tickets, one agent on shift from 08:00 until the last is done at 10:30
    assert overall["occupancy"] == pytest.approx(30 / 150)
    assert overall["occupancy"] == pytest.approx(before["occupancy"])
    assert overall["wait_mean_s"] == before["wait_mean_s"]
    # but the unserved ticket's clocks count as missed, even the resolution not yet due
    # when the run ended (no agent would ever have taken it)
    assert before["sla"] == {"first_response": pytest.approx(2 / 3), "resolution": 1.0}
    assert overall["sla"] == {"first_response": 2 / 4, "resolution": 3 / 4}
    # the run ends on Monday, not a week of idle shifts later
    assert overall["intervals"][-1]["start"] == before["intervals"][-1]["start"]
    assert overall["intervals"][-1]["start"] == "2026-11-23T10:00:00Z"
    # the ticket nobody can take is still reported as such
    assert mixed["queues"]["billing"]["unserved"] == 1
    assert result.unserved == [
        "queue billing: 1 ticket never served: no agent on the roster has its skills (billing)"
    ]


def test_a_channel_nobody_has_a_seat_on_does_not_keep_the_run_going() -> None:
    agents = '  - {id: a-1, capacity: {chat: 0}, shifts: {mon: ["08:00-17:00"]}}\n'
    alone = run(roster(agents), GENERAL).report
    day = sorted([*GENERAL, message(601.5, "c", channel="chat")], key=lambda e: e.at)
    result = run(roster(agents), day)
    assert result.report["overall"]["occupancy"] == pytest.approx(alone["overall"]["occupancy"])
    assert result.report["overall"]["intervals"][-1]["start"] == "2026-11-23T10:00:00Z"
    assert result.unserved == [
        "queue general: 1 ticket never served: no agent with its skills has a seat on chat"
    ]


def test_a_ticket_after_the_last_shift_of_the_week_waits_for_next_week() -> None:
    """Nobody is on shift for the rest of the week, but an agent who can take the
    ticket works next Monday: that wait is real, even beside an unservable ticket."""
    agents = '  - {id: a-1, shifts: {mon: ["08:00-16:00"]}}\n'
    day = [message(17 * 60, "late"), message(17 * 60 + 1, "b", "my invoice")]  # Monday 17:00
    result = run(roster(agents), day)
    [late] = [o for o in result.outcomes if o.queue == "general"]
    assert late.wait_s == pytest.approx(7 * 86400 - 9 * 3600)  # next Monday 08:00
    assert result.report["queues"]["billing"]["unserved"] == 1


def test_an_unservable_ticket_does_not_cut_short_an_all_week_roster() -> None:
    agents = f"  - {{id: a-1, shifts: {ALL_WEEK}}}\n"
    day = [message(0, "b", "my invoice"), *(message(1 + i, f"g{i}") for i in range(3))]
    result = run(roster(agents), day)
    assert result.report["queues"]["general"]["handled"] == 3
    assert result.report["overall"]["intervals"][-1]["start"] == "2026-11-23T00:30:00Z"


def test_a_backlog_of_weeks_is_worked_off_not_reported_unserved() -> None:
    """Two weeks of work for one agent on weekdays: the run goes on a week at a time
    until it is done. Shifts had ended a week after the last arrival, and the rest had
    been "unserved" and left out of the waits: the longest ones."""
    agents = (
        '  - {id: a-1, shifts: {mon: ["09:00-17:00"], tue: ["09:00-17:00"],'
        ' wed: ["09:00-17:00"], thu: ["09:00-17:00"], fri: ["09:00-17:00"]}}\n'
    )
    day = [message(8 * 60 + i / 10, f"c{i}", n=i) for i in range(400)]  # Monday before 09:00
    result = run(roster(agents, "{fixed: 12m}"), day)
    overall = result.report["overall"]
    assert (overall["handled"], overall["unserved"], result.unserved) == (400, 0, [])
    # 40 a day: the last ticket is taken on the tenth working day, the Friday after next
    last = max(o.assigned_at or 0 for o in result.outcomes)
    assert (last - day[-1].at) / 86_400 > 11


def test_an_agent_whose_work_ends_with_the_shift_takes_nothing_more_then() -> None:
    """One agent 09:00-10:00, 30-minute tickets: two are worked on Monday, the third
    waits for Tuesday's shift. It had been taken at 10:00, as the shift ended."""
    agents = '  - {id: a-1, shifts: {mon: ["09:00-10:00"], tue: ["09:00-10:00"]}}\n'
    day = [message(9 * 60, f"c{i}", n=i) for i in range(3)]
    result = run(roster(agents, "{fixed: 30m}"), day)
    waits = sorted(o.wait_s or 0.0 for o in result.outcomes)
    assert waits == [0.0, 1800.0, 86_400.0]
