"""SLA policies: targets per priority, due and warning times in business time."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from rules import loads_ruleset

pytestmark = pytest.mark.unit

BERLIN = ZoneInfo("Europe/Berlin")
RULES = loads_ruleset(
    """version: 1
calendars:
  office: {timezone: Europe/Berlin, hours: {mon: [09:00-17:00], tue: [09:00-17:00]}}
queues: {general: {}}
sla:
  standard:
    calendar: office
    first_response: {urgent: 30m, high: 1h, normal: 4h, low: 1d}
    resolution: {normal: 8h}
    warn_before: 15m
  live-chat:
    first_response: 2m
defaults: {queue: general, sla: standard}
"""
)
STANDARD = RULES.sla_policies["standard"]
CHAT = RULES.sla_policies["live-chat"]


def test_targets_per_priority_and_one_value_for_all() -> None:
    assert STANDARD.target("first_response", "urgent") == timedelta(minutes=30)
    assert STANDARD.target("first_response", "low") == timedelta(days=1)
    assert STANDARD.target("next_response", "normal") is None
    assert {CHAT.target("first_response", p) for p in ("low", "normal", "high", "urgent")} == {
        timedelta(minutes=2)
    }
    with pytest.raises(ValueError, match="unknown SLA target"):
        STANDARD.target("first_reply", "normal")


def test_due_runs_on_business_time_with_a_calendar() -> None:
    monday_16 = datetime(2026, 3, 2, 16, 0, tzinfo=BERLIN)
    assert STANDARD.due("first_response", "normal", monday_16) == datetime(
        2026, 3, 3, 12, 0, tzinfo=BERLIN
    )
    assert STANDARD.due("resolution", "normal", monday_16) == datetime(
        2026, 3, 3, 16, 0, tzinfo=BERLIN
    )
    assert STANDARD.due("next_response", "normal", monday_16) is None


def test_due_runs_around_the_clock_without_a_calendar() -> None:
    saturday = datetime(2026, 3, 7, 3, 0, tzinfo=BERLIN)
    assert CHAT.due("first_response", "high", saturday) == saturday + timedelta(minutes=2)
    assert CHAT.elapsed(saturday, saturday + timedelta(hours=5)) == timedelta(hours=5)


def test_warning_comes_warn_before_ahead_in_business_time() -> None:
    monday_16_50 = datetime(2026, 3, 2, 16, 50, tzinfo=BERLIN)
    assert STANDARD.warning("first_response", "urgent", monday_16_50) == datetime(
        2026, 3, 3, 9, 5, tzinfo=BERLIN
    )
    assert CHAT.warning("first_response", "urgent", monday_16_50) is None


def test_elapsed_counts_business_time_only() -> None:
    friday = datetime(2026, 3, 6, 12, 0, tzinfo=BERLIN)
    tuesday = datetime(2026, 3, 10, 10, 0, tzinfo=BERLIN)
    assert STANDARD.elapsed(friday, tuesday) == timedelta(hours=8 + 1)
