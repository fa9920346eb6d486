"""``switchboard state archive``: give every settled ticket in Redis its archive timer.

The timers role sets an archive timer when it reads a ticket's ``.closed`` or
``.resolved`` (``consumers/archive.py``). Tickets settled before that existed, or while
``SWITCHBOARD_CLOSED_RETENTION_S`` was 0, have none, and a shorter retention moves no
timer already set: this walks the customers' ticket hashes once (SCAN, on every primary
of a cluster), and sets the timer of each settled ticket to its last change plus the
retention now configured (a resolved one's not before its reopen window is over). The
timers role then archives them at its pace: a ticket past the retention within
seconds. Safe while the roles run, and to run again (a timer is set, not added twice;
the archive checks the ticket as it is then).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime

import orjson

from consumers.archive import archive_member, settled_for
from consumers.state.schedule import TimerSchedule
from router.keys import Keys
from router.redis import RedisClient, glob_escape, make_redis, redis_errors, scan_every, text
from router.settings import Settings

PAGE = 500


@dataclass(frozen=True, slots=True)
class Backfilled:
    customers: int
    """Customers whose ticket hashes were read."""
    settled: int
    """Settled (closed or resolved) tickets given their archive timer."""
    due: int
    """Of those, the ones past the retention already: archived within seconds."""


async def schedule_archives(
    settings: Settings, now: float, progress: Callable[[int, int], None] | None = None
) -> Backfilled:
    """Set the archive timer of every settled ticket in Redis (see the module)."""
    retention = settings.closed_retention_s
    redis = make_redis(settings)
    schedule = TimerSchedule(redis, prefix=settings.topic_prefix, shards=settings.timers_shards)
    customers = settled = due = 0
    try:
        async for page in _ticket_hashes(redis, Keys(settings.topic_prefix)):
            with redis_errors():
                async with redis.pipeline(transaction=False) as pipe:
                    for key in page:
                        pipe.hgetall(key)
                    hashes = await pipe.execute()
            timers = {
                archive_member(ticket_id): when
                for fields in hashes
                for ticket_id, when in _settled(fields, retention, settings.reopen_window_s)
            }
            await schedule.add(timers)
            customers += len(page)
            settled += len(timers)
            due += sum(when <= now for when in timers.values())
            if progress:
                progress(customers, settled)
    finally:
        await redis.aclose()
    return Backfilled(customers, settled, due)


async def _ticket_hashes(redis: RedisClient, keys: Keys) -> AsyncIterator[list[str]]:
    """The customers' ticket hashes, a page at a time."""
    pattern = glob_escape(keys.prefix) + ":{c:*}:ticket-data"
    with redis_errors():
        page: list[str] = []
        async for key in scan_every(redis, pattern):
            page.append(text(key))
            if len(page) == PAGE:
                yield page
                page = []
    if page:
        yield page


def _settled(
    fields: dict[bytes, bytes], retention_s: int, reopen_window_s: int
) -> list[tuple[str, float]]:
    """(ticket id, archive time) of each settled ticket in a customer's ticket hash
    (``settled_for``). A snapshot that cannot be read is left alone."""
    out = []
    for name, value in fields.items():
        ticket_id, _, field = text(name).rpartition(":")
        if field != "json":
            continue
        try:
            snapshot = orjson.loads(value)
            changed = datetime.fromisoformat(snapshot["updated_at"]).timestamp()
            when = settled_for(snapshot.get("status"), changed, retention_s, reopen_window_s)
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
            continue
        if when is not None:
            out.append((ticket_id, when))
    return out
