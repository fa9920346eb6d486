"""Business-time arithmetic: split shifts, holidays, DST, and its algebraic properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules import Calendar
from rules.calendar import parse_shift

pytestmark = pytest.mark.unit

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")

OFFICE = Calendar.build(
    "office",
    "Europe/Berlin",
    {day: ["08:00-12:00", "13:00-17:00"] for day in WEEKDAYS},
    holidays=["2026-12-24", "2026-12-25", "2026-04-03"],
)
NIGHT_DESK = Calendar.build(
    "night",
    "America/New_York",
    {"sat": ["00:00-24:00"], "sun": ["00:00-06:00", "22:00-24:00"], "wed": ["01:30-02:30"]},
    holidays=["2026-11-29"],
)
ALWAYS = Calendar.build(
    "always",
    "Europe/Berlin",
    {key: ["00:00-24:00"] for key in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
)


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


def test_is_open_respects_split_shifts_and_boundaries() -> None:
    assert OFFICE.is_open(berlin(2026, 3, 4, 8, 0))
    assert OFFICE.is_open(berlin(2026, 3, 4, 11, 59))
    assert not OFFICE.is_open(berlin(2026, 3, 4, 12, 0))
    assert not OFFICE.is_open(berlin(2026, 3, 4, 12, 30))
    assert OFFICE.is_open(berlin(2026, 3, 4, 13, 0))
    assert not OFFICE.is_open(berlin(2026, 3, 4, 17, 0))
    assert not OFFICE.is_open(berlin(2026, 3, 7, 10, 0))  # Saturday
    assert not OFFICE.is_open(berlin(2026, 12, 24, 10, 0))  # holiday
    assert OFFICE.is_open(datetime(2026, 3, 4, 9, 0, tzinfo=UTC))  # 10:00 in Berlin


def test_add_skips_lunch_nights_weekends_and_holidays() -> None:
    assert OFFICE.add(berlin(2026, 3, 4, 11, 30), timedelta(hours=1)) == berlin(2026, 3, 4, 13, 30)
    assert OFFICE.add(berlin(2026, 3, 4, 7, 0), timedelta(hours=8)) == berlin(2026, 3, 4, 17, 0)
    assert OFFICE.add(berlin(2026, 3, 6, 16, 0), timedelta(hours=2)) == berlin(2026, 3, 9, 9, 0)
    assert OFFICE.add(berlin(2026, 12, 23, 16, 30), timedelta(hours=1)) == berlin(
        2026, 12, 28, 8, 30
    )
    assert OFFICE.add(berlin(2026, 3, 7, 10, 0), timedelta(0)) == berlin(2026, 3, 7, 10, 0)


def test_add_keeps_the_callers_time_zone() -> None:
    result = OFFICE.add(datetime(2026, 3, 4, 7, 0, tzinfo=UTC), timedelta(hours=1))
    assert result.tzinfo is UTC
    assert result == datetime(2026, 3, 4, 8, 0, tzinfo=UTC)


def test_between_counts_only_open_time_and_is_antisymmetric() -> None:
    friday_noon, monday_noon = berlin(2026, 3, 6, 12, 0), berlin(2026, 3, 9, 12, 0)
    assert OFFICE.between(friday_noon, monday_noon) == timedelta(hours=4 + 4)
    assert OFFICE.between(monday_noon, friday_noon) == -timedelta(hours=8)
    assert OFFICE.between(berlin(2026, 12, 24, 0, 0), berlin(2026, 12, 26, 0, 0)) == timedelta(0)


def test_dst_spring_forward_day_is_23_hours_and_autumn_25() -> None:
    assert ALWAYS.between(berlin(2026, 3, 29, 0, 0), berlin(2026, 3, 30, 0, 0)) == timedelta(
        hours=23
    )
    assert ALWAYS.between(berlin(2026, 10, 25, 0, 0), berlin(2026, 10, 26, 0, 0)) == timedelta(
        hours=25
    )
    assert ALWAYS.add(berlin(2026, 3, 29, 0, 0), timedelta(hours=24)) == berlin(2026, 3, 30, 1, 0)


def test_office_hours_stay_eight_hours_across_a_dst_weekend() -> None:
    friday, monday = berlin(2026, 3, 27, 9, 0), berlin(2026, 3, 30, 9, 0)
    assert OFFICE.between(friday, monday) == timedelta(hours=8)  # fri 09-12, 13-17; mon 08-09
    due = OFFICE.add(berlin(2026, 3, 27, 16, 0), timedelta(hours=2))
    assert due == berlin(2026, 3, 30, 9, 0)
    assert due.utcoffset() == timedelta(hours=2)


def test_shifts_in_the_dst_gap_and_overlap_count_real_time() -> None:
    gap_day = Calendar.build("gap", "Europe/Berlin", {"sun": ["02:00-04:00"]})
    assert gap_day.between(berlin(2026, 3, 29, 0, 0), berlin(2026, 3, 30, 0, 0)) == timedelta(
        hours=1
    )
    assert gap_day.between(berlin(2026, 10, 25, 0, 0), berlin(2026, 10, 26, 0, 0)) == timedelta(
        hours=3
    )


def test_new_york_split_night_shifts() -> None:
    ny = datetime(2026, 3, 8, 5, 59, tzinfo=NEW_YORK)  # Sunday, DST began at 02:00
    assert NIGHT_DESK.is_open(ny)
    assert not NIGHT_DESK.is_open(ny + timedelta(minutes=1))
    sunday = NIGHT_DESK.between(
        datetime(2026, 3, 8, tzinfo=NEW_YORK), datetime(2026, 3, 9, tzinfo=NEW_YORK)
    )
    assert sunday == timedelta(hours=5 + 2)  # 00:00-06:00 loses an hour to DST
    assert NIGHT_DESK.between(
        datetime(2026, 11, 29, tzinfo=NEW_YORK), datetime(2026, 11, 30, tzinfo=NEW_YORK)
    ) == timedelta(0)


def test_next_open() -> None:
    assert OFFICE.next_open(berlin(2026, 3, 4, 12, 15)) == berlin(2026, 3, 4, 13, 0)
    assert OFFICE.next_open(berlin(2026, 3, 4, 9, 0)) == berlin(2026, 3, 4, 9, 0)
    assert OFFICE.next_open(berlin(2026, 12, 23, 17, 0)) == berlin(2026, 12, 28, 8, 0)


def test_naive_times_and_negative_durations_are_rejected() -> None:
    with pytest.raises(ValueError, match="aware"):
        OFFICE.is_open(datetime(2026, 3, 4, 10, 0))
    with pytest.raises(ValueError, match="negative"):
        OFFICE.add(berlin(2026, 3, 4, 10, 0), timedelta(hours=-1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("09:00-17:00", (540, 1020)), ("0:00-24:00", (0, 1440)), (" 13:30 - 14:45 ", (810, 885))],
)
def test_parse_shift(text: str, expected: tuple[int, int]) -> None:
    assert parse_shift(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("9-17", "is not a shift"),
        ("17:00-09:00", "ends before it starts"),
        ("09:00-09:00", "is empty"),
        ("09:61-10:00", "does not exist"),
        ("23:00-25:00", "does not exist"),
    ],
)
def test_parse_shift_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_shift(text)


def test_calendar_validation() -> None:
    with pytest.raises(ValueError, match="overlap"):
        Calendar.build("c", "UTC", {"mon": ["09:00-12:00", "11:00-13:00"]})
    with pytest.raises(ValueError, match="at least one shift"):
        Calendar.build("c", "UTC", {"mon": []})


# -- properties ----------------------------------------------------------------------------

CALENDARS = st.sampled_from([OFFICE, NIGHT_DESK, ALWAYS])
INSTANTS = st.datetimes(
    min_value=datetime(2026, 1, 1),
    max_value=datetime(2027, 1, 1),
    timezones=st.just(UTC),
)
DURATIONS = st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=120))


@settings(max_examples=200, deadline=None)
@given(calendar=CALENDARS, start=INSTANTS, duration=DURATIONS)
def test_add_then_between_round_trips(
    calendar: Calendar, start: datetime, duration: timedelta
) -> None:
    end = calendar.add(start, duration)
    assert end >= start
    assert calendar.between(start, end) == duration
    if duration:
        assert calendar.is_open(end - timedelta(microseconds=1))


@settings(max_examples=200, deadline=None)
@given(calendar=CALENDARS, points=st.lists(INSTANTS, min_size=3, max_size=3))
def test_between_is_additive_and_monotonic(calendar: Calendar, points: list[datetime]) -> None:
    a, b, c = points
    assert calendar.between(a, c) == calendar.between(a, b) + calendar.between(b, c)
    low, mid, high = sorted(points)
    assert timedelta(0) <= calendar.between(low, mid) <= calendar.between(low, high)
    assert calendar.between(low, high) <= high - low


@settings(max_examples=200, deadline=None)
@given(calendar=CALENDARS, start=INSTANTS, d1=DURATIONS, d2=DURATIONS)
def test_add_is_monotonic_and_composes(
    calendar: Calendar, start: datetime, d1: timedelta, d2: timedelta
) -> None:
    small, large = sorted((d1, d2))
    assert calendar.add(start, small) <= calendar.add(start, large)
    assert calendar.between(start, calendar.add(calendar.add(start, d1), d2)) == d1 + d2


@settings(max_examples=200, deadline=None)
@given(calendar=CALENDARS, start=INSTANTS, durations=st.lists(DURATIONS, max_size=4))
def test_add_each_is_add_of_each_in_any_order(
    calendar: Calendar, start: datetime, durations: list[timedelta]
) -> None:
    """One walk for several durations (an SLA's due and warning) gives what one walk per
    duration gives, in the order asked; ``between`` checks each independently."""
    ends = calendar.add_each(start, durations)
    assert ends == [calendar.add(start, d) for d in durations]
    assert [calendar.between(start, end) for end in ends] == durations


@settings(max_examples=40, deadline=None)
@given(
    calendar=CALENDARS,
    start=INSTANTS.map(lambda t: t.replace(second=0, microsecond=0)),
    minutes=st.integers(min_value=0, max_value=3 * 24 * 60),
)
def test_between_counts_exactly_the_open_minutes(
    calendar: Calendar, start: datetime, minutes: int
) -> None:
    """An independent oracle: walk minute by minute and ask is_open."""
    open_minutes = sum(calendar.is_open(start + timedelta(minutes=m)) for m in range(minutes))
    assert calendar.between(start, start + timedelta(minutes=minutes)) == timedelta(
        minutes=open_minutes
    )


@pytest.mark.parametrize(
    ("where", "shift", "open_for", "probe", "is_open"),
    [
        # the clocks skip 02:00-03:00: a shift ending inside the gap ends when they jump
        (("America/New_York", "2027-03-14"), "01:00-02:30", 1.0, "2027-03-14T07:15", False),
        # one starting inside the gap opens when they jump (03:00 EDT), not at 04:00
        (("America/New_York", "2027-03-14"), "02:30-05:00", 2.0, "2027-03-14T07:15", True),
        # the clocks repeat 01:00-02:00: both passes of 01:15-01:45 count
        (("America/New_York", "2026-11-01"), "01:15-01:45", 1.0, "2026-11-01T06:30", True),
        # Santiago falls back at midnight: 23:00-24:00 comes twice, the shift is open in
        # the last half hour of each pass only (23:10 on the second pass is closed)
        (("America/Santiago", "2027-04-03"), "23:30-24:00", 1.0, "2027-04-04T03:10", False),
        # and springs forward at midnight: the day starts at 01:00
        (("America/Santiago", "2026-09-06"), "00:30-08:00", 7.0, "2026-09-06T04:15", True),
    ],
)
def test_a_shift_is_open_whenever_the_wall_clock_reads_a_time_inside_it(
    where: tuple[str, str], shift: str, open_for: float, probe: str, is_open: bool
) -> None:
    """Shifts are wall-clock times: around a clock change, business time is the real
    time the wall clock shows inside the shift (an independent oracle built on zoneinfo
    agreed on every such case). Each edge had been placed by the offset before the
    change: an hour late in a skipped hour, one pass only of a repeated one."""
    zone, day = where
    when = datetime.fromisoformat(day)
    weekday = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[when.weekday()]
    calendar = Calendar.build("edge", zone, {weekday: [shift]})
    start = when.replace(tzinfo=UTC) - timedelta(days=1)
    assert calendar.between(start, start + timedelta(days=3)) == timedelta(hours=open_for)
    at = datetime.fromisoformat(f"{probe}+00:00")  # UTC
    assert calendar.is_open(at) is is_open


def test_a_date_the_time_zone_skipped_has_no_business_time() -> None:
    """Samoa moved across the date line: Friday 2011-12-30 never happened there."""
    calendar = Calendar.build("apia", "Pacific/Apia", {"fri": ["09:00-17:00"]})
    start = datetime(2011, 12, 29, tzinfo=UTC)
    assert calendar.between(start, start + timedelta(days=5)) == timedelta(0)


def test_local_times_across_a_dst_change_count_the_time_that_passed() -> None:
    """A start given in a local zone had been added to in wall-clock time: New York's
    00:30 on the autumn change plus 2 h came out 02:30 EST (07:30Z), an hour late, and
    ``between`` of the two said 2 h where 3 h had passed."""
    always = Calendar.build(
        "ny-always", "America/New_York", {key: ["00:00-24:00"] for key in ALWAYS_DAYS}
    )
    start = datetime(2026, 11, 1, 0, 30, tzinfo=NEW_YORK)
    due = always.add(start, timedelta(hours=2))
    # (compared in UTC: a time of the repeated hour equals no time of another zone)
    assert due.astimezone(UTC) == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    assert due.tzinfo is NEW_YORK  # in the start's zone, as it says
    assert always.between(start, due) == timedelta(hours=2)
    later = datetime(2026, 11, 1, 2, 30, tzinfo=NEW_YORK)  # EST: 3 h after the start
    assert always.between(start, later) == timedelta(hours=3)
    assert always.add(start.astimezone(UTC), timedelta(hours=2)) == due.astimezone(UTC)


ALWAYS_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
