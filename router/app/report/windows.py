"""The metric windows a report covers: read from the compacted metric topics, or
recomputed from the ``tickets`` topic with the metrics role's own pure contributions.

Both paths yield the same shape, one ``Row`` per metric window (contract section 8), so
the figures and charts never know where the numbers came from."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import orjson
from aiokafka import ConsumerRecord
from pydantic import ValidationError

from consumers.domain.windows import CONTRIBUTORS, window_of
from consumers.state.backlog import waiting_since
from router.app.reading import Progress, require_topics
from router.app.rebuild import read_all
from router.codec import decode_event
from router.errors import SwitchboardError
from router.events import MetricRecord, Ticket, metric_key
from router.settings import Settings
from router.topics import METRIC_TOPICS, Topic
from router.vocabulary import AWAITING_AGENT, SETTLED

GAUGES = ("open", "waiting", "oldest_waiting_seconds")


@dataclass(frozen=True, slots=True)
class Period:
    """Windows whose start lies in ``[start, end)``."""

    start: datetime
    end: datetime

    def holds(self, at: datetime) -> bool:
        return self.start <= at < self.end

    def whole(self, window_s: int) -> Period:
        """The period widened to whole metric windows: a ``--from`` inside a window had
        left that window out (its activity before and after the time given), and a
        ``--to`` inside one counted the rest of it, while the report said the times
        given. Windows align to the Unix epoch (``window_of``)."""
        start, _ = window_of(self.start, window_s)
        try:
            last, end = window_of(self.end, window_s)
        except OverflowError:  # the last window of year 9999 ends past any datetime
            raise ValueError("--to: out of range: give a year up to 9998") from None
        return Period(start, last if last == self.end else end)

    def spelled(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M:%S} to {self.end:%Y-%m-%d %H:%M:%S} UTC"


@dataclass(frozen=True, slots=True)
class Row:
    metric: str
    start: datetime
    dimensions: dict[str, str]
    counters: dict[str, int]
    definitions: tuple[str, ...] = ()  # fcr: the definition hashes it was counted under


@dataclass(slots=True)
class Windows:
    rows: list[Row] = field(default_factory=list)
    source: str = ""
    records_read: dict[str, int] = field(default_factory=dict)


def parse_when(text: str, *, end: bool = False) -> datetime:
    """A day, ``YYYY-MM-DD`` or ``YYYYMMDD`` (midnight UTC; as an end, the midnight after:
    the day is included), or an ISO 8601 time (UTC when it names no offset). A week date
    (``2026-W49``: its Monday, to Python) is refused: as an end it cut a week to a day."""
    try:
        return _parse_when(text.strip(), end=end)
    except OverflowError:  # 9999-12-31 as an end: its midnight after is past any datetime
        raise ValueError(f"{text.strip()!r} is out of range: give a year up to 9998") from None


def _parse_when(text: str, *, end: bool) -> datetime:
    if "W" in text.upper().partition("T")[0]:
        raise ValueError(f"{text!r} is a week; give a day as YYYY-MM-DD, or an ISO 8601 time")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        day = None
    if day is not None:
        at = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return at + timedelta(days=1) if end else at
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither YYYY-MM-DD nor an ISO 8601 time") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC)


def latest_revisions(records: Iterable[ConsumerRecord[bytes, bytes]], period: Period) -> list[Row]:
    """The last record written under every key (what compaction keeps), inside ``period``."""
    newest: dict[str, MetricRecord] = {}
    for record in records:
        key = (record.key or b"").decode(errors="replace")
        if record.value is None:
            newest.pop(key, None)
            continue
        try:
            metric = MetricRecord.model_validate(orjson.loads(record.value))
        except (orjson.JSONDecodeError, ValidationError):
            continue
        newest[key] = metric
    return [
        Row(
            m.metric,
            m.window.start.astimezone(UTC),
            dict(m.dimensions),
            dict(m.counters),
            tuple(m.definition_hashes or ([m.definition_hash] if m.definition_hash else [])),
        )
        for m in newest.values()
        if period.holds(m.window.start)
    ]


async def read_metric_topics(
    settings: Settings, period: Period, progress: Progress | None = None
) -> Windows:
    """The latest revision of every window in ``period``; raises MissingTopics naming
    every metric topic not there, before reading any (``recompute_from_tickets`` reads
    one topic: ``read_all`` names it)."""
    await require_topics(settings, *METRIC_TOPICS.values())
    found = Windows(source="compacted metric topics")
    for topic in METRIC_TOPICS.values():
        records = await read_all(settings, topic, progress)
        found.records_read[topic.value] = len(records)
        found.rows.extend(latest_revisions(records, period))
    return found


async def recompute_from_tickets(
    settings: Settings, period: Period, progress: Progress | None = None
) -> Windows:
    records = await read_all(settings, Topic.TICKETS, progress)
    found = Windows(source="recomputed from the tickets topic")
    found.records_read[Topic.TICKETS.value] = len(records)
    found.rows = recompute(records, settings.metrics_window_s, period)
    return found


def recompute(
    records: Iterable[ConsumerRecord[bytes, bytes]], window_s: int, period: Period
) -> list[Row]:
    """Each lifecycle event counted once (by id, as the metrics role's markers do) into
    its event-time window; backlog gauges measured from the snapshots at each window's end."""
    events: dict[str, tuple[datetime, str, dict[str, object]]] = {}
    for record in records:
        try:
            event = decode_event(record.value)
        except SwitchboardError:
            continue  # the metrics role dead-letters these; they count nowhere
        at = event.time or datetime.fromtimestamp(record.timestamp / 1000, UTC)
        events.setdefault(event.id, (at.astimezone(UTC), event.type, event.data or {}))
    counters: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    meta: dict[str, tuple[str, datetime, dict[str, str]]] = {}
    definitions: dict[str, set[str]] = defaultdict(set)
    tickets: dict[str, Ticket] = {}
    waits: dict[str, float] = {}  # waiting tickets: since when, as the metrics role keeps it
    queues: set[str] = set()  # every queue a ticket was in: its gauges go on, at zero
    current: datetime | None = None
    for at, event_type, data in sorted(events.values(), key=lambda e: e[0]):
        start, _ = window_of(at, window_s)
        if current is not None and start != current:
            _backlog(tickets, waits, current, window_s, counters, meta, queues)
        current = start
        snapshot = data.get("ticket")
        if isinstance(snapshot, dict):
            with contextlib.suppress(ValidationError):  # the metrics role dead-letters it
                ticket = tickets[str(snapshot.get("id"))] = Ticket.model_validate(snapshot)
                if ticket.status in AWAITING_AGENT:
                    waits[ticket.id] = waiting_since(ticket, waits.get(ticket.id))
                else:
                    waits.pop(ticket.id, None)
        for contributor in CONTRIBUTORS:
            for c in contributor(event_type, data):
                key = metric_key(c.metric, start, c.dimensions)
                meta[key] = (c.metric, start, c.dimensions)
                counters[key][c.counter] += c.amount
                if c.definition:
                    definitions[key].add(c.definition)
    if current is not None:
        _backlog(tickets, waits, current, window_s, counters, meta, queues)
    return [
        Row(metric, start, dims, dict(counters[key]), tuple(sorted(definitions.get(key, ()))))
        for key, (metric, start, dims) in meta.items()
        if period.holds(start)
    ]


def _backlog(  # noqa: PLR0917 - the state of one replay, passed along
    tickets: dict[str, Ticket],
    waits: dict[str, float],
    start: datetime,
    window_s: int,
    counters: dict[str, dict[str, int]],
    meta: dict[str, tuple[str, datetime, dict[str, str]]],
    queues: set[str],
) -> None:
    """The per-queue gauges as ``consumers/state/backlog.py`` keeps them, at window end.
    A queue once seen reports zeros, not gaps: ``queues`` holds every queue a ticket was
    in (a queue a transfer or an escalation emptied had kept its last figures)."""
    end = start + timedelta(seconds=window_s)
    queues.update(ticket.queue or "none" for ticket in tickets.values())
    for queue in queues:
        gauges = _gauges(start, queue, counters, meta)
        for name in GAUGES:
            gauges.setdefault(name, 0)
    for ticket in tickets.values():
        gauges = _gauges(start, ticket.queue or "none", counters, meta)
        if ticket.status in SETTLED:
            continue
        gauges["open"] += 1
        if ticket.status in AWAITING_AGENT:
            gauges["waiting"] += 1
            since = waits.get(ticket.id, ticket.created_at.timestamp())
            age = max(0, round(end.timestamp() - since))
            gauges["oldest_waiting_seconds"] = max(gauges["oldest_waiting_seconds"], age)


def _gauges(
    start: datetime,
    queue: str,
    counters: dict[str, dict[str, int]],
    meta: dict[str, tuple[str, datetime, dict[str, str]]],
) -> dict[str, int]:
    dims = {"queue": queue}
    key = metric_key("workload", start, dims)
    meta[key] = ("workload", start, dims)
    return counters[key]
