"""Durations as rule authors write them: ``30m``, ``1h``, ``1d``, ``2h30m``, ``45s``."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")

DURATION_HINT = "write durations like 30m, 1h, 1d or 2h30m (units: w d h m s)"
LONGEST = timedelta(days=36_500)
"""A hundred years: a due time further out is past the dates the router can compute."""


def too_long(text: str) -> bool:
    """Whether ``text`` is written as a duration but is longer than ``LONGEST``: worth
    its own message, as "bad duration" sends the author looking for a typo."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or not any(match.groups()):
        return False
    weeks, days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    total = (((weeks * 7 + days) * 24 + hours) * 60 + minutes) * 60 + seconds
    return total > LONGEST.total_seconds()


def parse_duration(text: str) -> timedelta | None:
    """The duration, or None when ``text`` is not one (or is zero, or over ``LONGEST``)."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or not any(match.groups()):
        return None
    weeks, days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    try:
        value = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
    except OverflowError:  # beyond timedelta's 999,999,999 days
        return None
    return value if timedelta(0) < value <= LONGEST else None
