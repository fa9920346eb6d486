"""Metric consumers: read only the ticket lifecycle topic, keep exact windowed counters in
Redis, and publish revisioned records to compacted metric topics.

Exactness under redelivery: every increment is guarded by a marker for (window key, event
id) in the same Lua call. Publishing is driven by a *dirty* set, so a crash between the
increment and the publish is repaired by the next flush: the record is never lost, and a
re-published revision simply overwrites itself on the compacted topic.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import redis.asyncio as aioredis
import structlog
from pydantic import ValidationError
from redis.exceptions import RedisError

from consumers.deadletter import deadletter_record
from consumers.domain.windows import Contribution, Contributor, derived_values, window_of
from consumers.outbox import Send
from consumers.runner import Record
from consumers.state.backlog import Backlog
from router.codec import JSON_HEADER, decode_event, dumps
from router.errors import BackendUnavailable, SwitchboardError
from router.events import MetricRecord, Ticket, Window, iso, metric_key, utcnow
from router.observability import Telemetry
from router.redis import text
from router.topics import METRIC_TOPICS, OutRecord

log = structlog.get_logger("switchboard.metrics")

INCREMENT = """
-- KEYS: 1 window hash, 2 marker for (window, event, counter); ARGV: counter, amount, ttl, meta
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[3]) == false then return 0 end
redis.call('HINCRBY', KEYS[1], 'c:' .. ARGV[1], ARGV[2])
redis.call('HSETNX', KEYS[1], 'meta', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""
BUMP = """
-- KEYS: 1 window hash; ARGV: 1 '1' to mark final. Returns the hash after the new revision.
redis.call('HINCRBY', KEYS[1], 'revision', 1)
if ARGV[1] == '1' then redis.call('HSET', KEYS[1], 'final', '1') end
return redis.call('HGETALL', KEYS[1])
"""


class MetricsHandler:
    name = "metrics"

    def __init__(
        self,
        client: aioredis.Redis,
        send: Send,
        contributors: list[Contributor],
        *,
        window_s: int,
        lateness_s: int,
        ttl_s: int,
        telemetry: Telemetry | None = None,
        prefix: str = "sb:m",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._r = client
        self._send = send
        self._contributors = contributors
        self._window_s = window_s
        self._lateness_s = lateness_s
        self._ttl_s = max(ttl_s, window_s + lateness_s + 3600)
        self._telemetry = telemetry
        self._p = prefix
        self._clock = clock
        self._increment = client.register_script(INCREMENT)
        self._bump = client.register_script(BUMP)
        self._backlog = Backlog(client, prefix=prefix)
        self._snapshot_window: datetime | None = None

    def _hash(self, key: str) -> str:
        return f"{self._p}:{{{key}}}"

    async def handle(self, records: list[Record]) -> None:
        deadletters: list[OutRecord] = []
        pending: list[tuple[str, str, Contribution, datetime]] = []
        latest: dict[str, Ticket] = {}
        for record in records:
            try:
                event = decode_event(record.value)
                ticket = (event.data or {}).get("ticket")
                if isinstance(ticket, dict):
                    snapshot = Ticket.model_validate(ticket)
                    latest[snapshot.id] = snapshot
                at = event.time or datetime.fromtimestamp(record.timestamp / 1000, UTC)
                for contributor in self._contributors:
                    pending.extend(
                        (event.id, key, c, start)
                        for c in contributor(event.type, event.data or {})
                        for start, key in [self._key(c, at)]
                    )
            except (SwitchboardError, ValidationError) as exc:
                deadletters.append(deadletter_record(record, self.name, exc))
        await self._backlog.follow(list(latest.values()))
        try:
            await self._apply(pending)
        except (RedisError, OSError) as exc:
            raise BackendUnavailable("redis", type(exc).__name__) from exc
        if deadletters:
            await self._send(deadletters)
        await self.flush()

    def _key(self, c: Contribution, at: datetime) -> tuple[datetime, str]:
        start, _ = window_of(at, self._window_s)
        return start, metric_key(c.metric, start, c.dimensions)

    async def _apply(self, pending: list[tuple[str, str, Contribution, datetime]]) -> None:
        if not pending:
            return
        async with self._r.pipeline(transaction=False) as pipe:
            for event_id, key, c, start in pending:
                meta = orjson.dumps(
                    {"metric": c.metric, "dimensions": c.dimensions, "start": iso(start)}
                )
                await self._increment(
                    keys=[self._hash(key), f"{self._hash(key)}:done:{event_id}:{c.counter}"],
                    args=[c.counter, c.amount, self._ttl_s, meta],
                    client=pipe,
                )
            applied = await pipe.execute()
        async with self._r.pipeline(transaction=False) as pipe:
            for _, key, _, start in pending:  # always, so a crash before a flush is repaired
                pipe.sadd(f"{self._p}:dirty", key)
                end = start.timestamp() + self._window_s
                pipe.zadd(f"{self._p}:windows", {key: end}, nx=True)
            await pipe.execute()
        if self._telemetry:
            for (_, _, c, _), done in zip(pending, applied, strict=True):
                if done:
                    self._telemetry.metric_counters.labels(
                        c.metric,
                        c.counter,
                        c.dimensions.get("queue", ""),
                        c.dimensions.get("channel", ""),
                    ).inc(c.amount)
                    if c.counter == "handle_seconds_sum":  # AHT as a distribution too
                        queue = c.dimensions.get("queue", "")
                        self._telemetry.handle_time.labels(queue).observe(c.amount)

    async def flush(self) -> None:
        """Publish a new revision of every window that changed since the last flush."""
        try:
            dirty = sorted(text(k) for k in await self._r.smembers(f"{self._p}:dirty"))
            if dirty:
                await self._publish(dirty, final=False)
                await self._r.srem(f"{self._p}:dirty", *dirty)
        except (RedisError, OSError) as exc:
            raise BackendUnavailable("redis", type(exc).__name__) from exc

    async def tick(self) -> None:
        """Flush, snapshot the backlog once per window, and mark windows whose allowed
        lateness has passed as final."""
        await self.flush()
        await self._snapshot_backlog()
        horizon = self._clock() - self._lateness_s
        try:
            found: list[Any] = await self._r.zrangebyscore(f"{self._p}:windows", "-inf", horizon)
            due = [text(k) for k in found]
            if due:
                await self._publish(due, final=True)
                await self._r.zrem(f"{self._p}:windows", *due)
        except (RedisError, OSError) as exc:
            raise BackendUnavailable("redis", type(exc).__name__) from exc

    async def _snapshot_backlog(self) -> None:
        """The workload backlog gauges per queue, once in every window (its first tick)."""
        now = self._clock()
        start, end = window_of(datetime.fromtimestamp(now, UTC), self._window_s)
        if start == self._snapshot_window:
            return
        gauges = await self._backlog.gauges(now)
        if self._telemetry:
            for queue, values in gauges.items():
                self._telemetry.backlog.labels(queue).set(values["open"])
        keys = []
        try:
            async with self._r.pipeline(transaction=False) as pipe:
                for queue, values in gauges.items():
                    dims = {"queue": queue}
                    key = metric_key("workload", start, dims)
                    meta = {"metric": "workload", "dimensions": dims, "start": iso(start)}
                    pipe.hset(self._hash(key), "meta", orjson.dumps(meta))
                    for name, value in values.items():
                        pipe.hset(self._hash(key), f"c:{name}", value)
                    pipe.expire(self._hash(key), self._ttl_s)
                    pipe.zadd(f"{self._p}:windows", {key: end.timestamp()}, nx=True)
                    keys.append(key)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise BackendUnavailable("redis", type(exc).__name__) from exc
        if keys:
            await self._publish(keys, final=False)
        self._snapshot_window = start

    async def _publish(self, keys: list[str], *, final: bool) -> None:
        async with self._r.pipeline(transaction=False) as pipe:
            for key in keys:
                await self._bump(keys=[self._hash(key)], args=["1" if final else "0"], client=pipe)
            states = await pipe.execute()
        records = []
        for key, flat in zip(keys, states, strict=True):
            record = self._record(flat)
            if record is not None:
                value = dumps(record)
                topic = METRIC_TOPICS[record.metric]
                records.append(OutRecord(topic, key, value, (JSON_HEADER,)))
        await self._send(records)

    def _record(self, flat: list[bytes]) -> MetricRecord | None:
        fields = {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}
        if "meta" not in fields:
            return None  # expired: nothing left to report
        meta = orjson.loads(fields["meta"])
        start = datetime.fromisoformat(meta["start"])
        counters = {k[2:]: int(v) for k, v in fields.items() if k.startswith("c:")}
        end = datetime.fromtimestamp(start.timestamp() + self._window_s, UTC)
        return MetricRecord(
            metric=meta["metric"],
            window=Window(start=start, end=end),
            dimensions=meta["dimensions"],
            counters=counters,
            values=derived_values(meta["metric"], counters),
            revision=int(fields["revision"]),
            final=fields.get("final") == "1",
            emitted_at=utcnow(),
        )
