"""Fixtures of the integration level: the same behaviours as the component level, against a
real Apache Kafka (KRaft) and a real Redis started by testcontainers, once per session.

Without a Docker engine every test here is skipped, with the reason, before anything starts.
The ``settings`` fixture below overrides the one in ``tests/conftest.py`` for this folder, so
these tests never start the embedded broker.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata
from testcontainers.community.redis import RedisContainer

from router.settings import Settings
from router.topic_admin import ensure_topics
from router.topics import Topic, TopicNames
from tests.component.pipeline.conftest import switchboard  # noqa: F401 - fixture, used by name
from tests.integration.containers import (
    NO_DOCKER,
    REDIS_IMAGE,
    ApacheKafkaContainer,
    docker_engine_problem,
    redis_url,
    running,
)

# The first test also pulls the images and starts the containers.
TIMEOUT_S = 600
# A real broker needs a group join and fresh-topic metadata before the first record flows.
WAIT_S = 30.0


@pytest.fixture(scope="session")
def docker_engine() -> None:
    problem = docker_engine_problem()
    if problem is not None:
        pytest.skip(f"{NO_DOCKER} [{problem}]")


@pytest.fixture(scope="session")
def kafka_container(docker_engine: None) -> Iterator[ApacheKafkaContainer]:
    with running(ApacheKafkaContainer()) as kafka:
        yield kafka


@pytest.fixture(scope="session")
def redis_container(docker_engine: None) -> Iterator[RedisContainer]:
    with running(RedisContainer(REDIS_IMAGE)) as redis:
        yield redis


def container_settings(kafka: ApacheKafkaContainer, redis: RedisContainer, prefix: str) -> Settings:
    env = sorted(k for k in os.environ if k.startswith("SWITCHBOARD_"))
    assert not env, f"tests must not inherit SWITCHBOARD_* settings: {env}"
    return Settings(
        kafka={"bootstrap_servers": kafka.bootstrap_servers(), "partitions": 2},
        redis={"url": redis_url(redis)},
        topic_prefix=prefix,
        consumer_group_prefix=prefix,
        log_format="console",
    )


@pytest.fixture
def bare_settings(
    kafka_container: ApacheKafkaContainer, redis_container: RedisContainer
) -> Settings:
    """Settings on a fresh topic prefix (and consumer groups) whose topics do not exist yet."""
    return container_settings(kafka_container, redis_container, f"it{uuid.uuid4().hex[:10]}")


@pytest.fixture
async def settings(bare_settings: Settings) -> Settings:
    """Fresh topics for every test, on the session's containers."""
    await ensure_topics(bare_settings)
    return bare_settings


async def produce(
    settings: Settings,
    topic: Topic,
    *records: tuple[str, bytes],
    headers: list[tuple[str, bytes]] | None = None,
    partition: int | None = None,
) -> list[RecordMetadata]:
    """Write ``(key, value)`` records one by one, each acknowledged; where each one landed."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        name = TopicNames(settings.topic_prefix)(topic)
        return [
            await producer.send_and_wait(
                name, value, key=key.encode(), partition=partition, headers=headers
            )
            for key, value in records
        ]
    finally:
        await producer.stop()
