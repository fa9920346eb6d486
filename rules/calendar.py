"""Business calendars: when a team is at work, and time measured only while it is.

Shifts are wall-clock times in the calendar's time zone; each local day's shifts are
turned into UTC instants with zoneinfo, so arithmetic across a DST change counts the
real time that passed (a 09:00-17:00 shift is always eight hours, and a shift over the
night the clocks change is an hour shorter or longer, as it really is).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SHIFT = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")
_DAY = timedelta(days=1)
_ZERO = timedelta(0)
_MAX_DAYS = 366 * 50  # how far ahead the arithmetic looks: see ``Calendar.reach``
HORIZON_YEARS = _MAX_DAYS // 366
# Clock changes that shorten a day, per year (one in zones with daylight saving today;
# two to be safe), each by at most this much (Antarctica/Troll moves two hours)
_SHORT_DAYS_PER_YEAR = 2
_LONGEST_CLOCK_CHANGE = timedelta(hours=2)
_CACHE_LIMIT = _MAX_DAYS  # a walk as long as the arithmetic looks never recomputes a day
_SECOND = timedelta(seconds=1)

Shift = tuple[int, int]  # minutes since local midnight, end exclusive, end <= 24:00


def parse_shift(text: str) -> Shift:
    """``"09:00-17:00"`` as minutes since midnight; ValueError says what is wrong."""
    match = _SHIFT.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"'{text}' is not a shift like 09:00-17:00")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if m1 > 59 or m2 > 59 or start > 1440 or end > 1440:
        raise ValueError(f"'{text}' has a time that does not exist (use 00:00 to 24:00)")
    if end == start:
        raise ValueError(f"shift '{text}' is empty (it ends as it starts)")
    if end < start:
        raise ValueError(
            f"shift '{text}' ends before it starts; split a night shift over two days "
            "(22:00-24:00 and 00:00-06:00)"
        )
    return start, end


def _day_length(shifts: Iterable[Shift]) -> timedelta:
    return timedelta(minutes=sum(end - start for start, end in shifts))


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"business-time arithmetic needs an aware datetime, got {at!r}")


@dataclass(frozen=True, eq=False)
class Calendar:
    """A weekly timetable of shifts in one time zone, minus holidays.

    ``hours`` maps a weekday (``mon``..``sun``) to its shifts; a missing day is closed.
    """

    name: str
    timezone: ZoneInfo
    hours: Mapping[str, Sequence[Shift]]
    holidays: frozenset[date] = frozenset()
    _weekly: tuple[tuple[Shift, ...], ...] = field(init=False, repr=False)
    _cache: dict[date, tuple[tuple[datetime, datetime], ...]] = field(
        init=False, repr=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        weekly: list[tuple[Shift, ...]] = []
        for day in WEEKDAYS:
            shifts = tuple(sorted(self.hours.get(day, ())))
            for (_, end), (start, _) in pairwise(shifts):
                if start < end:
                    raise ValueError(f"shifts on {day} overlap")
            weekly.append(shifts)
        unknown = set(self.hours) - set(WEEKDAYS)
        if unknown:
            raise ValueError(f"unknown weekday {sorted(unknown)[0]!r}")
        if not any(weekly):
            raise ValueError("a calendar needs at least one shift in the week")
        object.__setattr__(self, "_weekly", tuple(weekly))
        if self.reach() <= _ZERO:
            raise ValueError(
                f"its holidays leave it no open time in {HORIZON_YEARS} years; "
                "remove holidays that fall on closed days or long past"
            )

    @classmethod
    def build(
        cls,
        name: str,
        timezone: str,
        hours: Mapping[str, Iterable[str]],
        holidays: Iterable[date | str] = (),
    ) -> Calendar:
        """A calendar from the spellings used in rule files (for code and tests)."""
        return cls(
            name=name,
            timezone=ZoneInfo(timezone),
            hours={day: tuple(parse_shift(s) for s in shifts) for day, shifts in hours.items()},
            holidays=frozenset(
                d if isinstance(d, date) else date.fromisoformat(d) for d in holidays
            ),
        )

    def open_per_week(self) -> timedelta:
        """Business time in a week of wall-clock shifts (no holiday, no clock change)."""
        return sum((_day_length(shifts) for shifts in self._weekly), _ZERO)

    def reach(self) -> timedelta:
        """The business time ``add`` can count from any start, at the least: what the
        calendar is open in the days it looks ahead (``HORIZON_YEARS``), less every
        holiday and the hours daylight-saving changes can take. An SLA target longer
        than this would have no due time, so the loader refuses it (a calendar open an
        hour a week reaches about 2,500 hours, a 40-hour week over 100,000)."""
        weeks = (_MAX_DAYS - 1) // 7  # whole weeks after a start's own, partly used day
        by_weekday = [_day_length(shifts) for shifts in self._weekly]
        holidays = sum((by_weekday[d.weekday()] for d in self.holidays), _ZERO)
        change = min(_LONGEST_CLOCK_CHANGE, max(by_weekday))
        clock_changes = change * _SHORT_DAYS_PER_YEAR * (HORIZON_YEARS + 1)
        return self.open_per_week() * weeks - holidays - clock_changes

    def open_intervals(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The UTC intervals during which the calendar is open on local ``day``."""
        cached = self._cache.get(day)
        if cached is not None:
            return cached
        intervals: list[tuple[datetime, datetime]] = []
        shifts = self._weekly[day.weekday()]
        if day not in self.holidays and shifts:
            wall_midnight = datetime.combine(day, time(0))  # naive: the local wall clock
            for seg_start, seg_end, offset in self._day_segments(day):
                for start_min, end_min in shifts:
                    # the shift's wall-clock span at this offset, within this stretch
                    start = wall_midnight + timedelta(minutes=start_min) - offset
                    end = wall_midnight + timedelta(minutes=end_min) - offset
                    start_utc = max(start.replace(tzinfo=UTC), seg_start)
                    end_utc = min(end.replace(tzinfo=UTC), seg_end)
                    if end_utc > start_utc:
                        intervals.append((start_utc, end_utc))
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        result = tuple(_merged(sorted(intervals)))
        self._cache[day] = result
        return result

    def _day_segments(self, day: date) -> list[tuple[datetime, datetime, timedelta]]:
        """The UTC instants whose local date is ``day``, as stretches of one UTC offset
        each: one, or two on a day the clocks change. A shift is wall-clock time, so it
        is placed in each stretch by that stretch's offset: an hour the clocks skip is
        open from the moment they jump, and an hour they repeat counts twice, as on a
        wall clock. A date a time zone skipped (Apia's 2011-12-30) has none."""
        start = datetime.combine(day, time(0), tzinfo=self.timezone).astimezone(UTC)
        end = datetime.combine(day + _DAY, time(0), tzinfo=self.timezone).astimezone(UTC)
        if end <= start:
            return []
        first = self._offset(start)
        last = self._offset(end - _SECOND)
        if first == last:
            return [(start, end, first)]
        low, high = start, end - _SECOND  # the first second at the new offset, bisected
        while high - low > _SECOND:
            middle = low + (high - low) / 2
            middle -= timedelta(microseconds=middle.microsecond)
            if self._offset(middle) == first:
                low = middle
            else:
                high = middle
        return [(start, high, first), (high, end, last)]

    def _offset(self, at: datetime) -> timedelta:
        return at.astimezone(self.timezone).utcoffset() or _ZERO

    def _local_day(self, at: datetime) -> date:
        return at.astimezone(self.timezone).date()

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` falls inside a shift on a working day."""
        _require_aware(at)
        return any(start <= at < end for start, end in self.open_intervals(self._local_day(at)))

    def next_open(self, at: datetime) -> datetime:
        """The first instant at or after ``at`` when the calendar is open."""
        _require_aware(at)
        day = self._local_day(at)
        for _ in range(_MAX_DAYS):
            for start, end in self.open_intervals(day):
                if end > at:
                    return max(start, at).astimezone(at.tzinfo)
            day += _DAY
        raise ValueError(f"calendar {self.name!r} never opens")  # pragma: no cover

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant when ``duration`` of business time has passed since ``start``.

        A result that lands exactly on closing time is returned as closing time; the
        result is in ``start``'s time zone.
        """
        return self.add_each(start, (duration,))[0]

    def add_each(self, start: datetime, durations: Sequence[timedelta]) -> list[datetime]:
        """``add(start, d)`` for each of ``durations``, in one walk through the calendar
        (an SLA clock's due and warning times start from the same moment)."""
        _require_aware(start)
        if any(d < _ZERO for d in durations):
            raise ValueError("duration must not be negative")
        zone, start = start.tzinfo, start.astimezone(UTC)  # arithmetic in UTC: real time
        results = [start.astimezone(zone)] * len(durations)
        pending = sorted((d, i) for i, d in enumerate(durations) if d != _ZERO)
        if not pending:
            return results
        passed = _ZERO  # business time from start to the beginning of the interval
        day = self._local_day(start)
        for _ in range(_MAX_DAYS):
            for open_at, close_at in self.open_intervals(day):
                if close_at <= start:
                    continue
                begin = max(open_at, start)
                available = close_at - begin
                while pending and pending[0][0] - passed <= available:
                    duration, i = pending.pop(0)
                    results[i] = (begin + (duration - passed)).astimezone(zone)
                if not pending:
                    return results
                passed += available
            day += _DAY
        # not for a loaded ruleset: the loader holds every SLA target to ``reach``
        raise ValueError(f"calendar {self.name!r} never opens")  # pragma: no cover

    def between(self, a: datetime, b: datetime) -> timedelta:
        """Business time from ``a`` to ``b`` (negative when ``b`` is before ``a``)."""
        _require_aware(a)
        _require_aware(b)
        a, b = a.astimezone(UTC), b.astimezone(UTC)  # a local zone's times differ by wall time
        if b < a:
            return -self.between(b, a)
        total = _ZERO
        day, last = self._local_day(a), self._local_day(b)
        while day <= last:
            for open_at, close_at in self.open_intervals(day):
                overlap = min(close_at, b) - max(open_at, a)
                if overlap > _ZERO:
                    total += overlap
            day += _DAY
        return total


def _merged(
    intervals: Iterable[tuple[datetime, datetime]],
) -> list[tuple[datetime, datetime]]:
    """Sorted intervals, those that touch or overlap joined (a shift's two passes of a
    repeated hour can meet)."""
    out: list[tuple[datetime, datetime]] = []
    for start, end in intervals:
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out
