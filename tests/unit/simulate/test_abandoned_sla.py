"""Customers who give up count against the service level (as contact centres count
abandoned contacts): a clock its ticket can no longer meet is missed whenever it was
due, so ``--target`` cannot be met by letting customers leave. Giving up is the
customer's: it still happens when no agent of the roster can serve. ``--target`` reads
PCT as a percentage. ``utilisation`` counts seats beside ``occupancy``."""

from __future__ import annotations

import asyncio

import pytest

from router.app.simulate.roster import loads_roster
from router.app.simulate.target import Target, parse_target, search
from router.errors import ConfigError
from rules import loads_ruleset
from tests.unit.simulate.helpers import ALL_WEEK, message, roster, run

pytestmark = pytest.mark.unit

# clocks due long after the simulated work is over
SLOW = loads_ruleset(
    """
version: 1
queues:
  general: {}
sla:
  standard: {first_response: 4h, resolution: 1d}
defaults: {queue: general, priority: normal, sla: standard}
assignment: {capacity: {email: 1, chat: 1}}
rules: []
"""
)
CHATS = [message(i, f"c{i}", channel="chat") for i in range(3)]  # 00:00, 00:01, 00:02
PATIENT_1M = "{chat: {fixed: 1m}}"


def group(count: int) -> str:
    return f"  - {{group: g, count: {count}, shifts: {ALL_WEEK}}}\n"


def test_abandoned_tickets_count_as_missed_although_not_yet_due() -> None:
    # one agent takes the first chat for 10 minutes; the other two give up after 1 minute,
    # hours before their clocks would be due
    result = run(roster(group(1), "{fixed: 10m}", PATIENT_1M), CHATS, SLOW)
    overall = result.report["overall"]
    assert (overall["handled"], overall["abandoned"], overall["unserved"]) == (1, 2, 0)
    assert overall["sla"] == {"first_response": 1 / 3, "resolution": 1 / 3}
    assert not Target("resolution", 0.5).met_by(result.report)
    [interval] = overall["intervals"]
    assert interval["sla"] == {"first_response": 1 / 3, "resolution": 1 / 3}


def test_a_target_is_not_met_by_customers_giving_up() -> None:
    text = roster(group(1), "{fixed: 10m}", PATIENT_1M)
    found = asyncio.run(
        search(
            SLOW,
            loads_roster(text, "r.yaml"),
            CHATS,
            Target("resolution", 0.5),
            reopen_window_s=7 * 86400,
        )
    )
    # one agent serves 1 of 3 before the others give up, two serve 2 of 3
    assert found.roster.head_count() == 2
    assert found.result.report["overall"]["sla"]["resolution"] == pytest.approx(2 / 3)


def test_with_nobody_on_the_roster_every_customer_gives_up() -> None:
    """The run does not stop before the last customer in line has given up: none is
    left unserved, and every clock of the day is missed."""
    result = run(roster(group(0), "{fixed: 10m}", PATIENT_1M), CHATS, SLOW)
    overall = result.report["overall"]
    assert (overall["handled"], overall["abandoned"], overall["unserved"]) == (0, 3, 0)
    assert overall["sla"] == {"first_response": 0.0, "resolution": 0.0}
    assert result.unserved == []


def test_with_nobody_on_the_roster_and_no_patience_the_tickets_are_unserved() -> None:
    day = [message(i, f"e{i}") for i in range(3)]
    result = run(roster(group(0)), day, SLOW)
    overall = result.report["overall"]
    assert overall["unserved"] == 3
    assert overall["sla"] == {"first_response": 0.0, "resolution": 0.0}
    assert result.unserved == ["queue general: 3 tickets never served: no agent is on the roster"]


@pytest.mark.parametrize(
    ("text", "share"),
    [
        ("first_response=1", 0.01),
        ("first_response=80", 0.8),
        ("first_response=80%", 0.8),
        ("first_response=80.5", 0.805),
        ("first_response=0.8%", 0.008),
        ("first_response=100", 1.0),
    ],
)
def test_pct_is_a_percentage(text: str, share: float) -> None:
    assert parse_target(text).share == pytest.approx(share)


@pytest.mark.parametrize("text", ["first_response=0.8", "first_response=.8"])
def test_a_fraction_is_refused_as_ambiguous(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_target(text)
    assert caught.value.setting == "--target"
    if text.endswith("0.8"):
        assert "write first_response=80 for 80%" in str(caught.value)


@pytest.mark.parametrize("text", ["first_response=0", "first_response=101", "first_response=0%"])
def test_a_share_outside_0_to_100_is_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="above 0% and at most 100%"):
        parse_target(text)


def test_utilisation_counts_seats_where_occupancy_counts_agents() -> None:
    """One agent with three chat seats holds one chat for the whole run (00:00-00:10):
    occupied all the time, using a third of its seats. Its email seat is left out: no
    email came in."""
    agents = f"  - {{id: a-1, capacity: {{chat: 3, email: 1}}, shifts: {ALL_WEEK}}}\n"
    report = run(roster(agents), [message(0, "c", channel="chat")]).report
    for part in (report["overall"], report["queues"]["general"]):
        assert part["occupancy"] == 1.0
        assert part["utilisation"] == pytest.approx(1 / 3)
        [interval] = part["intervals"]
        assert interval["utilisation"] == pytest.approx(1 / 3)
    # two chats at once: two of the three seats
    two = [message(0, "c", channel="chat"), message(0, "d", channel="chat")]
    assert run(roster(agents), two).report["overall"]["utilisation"] == pytest.approx(2 / 3)
