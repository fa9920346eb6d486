"""What the metrics role and ``metrics verify`` count from lifecycle records, per window
key: the two counts the unit tests hold against each other."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from typing import Any

import orjson

from consumers.domain.windows import CONTRIBUTORS, window_of
from router.app.recount import Recount
from router.events import metric_key

Counts = dict[str, dict[str, int]]


def contributed(
    records: list[bytes], contributors: Iterable[Callable[[str, Any], Any]] = CONTRIBUTORS
) -> Counts:
    """What the metrics role's contribution functions count, per window key."""
    windows: Counts = {}
    for value in records:
        event = orjson.loads(value)
        at = datetime.fromisoformat(event["time"])
        for contributor in contributors:
            for c in contributor(event["type"], event["data"]):
                key = metric_key(c.metric, window_of(c.at or at, 60)[0], c.dimensions)
                counters = windows.setdefault(key, {})
                counters[c.counter] = counters.get(c.counter, 0) + c.amount
    return windows


def recounted(records: list[bytes], metrics: Collection[str] | None = None) -> Counts:
    """What ``metrics verify`` recounts, per window key (of ``metrics`` only, if given)."""
    recount = Recount(60)
    for value in records:
        recount.add_record(value, 0)
    return {w.key: c for w, c in recount.windows.items() if metrics is None or w.metric in metrics}
