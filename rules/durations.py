"""Durations as rule authors write them: ``30m``, ``1h``, ``1d``, ``2h30m``, ``45s``."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")

DURATION_HINT = "write durations like 30m, 1h, 1d or 2h30m (units: w d h m s)"
LONGEST = timedelta(days=36_500)
"""A hundred years: the longest duration a rule file may write, anywhere. A calendar's
due times reach less far (``rules.calendar.HORIZON_YEARS``), which the loader checks
against each policy's calendar."""
_LONGEST_S = int(LONGEST.total_seconds())
_DIGITS = 20
"""A number of more digits is past ``LONGEST`` in any unit (36500d is 3,153,600,000s), so
it is not read: Python refuses to read an int of over 4,300 digits (a ValueError)."""


def _seconds(text: str) -> int | None:
    """The seconds ``text`` writes as a duration, None when it is not one; one of its
    numbers longer than ``_DIGITS`` reads as just past ``LONGEST``."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or not any(match.groups()):
        return None
    numbers = [(group or "0").lstrip("0") or "0" for group in match.groups()]
    if any(len(number) > _DIGITS for number in numbers):
        return _LONGEST_S + 1
    weeks, days, hours, minutes, seconds = map(int, numbers)
    return (((weeks * 7 + days) * 24 + hours) * 60 + minutes) * 60 + seconds


def too_long(text: str) -> bool:
    """Whether ``text`` is written as a duration but is longer than ``LONGEST``: worth
    its own message, as "bad duration" sends the author looking for a typo."""
    seconds = _seconds(text)
    return seconds is not None and seconds > _LONGEST_S


def parse_duration(text: str) -> timedelta | None:
    """The duration, or None when ``text`` is not one (or is zero, or over ``LONGEST``)."""
    seconds = _seconds(text)
    if seconds is None or not 0 < seconds <= _LONGEST_S:
        return None
    return timedelta(seconds=seconds)
