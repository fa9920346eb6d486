"""Second audit of ``switchboard simulate``: two rosters draw the same chances for the
same ticket, a roster's numbers stay within what can be simulated, and a day the router
could take nothing of is an error, not a table of zeros."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import orjson
import pytest
from rich.console import Console

from router.app.simulate.command import Request
from router.app.simulate.command import run as run_command
from router.app.simulate.day import parse_line
from router.app.simulate.roster import RosterInvalid, loads_roster
from router.errors import ConfigError
from tests.unit.simulate.helpers import ALL_WEEK, message, roster, run

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]


def test_a_ticket_draws_the_same_handling_time_whoever_else_is_on_the_roster() -> None:
    day = [message(i * 3, f"c{i}", "invoice please" if i % 2 else "hello") for i in range(30)]
    billing = f"  - {{id: b-1, skills: [billing], shifts: {ALL_WEEK}}}\n"
    general = f"  - {{id: g-1, shifts: {ALL_WEEK}}}\n"
    handling = "{exponential: {mean: 20m}}"
    alone = run(roster(billing, handling), day)
    helped = run(roster(billing + general, handling), day)

    def drawn(result: object) -> dict[str, float]:
        return {o.ticket_id: o.handle_s for o in result.outcomes if o.queue == "billing"}  # type: ignore[attr-defined]

    assert len(drawn(alone)) == 15
    assert drawn(alone) == drawn(helped)


@pytest.mark.parametrize("value", [".inf", ".nan", "1e308", "-1"])
def test_a_duration_in_seconds_must_be_finite_and_at_most_100_years(value: str) -> None:
    text = roster(f"  - {{id: a, shifts: {ALL_WEEK}}}\n", f"{{fixed: {value}}}")
    with pytest.raises(RosterInvalid) as refused:
        loads_roster(text, "roster.yaml")
    [error] = refused.value.errors
    assert str(error).startswith("roster.yaml:")


def test_a_group_too_large_to_simulate_is_one_located_error() -> None:
    text = roster(f"  - {{group: g, count: 1000000000, shifts: {ALL_WEEK}}}\n")
    with pytest.raises(RosterInvalid) as refused:
        loads_roster(text, "roster.yaml")
    [error] = refused.value.errors
    assert "more than a roster simulates" in str(error)


def test_a_group_named_twice_is_one_error_not_one_per_member() -> None:
    group = f"  - {{group: g, count: 1000, shifts: {ALL_WEEK}}}\n"
    with pytest.raises(RosterInvalid) as refused:
        loads_roster(roster(group + group), "roster.yaml")
    [error] = refused.value.errors
    assert "duplicate agent 'g-1' and 999 more" in str(error)


@pytest.mark.parametrize("time", ["9999-12-31T12:00:00Z", "0001-01-01T12:00:00+00:00"])
def test_an_event_dated_off_the_calendar_is_a_located_error(time: str) -> None:
    line = orjson.dumps({"specversion": "1.0", "id": "e", "type": "t", "time": time})
    with pytest.raises(ConfigError, match=r"day.jsonl:3: time .* outside the years"):
        parse_line(line, "day.jsonl:3")


@pytest.mark.parametrize(
    ("channel", "said"), [("voice", "events opened a ticket;"), ("fax", "1 of them skipped")]
)
def test_a_day_that_opens_no_ticket_is_an_error(tmp_path: Path, channel: str, said: str) -> None:
    ringing = {
        "specversion": "1.0",
        "id": "call-1",
        "source": "/test",
        "type": "switchboard.interaction.received",
        "time": "2026-11-23T10:00:00Z",
        "data": {
            "channel": channel,
            "customer": {"phone": "+15551234567"},
            "metadata": {"call_event": "ringing"},
            "text": "",
        },
    }
    events = tmp_path / "day.jsonl"
    events.write_bytes(orjson.dumps(ringing) + b"\n")
    roster_file = tmp_path / "roster.yaml"
    roster_file.write_text(roster(f"  - {{id: a, shifts: {ALL_WEEK}}}\n"), encoding="utf-8")
    request = Request(roster_file, events, ROOT / "rules" / "examples")
    quiet = Console(file=io.StringIO())
    with pytest.raises(ConfigError, match="none of its 1 events opened a ticket") as refused:
        asyncio.run(run_command(request, quiet, quiet))
    assert said in str(refused.value)
