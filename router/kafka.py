"""Kafka clients built from settings, topic creation, fail-fast checks and the dead-letter path.

Producers are plain ``acks=all`` producers: the embedded broker has no idempotent or
transactional producer, so exactly-once *effects* come from idempotent consumers
(dedupe by event id) and deterministic output ids, not from the broker.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from router.errors import BackendUnavailable, ConfigError
from router.settings import KafkaSettings, Settings
from router.state import OutRecord
from router.topics import Topic, TopicNames

BOOTSTRAP_SETTING = "SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS"


def client_options(kafka: KafkaSettings) -> dict[str, Any]:
    if not kafka.bootstrap_servers:
        raise ConfigError(BOOTSTRAP_SETTING, "not set (use `switchboard dev` for an embedded one)")
    opts: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "client_id": kafka.client_id,
        "security_protocol": kafka.security_protocol,
        "request_timeout_ms": kafka.request_timeout_ms,
    }
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        ctx = ssl.create_default_context(cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None)
        if kafka.ssl_certfile:
            ctx.load_cert_chain(str(kafka.ssl_certfile), str(kafka.ssl_keyfile or ""))
        opts["ssl_context"] = ctx
    if kafka.security_protocol.startswith("SASL"):
        opts["sasl_mechanism"] = kafka.sasl_mechanism
        opts["sasl_plain_username"] = kafka.sasl_username
        opts["sasl_plain_password"] = (
            kafka.sasl_password.get_secret_value() if kafka.sasl_password else None
        )
    return opts


def make_producer(settings: Settings, *, linger_ms: int = 0) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        **client_options(settings.kafka),
        acks="all",
        enable_idempotence=False,
        max_batch_size=settings.kafka.max_batch_bytes,
        max_request_size=max(settings.kafka.max_batch_bytes, 1024 * 1024),
        linger_ms=linger_ms,
    )


def make_consumer(settings: Settings, group: str, *topics: Topic) -> AIOKafkaConsumer:
    names = TopicNames(settings.topic_prefix)
    return AIOKafkaConsumer(
        *(names(t) for t in topics),
        **client_options(settings.kafka),
        group_id=f"{settings.consumer_group_prefix}.{group}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=settings.kafka.fetch_max_wait_ms,
        max_poll_records=settings.kafka.max_poll_records,
        isolation_level="read_uncommitted",
    )


def make_admin(settings: Settings) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**client_options(settings.kafka))


async def check_kafka(settings: Settings) -> None:
    """Fail fast: raise ConfigError naming the bootstrap setting when no broker answers."""
    admin = make_admin(settings)
    quiet = logging.getLogger("aiokafka")
    level, quiet.level = quiet.level, logging.CRITICAL  # our one line says it better
    try:
        await asyncio.wait_for(admin.start(), settings.kafka.connect_timeout_s)
    except (KafkaConnectionError, KafkaError, OSError, TimeoutError) as exc:
        raise ConfigError(
            BOOTSTRAP_SETTING,
            f"no Kafka broker answers at {settings.kafka.bootstrap_servers} ({type(exc).__name__})",
        ) from None
    finally:
        quiet.setLevel(level)
        await admin.close()


async def ensure_topics(settings: Settings) -> dict[str, str]:
    """Create every registry topic that is missing. Idempotent: returns name -> outcome."""
    names = TopicNames(settings.topic_prefix)
    kafka = settings.kafka
    admin = make_admin(settings)
    await admin.start()
    outcome: dict[str, str] = {}
    try:
        existing = set(await admin.list_topics())
        wanted = []
        for name, spec in names.all().items():
            if name in existing:
                outcome[name] = "exists"
                continue
            configs = (
                {"cleanup.policy": "compact"}
                if spec.compacted
                else {"cleanup.policy": "delete", "retention.ms": str(kafka.retention_ms)}
            )
            wanted.append(NewTopic(name, kafka.partitions, kafka.replication_factor, None, configs))
            outcome[name] = "created"
        for topic in wanted:  # one by one: a concurrent creator makes only that one "exists"
            try:
                await admin.create_topics([topic])
            except TopicAlreadyExistsError:
                outcome[topic.name] = "exists"
    finally:
        await admin.close()
    return outcome


async def missing_topics(settings: Settings) -> list[str]:
    names = TopicNames(settings.topic_prefix)
    admin = make_admin(settings)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
    finally:
        await admin.close()
    return sorted(set(names.all()) - existing)


def deadletter_headers(
    record: ConsumerRecord[bytes, bytes], consumer: str, error: BaseException | str
) -> list[tuple[str, bytes]]:
    """Headers naming where a poison record came from and why it was set aside."""
    reason = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return [
        *(record.headers or ()),
        ("dlq.topic", record.topic.encode()),
        ("dlq.partition", str(record.partition).encode()),
        ("dlq.offset", str(record.offset).encode()),
        ("dlq.consumer", consumer.encode()),
        ("dlq.error", reason[:2000].encode()),
    ]


async def send_and_wait_all(
    producer: AIOKafkaProducer, records: list[tuple[str, bytes | None, bytes | None, list[Any]]]
) -> None:
    """Produce records and wait for every ack; BackendUnavailable if the broker fails us."""
    try:
        futures = [
            await producer.send(topic, value=value, key=key, headers=headers)
            for topic, key, value, headers in records
        ]
        if futures:
            await asyncio.gather(*futures)
    except KafkaError as exc:
        raise BackendUnavailable("kafka", str(exc) or type(exc).__name__) from exc


async def publish(
    producer: AIOKafkaProducer, names: TopicNames, records: Sequence[OutRecord]
) -> None:
    """Produce records bound for registry topics and wait for every ack."""
    await send_and_wait_all(
        producer,
        [(names(r.topic), r.key.encode(), r.value, list(r.headers)) for r in records],
    )
