"""Audit of ``switchboard simulate``: the ``--target`` search runs each head count once,
an events file without events is an error, and the table shows ``unserved``."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from router.app.simulate import command
from router.app.simulate.command import Request, table
from router.app.simulate.day import read_day
from router.app.simulate.roster import loads_roster
from router.app.simulate.target import Target, search
from router.errors import ConfigError
from tests.unit.simulate.helpers import ALL_WEEK, RULES, message, roster, run

pytestmark = pytest.mark.unit

STEP = re.compile(r"run (\d+): plain=(\d+): ")


@pytest.mark.parametrize(
    ("start", "tickets", "doubled", "needed"),
    [
        # 4 -> 8 -> 16 met; the halving starts at 8 (run already), then 12, 10, 11
        (4, 11, [4, 8, 16], 11),
        # 0 -> 1 met; the halving's only count is 0 (run already)
        (0, 1, [0, 1], 1),
        # 1 -> 2 -> 4 met; the halving starts at 2 (run already), then 3
        (1, 3, [1, 2, 4], 3),
    ],
)
def test_the_search_runs_each_head_count_once(
    start: int, tickets: int, doubled: list[int], needed: int
) -> None:
    """Audit: the halving ran counts the doubling had run (4, 8, 16, 8, 12, 10, 11), and
    listed them twice. Every ticket arrives at once and takes 20 minutes, first response
    due in 10: every ticket needs an agent of its own to meet 100%."""
    day = [message(i * 0.01, f"t{i}") for i in range(tickets)]
    agents = f"  - {{group: plain, count: {start}, shifts: {ALL_WEEK}}}\n"
    steps: list[str] = []
    found = asyncio.run(
        search(
            RULES,
            loads_roster(roster(agents, "{fixed: 20m}"), "r.yaml"),
            day,
            Target("first_response", 1.0),
            reopen_window_s=86400,
            step=steps.append,
        )
    )
    listed = [STEP.match(line) for line in steps]
    assert all(listed), steps
    numbers = [int(m.group(1)) for m in listed if m]
    counts = [int(m.group(2)) for m in listed if m]
    assert numbers == list(range(1, len(steps) + 1))
    assert len(counts) == len(set(counts)), steps  # each head count run once
    assert counts[: len(doubled)] == doubled
    assert found.runs == len(steps)
    assert found.roster.head_count() == needed  # still the smallest that meets it
    assert needed in counts
    assert needed - 1 in counts  # the next smaller one was run, and missed
    smallest = agents.replace(f"count: {start}", f"count: {needed}")
    assert found.result.report == run(roster(smallest, "{fixed: 20m}"), day).report


@pytest.mark.parametrize("text", ["", "\n", "  \n\n\t\n"])
def test_an_events_file_without_events_is_an_error(tmp_path: Path, text: str) -> None:
    """Audit: an empty events file ran, and reported every figure as 0 or null."""
    path = tmp_path / "day.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        read_day(path)
    assert caught.value.setting == "--events"
    assert caught.value.message.startswith(f"{path}: no events")


def test_the_table_shows_unserved_after_abandoned() -> None:
    """Audit: the table left out ``unserved``, so offered != handled + abandoned there."""
    day = [message(0, "a", "invoice"), message(1, "b", "invoice"), message(2, "c")]
    agents = f"  - {{id: a-1, shifts: {ALL_WEEK}}}\n"  # nobody with the billing skill
    report = run(roster(agents), day).report
    assert report["queues"]["billing"]["unserved"] == 2
    shown = io.StringIO()
    Console(file=shown, width=250, no_color=True).print(table([("r.yaml", report)]))
    lines = shown.getvalue().splitlines()
    [head] = [line for line in lines if "queue" in line]
    columns = [c.strip() for c in re.split(r"[┃│]", head) if c.strip()]
    assert columns[1:6] == ["offered", "handled", "abandoned", "unserved", "P(wait)"]
    rows = {
        cells[0]: cells[1:5]
        for line in lines
        if (cells := [c.strip() for c in re.split(r"[┃│]", line) if c.strip()])
        and cells[0] in {"all", "billing", "general"}
    }
    assert rows == {
        "all": ["3", "1", "0", "2"],
        "billing": ["2", "0", "0", "2"],
        "general": ["1", "1", "0", "0"],
    }


def test_stderr_that_is_no_terminal_gets_no_empty_line_from_the_progress_bar(
    tmp_path: Path,
) -> None:
    """A log of the run (stderr to a file) had an empty line where the bar had been."""
    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 1\nqueues: {general: {}}\ndefaults: {queue: general}\n")
    roster_file = tmp_path / "roster.yaml"
    roster_file.write_text(roster(f"  - {{id: a, shifts: {ALL_WEEK}}}\n"))
    events = tmp_path / "day.jsonl"
    events.write_bytes(message(0, "a").value + b"\n")
    err = io.StringIO()
    request = Request(roster_file, events, rules)
    asyncio.run(command.run(request, Console(file=io.StringIO()), Console(file=err, width=200)))
    assert "" not in err.getvalue().splitlines(), err.getvalue()
