"""``switchboard metrics verify``: are the compacted metric topics the truth?

An independent batch recount of every metric window (contract section 8) from the
``tickets`` topic, diffed key by key against the last record written of every key on the
metric topics. It is written from the documented definitions, not with the metrics
role's own code, so a bug in that code cannot hide in both sides:

- every lifecycle event counts once, by CloudEvents id (a re-published copy shares it),
  in the tumbling window of its event time (``time``; the record's timestamp without
  one), whenever it arrived;
- ``sla`` (queue, channel, priority, policy, target): ``met`` where a reply
  (``.responded``: ``first``/``next`` response) or the resolution (``.resolved``) said
  ``within_sla: true``; ``breached`` in the window of the breach's *due time*;
  ``warned`` in the window of the warning; a warning or breach under the queue,
  priority and policy it fired under (its ``queue``, ``priority`` and ``policy``, when
  the event has them);
- ``fcr`` (queue, channel, agent): ``resolved`` per resolution, ``resolved_first_contact``
  when the router judged it first contact (``first_contact``; the definition is the
  router's, configurable in the rules file), ``reopened_after_first_contact`` per reopen
  of such a ticket (``was_first_contact``), in the reopen's window, under the queue it
  was reopened in (its ``queue``, when the event has it);
- ``satisfaction`` (queue, channel, agent): CSAT responses and satisfied (4-5), NPS
  responses, promoters (9-10), passives (7-8), detractors (0-6), CES responses and sum;
- ``workload`` (queue, channel): created, resolved, reopened (under the queue it was
  reopened in, as the takeback), escalated; ``handled`` and ``handle_seconds_sum`` per
  reply (public, or internal: a ``.note_added`` with ``handle_seconds``) that reported
  its handle time, and per answered or ended call: the seconds summed exactly (in
  milliseconds) and rounded once per window, half up; ``aht_seconds`` from the exact sum.

The agent of a window is the event's ``agent_id``, else the ticket's assignee, else the
agent who resolved it (the snapshot's ``resolved_by``), else ``none``; a takeback
(``reopened_after_first_contact``) is the resolver's alone (``resolved_by``, ``none``
when null), whoever reopened, so it lands where the resolution's credit did; only a
snapshot without the field (written before it existed) counts it as any event. A ticket
without a queue or SLA policy counts under ``none``.

On a running system the check compares at a common cut-off: before reading anything it
takes the offsets the metrics role's consumer group has committed on ``tickets`` (the
role commits only after it counted and published a batch), reads the metric topics, then
``tickets``. A window that any event at or past that offset counts in is still being
counted (``windows_open``): it is left out of the comparison and reported, not named as
a difference. Every other window was published with all its events before the metric
topics were read, so its newest record must equal the recount exactly. When the group
has committed nothing (no metrics role ever ran, or the records were counted another
way) every window is compared.

Not verified: the workload *backlog gauges* (``open``, ``waiting``,
``oldest_waiting_seconds``). They are snapshots the metrics role takes on its own clock
once per window, of the backlog at that moment; a replay of event time cannot know when
that moment was, so there is nothing exact to compare them with. Records that hold only
gauges are skipped, and gauge counters are ignored on the others.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any
from urllib.parse import unquote

import orjson
import structlog
from aiokafka import ConsumerRecord, TopicPartition

from consumers.metrics import MetricsHandler
from consumers.state.counters import WindowCounters
from router.app.reading import Progress, read_through, require_topics
from router.app.recount import (
    Counters,
    Recount,
    WindowId,
    as_published,
    documented_values,
    parse_time,
)
from router.app.report.windows import Period
from router.errors import ConfigError, SwitchboardError
from router.kafka import make_admin
from router.redis import make_redis
from router.settings import Settings
from router.topics import METRIC_TOPICS, Topic, TopicNames

GAUGES = frozenset({"open", "waiting", "oldest_waiting_seconds"})
IGNORED_DIMENSIONS = frozenset({"definition_hash"})
"""Dimensions that name how a figure was defined, not what it counts: a window split by
them is compared as one."""

log = structlog.get_logger("switchboard.verify")


@dataclass(frozen=True, slots=True)
class Difference:
    key: str
    what: str  # a counter or value name, or "window"
    expected: object
    found: object

    def __str__(self) -> str:
        if self.what == "window":
            if self.found is None:
                return f"{self.key}: missing from the metric topics (recount: {self.expected})"
            return f"{self.key}: not in the recount (metric topics: {self.found})"
        return f"{self.key}: {self.what} recount {self.expected}, metric topics {self.found}"


@dataclass(slots=True)
class Verified:
    differences: list[Difference] = field(default_factory=list)
    windows_recounted: int = 0
    windows_found: int = 0
    windows_open: int = 0  # still being counted at the cut-off: not compared
    caveat: str | None = None  # what the check could not tell, one line for its output
    events: int = 0
    duplicates: int = 0
    unreadable: int = 0
    records_read: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.differences


# ---------------------------------------------------------------- the metric topics


@dataclass(slots=True)
class Published:
    """The last record written under every key of the metric topics: what compaction
    keeps and a monitoring system reads, even when an earlier record carries a higher
    revision (a forged or replayed one is then no longer what anyone sees)."""

    newest: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)

    def add_record(self, key: bytes | None, value: bytes | None) -> None:
        name = (key or b"").decode(errors="replace")
        if value is None:
            self.newest.pop(name, None)  # a tombstone
            return
        try:
            record = orjson.loads(value)
        except orjson.JSONDecodeError:
            return
        if not isinstance(record, dict):
            return
        revision = record.get("revision")
        self.newest[name] = (revision if isinstance(revision, int) else 0, record)

    def window_sizes(self) -> set[int]:
        """The window lengths the records hold, in seconds: the metrics role's setting."""
        sizes = set()
        for _, record in self.newest.values():
            window = record.get("window")
            if isinstance(window, dict):
                start, end = parse_time(window.get("start")), parse_time(window.get("end"))
                if start is not None and end is not None:
                    sizes.add(round((end - start).total_seconds()))
        return sizes

    def windows(self) -> Iterator[tuple[WindowId, Counters, dict[str, Any]]]:
        """Every window without its gauges, merged over ignored dimensions."""
        merged: dict[WindowId, tuple[Counters, dict[str, Any]]] = {}
        for _, record in self.newest.values():
            window = record.get("window") or {}
            start = parse_time(window.get("start") if isinstance(window, dict) else None)
            counters = record.get("counters")
            dimensions = record.get("dimensions")
            if start is None or not isinstance(counters, dict) or not isinstance(dimensions, dict):
                continue
            counted = {
                str(k): int(v)
                for k, v in counters.items()
                if k not in GAUGES and isinstance(v, int | float) and not isinstance(v, bool)
            }
            if not counted:
                continue  # a backlog snapshot only
            dims = tuple(
                sorted(
                    (str(k), str(v)) for k, v in dimensions.items() if k not in IGNORED_DIMENSIONS
                )
            )
            wid = WindowId(str(record.get("metric")), start.astimezone(UTC), dims)
            values = record.get("values") if isinstance(record.get("values"), dict) else {}
            if wid in merged:
                old, _ = merged[wid]
                for name, amount in counted.items():
                    old[name] = old.get(name, 0) + amount
                merged[wid] = (old, {})  # merged values cannot be checked one by one
            else:
                merged[wid] = (counted, dict(values or {}))
        for wid, (counters_, values_) in merged.items():
            yield wid, counters_, values_


# ---------------------------------------------------------------- the diff


def compare(
    recount: dict[WindowId, Counters],
    published: Iterable[tuple[WindowId, Counters, dict[str, Any]]],
    period: Period,
    still_open: frozenset[WindowId] | set[WindowId] = frozenset(),
) -> tuple[list[Difference], int, int]:
    """Differences, windows recounted and windows found, inside ``period``, leaving out
    the windows ``still_open`` (being counted at the cut-off)."""

    def compared(window: WindowId) -> bool:
        return period.holds(window.start) and window not in still_open

    expected = {w: c for w, c in recount.items() if compared(w)}
    found = {w: (c, v) for w, c, v in published if compared(w)}
    differences: list[Difference] = []
    for window in sorted(expected.keys() | found.keys(), key=lambda w: (w.start, w.key)):
        recounted = expected.get(window)
        mine = None if recounted is None else as_published(window.metric, recounted)
        theirs, values = found.get(window, (None, {}))
        if theirs is None:
            if mine and any(mine.values()):
                differences.append(Difference(window.key, "window", _show(mine), None))
            continue
        if mine is None:
            if any(theirs.values()):
                differences.append(Difference(window.key, "window", None, _show(theirs)))
            continue
        for name in sorted(mine.keys() | theirs.keys()):
            if mine.get(name, 0) != theirs.get(name, 0):
                differences.append(
                    Difference(window.key, name, mine.get(name, 0), theirs.get(name, 0))
                )
        for name, want in documented_values(window.metric, recounted or {}).items():
            if not values:
                break
            got = values.get(name)
            same = (want is None and got is None) or (
                want is not None
                and isinstance(got, int | float)
                and math.isclose(want, got, rel_tol=1e-9, abs_tol=1e-9)
            )
            if not same:
                differences.append(Difference(window.key, f"values.{name}", want, got))
    return differences, len(expected), len(found)


def _show(counters: Counters) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(counters.items()))


# ---------------------------------------------------------------- reading Kafka


async def read_topic(
    settings: Settings,
    topic: Topic,
    each: Callable[[ConsumerRecord[bytes, bytes]], None],
    progress: Progress | None = None,
) -> int:
    """Hand every record of ``topic``, from the beginning to its end, to ``each``; the
    number read. Records are not kept: a busy day's topic need not fit in memory."""
    read = 0
    async for batch in read_through(settings, topic, progress, max_records=10_000):
        for record in batch:
            each(record)
        read += len(batch)
    return read


async def metrics_committed(settings: Settings) -> dict[int, int] | None:
    """The offset per ``tickets`` partition up to which the metrics role's consumer group
    has counted and published (0 where it committed nothing); None when it committed
    nothing anywhere."""
    name = TopicNames(settings.topic_prefix)(Topic.TICKETS)
    admin = make_admin(settings)
    await admin.start()
    try:
        # every topic's metadata: a request naming the topic would create it on a broker
        # with auto.create.topics.enable (with the broker's partition count)
        described = [d for d in await admin.describe_topics() if d["topic"] == name]
        partitions = [
            TopicPartition(name, p["partition"]) for d in described for p in d["partitions"]
        ]
        if not partitions:
            return None  # no tickets topic: nothing to recount, nothing to cut
        offsets = await admin.list_consumer_group_offsets(
            f"{settings.consumer_group_prefix}.{MetricsHandler.name}", partitions=partitions
        )
    finally:
        await admin.close()
    committed = {tp.partition: max(0, meta.offset) for tp, meta in offsets.items()}
    return committed if any(committed.values()) else None


NO_REDIS = (
    "Redis not configured (SWITCHBOARD_REDIS_URL): windows another metrics process "
    "counted but has not yet published cannot be told apart; a difference in such a "
    "window is gone when the check runs again"
)
REDIS_UNREACHABLE = (
    "Redis not reachable ({error}): windows another metrics process counted but has "
    "not yet published cannot be told apart; a difference in such a window is gone "
    "when the check runs again"
)


async def awaiting_publication(settings: Settings) -> tuple[set[WindowId], str | None]:
    """The windows counted but not yet published (marked dirty in Redis): with several
    metrics processes, one publishes what all count, a moment after another committed.
    Read after the cut-off and before the metric topics, so a window not named here had
    every event before the cut-off on its topic already. Redis is optional: without it
    (not configured, or not reachable) the check goes on without them and says so (the
    second value, one line), since a difference it then reports may clear on a second
    run."""
    if not settings.redis.url:
        return set(), NO_REDIS
    client = make_redis(settings)
    try:
        counters = WindowCounters(client, prefix=settings.topic_prefix, ttl_s=60)
        keys = await counters.dirty()
    except (SwitchboardError, OSError) as exc:
        log.warning("metric_windows_dirty_unknown", error=type(exc).__name__)
        return set(), REDIS_UNREACHABLE.format(error=type(exc).__name__)
    finally:
        await client.aclose()
    return {wid for key in keys if (wid := window_of_key(key)) is not None}, None


def window_of_key(key: str) -> WindowId | None:
    """The window a metric record key names (``metric_key``'s inverse), or None."""
    metric, _, rest = key.partition("/")
    start_text, _, dims_text = rest.partition("/")
    start = parse_time(start_text)
    if not metric or start is None:
        return None
    dims = []
    for pair in filter(None, dims_text.split(",")):
        name, _, value = pair.partition("=")
        if name not in IGNORED_DIMENSIONS:
            dims.append((name, unquote(value)))
    return WindowId(metric, start.astimezone(UTC), tuple(sorted(dims)))


async def verify(
    settings: Settings,
    period: Period,
    progress: Progress | None = None,
) -> Verified:
    """Take the cut-off, read the metric topics, recount from ``tickets`` (read last, so
    it holds every event a metric record counted), and diff the windows counted in full
    before the cut-off. Raises MissingTopics, before reading anything, when a topic it
    reads is not there: a wrong prefix must not pass for a system with nothing to count."""
    await require_topics(settings, *METRIC_TOPICS.values(), Topic.TICKETS)
    cutoff = await metrics_committed(settings)
    result = Verified()
    unpublished: set[WindowId] = set()
    if cutoff is not None:  # a metrics role ran: some windows may await publication
        unpublished, result.caveat = await awaiting_publication(settings)
    published = Published()
    for topic in METRIC_TOPICS.values():
        result.records_read[topic.value] = await read_topic(
            settings, topic, lambda r: published.add_record(r.key, r.value), progress
        )
    sizes = published.window_sizes()
    if sizes and settings.metrics_window_s not in sizes:  # every window would differ
        shown = ", ".join(f"{size} s" for size in sorted(sizes))
        raise ConfigError(
            "SWITCHBOARD_METRICS_WINDOW_S",
            f"is {settings.metrics_window_s} s here, but the metric topics hold windows of "
            f"{shown}: set it as the metrics role has it",
        )
    recount = Recount(settings.metrics_window_s, limits=settings.limits())

    def add(record: ConsumerRecord[bytes, bytes]) -> None:
        counted = cutoff is None or record.offset < cutoff.get(record.partition, 0)
        recount.add_record(record.value, record.timestamp, counted=counted)

    result.records_read[Topic.TICKETS.value] = await read_topic(
        settings, Topic.TICKETS, add, progress
    )
    still_open = recount.open | unpublished
    differences, recounted, found = compare(
        recount.windows, published.windows(), period, still_open
    )
    result.differences = differences
    result.windows_recounted, result.windows_found = recounted, found
    result.windows_open = sum(1 for w in still_open if period.holds(w.start))
    if result.windows_open:
        log.info(
            "metric_windows_not_compared",
            windows=result.windows_open,
            reason="the metrics role had not committed every event they count when the "
            "check began, or not yet published them (still being counted); run it again "
            "to compare them",
        )
    result.events, result.duplicates = recount.events, recount.duplicates
    result.unreadable = recount.unreadable
    return result


__all__ = [
    "Difference",
    "Period",
    "Published",
    "Recount",
    "Verified",
    "WindowId",
    "compare",
    "documented_values",
    "metrics_committed",
    "read_topic",
    "verify",
]
