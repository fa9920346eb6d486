"""Kafka clients built from settings, producing and the dead-letter path (the start-up
check: ``router.kafka_check``; topic creation and checks: ``router.topic_admin``).

Producers are plain ``acks=all`` producers: the embedded broker has no idempotent or
transactional producer, so exactly-once *effects* come from idempotent consumers
(dedupe by event id) and deterministic output ids, not from the broker.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import struct
from collections.abc import Iterable, Sequence
from typing import Any

import structlog
from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    UnknownError,
)
from aiokafka.partitioner import DefaultPartitioner

from router.errors import BackendUnavailable, ConfigError
from router.limits import Limits, digest
from router.settings import KafkaSettings, Settings
from router.tls import ClientCertificate, load_client_certificate, unusable
from router.topics import OutRecord, Topic, TopicNames

log = structlog.get_logger("switchboard.kafka")

BOOTSTRAP_SETTING = "SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS"
KEY_PASSWORD_SETTING = "SWITCHBOARD_KAFKA_SSL_PASSWORD"  # noqa: S105 - its name, not it


def tls_context(kafka: KafkaSettings) -> ssl.SSLContext:
    """The TLS context of the Kafka settings; a file that cannot be read or used, or an
    encrypted key without its pass phrase (``SWITCHBOARD_KAFKA_SSL_PASSWORD``), is one
    ConfigError naming its setting, and never a prompt on the terminal
    (``router.tls``). A certificate file that holds the key too (one PEM with both)
    needs no key file."""
    try:
        ctx = ssl.create_default_context(cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError("SWITCHBOARD_KAFKA_SSL_CAFILE", unusable(kafka.ssl_cafile, exc)) from None
    if kafka.ssl_keyfile and not kafka.ssl_keyfile.is_file():
        problem = f"cannot use {kafka.ssl_keyfile}: no such file"
        raise ConfigError("SWITCHBOARD_KAFKA_SSL_KEYFILE", problem)
    if kafka.ssl_certfile:
        password = kafka.ssl_password.get_secret_value() if kafka.ssl_password else None
        certificate = ClientCertificate(
            certfile=kafka.ssl_certfile,
            keyfile=kafka.ssl_keyfile,
            password=password,
            certfile_setting="SWITCHBOARD_KAFKA_SSL_CERTFILE",
            password_setting=KEY_PASSWORD_SETTING,
            without_password=f"set {KEY_PASSWORD_SETTING} to it",
        )
        load_client_certificate(ctx, certificate)
    return ctx


def client_options(kafka: KafkaSettings) -> dict[str, Any]:
    if not kafka.bootstrap_servers:
        raise ConfigError(
            BOOTSTRAP_SETTING,
            "not set: set it to your deployment's, or to the bootstrap address a running "
            "`switchboard dev` printed (or use `switchboard dev` for an embedded one)",
        )
    opts: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "client_id": kafka.client_id,
        "security_protocol": kafka.security_protocol,
        "request_timeout_ms": kafka.request_timeout_ms,
    }
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        opts["ssl_context"] = tls_context(kafka)
    if kafka.security_protocol.startswith("SASL"):
        opts.update(_sasl_options(kafka))
    return opts


def _sasl_options(kafka: KafkaSettings) -> dict[str, Any]:
    """The SASL credentials; missing ones are a ConfigError naming the setting (settings
    refuse them at load, this guards settings copied without validation), never the
    client's ValueError deep inside a command."""
    password = kafka.sasl_password.get_secret_value() if kafka.sasl_password else ""
    for name, value in (("USERNAME", kafka.sasl_username), ("PASSWORD", password)):
        if not (value or "").strip():
            problem = f"required with SWITCHBOARD_KAFKA_SECURITY_PROTOCOL={kafka.security_protocol}"
            raise ConfigError(f"SWITCHBOARD_KAFKA_SASL_{name}", problem)
    return {
        "sasl_mechanism": kafka.sasl_mechanism,
        "sasl_plain_username": kafka.sasl_username,
        "sasl_plain_password": password,
    }


KEY_HASHES_KEPT = 16_384
"""How many keys' hashes ``KeyPartitioner`` remembers, the latest used (about 4 MB)."""


MURMUR2_SEED, MURMUR2_M, MASK32 = 0x9747B28C, 0x5BD1E995, 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """The Java client's murmur2 (``org.apache.kafka.common.utils.Utils.murmur2``), as
    aiokafka's ``murmur2`` computes it, with the same result for every input: the body
    read as little-endian 32-bit words in one ``struct`` call instead of byte by byte,
    which took about three times as long for a customer's key."""
    length = len(data)
    m = MURMUR2_M
    h = MURMUR2_SEED ^ length
    words = length // 4
    for word in struct.unpack_from(f"<{words}I", data):
        k = (word * m) & MASK32
        k ^= k >> 24
        h = ((h * m) & MASK32) ^ ((k * m) & MASK32)
    tail, extra = words * 4, length % 4
    if extra >= 3:
        h ^= data[tail + 2] << 16
    if extra >= 2:
        h ^= data[tail + 1] << 8
    if extra >= 1:
        h = ((h ^ data[tail]) * m) & MASK32
    h ^= h >> 13
    h = (h * m) & MASK32
    return h ^ (h >> 15)


@functools.lru_cache(maxsize=KEY_HASHES_KEPT)
def key_hash(key: bytes) -> int:
    """murmur2 of a record key, as the Java client hashes it, remembered: a ticket's
    records on ``tickets`` and ``ticket-state`` share its id as key, and so do the records
    of its later messages."""
    return murmur2(key)


class KeyPartitioner:
    """aiokafka's ``DefaultPartitioner`` (the Java client's: murmur2 of the key, modulo
    the partition count; a record without a key goes to any partition), with each key's
    hash remembered (``key_hash``), so every record lands where the Java client would
    put it."""

    def __init__(self) -> None:
        self._unkeyed = DefaultPartitioner()

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            return int(self._unkeyed(key, all_partitions, available))
        return all_partitions[(key_hash(key) & 0x7FFFFFFF) % len(all_partitions)]


def make_producer(settings: Settings, *, linger_ms: int = 0) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        **client_options(settings.kafka),
        acks="all",
        enable_idempotence=False,
        max_batch_size=settings.kafka.max_batch_bytes,
        max_request_size=max(settings.kafka.max_batch_bytes, settings.kafka.max_record_bytes),
        linger_ms=linger_ms,
        partitioner=KeyPartitioner(),
    )


def group_options(kafka: KafkaSettings) -> dict[str, Any]:
    """A group member's liveness: it is taken for dead after ``session_timeout_ms``
    without a heartbeat, and heartbeats three times in that span (the client's own
    ratio). A shorter session also hands a dead member's partitions on sooner; some
    brokers (Tansu) also hold a new group's first join for about half of it."""
    return {
        "session_timeout_ms": kafka.session_timeout_ms,
        "heartbeat_interval_ms": kafka.session_timeout_ms // 3,
    }


def make_consumer(
    settings: Settings,
    group: str,
    *topics: Topic,
    listener: ConsumerRebalanceListener | None = None,
) -> AIOKafkaConsumer:
    """A consumer in the role's group, subscribed to ``topics``; ``listener`` hears of
    rebalances (``consumers.runner.InFlight``)."""
    names = TopicNames(settings.topic_prefix)
    consumer = AIOKafkaConsumer(
        **client_options(settings.kafka),
        **group_options(settings.kafka),
        group_id=f"{settings.consumer_group_prefix}.{group}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=settings.kafka.fetch_max_wait_ms,
        max_poll_records=settings.kafka.max_poll_records,
        isolation_level="read_uncommitted",
    )
    consumer.subscribe([names(t) for t in topics], listener=listener)
    return consumer


def make_admin(settings: Settings) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**client_options(settings.kafka))


def retriable(exc: BaseException) -> bool:
    """Whether trying again may succeed. aiokafka marks its errors, with two exceptions
    taken here: a client-side timeout (``KafkaTimeoutError``) is the very case of a broker
    that may come back, and ``UnknownError`` is the broker's "unexpected server error",
    which brokers answer transiently (the embedded one while topics are being created).
    What stays non-retriable is what the broker will refuse every time: a record too
    large, an invalid topic, a missing authorization."""
    if isinstance(exc, KafkaTimeoutError | KafkaConnectionError | UnknownError):
        return True
    if isinstance(exc, KafkaError):
        return bool(exc.retriable)
    return isinstance(exc, OSError | TimeoutError)


REPLAY_FOR = "switchboard.replay_for"
"""The header of a dead letter's copy that ``deadletter replay`` sent back to its topic:
the consumer that dead-lettered it, the only one that takes the copy."""
REPLAY_DELIVERY = "switchboard.replay_delivery"
"""... and, on a copy for the notifier, the one delivery of the record to try again."""
REPLAY_OF = "switchboard.replay_of"
"""... and, on every copy, ``<partition>:<offset>`` of the dead letter it was made from."""


def replay_header(record: ConsumerRecord[bytes, bytes], name: str = REPLAY_FOR) -> bytes | None:
    """The value of one of the headers ``deadletter replay`` puts on a copy (the first of
    that name); None on any other record."""
    for key, value in record.headers:
        if key == name:
            return bytes(value)
    return None


def deadletter_parts(
    value: bytes | None,
    record: ConsumerRecord[bytes, bytes] | None,
    consumer: str,
    error: BaseException | str,
    *,
    topic: str | None = None,
    limits: Limits | None = None,
    headers: Iterable[tuple[str, bytes]] = (),
) -> tuple[bytes | None, list[tuple[str, bytes]]]:
    """The value and headers of a dead-letter record: where the poison came from, why it
    was set aside, and the original bytes. A dead-letter record must always be writable,
    whatever arrived: the original headers (the record's, else ``headers``: those of an
    output the broker refused) are kept while they fit in a small budget, and a value
    too large is kept as a prefix with the original's size and digest, typed as bytes
    (``application/octet-stream``; the original's type in ``dlq.original_content_type``)."""
    limits = limits or Limits()
    reason = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    budget = limits.record_bytes // 16
    kept_headers: list[tuple[str, bytes]] = []
    for key, kept in (record.headers if record else headers) or ():
        budget -= len(key) + len(kept or b"")
        if budget < 0:
            break
        kept_headers.append((key, kept))
    headers = kept_headers
    headers += [
        ("dlq.topic", (topic or (record.topic if record else "")).encode()),
        ("dlq.partition", str(record.partition if record else -1).encode()),
        ("dlq.offset", str(record.offset if record else -1).encode()),
        ("dlq.consumer", consumer.encode()),
        ("dlq.error", reason[:2000].encode()),
    ]
    if value is None or len(value) <= limits.deadletter_value_bytes:
        return value, headers
    # a prefix is no longer what the original's content type says (half a JSON document)
    typed = [kept for name, kept in headers if name.lower() == "content-type"]
    return value[: limits.deadletter_value_bytes], [
        *((name, kept) for name, kept in headers if name.lower() != "content-type"),
        ("content-type", b"application/octet-stream"),
        *(("dlq.original_content_type", kept) for kept in typed[:1]),
        ("dlq.truncated", b"true"),
        ("dlq.original_bytes", str(len(value)).encode()),
        ("dlq.original_digest", digest(value).encode()),
    ]


Produced = tuple[str, bytes | None, bytes | None, list[Any]]


BATCHED_BYTES = 32 * 1024
"""Records up to this size are appended to one batch per partition and submitted with
one await per batch; larger ones go through ``producer.send`` one by one, which checks
them against ``max_request_size`` (at least 64 KiB, see ``make_producer``) before the
broker sees them."""


async def send_and_wait_all(
    producer: AIOKafkaProducer,
    records: list[Produced],
    *,
    deadletter: str | None = None,
    consumer: str = "switchboard",
    limits: Limits | None = None,
) -> None:
    """Produce records and wait for every ack.

    A retriable failure raises BackendUnavailable (the caller retries the batch; records
    that were written are written again under the same ids, which readers drop). A record
    the broker can never take (too large, invalid) is not retried: it goes to the
    dead-letter topic, truncated if need be, and the batch completes.

    Small keyed records are packed into one batch per partition, in order (the partition
    is the one ``producer.send`` would choose), so a poll's hundreds of records cost a
    few awaits, not one each. A batch the broker refuses for good is sent again record by
    record, so that only the record at fault is dead-lettered."""
    results: list[BaseException | None] = [None] * len(records)
    batches, singles = await _queue_all(producer, records, results)
    waited = [f for _, f in batches.sent] + [f for _, f in singles]
    outcomes = await asyncio.gather(*waited, return_exceptions=True) if waited else []
    refused: list[int] = []
    for (indices, _), outcome in zip(batches.sent, outcomes, strict=False):
        if isinstance(outcome, BaseException):
            _raise_unless_final(outcome)
            refused.extend(indices)
    for (i, _), outcome in zip(singles, outcomes[len(batches.sent) :], strict=True):
        if isinstance(outcome, BaseException):
            _raise_unless_final(outcome)
            results[i] = outcome
    if refused:  # find the record at fault: one by one, as if never batched
        again = [(i, await _send_one(producer, records[i])) for i in refused]
        for i, sent in again:
            results[i] = sent if isinstance(sent, BaseException) else await _outcome(sent)
    rejected = [(r, exc) for r, exc in zip(records, results, strict=True) if exc is not None]
    if not rejected:
        return
    if deadletter is None:
        raise rejected[0][1]
    await _deadletter_rejected(producer, rejected, deadletter, consumer, limits or Limits())


async def _queue_all(
    producer: AIOKafkaProducer, records: list[Produced], results: list[BaseException | None]
) -> tuple[_Batches, list[tuple[int, asyncio.Future[Any]]]]:
    """Queue every record: small keyed ones in batches, the others one by one; a record
    the producer refuses at once gets its error in ``results``."""
    batches = _Batches(producer)
    singles: list[tuple[int, asyncio.Future[Any]]] = []
    try:
        for i, (topic, key, value, headers) in enumerate(records):
            if key is not None and len(value or b"") + len(key) <= BATCHED_BYTES:
                await batches.add(i, topic, key, value, headers)
                continue
            await batches.flush()  # what was appended before this record is queued before it
            outcome = await _send_one(producer, records[i])
            if isinstance(outcome, BaseException):
                results[i] = outcome
            else:
                singles.append((i, outcome))
        await batches.flush()
    except BaseException:
        # The caller retries the whole batch; what was queued here is left to finish on
        # its own, and its outcome must not be reported as an exception nobody read.
        for future in [f for _, f in batches.sent] + [f for _, f in singles]:
            future.add_done_callback(outcome_read)
        raise
    return batches, singles


def outcome_read(future: asyncio.Future[Any]) -> None:
    """Reads the outcome of a produce nobody awaits any more (its batch failed, or its
    request was already answered), so asyncio does not log "Future exception was never
    retrieved" at error level when it is collected."""
    if not future.cancelled():
        future.exception()


def kafka_unavailable(exc: BaseException) -> BackendUnavailable:
    """A Kafka client's failure as the BackendUnavailable the callers retry or report."""
    return BackendUnavailable("kafka", f"{type(exc).__name__}: {exc}")


def _raise_unless_final(exc: BaseException) -> None:
    """A failure that trying again may cure stops the batch (the caller retries it)."""
    if not isinstance(exc, KafkaError) or retriable(exc):
        raise kafka_unavailable(exc) from exc


async def _send_one(
    producer: AIOKafkaProducer, record: Produced
) -> asyncio.Future[Any] | KafkaError:
    """Queue one record: its delivery future, or the final error the producer raised."""
    topic, key, value, headers = record
    try:
        return await producer.send(topic, value=value, key=key, headers=headers)
    except KafkaError as exc:
        if retriable(exc):
            raise kafka_unavailable(exc) from exc
        return exc


async def _outcome(future: asyncio.Future[Any]) -> BaseException | None:
    try:
        await future
    except Exception as exc:  # noqa: BLE001 - sorted right here
        _raise_unless_final(exc)
        return exc
    return None


class _Batches:
    """One open batch per partition; full ones are submitted as they fill."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer
        self._open: dict[tuple[str, int], tuple[Any, list[int]]] = {}
        self._known: set[str] = set()
        self._partitions: dict[tuple[str, bytes], int] = {}  # a ticket's records share a key
        self.sent: list[tuple[list[int], asyncio.Future[Any]]] = []

    async def add(
        self, i: int, topic: str, key: bytes, value: bytes | None, headers: list[Any]
    ) -> None:
        if topic not in self._known:  # the metadata the partitioner needs
            await self._producer.partitions_for(topic)
            self._known.add(topic)
        partition = self._partitions.get((topic, key))
        if partition is None:  # the partition send() would choose, once per poll
            partition = self._producer._partition(topic, None, key, value, key, value)  # noqa: SLF001
            self._partitions[topic, key] = partition
        tp = (topic, partition)
        builder, indices = self._open.get(tp) or self._new(tp)
        if builder.append(key=key, value=value, timestamp=None, headers=headers) is None:
            await self._submit(tp)
            builder, indices = self._new(tp)
            builder.append(key=key, value=value, timestamp=None, headers=headers)
        indices.append(i)

    def _new(self, tp: tuple[str, int]) -> tuple[Any, list[int]]:
        self._open[tp] = (self._producer.create_batch(), [])
        return self._open[tp]

    async def _submit(self, tp: tuple[str, int]) -> None:
        builder, indices = self._open.pop(tp)
        builder.close()  # nothing else may join it: its records are exactly ``indices``
        try:
            future = await self._producer.send_batch(builder, tp[0], partition=tp[1])
        except KafkaError as exc:
            _raise_unless_final(exc)
            future = asyncio.get_running_loop().create_future()
            future.set_exception(exc)
        self.sent.append((indices, future))

    async def flush(self) -> None:
        for tp in list(self._open):
            await self._submit(tp)


async def _deadletter_rejected(
    producer: AIOKafkaProducer,
    rejected: list[tuple[Produced, BaseException]],
    deadletter: str,
    consumer: str,
    limits: Limits,
) -> None:
    for (topic, key, value, headers_of), exc in rejected:
        log.error(
            "record_rejected",
            consumer=consumer,
            topic=topic,
            bytes=len(value or b""),
            error=f"{type(exc).__name__}: {exc}",
        )
        kept, headers = deadletter_parts(
            value, None, consumer, exc, topic=topic, limits=limits, headers=headers_of
        )
        try:
            future = await producer.send(deadletter, value=kept, key=key, headers=headers)
            await future
        except KafkaError as again:
            if retriable(again):
                raise kafka_unavailable(again) from again
            log.error("deadletter_rejected", topic=topic, error=type(again).__name__)


async def publish(
    producer: AIOKafkaProducer,
    names: TopicNames,
    records: Sequence[OutRecord],
    *,
    consumer: str = "switchboard",
    limits: Limits | None = None,
) -> None:
    """Produce records bound for registry topics and wait for every ack; a record the
    broker refuses for good goes to the dead-letter topic instead."""
    await send_and_wait_all(
        producer,
        [(names(r.topic), r.key_bytes, r.value, list(r.headers)) for r in records],
        deadletter=names(Topic.DEADLETTER),
        consumer=consumer,
        limits=limits,
    )


async def group_has_history(settings: Settings, group: str, *topics: Topic) -> bool:
    """Whether the consumer group has committed offsets on these topics: the deployment
    has processed records before (so empty Redis state means lost state)."""
    names = TopicNames(settings.topic_prefix)
    admin = make_admin(settings)
    await admin.start()
    try:
        wanted = {names(t) for t in topics}
        described = await admin.describe_topics(sorted(wanted))
        partitions = [
            TopicPartition(d["topic"], p["partition"])
            for d in described
            for p in d.get("partitions", [])
            if d.get("topic") in wanted
        ]
        if not partitions:
            return False
        offsets = await admin.list_consumer_group_offsets(
            f"{settings.consumer_group_prefix}.{group}", partitions=partitions
        )
    finally:
        await admin.close()
    return any(o.offset > 0 for o in offsets.values())


PRODUCER_CLOSE_S = 5.0
"""How long a stopping role waits for its producer to close. Every record a role
answered or committed for was acked already; what is still queued belongs to requests
answered 503 (outcome unknown) or to a batch that will be read again. A hung broker would
hold ``stop()`` for its whole request timeout, past an orchestrator's grace period."""


async def stop_producer(producer: AIOKafkaProducer) -> None:
    """``producer.stop()``, waited for ``PRODUCER_CLOSE_S`` at most."""
    try:
        await asyncio.wait_for(producer.stop(), PRODUCER_CLOSE_S)
    except TimeoutError:
        structlog.get_logger("switchboard.kafka").warning(
            "producer_closed_unflushed", waited_s=PRODUCER_CLOSE_S
        )
