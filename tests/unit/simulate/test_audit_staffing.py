"""What an audit of ``switchboard simulate`` found hidden: tickets no agent can take,
roster names the rules do not know, occupancy diluted by another queue's backlog, a
target shown rounded or hopeless, and event lines skipped without their line number."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from router.app.simulate.day import DayEvent, read_day
from router.app.simulate.engine import simulate
from router.app.simulate.roster import RosterInvalid, check_against, loads_roster
from router.app.simulate.target import Target, parse_target, search
from router.errors import ConfigError
from rules import RuleSet, loads_ruleset
from tests.unit.simulate.helpers import ALL_WEEK, RULES, message, roster, run

pytestmark = pytest.mark.unit

PLAIN = f"  - {{id: p-1, shifts: {ALL_WEEK}}}\n"  # no skills: general only
WEEKDAYS = '{mon: ["08:00-17:00"], tue: ["08:00-17:00"], wed: ["08:00-17:00"]}'


# --- tickets no agent can take -----------------------------------------------------------
def test_tickets_nobody_can_take_have_waited_and_are_counted_unserved() -> None:
    day = [message(600 + i, f"c{i}", "my invoice") for i in range(3)]
    result = run(roster(PLAIN), day)
    billing = result.report["queues"]["billing"]
    assert (billing["offered"], billing["handled"], billing["abandoned"]) == (3, 0, 0)
    assert billing["p_wait"] == 1.0
    assert billing["unserved"] == 3
    assert billing["wait_mean_s"] is None  # an unserved wait has no end: left out
    assert result.report["overall"]["unserved"] == 3
    assert sum(i["unserved"] for i in billing["intervals"]) == 3
    assert result.unserved == [
        "queue billing: 3 tickets never served: no agent on the roster has its skills (billing)"
    ]


def test_agents_with_the_skills_but_no_seat_on_the_channel_are_named() -> None:
    agents = f"  - {{id: b-1, skills: [billing], capacity: {{chat: 0}}, shifts: {ALL_WEEK}}}\n"
    result = run(roster(agents), [message(600, "a", "my invoice", channel="chat")])
    assert result.report["queues"]["billing"]["p_wait"] == 1.0
    assert result.unserved == [
        "queue billing: 1 ticket never served: no agent with its skills has a seat on chat"
    ]


def test_a_served_day_has_no_unserved_warning() -> None:
    result = run(roster(PLAIN), [message(600, "a")])
    assert result.report["overall"]["unserved"] == 0
    assert result.unserved == []


# --- the roster against the rules ------------------------------------------------------
def test_a_handling_queue_the_rules_do_not_have_is_an_error_at_its_place() -> None:
    text = roster(PLAIN, "{queue: biling, fixed: 1h}")
    with pytest.raises(RosterInvalid) as caught:
        check_against(loads_roster(text, "r.yaml"), RULES.queues, "--against")
    [error] = caught.value.errors
    assert str(error) == (
        "r.yaml:7:13: unknown queue 'biling' in handling (hint: did you mean 'billing'?)"
    )
    assert caught.value.setting == "--against"


def test_a_skill_no_queue_requires_is_a_warning_at_its_place() -> None:
    agents = f"  - {{id: a-1, skills: [biling], shifts: {ALL_WEEK}}}\n"
    text = roster(agents, "{queue: billing, fixed: 1h}\n  - {fixed: 10m}")
    [warning] = check_against(loads_roster(text, "r.yaml"), RULES.queues)
    assert str(warning) == (
        "r.yaml:5:24: warning: skill 'biling' is required by no queue of the rules "
        "(did you mean 'billing'?)"
    )


def test_a_roster_matching_the_rules_passes_quietly() -> None:
    agents = f"  - {{id: a-1, skills: [billing], shifts: {ALL_WEEK}}}\n"
    text = roster(agents, "{queue: billing, fixed: 1h}\n  - {fixed: 10m}")
    assert check_against(loads_roster(text, "r.yaml"), RULES.queues) == []


def test_a_handling_list_without_a_catch_all_is_a_warning_before_the_run() -> None:
    """A ticket of a queue and channel no entry covers stops the run: said up front, at
    the list, whether or not this day has such a ticket."""
    agents = f"  - {{id: a-1, skills: [billing], shifts: {ALL_WEEK}}}\n"
    text = roster(agents, "{queue: billing, fixed: 1h}")
    [warning] = check_against(loads_roster(text, "r.yaml"), RULES.queues)
    assert str(warning).startswith("r.yaml:7:")
    assert "no handling entry for queue" in str(warning)
    assert "catch-all" in str(warning)


# --- occupancy is not diluted by another queue's backlog -------------------------------
def test_a_queue_occupancy_does_not_change_when_another_queue_keeps_the_run_going() -> None:
    agents = (
        f"  - {{group: b, count: 3, skills: [billing], shifts: {WEEKDAYS}}}\n"
        '  - {id: s-1, skills: [sales], shifts: {wed: ["08:00-17:00"]}}\n'
    )
    text = roster(agents, "{fixed: 30m}")
    billing_day = [message(600 + i, f"c{i}", "my invoice") for i in range(3)]
    rules = _with_sales()
    alone = asyncio.run(_simulate(rules, text, billing_day))
    with_sales = asyncio.run(_simulate(rules, text, [*billing_day, message(630, "s", "a quote")]))
    occupancy = alone["queues"]["billing"]["occupancy"]
    # 3 x 30 minutes of work; 3 agents on shift from 08:00 until the last is done at 10:32
    assert occupancy == pytest.approx(90 / (3 * 152), rel=0.01)
    assert with_sales["queues"]["billing"]["occupancy"] == pytest.approx(occupancy)
    assert with_sales["queues"]["sales"]["handled"] == 1  # served on Wednesday


def _with_sales() -> RuleSet:
    return loads_ruleset(
        """
version: 1
queues:
  general: {}
  billing: {skills: [billing]}
  sales: {skills: [sales]}
sla:
  standard: {first_response: {normal: 10m}, resolution: 1h}
defaults: {queue: general, priority: normal, sla: standard}
assignment: {capacity: {email: 1}}
rules:
  - {name: billing, if: {text: {contains: [invoice]}}, then: {queue: billing}}
  - {name: sales, if: {text: {contains: [quote]}}, then: {queue: sales}}
"""
    )


async def _simulate(rules: RuleSet, text: str, day: list[DayEvent]) -> dict[str, Any]:
    return (await simulate(rules, loads_roster(text, "r.yaml"), day)).report


# --- targets ---------------------------------------------------------------------------
def test_a_target_shows_its_share_as_given() -> None:
    assert str(parse_target("first_response=99.5%")) == "first_response=99.5%"
    assert str(parse_target("resolution=90")) == "resolution=90%"


def test_a_target_no_ticket_has_a_clock_for_fails_at_once() -> None:
    agents = f"  - {{group: plain, count: 1, shifts: {ALL_WEEK}}}\n"
    steps: list[str] = []
    with pytest.raises(ConfigError, match="no ticket had a next_response clock") as caught:
        asyncio.run(
            search(
                RULES,
                loads_roster(roster(agents), "r.yaml"),
                [message(0, "a")],
                Target("next_response", 0.95),
                reopen_window_s=86400,
                step=steps.append,
            )
        )
    assert caught.value.setting == "--target"
    assert len(steps) == 1  # no doubling of the roster first


FOLLOW_UPS = loads_ruleset(
    """
version: 1
queues: {general: {}}
sla:
  standard: {first_response: {normal: 10m}, next_response: {normal: 8h}, resolution: 1h}
defaults: {queue: general, priority: normal, sla: standard}
assignment: {capacity: {email: 1}}
rules: []
"""
)


def test_a_target_whose_clocks_are_never_met_or_due_fails_at_once() -> None:
    """Audit: the follow-up's next_response clock exists but its agent is off until next
    week, so the run ends before it is met or due; the search doubled the roster eight
    times, then blamed the skills on shift."""
    agents = '  - {group: early, count: 1, shifts: {mon: ["00:00-01:00"]}}\n'
    day = [message(0, "a"), message(90, "a", "still broken", reply_to="<a.0.0@test>")]
    steps: list[str] = []
    with pytest.raises(ConfigError) as caught:
        asyncio.run(
            search(
                FOLLOW_UPS,
                loads_roster(roster(agents), "r.yaml"),
                day,
                Target("next_response", 0.9),
                reopen_window_s=86400,
                step=steps.append,
            )
        )
    assert caught.value.setting == "--target"
    assert "the day measures no next_response clock" in str(caught.value)
    assert "none was met or due" in str(caught.value)
    assert steps == ["run 1: early=1: next_response n/a (missed)"]


def test_groups_of_nobody_are_staffed_before_a_target_is_called_unmeasurable() -> None:
    # with no agent at all nothing is answered, so nothing is measured yet
    agents = f"  - {{group: plain, count: 0, shifts: {ALL_WEEK}}}\n"
    found = asyncio.run(
        search(
            RULES,
            loads_roster(roster(agents), "r.yaml"),
            [message(0, "a"), message(30, "b")],
            Target("first_response", 0.9),
            reopen_window_s=86400,
        )
    )
    assert [s.count for s in found.roster.staff] == [1]


# --- event lines the router cannot take -------------------------------------------------
def test_skipped_event_lines_are_named_by_their_line_in_the_file(tmp_path: Path) -> None:
    good = orjson.loads(message(0, "a").value)
    bad = {**good, "id": "x", "data": {"channel": "fax"}}
    wrong = {**good, "id": "y", "type": "switchboard.ticket.created"}
    path = tmp_path / "day.jsonl"
    lines = [orjson.dumps(e).decode() for e in (good, bad, wrong)]
    path.write_text("\n".join([lines[0], "", lines[1], lines[2]]) + "\n")
    result = run(roster(PLAIN), read_day(path))
    assert [line for line, _ in result.skipped] == [3, 4]
    assert "channel" in result.skipped[0][1]
    assert "switchboard.ticket.created" in result.skipped[1][1]
