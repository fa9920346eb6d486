"""``--target``: the parse of ``first_response=90%`` and the search for the smallest
head count per group that meets it, checked by running the roster it found and the
same roster with one agent fewer in each group."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from rich.console import Console

from router.app.simulate import command
from router.app.simulate.command import Request
from router.app.simulate.day import DayEvent
from router.app.simulate.roster import dump_roster, loads_roster
from router.app.simulate.target import Target, parse_target, search
from router.errors import ConfigError
from tests.unit.simulate.helpers import ALL_WEEK, MONDAY, RULES, message, roster, run

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("first_response=90%", Target("first_response", 0.9)),
        ("resolution = 75", Target("resolution", 0.75)),
        ("next_response=100%", Target("next_response", 1.0)),
        ("first_response=95", Target("first_response", 0.95)),
    ],
)
def test_targets_parse(text: str, target: Target) -> None:
    assert parse_target(text) == target


@pytest.mark.parametrize("text", ["speed=90%", "first_response", "first_response=0%", "x"])
def test_bad_targets_name_the_option(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_target(text)
    assert caught.value.setting == "--target"


def test_the_search_finds_the_smallest_head_count_per_group() -> None:
    # a busy billing queue and a quiet general one; first response due in 10 minutes
    day = [message(i * 1.0, f"b{i}", "invoice") for i in range(120)]
    day += [message(i * 6.0 + 0.5, f"g{i}") for i in range(20)]
    day.sort(key=lambda e: e.at)
    agents = (
        f"  - {{group: billing, count: 1, skills: [billing], shifts: {ALL_WEEK}}}\n"
        f"  - {{group: plain, count: 9, shifts: {ALL_WEEK}}}\n"
    )
    text = roster(agents, "{exponential: {mean: 4m}}")
    target = Target("first_response", 0.9)
    steps: list[str] = []
    found = asyncio.run(
        search(
            RULES,
            loads_roster(text, "r.yaml"),
            day,
            target,
            reopen_window_s=7 * 86400,
            step=steps.append,
        )
    )
    counts = {s.name: s.count for s in found.roster.staff}
    assert target.met_by(found.result.report)
    assert steps
    assert found.runs == len(steps)  # "N runs" counts the runs listed
    # the figures shown for the roster found are those of a run of it
    assert found.result.report == run(dump_roster(found.roster), day).report
    for group, count in counts.items():
        if count == 0:
            continue
        fewer = dump_roster(found.roster.with_counts({group: count - 1}))
        assert not target.met_by(run(fewer, day).report), (group, counts)
    # the billing work needs billing agents (the plain group cannot take it)
    assert counts["billing"] >= 4
    assert counts["plain"] <= 2


def size_for_first_response(agents: str, day: list[DayEvent]) -> None:
    """Search the roster of ``agents`` for 90 % of first responses in time on ``day``."""
    roster_found = loads_roster(roster(agents), "r.yaml")
    target = Target("first_response", 0.9)
    asyncio.run(search(RULES, roster_found, day, target, reopen_window_s=86400))


def test_an_impossible_target_says_why() -> None:
    day = [message(0, "a", "invoice")]
    agents = f"  - {{group: plain, count: 1, shifts: {ALL_WEEK}}}\n"  # nobody with billing

    with pytest.raises(ConfigError, match="not met even with"):
        size_for_first_response(agents, day)


def test_a_group_whose_growth_would_name_an_agent_of_the_roster_is_refused() -> None:
    """Grown to 2, ``group: tech`` names ``tech-2``, the agent the roster names: they would
    be one agent, the head count would be off by one, and the roster found would not
    load (``duplicate agent``)."""
    day = [message(0, "a")]
    agents = (
        f"  - {{group: tech, count: 1, shifts: {ALL_WEEK}}}\n"
        f"  - {{id: tech-2, shifts: {ALL_WEEK}}}\n"
    )
    with pytest.raises(ConfigError) as caught:
        size_for_first_response(agents, day)
    assert caught.value.setting == "--target"
    assert "group 'tech' cannot be sized" in str(caught.value)
    assert "'tech-2'" in str(caught.value)


def test_the_command_counts_the_runs_it_lists(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES_TEXT, encoding="utf-8")
    agents = f"  - {{group: billing, count: 1, skills: [billing], shifts: {ALL_WEEK}}}\n"
    roster_file = tmp_path / "roster.yaml"
    roster_file.write_text(roster(agents, "{fixed: 5m}"), encoding="utf-8")
    events = tmp_path / "day.jsonl"
    lines = [_line(i * 1.0, f"b{i}", "invoice") for i in range(6)]
    events.write_text("\n".join(lines) + "\n", encoding="utf-8")
    request = Request(roster_file, events, rules, target=Target("first_response", 0.9), json=True)
    err = io.StringIO()
    asyncio.run(command.run(request, Console(file=io.StringIO()), Console(file=err, width=200)))
    listed = [line for line in err.getvalue().splitlines() if line.startswith("run ")]
    [summary] = [line for line in err.getvalue().splitlines() if " runs; head count " in line]
    assert listed
    assert summary.startswith(f"{len(listed)} runs; ")


RULES_TEXT = """
version: 1
queues:
  general: {}
  billing: {skills: [billing]}
sla:
  standard: {first_response: {normal: 10m}, resolution: 1h}
defaults: {queue: general, priority: normal, sla: standard}
assignment: {capacity: {email: 1}}
rules:
  - {name: billing, if: {text: {contains: [invoice]}}, then: {queue: billing}}
"""


def _line(minute: float, who: str, text: str) -> str:
    at = MONDAY + timedelta(minutes=minute)
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": f"ev-{who}",
            "source": "/test",
            "type": "switchboard.interaction.received",
            "subject": f"email:{who}@test.example",
            "time": at.isoformat().replace("+00:00", "Z"),
            "data": {
                "channel": "email",
                "customer": {"email": f"{who}@test.example"},
                "thread": {"message_id": f"<{who}@test>"},
                "text": text,
            },
        }
    ).decode()


WEEKDAYS = (
    "{" + ", ".join(f'{d}: ["08:00-18:00"]' for d in ("mon", "tue", "wed", "thu", "fri")) + "}"
)
WEEKEND = '{sat: ["08:00-18:00"], sun: ["08:00-18:00"]}'


def test_a_group_with_no_shift_in_the_simulated_period_keeps_its_count(tmp_path: Path) -> None:
    """A Monday says nothing about the weekend group: it had been cut to nobody and the
    roster printed as meeting the target, weekends unstaffed."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES_TEXT, encoding="utf-8")
    agents = (
        f"  - {{group: weekday, count: 2, shifts: {WEEKDAYS}}}\n"
        f"  - {{group: weekend, count: 2, shifts: {WEEKEND}}}\n"
    )
    roster_file = tmp_path / "roster.yaml"
    roster_file.write_text(roster(agents, "{fixed: 5m}"), encoding="utf-8")
    events = tmp_path / "day.jsonl"
    lines = [_line(9 * 60 + i * 5.0, f"g{i}", "hello") for i in range(6)]  # Monday 09:00
    events.write_text("\n".join(lines) + "\n", encoding="utf-8")
    request = Request(roster_file, events, rules, target=Target("first_response", 0.9))
    out, err = io.StringIO(), io.StringIO()
    asyncio.run(command.run(request, Console(file=out), Console(file=err, width=200)))
    found = loads_roster(out.getvalue(), "found.yaml")
    assert {s.name: s.count for s in found.staff} == {"weekday": 1, "weekend": 2}
    notes = [line for line in err.getvalue().splitlines() if line.startswith("note:")]
    assert notes == ["note: weekend: no shift in the simulated period, kept as given"]


def test_a_run_that_misses_names_the_queues_that_missed() -> None:
    """The target is judged per queue: the progress line says which queue missed it and
    by how much, not only the day's share (71 %, from a general queue at 100 %)."""
    day = [message(i * 1.0, f"b{i}", "invoice") for i in range(30)]
    day += [message(i * 1.0 + 0.5, f"g{i}") for i in range(60)]
    day.sort(key=lambda e: e.at)
    agents = (
        f"  - {{group: billing, count: 1, skills: [billing], shifts: {ALL_WEEK}}}\n"
        f"  - {{group: plain, count: 9, shifts: {ALL_WEEK}}}\n"
    )
    text = roster(agents, "{fixed: 4m}")
    steps: list[str] = []
    target = Target("first_response", 0.9)
    asyncio.run(
        search(
            RULES,
            loads_roster(text, "r.yaml"),
            day,
            target,
            reopen_window_s=86400,
            step=steps.append,
        )
    )
    first = run(text, day).report
    billing = first["queues"]["billing"]["sla"]["first_response"]
    assert billing < 0.9 <= first["queues"]["general"]["sla"]["first_response"]
    assert steps[0].endswith(f"(missed: billing {billing:.1%})"), steps[0]


def test_progress_lines_are_not_broken_on_a_narrow_stderr(tmp_path: Path) -> None:
    """stderr to a file is 80 columns to rich: a run line naming the queues that missed
    was broken in two there."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES_TEXT, encoding="utf-8")
    agents = f"  - {{group: billing, count: 1, skills: [billing], shifts: {ALL_WEEK}}}\n"
    roster_file = tmp_path / "roster.yaml"
    roster_file.write_text(roster(agents, "{fixed: 5m}"), encoding="utf-8")
    events = tmp_path / "day.jsonl"
    events.write_text("\n".join(_line(i, f"b{i}", "invoice") for i in range(6)) + "\n")
    request = Request(roster_file, events, rules, target=Target("first_response", 0.9), json=True)
    err = io.StringIO()
    asyncio.run(command.run(request, Console(file=io.StringIO()), Console(file=err, width=40)))
    lines = err.getvalue().splitlines()
    runs = [line for line in lines if line.startswith("run ")]
    assert any("(missed: billing " in line for line in runs), runs
    assert all(line.endswith(")") for line in runs), runs
