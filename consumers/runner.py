"""The consume loop every consumer role shares: poll, handle, make effects durable, commit.

Offsets are committed only after the handler returned, i.e. after its effects are in Redis
and its output records were acknowledged by the broker. A retriable failure (Kafka or
Redis not answering) retries the same batch with backoff; it never skips a record. A
record that can never be processed is the handler's to dead-letter; a non-retriable
error is never retried. Before every attempt the role's guards run: the Redis state
marker is still the one seen at start, the topics still exist. When either vanished the
role stops with ``Unrecoverable`` rather than creating duplicates or skipping records.
So does a fetched batch the client cannot decode (corrupt, or compressed with a codec it
lacks): nothing past it is committed, and the restarted role reads it again.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import Protocol, TypeAlias, TypeVar

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError, UnknownTopicOrPartitionError

from router.errors import ConfigError, SwitchboardError, Unrecoverable
from router.kafka import replay_header, retriable
from router.logs import Sampled
from router.observability import Telemetry
from router.tuning import tune_gc

Record: TypeAlias = ConsumerRecord[bytes, bytes]
T = TypeVar("T")
log = structlog.get_logger("switchboard.consumer")


class BatchHandler(Protocol):
    name: str

    async def handle(self, records: list[Record]) -> None:
        """Apply the records' effects durably and publish their outputs before returning."""

    async def tick(self) -> None:
        """Periodic work that is not driven by records (timers, final metric windows)."""


def tick_failed(consumer: str, exc: Exception, telemetry: Telemetry | None) -> None:
    """A tick that failed on a retriable error: counted, and logged sampled (the tick
    runs each second while a backend is down)."""
    if telemetry:
        telemetry.tick_failures.labels(consumer).inc()
    held = TICK_FAILURES.take((consumer, type(exc).__name__))
    if held is not None:
        log.warning("tick_failed", consumer=consumer, error=_describe(exc), held_back=held)


TICK_FAILURES = Sampled()
"""``tick_failed`` at most once per consumer and error every 5 s: the tick runs each
second, and a backend down for a minute had written sixty lines of each."""

REVOKE_WAIT_S = 90.0
"""How long a rebalance waits for the batch in flight before giving its partitions up
anyway: longer than a notifier's slowest send (an SMTP server may take up to 90 s to
answer the message), shorter than the group's rebalance timeout (the poll interval,
300 s), and bounded, since a batch retried while Redis is away would hold the group."""


class InFlight(ConsumerRebalanceListener):  # type: ignore[misc]
    """Finish the batch in flight before giving partitions up in a rebalance.

    Without it, a process joining or leaving the group takes partitions while the batch
    read from them is still being handled; their new owner re-reads it from the last
    commit. Effects in Redis are deduped by event id, but what leaves the system cannot be
    taken back: a notifier sending an email when its partition moved saw the new owner
    send it again. So a revocation waits (at most ``REVOKE_WAIT_S``) for the batch to be
    handled and commits its offsets first, as Kafka's consumers do in this callback."""

    def __init__(self) -> None:
        self._idle = asyncio.Event()
        self._idle.set()
        self._handled: dict[TopicPartition, int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._commit_timeout_s = 10.0
        self.joined = False
        """Whether the group gave this member its share once, partitions or none: a
        replica beyond the partition count is a standby, and ready as one."""

    def bind(self, consumer: AIOKafkaConsumer, commit_timeout_s: float) -> None:
        self._consumer, self._commit_timeout_s = consumer, commit_timeout_s

    async def during(
        self, batch: dict[TopicPartition, list[Record]], handling: Awaitable[bool]
    ) -> bool:
        """``handling`` of ``batch`` (True: handled), a revocation meanwhile waiting for
        it; the offsets of a handled batch are what the revocation commits."""
        self._idle.clear()
        handled = False
        try:
            handled = await handling
        finally:
            self._handled = _next_offsets(batch) if handled else {}
            self._idle.set()
        return handled

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        if revoked:  # a rebalance: which work this process gives up (and gets, below)
            log.info("partitions_revoked", partitions=partition_list(revoked))
        try:
            await asyncio.wait_for(self._idle.wait(), REVOKE_WAIT_S)
        except TimeoutError:
            log.warning("rebalance_before_batch_done", waited_s=REVOKE_WAIT_S)
            return
        offsets = {tp: n for tp, n in self._handled.items() if tp in revoked}
        if offsets and self._consumer is not None:
            try:
                await asyncio.wait_for(self._consumer.commit(offsets), self._commit_timeout_s)
            except (KafkaError, TimeoutError) as exc:
                log.warning("commit_on_revoke_failed", error=_describe(exc))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        # the new partitions are read from their commits
        log.info("partitions_assigned", partitions=partition_list(assigned))
        self.joined = True


def partition_list(partitions: set[TopicPartition]) -> str:
    """``tickets:0,1,4 inbound:2``: the partitions of a rebalance, for one log field."""
    by_topic: dict[str, list[int]] = {}
    for tp in partitions:
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    return " ".join(f"{t}:{','.join(map(str, sorted(p)))}" for t, p in sorted(by_topic.items()))


Guard = Callable[[], Awaitable[None]]
TOPICS_GONE_HINT = (
    "the broker lost its data: run `switchboard topics ensure`, then restart the roles "
    "(their committed offsets are gone with it, so they re-read from the beginning)"
)
UNREADABLE_HINT = (
    "nothing at or past it was committed, so a restarted role reads the same batch again: "
    "a missing codec library (snappy, lz4, zstd need cramjam) is fixed by installing "
    "switchboard's dependencies again; a corrupt batch by having its producer write it "
    "again and moving the consumer group's offset past it"
)


STUCK_AFTER_S = 60.0
"""A batch retried this long makes its consumer not ready (``ConsumerState.stuck``)."""


@dataclass
class ConsumerState:
    """What readiness asks of a running consumer: has it joined its group yet, and is it
    getting on (a batch retried for a minute, its backend answering pings but not its
    work, is a consumer that routes nothing: not ready, rather than healthy while stuck)?"""

    name: str
    joined: bool = False
    retrying_since: float | None = None
    retrying_on: str = ""

    def stuck(self, now: float) -> str | None:
        """Why the consumer is stuck, when its batch has been retried STUCK_AFTER_S."""
        since = self.retrying_since
        if since is None or now - since < STUCK_AFTER_S:
            return None
        return f"{self.name}: a batch retried for {now - since:.0f} s ({self.retrying_on})"


def _retriable(exc: BaseException) -> bool:
    if isinstance(exc, SwitchboardError):
        return exc.retriable
    return retriable(exc)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def run_consumer(
    consumer: AIOKafkaConsumer,
    handler: BatchHandler,
    stop: asyncio.Event,
    *,
    telemetry: Telemetry | None = None,
    max_records: int = 500,
    poll_ms: int = 100,
    tick_every_s: float = 1.0,
    max_backoff_s: float = 5.0,
    guard: Guard | None = None,
    state: ConsumerState | None = None,
    commit_timeout_s: float = 10.0,
    in_flight: InFlight | None = None,
) -> None:
    """Run until ``stop`` is set. The batch in flight is finished or retried, never dropped.

    ``guard`` raises ``Unrecoverable`` when the role must not go on (state or topics
    vanished); it runs before every attempt at a batch and before every tick."""
    log.info("consumer_started", consumer=handler.name, topics=sorted(consumer.subscription()))
    in_flight = in_flight or InFlight()  # the listener given to ``subscribe``, if any
    in_flight.bind(consumer, commit_timeout_s)
    tune_gc()
    poller = _Poller(consumer, poll_ms, max_records)
    positions: dict[TopicPartition, int] = {}  # next offset to process: in flight or committed
    report_lag = (
        partial(_report_lag, consumer, handler.name, positions, telemetry) if telemetry else None
    )
    retrying = _Retrying(consumer, state, report_lag)
    try:
        next_tick = time.monotonic()
        while not stop.is_set():
            batch = await poller.poll(poll_ms / 1000 + tick_every_s)
            if (
                state is not None
                and not state.joined
                and (consumer.assignment() or in_flight.joined)
            ):
                state.joined = True
                log.info("consumer_joined", consumer=handler.name)
            records = [r for recs in batch.values() for r in recs]
            if records:
                started = time.perf_counter()
                positions.update({tp: recs[0].offset for tp, recs in batch.items() if recs})
                mine = addressed(records, handler.name)
                if telemetry and len(mine) < len(records):
                    telemetry.records.labels(handler.name, "skipped").inc(len(records) - len(mine))
                handling = _handle_with_retry(
                    handler,
                    mine,
                    stop,
                    telemetry,
                    max_backoff_s,
                    guard=guard,
                    on_retry=retrying,
                )
                done = await in_flight.during(batch, handling)
                retrying.over()
                if not done:
                    return  # stopping mid-retry: uncommitted records are redelivered next start
                await _commit(consumer, batch, commit_timeout_s)
                positions.update({tp: recs[-1].offset + 1 for tp, recs in batch.items() if recs})
                if telemetry:
                    telemetry.records.labels(handler.name, "processed").inc(len(records))
                    telemetry.batch_seconds.labels(handler.name).observe(
                        time.perf_counter() - started
                    )
            if report_lag:
                report_lag()
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + tick_every_s
                try:
                    if guard is not None:
                        await guard()
                    await handler.tick()
                except Exception as exc:
                    if not _retriable(exc):
                        raise
                    tick_failed(handler.name, exc, telemetry)
    finally:
        poller.cancel()
        log.info("consumer_stopping", consumer=handler.name)


@dataclass
class _Retrying:
    """What a batch being retried says: it is no progress (readiness: ``ConsumerState``),
    and the lag behind it grows: the end offsets are asked for before each backoff, as
    no fetch reports them meanwhile."""

    consumer: AIOKafkaConsumer
    state: ConsumerState | None
    report_lag: Callable[[dict[TopicPartition, int]], None] | None

    async def __call__(self, error: str) -> None:
        if self.state is not None:
            self.state.retrying_on = error
            if self.state.retrying_since is None:
                self.state.retrying_since = time.monotonic()
        if self.report_lag:
            self.report_lag(await _end_offsets(self.consumer))

    def over(self) -> None:
        if self.state is not None:
            self.state.retrying_since = None


async def _end_offsets(consumer: AIOKafkaConsumer) -> dict[TopicPartition, int]:
    """The assigned partitions' end offsets, asked of the broker (within 5 s); none when
    it does not answer (it may be what the batch waits for)."""
    try:
        async with asyncio.timeout(5):
            return dict(await consumer.end_offsets(list(consumer.assignment())))
    except Exception:  # noqa: BLE001 - lag is best effort; the retry goes on
        return {}


def _report_lag(
    consumer: AIOKafkaConsumer,
    name: str,
    positions: dict[TopicPartition, int],
    telemetry: Telemetry,
    ends: dict[TopicPartition, int] | None = None,
) -> None:
    """Consumer lag per assigned partition, from the high watermark the last fetch
    reported (no request of its own), or from ``ends`` asked for while a batch is retried
    (no fetch then). The position of a partition whose batch is in flight
    is that batch's first offset, so a batch stuck in retries shows as lag rather than 0.
    A partition not yet fetched or processed is left out until it is; one no longer
    assigned (a rebalance gave it to another process) loses its series, else its last
    value would stay on ``/metrics`` beside its new owner's and alert for ever."""
    assigned = consumer.assignment()
    for tp in [tp for tp in positions if tp not in assigned]:
        del positions[tp]
        telemetry.consumer_lag.remove(name, tp.topic, str(tp.partition))
    for tp in assigned:
        highwater = (ends or {}).get(tp) or consumer.highwater(tp)
        position = positions.get(tp)
        if highwater is not None and position is not None:
            lag = max(highwater - position, 0)
            telemetry.consumer_lag.labels(name, tp.topic, str(tp.partition)).set(lag)


class _Poller:
    """Polls with a bound on the wait. aiokafka waits without limit for a rebalance to
    finish, and cancelling that wait does not always return; a rebalance that cannot
    finish (the broker lost its data) must not keep the guard and the ticks from running.
    So a poll that overruns is left pending and awaited again next time, never doubled.
    """

    def __init__(self, consumer: AIOKafkaConsumer, poll_ms: int, max_records: int) -> None:
        self._consumer = consumer
        self._poll_ms = poll_ms
        self._max_records = max_records
        self._pending: asyncio.Future[dict[TopicPartition, list[Record]]] | None = None

    async def poll(self, limit_s: float) -> dict[TopicPartition, list[Record]]:
        if self._pending is None:
            self._pending = asyncio.ensure_future(
                self._consumer.getmany(timeout_ms=self._poll_ms, max_records=self._max_records)
            )
        done, _ = await asyncio.wait({self._pending}, timeout=limit_s)
        if not done:
            return {}
        finished, self._pending = self._pending, None
        try:
            return finished.result()
        except Exception as exc:
            # aiokafka fetches, and retries what may pass, in the background: what getmany
            # raises is about the data fetched (a batch it cannot decode, a record over the
            # fetch size, no access), and a fetch of the same bytes fails the same way. A
            # corrupt batch may fail outside aiokafka's errors too (gzip's is an OSError).
            # aiokafka has already moved its in-memory positions past what it drained of
            # other partitions in this call, and dropped those records: going on would
            # skip them, so the role stops before any commit.
            raise Unrecoverable(_unreadable(exc), UNREADABLE_HINT) from exc

    def cancel(self) -> None:
        if self._pending is not None:
            self._pending.cancel()


def _unreadable(exc: Exception) -> str:
    """Where the fetch failed and why, in one sentence. aiokafka's decode errors do not
    carry the partition or offset, but the frames they were raised from hold both: the
    partition being unpacked (``tp``) and the batch (``next_batch``). Read from the
    innermost frame that has them; a location not found is said to be unknown."""
    tp: TopicPartition | None = None
    offset: int | None = None
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        frame_locals = tb.tb_frame.f_locals
        if isinstance(found := frame_locals.get("tp"), TopicPartition):
            tp = found
        base = getattr(frame_locals.get("next_batch"), "base_offset", None)
        if isinstance(base, int):
            offset = base
        tb = tb.tb_next
    where = f"{tp.topic} partition {tp.partition}" if tp else "a fetched partition"
    at = f" at offset {offset}" if offset is not None else ""
    return f"cannot read the record batch of {where}{at}: {_describe(exc)}"


async def _handle_with_retry(
    handler: BatchHandler,
    records: list[Record],
    stop: asyncio.Event,
    telemetry: Telemetry | None,
    max_backoff_s: float,
    *,
    guard: Guard | None,
    on_retry: Callable[[str], Awaitable[None]] | None = None,
) -> bool:
    """``on_retry`` runs before each backoff, with the error: the loop reports lag only
    between batches, and a batch retried for minutes must not hide the backlog building
    behind it, nor pass for a consumer getting on.

    A batch that fails for good (an error no retry mends: a record the code cannot
    handle) is handled again record by record, and the record that fails alone is
    dead-lettered with its error (``park``): one record must not stop the consumer, which
    would fail on it again at every start. Handling is idempotent per event, so what the
    failed attempt applied is applied once. Before the record is dead-lettered, the
    handler's own work (``tick``: timers due, windows to publish, which ``handle`` does
    too) is run without it: failing as well, the fault is not the record's, and the role
    stops as before, instead of dead-lettering every record it reads."""
    backoff = 0.1
    failed: Exception | None = None  # the one record failed for good: dead-letter it
    control = False  # whether the handler's own work passed without the record
    while True:
        try:
            if guard is not None:
                await guard()
            if failed is not None and not control:
                await handler.tick()
                control = True
                _failed_for_good(handler.name, records[0], failed)
            if failed is not None:
                await handler.park(records[0], failed)  # type: ignore[attr-defined]
            elif records:  # a poll of copies replayed for other consumers only: nothing to do
                await handler.handle(records)
            return True
        except Exception as exc:
            if not _retriable(exc):
                if failed is not None or not _isolated(handler, exc):
                    raise
                if len(records) > 1:
                    log.warning(
                        "batch_failed_retrying_record_by_record",
                        consumer=handler.name,
                        records=len(records),
                        error=_describe(exc),
                    )
                    retry = partial(
                        _handle_with_retry,
                        handler,
                        stop=stop,
                        telemetry=telemetry,
                        max_backoff_s=max_backoff_s,
                        guard=guard,
                        on_retry=on_retry,
                    )
                    return await _one_by_one(records, retry, stop)
                failed = exc
                continue
            if telemetry:
                telemetry.retries.labels(handler.name).inc()
            error = _describe(exc)
            if on_retry:
                await on_retry(error)
            say = log.info if getattr(exc, "routine", False) else log.warning
            say("batch_retry", consumer=handler.name, error=error, backoff_s=backoff)
            try:
                await asyncio.wait_for(stop.wait(), backoff)
                return False
            except TimeoutError:
                backoff = min(backoff * 2, max_backoff_s)


async def _one_by_one(
    records: list[Record], handle: Callable[[list[Record]], Awaitable[bool]], stop: asyncio.Event
) -> bool:
    """Each record on its own, in the order they arrived; False once stopping (what is
    left is redelivered: nothing of the batch is committed)."""
    for record in arrival_order(records, lambda record: record):
        if stop.is_set() or not await handle([record]):
            return False
    return True


def _failed_for_good(consumer: str, record: Record, exc: Exception) -> None:
    """A defect to fix: logged at error with its traceback, never the record's content."""
    log.error(
        "record_failed",
        consumer=consumer,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        error=type(exc).__name__,
        exc_info=exc,
    )


def _isolated(handler: BatchHandler, exc: Exception) -> bool:
    """Whether a batch failing with ``exc`` is tried record by record: not when the role
    must stop (``Unrecoverable``, a ``ConfigError``), nor for a handler that cannot
    dead-letter (no ``park``)."""
    return hasattr(handler, "park") and not isinstance(exc, Unrecoverable | ConfigError)


def arrival_order(items: list[T], record: Callable[[T], Record]) -> list[T]:
    """``items`` merged by the timestamps of their records (``record``), each partition's
    kept in offset order: the order the records of one poll arrived in."""
    partitions: dict[tuple[str, int], list[T]] = {}
    for item in items:
        found = record(item)
        partitions.setdefault((found.topic, found.partition), []).append(item)
    if len(partitions) < 2:  # one partition: already in order
        return items
    return list(heapq.merge(*partitions.values(), key=lambda item: record(item).timestamp))


def addressed(records: list[Record], consumer: str) -> list[Record]:
    """The records for ``consumer``: all but the copies ``deadletter replay`` sent back to
    another consumer of the topic (header ``REPLAY_FOR``), which the others took the
    first time."""
    mine = consumer.encode()
    return [r for r in records if replay_header(r) in (None, mine)]


def _next_offsets(batch: dict[TopicPartition, list[Record]]) -> dict[TopicPartition, int]:
    return {tp: recs[-1].offset + 1 for tp, recs in batch.items() if recs}


async def _commit(
    consumer: AIOKafkaConsumer, batch: dict[TopicPartition, list[Record]], timeout_s: float
) -> None:
    """Commit within a time limit. A commit that fails is not retried here: the effects
    are durable and deduped by event id, so the worst case is a redelivery after a restart,
    and the next batch's commit moves the same partitions further anyway."""
    offsets = _next_offsets(batch)
    try:
        await asyncio.wait_for(consumer.commit(offsets), timeout_s)
    except CommitFailedError:
        # A rebalance took the partition away: its new owner re-reads from the last
        # commit and our effects are deduped by event id, so nothing is lost or doubled.
        log.warning("commit_failed_rebalanced", partitions=len(offsets))
    except UnknownTopicOrPartitionError as exc:
        raise Unrecoverable("a topic this role reads is gone", TOPICS_GONE_HINT) from exc
    except (KafkaError, TimeoutError) as exc:
        log.warning("commit_failed", partitions=len(offsets), error=_describe(exc))
