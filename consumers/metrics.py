"""Metric consumers: read only the ticket lifecycle topic, keep exact windowed counters in
Redis (``consumers/state/counters.py``), and publish revisioned records to compacted metric
topics.

Exactness under redelivery: every increment is guarded by a marker for (window key, event
id) in the same Lua call. Publishing is driven by the *dirty* windows, so a crash between
the increment and the publish is repaired by the next flush: the record is never lost, and a
re-published revision simply overwrites itself on the compacted topic.

Every process counts the partitions it reads; one at a time publishes, the holder of the
publisher's lease (``WindowCounters.lead``). It renews the lease at every flush, right
before each send and while the acks are awaited, and a process that finds the lease gone
sends nothing: the records of one window reach the topic in revision order, the last one
the highest.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from pydantic import ValidationError

from consumers.deadletter import parked
from consumers.domain.windows import (
    COUNTERS,
    HANDLE_MS,
    HANDLE_SECONDS,
    RESPONSE_TARGETS,
    Contribution,
    Contributor,
    derived_values,
    every_counter,
    published_counters,
    window_of,
)
from consumers.outbox import Send
from consumers.runner import Record
from consumers.state.backlog import Backlog
from consumers.state.counters import Gauges, Increment, WindowCounters, WindowState
from router.codec import JSON_HEADER, decode_event, dumps
from router.errors import BackendUnavailable, InvalidEvent, SwitchboardError
from router.events import CloudEvent, MetricRecord, Ticket, Window, iso, metric_key, utcnow
from router.limits import Limits
from router.observability import Telemetry
from router.redis import RedisClient
from router.topics import METRIC_TOPICS, OutRecord
from router.vocabulary import LIFECYCLE_TYPES, EventType

log = structlog.get_logger("switchboard.metrics")

HOLD_S = 5.0
"""How long the publisher's lease outlives its last renewal (every tick, 1 s, before every
send and every ``HOLD_S / 3`` while its acks are awaited): a process that died holding it
is replaced within this time."""


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


@dataclass(frozen=True, slots=True)
class Response:
    """A first or next reply as ``switchboard_response_seconds`` observes it."""

    event_id: str
    at: datetime
    target: str  # first_response | next_response
    queue: str
    channel: str
    seconds: float


def response_of(event: CloudEvent, ticket: Ticket, at: datetime) -> Response | None:
    """The business time a ``.responded`` event says the customer waited, else None: a
    further public reply in a row answers nobody waiting (``response`` null)."""
    data = event.data or {}
    target = RESPONSE_TARGETS.get(str(data.get("response")))
    seconds = data.get("business_seconds")
    if event.type != EventType.TICKET_RESPONDED or target is None:
        return None
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return None
    if not math.isfinite(seconds) or seconds < 0:  # another producer's: NaN had made the
        return None  # histogram's sum NaN until a restart, in no bucket
    return Response(event.id, at, target, ticket.queue or "none", ticket.channel, seconds)


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
        self._scraped: set[tuple[str, str, str, str]] = set()  # label sets shown whole
        self._clock = clock
        self._counters = WindowCounters(client, prefix=prefix, ttl_s=ttl)
        self._backlog = Backlog(client, prefix=prefix, ttl_s=ttl_s)
        self._measured: tuple[datetime, dict[str, dict[str, int]]] | None = None
        self._published_window: datetime | None = None
        self._me = uuid.uuid4().hex

    async def handle(self, records: list[Record]) -> None:
        deadletters: list[OutRecord] = []
        pending: list[tuple[str, str, Contribution, datetime]] = []
        snapshots: list[tuple[str, Ticket]] = []
        responses: list[Response] = []
        for record in records:
            try:
                event, snapshot = read_lifecycle(record.value, self._limits)
                counted = self._contributions(event)
            except (SwitchboardError, ValidationError) as exc:
                deadletters.append(parked(record, self.name, exc, self._limits, self._telemetry))
                continue
            snapshots.append((event.id, snapshot))
            at = event.time or datetime.fromtimestamp(record.timestamp / 1000, UTC)
            if response := response_of(event, snapshot, at):
                responses.append(response)
            pending.extend(
                (event.id, key, c, start)
                for c in counted
                for start, key in [self._key(c, c.at or at)]
            )
        await self._backlog.follow(snapshots)
        await self._apply(pending)
        await self._observe(responses)
        if deadletters:
            await self._send(deadletters)
        await self.flush()

    def _contributions(self, event: CloudEvent) -> list[Contribution]:
        """What one event counts; refused whole (``InvalidEvent``: dead-lettered, nothing of
        it counted) when it would count anything down. A Prometheus counter only goes up:
        refused there, after Redis had counted the batch, the batch failed, and its retry
        found every count made, so none of the batch reached ``/metrics``."""
        counted = [c for f in self._contributors for c in f(event.type, event.data or {})]
        if down := next((c for c in counted if c.amount < 0), None):
            raise InvalidEvent(
                f"{down.metric} {down.counter}: a count only goes up, not by {down.amount}"
            )
        return counted

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
        # one handle time observation per handled item: a later part of a call (its
        # wrap-up at ``ended``) adds seconds to the counters, not a second observation
        items = {event_id for event_id, _, c, _ in pending if c.counter == "handled"}
        for (event_id, _, c, _), done in zip(pending, applied, strict=True):
            if done:
                self._scrape_counted(c, item=event_id in items)

    def _scrape_counted(self, c: Contribution, *, item: bool) -> None:
        """A new count into the ``/metrics`` counters: handle time as the records say it,
        ``handle_seconds_sum`` in seconds (exact: a Prometheus counter takes fractions),
        and, for a handled ``item``, into the handle time histogram (its distribution)."""
        if not self._telemetry:
            return
        counter, amount = c.counter, float(c.amount)
        if counter == HANDLE_MS:
            counter, amount = HANDLE_SECONDS, c.amount / 1000
            if item:
                self._telemetry.handle_time.labels(c.dimensions.get("queue", "")).observe(amount)
        where = (
            c.metric,
            c.dimensions.get("queue", ""),
            c.dimensions.get("channel", ""),
            c.dimensions.get("target", ""),
        )
        metric, queue, channel, target = where
        counters = self._telemetry.metric_counters
        if where not in self._scraped:  # every counter of the metric, at 0 until counted,
            self._scraped.add(where)  # as the records show them: a ratio has its terms
            for name in COUNTERS.get(metric, ()):
                counters.labels(metric, name, queue, channel, target)
        counters.labels(metric, counter, queue, channel, target).inc(amount)

    async def _observe(self, responses: list[Response]) -> None:
        """Each response time into ``switchboard_response_seconds`` once, of every metrics
        process: a redelivered ``.responded`` finds its marker (as an increment does)."""
        if not self._telemetry or not responses:
            return
        markers = [(self._key_at("sla", r.at), r.event_id) for r in responses]
        for r, new in zip(responses, await self._counters.first(markers, "response"), strict=True):
            if new:
                labels = self._telemetry.response_time.labels(r.target, r.queue, r.channel)
                labels.observe(r.seconds)

    def _key_at(self, metric: str, at: datetime) -> str:
        start, _ = window_of(at, self._window_s)
        return metric_key(metric, start, {})

    async def flush(self) -> None:
        """Publish a new revision of every window that changed since the last flush, if
        this process holds the publisher's lease (else the holder does, within a tick).

        A window whose allowed lateness has already passed (a late event opened or
        changed it) goes out once, as final, and is closed: publishing it open first, or
        again as final at the next tick with nothing changed, would be a revision that
        says nothing new (contract section 8)."""
        if await self._counters.lead(self._me, HOLD_S):
            await self._flush()

    async def _flush(self) -> None:
        dirty = await self._counters.dirty()
        if not dirty:
            return
        ends = await self._counters.ends(list(dirty))
        horizon = self._clock() - self._lateness_s
        late = [w for w in dirty if w in ends and ends[w] <= horizon]
        live = [w for w in dirty if w not in ends or ends[w] > horizon]
        if live and not await self._publish(live, final=False):
            return
        if late:
            if not await self._publish(late, final=True):
                return
            await self._counters.closed(late)
        await self._counters.published(dirty)

    async def park(self, record: Record, error: Exception) -> None:
        """Dead-letter a record whose handling failed for good (``run_consumer``)."""
        await self._send([parked(record, self.name, error, self._limits, self._telemetry)])

    async def tick(self) -> None:
        """Flush, snapshot the backlog once per window, and mark windows whose allowed
        lateness has passed as final: all but the ``/metrics`` gauges only while holding
        the publisher's lease."""
        leading = await self._counters.lead(self._me, HOLD_S)
        if leading:
            await self._flush()
        await self._snapshot_backlog(publish=leading)
        if not leading:
            return
        due = await self._counters.due(self._clock() - self._lateness_s)
        if due and await self._publish(due, final=True):
            await self._counters.closed(due)

    async def close(self) -> None:
        """On the way out: let go of the lease, so another process publishes at once
        rather than when it lapses; a Redis that does not answer is let be."""
        with contextlib.suppress(BackendUnavailable):
            await self._counters.resign(self._me)

    async def _snapshot_backlog(self, *, publish: bool) -> None:
        """The workload backlog gauges per queue, measured once in every window: every
        process sets its own ``/metrics`` gauges, but only the publisher (``publish``)
        claims the window and publishes them, once: a publisher that took over mid-window
        finds the window claimed and does not set them a second time. A process that
        measured the window while another led publishes that measure when it takes over
        within the window: it had taken the window for done, and the window of a
        failover went without a snapshot."""
        now = self._clock()
        start, end = window_of(datetime.fromtimestamp(now, UTC), self._window_s)
        if self._measured is None or self._measured[0] != start:
            gauges = await self._backlog.gauges(now)
            if not gauges:  # no queue seen yet: measured again next tick, not next window
                return
            self._scrape(gauges)
            self._measured = (start, gauges)
        if not publish or start == self._published_window:
            return
        claim = metric_key("workload", start, {})
        if await self._counters.claim_snapshot(claim):
            await self._publish_gauges(self._measured[1], start, end)
        self._published_window = start

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

    async def _publish(self, keys: list[str], *, final: bool) -> bool:
        """Send each window's next revision; False (nothing sent) when this process lost
        the publisher's lease meanwhile: the windows stay to publish by the holder."""
        states = await self._counters.revise(keys, final=final)
        records, shown = [], {}
        for key, state in zip(keys, states, strict=True):
            if state is not None:  # None: expired, or the record sent last shows it
                shown[key] = state
                record = self._record(state)
                topic = METRIC_TOPICS[record.metric]
                unset = {
                    name
                    for name in ("definition_hash", "definition_hashes")
                    if getattr(record, name) is None
                }
                value = dumps(record.model_dump(mode="json", exclude=unset))
                records.append(OutRecord(topic, key, value, (JSON_HEADER,)))
        if not await self._counters.lead(self._me, HOLD_S):
            log.info("metrics_publisher_lease_lost", windows=len(records))
            return False
        renewing = asyncio.create_task(self._hold())
        try:
            await self._send(records)
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
        await self._counters.sent(shown)
        return True

    async def _hold(self) -> None:
        """Keep the lease while acks are awaited, however slow: another process taking
        over meanwhile would send a higher revision that this send could land after. A
        Redis that does not answer is let be (the lease lapses then)."""
        with contextlib.suppress(BackendUnavailable):
            while True:
                await asyncio.sleep(HOLD_S / 3)
                await self._counters.lead(self._me, HOLD_S)

    def _record(self, state: WindowState) -> MetricRecord:
        meta = state.meta
        start = datetime.fromisoformat(meta["start"])
        end = datetime.fromtimestamp(start.timestamp() + self._window_s, UTC)
        return MetricRecord(
            metric=meta["metric"],
            window=Window(start=start, end=end),
            dimensions=meta["dimensions"],
            counters=every_counter(
                meta["metric"],
                meta["dimensions"],
                published_counters(meta["metric"], state.counters),
            ),
            values=derived_values(meta["metric"], state.counters, meta["dimensions"]),
            revision=state.revision,
            final=state.final,
            emitted_at=utcnow(),
            definition_hash=meta.get("definition_hash"),
            definition_hashes=list(state.definitions) if len(state.definitions) > 1 else None,
        )
