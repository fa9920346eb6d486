"""Metric consumers: read only the ticket lifecycle topic, keep exact windowed counters in
Redis (``consumers/state/counters.py``), and publish revisioned records to compacted metric
topics.

Exactness under redelivery: every increment is guarded by a marker for (window key, event
id) in the same Lua call. Publishing is driven by a *dirty* set, so a crash between the
increment and the publish is repaired by the next flush: the record is never lost, and a
re-published revision simply overwrites itself on the compacted topic.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from pydantic import ValidationError

from consumers.deadletter import parked
from consumers.domain.windows import (
    Contribution,
    Contributor,
    derived_values,
    every_counter,
    window_of,
)
from consumers.outbox import Send
from consumers.runner import Record
from consumers.state.backlog import Backlog
from consumers.state.counters import Gauges, Increment, WindowCounters, WindowState
from router.codec import JSON_HEADER, decode_event, dumps
from router.errors import InvalidEvent, SwitchboardError
from router.events import CloudEvent, MetricRecord, Ticket, Window, iso, metric_key, utcnow
from router.limits import Limits
from router.observability import Telemetry
from router.redis import RedisClient
from router.topics import METRIC_TOPICS, OutRecord
from router.vocabulary import LIFECYCLE_TYPES

log = structlog.get_logger("switchboard.metrics")


def read_lifecycle(value: bytes | None, limits: Limits) -> tuple[CloudEvent, Ticket]:
    """A lifecycle record as the metrics role reads it, with its snapshot; raises
    (``SwitchboardError``, ``ValidationError``) for what the role dead-letters, so a
    recount can leave out exactly those. Every lifecycle record carries the ticket
    (contract section 7): one without is not counted under made-up dimensions."""
    limits.check_record(value)
    event = decode_event(value)
    if event.type not in LIFECYCLE_TYPES:
        raise InvalidEvent(f"unknown lifecycle type {event.type!r}")
    ticket = (event.data or {}).get("ticket")
    if not isinstance(ticket, dict):
        raise InvalidEvent("/data/ticket: every lifecycle record carries the ticket's snapshot")
    return event, Ticket.model_validate(ticket)


class MetricsHandler:
    name = "metrics"

    def __init__(
        self,
        client: RedisClient,
        send: Send,
        contributors: list[Contributor],
        *,
        window_s: int,
        lateness_s: int,
        ttl_s: int,
        telemetry: Telemetry | None = None,
        prefix: str = "sb",
        clock: Callable[[], float] = time.time,
        limits: Limits | None = None,
    ) -> None:
        """``prefix``: the deployment's (``SWITCHBOARD_TOPIC_PREFIX``), as for every store."""
        self._limits = limits or Limits()
        self._send = send
        self._contributors = contributors
        self._window_s = window_s
        self._lateness_s = lateness_s
        ttl = max(ttl_s, window_s + lateness_s + 3600)  # a window outlives its lateness
        self._telemetry = telemetry
        self._clock = clock
        self._counters = WindowCounters(client, prefix=prefix, ttl_s=ttl)
        self._backlog = Backlog(client, prefix=prefix)
        self._snapshot_window: datetime | None = None

    async def handle(self, records: list[Record]) -> None:
        deadletters: list[OutRecord] = []
        pending: list[tuple[str, str, Contribution, datetime]] = []
        latest: dict[str, Ticket] = {}
        for record in records:
            try:
                event, snapshot = read_lifecycle(record.value, self._limits)
                latest[snapshot.id] = snapshot
                at = event.time or datetime.fromtimestamp(record.timestamp / 1000, UTC)
                for contributor in self._contributors:
                    pending.extend(
                        (event.id, key, c, start)
                        for c in contributor(event.type, event.data or {})
                        for start, key in [self._key(c, c.at or at)]
                    )
            except (SwitchboardError, ValidationError) as exc:
                deadletters.append(parked(record, self.name, exc, self._limits, self._telemetry))
        await self._backlog.follow(list(latest.values()))
        await self._apply(pending)
        if deadletters:
            await self._send(deadletters)
        await self.flush()

    def _key(self, c: Contribution, at: datetime) -> tuple[datetime, str]:
        start, _ = window_of(at, self._window_s)
        return start, metric_key(c.metric, start, c.dimensions)

    async def _apply(self, pending: list[tuple[str, str, Contribution, datetime]]) -> None:
        increments = [
            Increment(
                window=key,
                event_id=event_id,
                counter=c.counter,
                amount=c.amount,
                meta={
                    "metric": c.metric,
                    "dimensions": c.dimensions,
                    "start": iso(start),
                    **({"definition_hash": c.definition} if c.definition else {}),
                },
                end=start.timestamp() + self._window_s,
            )
            for event_id, key, c, start in pending
        ]
        applied = await self._counters.add(increments)
        if self._telemetry:
            for (_, _, c, _), done in zip(pending, applied, strict=True):
                if done:
                    self._telemetry.metric_counters.labels(
                        c.metric,
                        c.counter,
                        c.dimensions.get("queue", ""),
                        c.dimensions.get("channel", ""),
                        c.dimensions.get("target", ""),
                    ).inc(c.amount)
                    if c.counter == "handle_seconds_sum":  # AHT as a distribution too
                        queue = c.dimensions.get("queue", "")
                        self._telemetry.handle_time.labels(queue).observe(c.amount)

    async def flush(self) -> None:
        """Publish a new revision of every window that changed since the last flush.

        A window whose allowed lateness has already passed (a late event opened or
        changed it) goes out once, as final, and is closed: publishing it open first, or
        again as final at the next tick with nothing changed, would be a revision that
        says nothing new (contract section 8)."""
        dirty = await self._counters.dirty()
        if not dirty:
            return
        ends = await self._counters.ends(dirty)
        horizon = self._clock() - self._lateness_s
        late = [w for w in dirty if w in ends and ends[w] <= horizon]
        live = [w for w in dirty if w not in ends or ends[w] > horizon]
        if live:
            await self._publish(live, final=False)
        if late:
            await self._publish(late, final=True)
            await self._counters.closed(late)
        await self._counters.published(dirty)

    async def tick(self) -> None:
        """Flush, snapshot the backlog once per window, and mark windows whose allowed
        lateness has passed as final."""
        await self.flush()
        await self._snapshot_backlog()
        due = await self._counters.due(self._clock() - self._lateness_s)
        if due:
            await self._publish(due, final=True)
            await self._counters.closed(due)

    async def _snapshot_backlog(self) -> None:
        """The workload backlog gauges per queue, once in every window: every process
        sets its own ``/metrics`` gauges, but only the one that claims the window (its
        first tick in any process) publishes them, so a process joining mid-window does
        not set them a second time."""
        now = self._clock()
        start, end = window_of(datetime.fromtimestamp(now, UTC), self._window_s)
        if start == self._snapshot_window:
            return
        gauges = await self._backlog.gauges(now)
        self._scrape(gauges)
        if gauges and await self._counters.claim_snapshot(metric_key("workload", start, {})):
            await self._publish_gauges(gauges, start, end)
        self._snapshot_window = start

    def _scrape(self, gauges: dict[str, dict[str, int]]) -> None:
        if self._telemetry:
            for queue, values in gauges.items():
                self._telemetry.backlog.labels(queue).set(values["open"])
                self._telemetry.backlog_waiting.labels(queue).set(values["waiting"])
                self._telemetry.backlog_oldest_waiting.labels(queue).set(
                    values["oldest_waiting_seconds"]
                )

    async def _publish_gauges(
        self, gauges: dict[str, dict[str, int]], start: datetime, end: datetime
    ) -> None:
        windows = [
            Gauges(
                window=metric_key("workload", start, {"queue": queue}),
                meta={"metric": "workload", "dimensions": {"queue": queue}, "start": iso(start)},
                values=values,
                end=end.timestamp(),
            )
            for queue, values in gauges.items()
        ]
        await self._counters.set_gauges(windows)
        await self._publish([w.window for w in windows], final=False)

    async def _publish(self, keys: list[str], *, final: bool) -> None:
        states = await self._counters.revise(keys, final=final)
        records = []
        for key, state in zip(keys, states, strict=True):
            if state is not None:  # None: expired, nothing left to report
                record = self._record(state)
                topic = METRIC_TOPICS[record.metric]
                unset = {
                    name
                    for name in ("definition_hash", "definition_hashes")
                    if getattr(record, name) is None
                }
                value = dumps(record.model_dump(mode="json", exclude=unset))
                records.append(OutRecord(topic, key, value, (JSON_HEADER,)))
        await self._send(records)

    def _record(self, state: WindowState) -> MetricRecord:
        meta = state.meta
        start = datetime.fromisoformat(meta["start"])
        end = datetime.fromtimestamp(start.timestamp() + self._window_s, UTC)
        return MetricRecord(
            metric=meta["metric"],
            window=Window(start=start, end=end),
            dimensions=meta["dimensions"],
            counters=every_counter(meta["metric"], meta["dimensions"], state.counters),
            values=derived_values(meta["metric"], state.counters, meta["dimensions"]),
            revision=state.revision,
            final=state.final,
            emitted_at=utcnow(),
            definition_hash=meta.get("definition_hash"),
            definition_hashes=list(state.definitions) if len(state.definitions) > 1 else None,
        )
