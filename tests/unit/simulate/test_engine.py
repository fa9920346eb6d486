"""The simulation on days small enough to work out by hand: waits, skills, priority,
shifts, abandonment, reopens, SLA clocks, and the ``--json`` shape of the contract."""

from __future__ import annotations

from typing import Any

import pytest

from router.app.simulate.tally import BUCKET_S
from tests.unit.simulate.helpers import ALL_WEEK, message, roster, run

pytestmark = pytest.mark.unit

ONE_AGENT = f"  - {{id: a-1, skills: [billing], shifts: {ALL_WEEK}}}\n"
FIGURES = {
    "offered",
    "handled",
    "abandoned",
    "p_wait",
    "wait_mean_s",
    "wait_p50_s",
    "wait_p90_s",
    "occupancy",
    "utilisation",
    "sla",
}


def test_one_agent_serves_in_order_and_the_others_wait() -> None:
    """Fixed 10-minute handling, arrivals at 0, 1 and 2 minutes: waits 0, 9 and 18."""
    day = [message(0, "a"), message(1, "b"), message(2, "c")]
    result = run(roster(ONE_AGENT), day)
    waits = sorted(o.wait_s or 0 for o in result.outcomes)
    assert waits == [0, 540, 1080]
    overall = result.report["overall"]
    assert overall["offered"] == overall["handled"] == 3
    assert overall["p_wait"] == pytest.approx(2 / 3)
    assert overall["wait_mean_s"] == pytest.approx(540)
    assert overall["wait_p50_s"] == 540
    assert overall["wait_p90_s"] == 1080
    # first response within 10 minutes: the first two (0 and 9 minutes), not the third (18)
    assert overall["sla"]["first_response"] == pytest.approx(2 / 3)
    assert overall["sla"]["resolution"] == 1.0
    # the agent was busy 30 minutes of the day it was on shift until the work ran out
    assert overall["occupancy"] == pytest.approx(1.0)


def test_skills_decide_who_takes_a_ticket() -> None:
    agents = (
        f"  - {{id: a-billing, skills: [billing], shifts: {ALL_WEEK}}}\n"
        f"  - {{id: b-plain, shifts: {ALL_WEEK}}}\n"
    )
    day = [message(0, "a", "my invoice"), message(0.5, "b", "my invoice"), message(1, "c")]
    result = run(roster(agents), day)
    by_customer = {o.ticket.customer_id: o for o in result.outcomes}
    assert len(by_customer) == 3
    agents_of = sorted((o.queue, o.agent) for o in result.outcomes)
    # the second invoice waits for the billing agent although b-plain is free
    assert agents_of == [("billing", "a-billing"), ("billing", "a-billing"), ("general", "b-plain")]
    second = max((o for o in result.outcomes if o.queue == "billing"), key=lambda o: o.created)
    assert second.wait_s == pytest.approx(570)


def test_an_urgent_ticket_jumps_the_line() -> None:
    day = [message(0, "a"), message(1, "b"), message(2, "c", "outage!")]
    result = run(roster(ONE_AGENT), day)
    order = sorted(result.outcomes, key=lambda o: o.assigned_at or 0)
    assert [o.ticket.priority for o in order] == ["normal", "urgent", "normal"]
    assert order[1].wait_s == pytest.approx(480)  # took at minute 10, arrived at 2


def test_nobody_on_shift_means_waiting_for_the_shift() -> None:
    agents = '  - {id: a-1, shifts: {mon: ["08:00-16:00"]}}\n'
    result = run(roster(agents), [message(7 * 60 + 30, "a")])  # 07:30 on Monday
    [outcome] = result.outcomes
    assert outcome.wait_s == pytest.approx(30 * 60)
    assert result.report["overall"]["p_wait"] == 1.0


def test_impatient_customers_abandon_and_the_ticket_is_closed() -> None:
    day = [message(0, "a", channel="chat"), message(1, "b", channel="chat")]
    result = run(roster(ONE_AGENT, patience="{chat: {fixed: 5m}}"), day)
    overall = result.report["overall"]
    assert (overall["offered"], overall["handled"], overall["abandoned"]) == (2, 1, 1)
    gone = next(o for o in result.outcomes if o.abandoned_at is not None)
    assert (gone.abandoned_at or 0) - gone.created == pytest.approx(300)
    assert gone.ticket.status == "closed"
    assert overall["p_wait"] == 0.5


def test_a_message_on_the_open_ticket_joins_it_and_a_reopen_goes_back_to_its_agent() -> None:
    first = message(0, "a", n=1)
    day = [
        first,
        message(5, "a", "more details", n=2),  # joins the ticket being worked on
        message(60, "a", "it broke again", n=3, reply_to="<a.0.1@test>"),  # reopens it
    ]
    result = run(roster(ONE_AGENT), day)
    [outcome] = result.outcomes  # one ticket, offered once
    assert outcome.ticket.contacts == 3
    assert outcome.ticket.reopen_count == 1
    assert outcome.ticket.status == "resolved"
    assert [round(b - a) for a, b in outcome.work] == [600, 600]  # worked twice, same agent
    assert outcome.ticket.agent_replies == 2


def test_two_runs_of_one_day_agree_exactly() -> None:
    day = [message(i * 0.7, f"c{i}", "invoice" if i % 3 else "hi") for i in range(60)]
    agents = f"  - {{group: g, count: 2, skills: [billing], shifts: {ALL_WEEK}}}\n"
    text = roster(agents, "{exponential: {mean: 2m}}")
    assert run(text, day).report == run(text, day).report


def test_more_agents_never_wait_longer_on_the_same_day() -> None:
    day = [message(i * 0.5, f"c{i}") for i in range(80)]

    def mean_wait(count: int) -> float:
        agents = f"  - {{group: g, count: {count}, shifts: {ALL_WEEK}}}\n"
        report = run(roster(agents, "{exponential: {mean: 3m}}"), day).report
        return float(report["overall"]["wait_mean_s"])

    waits = [mean_wait(n) for n in (1, 2, 4, 8, 30)]
    assert waits == sorted(waits, reverse=True)
    assert waits[0] > 10 * 60
    assert waits[-1] == 0


def _check_figures(figures: dict[str, Any]) -> None:
    assert set(figures) >= FIGURES
    for key in ("offered", "handled", "abandoned"):
        assert isinstance(figures[key], int)
    for key in ("p_wait", "wait_mean_s", "wait_p50_s", "wait_p90_s", "occupancy", "utilisation"):
        assert figures[key] is None or isinstance(figures[key], float | int)
    assert isinstance(figures["sla"], dict)
    assert set(figures["sla"]) <= {"first_response", "next_response", "resolution"}


def test_the_json_has_the_contract_shape() -> None:
    day = [message(i * 7, f"c{i}", "invoice" if i % 2 else "hi") for i in range(20)]
    agents = f"  - {{group: g, count: 1, skills: [billing], shifts: {ALL_WEEK}}}\n"
    report = run(roster(agents), day).report
    assert set(report) == {"overall", "queues"}
    assert set(report["queues"]) == {"billing", "general"}
    for part in (report["overall"], *report["queues"].values()):
        _check_figures(part)
        intervals = part["intervals"]
        assert intervals, part
        for interval in intervals:
            _check_figures(interval)
            assert interval["start"].endswith("Z")
        starts = [i["start"] for i in intervals]
        assert starts == sorted(starts)
        assert sum(i["offered"] for i in intervals) == part["offered"]
        assert sum(i["handled"] for i in intervals) == part["handled"]
    queues = report["queues"].values()
    assert sum(q["offered"] for q in queues) == report["overall"]["offered"] == 20
    first = report["overall"]["intervals"][0]
    assert first["start"] == "2026-11-23T00:00:00Z"
    assert first["offered"] == 5  # minutes 0, 7, 14, 21, 28 fall in 00:00-00:30
    assert BUCKET_S == 1800
