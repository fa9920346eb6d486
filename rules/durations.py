"""Durations as rule authors write them: ``30m``, ``1h``, ``1d``, ``2h30m``, ``45s``."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")

DURATION_HINT = "write durations like 30m, 1h, 1d or 2h30m (units: w d h m s)"


def parse_duration(text: str) -> timedelta | None:
    """The duration, or None when ``text`` is not one (or is zero)."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or not any(match.groups()):
        return None
    weeks, days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    value = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
    return value if value > timedelta(0) else None
