"""The days the tools' ``--from``/``--to`` take: a day in any ISO form is that whole day
(``--to`` includes it); ``20261207`` had been read as midnight, so ``--from 20261207 --to
20261207`` was refused and ``--to 20261206`` left that day out without a word."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from router.app.report import period_of
from router.app.report.windows import parse_when

pytestmark = pytest.mark.unit

DAY, NEXT = datetime(2026, 12, 7, tzinfo=UTC), datetime(2026, 12, 8, tzinfo=UTC)


@pytest.mark.parametrize("day", ["2026-12-07", "20261207", " 2026-12-07 "])
def test_a_day_is_the_whole_day(day: str) -> None:
    assert parse_when(day) == DAY
    assert parse_when(day, end=True) == NEXT
    period = period_of(day, day)
    assert period.holds(DAY)
    assert period.holds(datetime(2026, 12, 7, 23, 59, tzinfo=UTC))
    assert not period.holds(NEXT)


def test_a_time_is_that_instant() -> None:
    assert parse_when("2026-12-07T10:00", end=True) == datetime(2026, 12, 7, 10, tzinfo=UTC)
    assert parse_when("20261207T100000+0100") == datetime(2026, 12, 7, 9, tzinfo=UTC)


@pytest.mark.parametrize("week", ["2026-W49", "2026-W49-1", "2026W49"])
def test_a_week_date_is_refused_saying_how_to_give_a_day(week: str) -> None:
    """``2026-W49`` is the Monday of that week to Python: as a --to, a week cut to a day."""
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        parse_when(week)


@pytest.mark.parametrize(("when", "end"), [("9999-12-31", True), ("0001-01-01T00:00+01:00", False)])
def test_a_day_past_what_a_time_can_hold_is_refused_not_a_traceback(when: str, end: bool) -> None:
    """``--to 9999-12-31`` (everything, as some type it) had been an OverflowError
    traceback from report, metrics verify and export, where any other bad date is one
    line and exit 2."""
    with pytest.raises(ValueError, match="out of range"):
        parse_when(when, end=end)
    assert parse_when("9999-12-30", end=True) == datetime(9999, 12, 31, tzinfo=UTC)


def test_a_period_inside_metric_windows_is_read_as_whole_windows() -> None:
    """``--from 17:41:30`` had left out the 17:41 window, which held the activity, while
    the report said 17:41; a ``--to`` inside a window counted the rest of it."""
    from router.app.report.windows import Period

    at = datetime(2026, 12, 7, 17, 41, 30, tzinfo=UTC)
    period = Period(at, datetime(2026, 12, 7, 17, 43, 0, tzinfo=UTC))
    whole = period.whole(60)
    assert (whole.start, whole.end) == (at.replace(second=0), period.end)
    assert whole.holds(datetime(2026, 12, 7, 17, 41, tzinfo=UTC))
    inside = Period(period.start, datetime(2026, 12, 7, 17, 42, 10, tzinfo=UTC)).whole(60)
    assert inside.end == datetime(2026, 12, 7, 17, 43, tzinfo=UTC)
    assert period_of("2026-12-07", "2026-12-07").whole(60) == period_of("2026-12-07", "2026-12-07")


def test_the_tools_say_on_stderr_when_they_widened_the_period(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from router.app.console import whole_windows

    whole_windows(period_of("2026-12-07T17:41:30Z", "2026-12-07T17:43Z"), 60)
    assert capsys.readouterr().err.strip() == (
        "note: metric windows are 60 s: reading whole windows, "
        "2026-12-07 17:41:00 to 2026-12-07 17:43:00 UTC"
    )
    whole_windows(period_of("2026-12-07", "2026-12-07"), 60)
    assert capsys.readouterr().err == ""


def test_a_period_in_the_last_window_of_year_9999_is_refused_not_a_traceback() -> None:
    import typer

    from router.app.console import whole_windows

    period = period_of("9999-12-31T23:58:00", "9999-12-31T23:59:30")
    with pytest.raises(ValueError, match="out of range"):
        period.whole(60)
    with pytest.raises(typer.Exit) as exited:
        whole_windows(period, 60)
    assert exited.value.exit_code == 2
