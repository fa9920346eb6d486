"""SLA policies: how long a ticket may wait, per target and priority, in business time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from router.vocabulary import SLA_TARGETS as TARGETS
from rules.calendar import Calendar
from rules.errors import Mark


@dataclass(frozen=True, eq=False)
class SlaPolicy:
    """Targets per SLA target and priority; the clock runs only when ``calendar`` is open.

    Without a calendar the clock runs around the clock (24x7). Durations are lengths of
    business time: with a 09:00-17:00 calendar, ``1d`` means 24 business hours (three
    working days); write ``8h`` for "one working day".
    """

    name: str
    targets: Mapping[str, Mapping[str, timedelta]]
    calendar: Calendar | None = None
    warn_before: timedelta | None = None
    warn_mark: Mark | None = field(default=None, repr=False)  # where warn_before is written

    def target(self, target: str, priority: str) -> timedelta | None:
        """The allowed time for ``target`` at ``priority``, or None when there is none."""
        if target not in TARGETS:
            raise ValueError(f"unknown SLA target {target!r}; expected one of {TARGETS}")
        return self.targets.get(target, {}).get(priority)

    def beyond_reach(self) -> list[tuple[str, str, timedelta]]:
        """``(target, priority, length)`` of each target longer than the calendar's
        ``reach``: no due time could be computed for it, so the loader refuses it."""
        if self.calendar is None:
            return []
        reach = self.calendar.reach()
        return [
            (target, priority, length)
            for target, allowed in self.targets.items()
            for priority, length in allowed.items()
            if length > reach
        ]

    def due(self, target: str, priority: str, start: datetime) -> datetime | None:
        """When ``target`` is breached for a clock started at ``start``."""
        times = self.times(target, priority, start)
        return times[0] if times else None

    def warning(self, target: str, priority: str, start: datetime) -> datetime | None:
        """When to warn: ``warn_before`` of business time before ``due`` (None: no warning)."""
        times = self.times(target, priority, start)
        return times[1] if times else None

    def times(
        self, target: str, priority: str, start: datetime
    ) -> tuple[datetime, datetime | None] | None:
        """``(due, warning)`` for a clock started at ``start``, both from one walk through
        the calendar. The warning is ``warn_before`` of business time before the due time
        (None without one); None for a target the policy does not have."""
        allowed = self.target(target, priority)
        if allowed is None:
            return None
        lengths = [allowed]
        if self.warn_before is not None and self.warn_before < allowed:
            lengths.append(allowed - self.warn_before)
        if self.calendar is None:
            ends = [start + length for length in lengths]
        else:
            ends = self.calendar.add_each(start, lengths)
        return ends[0], ends[1] if len(ends) > 1 else None

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Business time the clock ran between ``start`` and ``end``."""
        if self.calendar is None:
            return end - start
        return self.calendar.between(start, end)
