"""Fixtures shared by every level. Component fixtures start the real embedded broker and
valkey once per session; each test gets its own topic prefix so tests never see each
other's records."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from router.app.embedded import EmbeddedServices
from router.settings import Settings
from router.topic_admin import ensure_topics
from router.topics import Topic, TopicNames

_prefixes = itertools.count()
TEST_SESSION_TIMEOUT_MS = 2000
"""The embedded broker holds a new group's first join for half the session, rounded up to
a whole second (at least one): 4,000 ms made every test that starts a role wait 2 s for
its first poll, 2,000 ms waits 1 s. Shorter gains nothing; a member silent for 2 s (a
heartbeat is sent every 667 ms) is taken for gone and its partitions move."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first (a stable sort): the parallel workers take tests in this
    order, so the long ones overlap with many short ones instead of ending the run
    alone on one worker while the others idle."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def services() -> Iterator[EmbeddedServices]:
    with EmbeddedServices() as svc:
        yield svc


def make_settings(services: EmbeddedServices, prefix: str, **overrides: Any) -> Settings:
    env = {k: v for k, v in os.environ.items() if k.startswith("SWITCHBOARD_")}
    assert not env, f"tests must not inherit SWITCHBOARD_* settings: {sorted(env)}"
    return Settings(
        kafka={  # type: ignore[arg-type]
            "bootstrap_servers": services.bootstrap_servers,
            "partitions": 2,
            "session_timeout_ms": TEST_SESSION_TIMEOUT_MS,
        },
        redis={"url": services.redis_url},  # type: ignore[arg-type]
        topic_prefix=prefix,
        consumer_group_prefix=prefix,
        log_format="console",
        **overrides,
    )


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a ``switchboard`` subprocess (a role, a CLI command) run with
    ``settings``: none of the runner's own ``SWITCHBOARD_*`` settings, the test's broker,
    session timeout, valkey, topic and consumer group prefixes, then ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env.update(
        SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS=settings.kafka.bootstrap_servers or "",
        SWITCHBOARD_KAFKA_SESSION_TIMEOUT_MS=str(settings.kafka.session_timeout_ms),
        SWITCHBOARD_REDIS_URL=settings.redis.url or "",
        SWITCHBOARD_TOPIC_PREFIX=settings.topic_prefix,
        SWITCHBOARD_CONSUMER_GROUP_PREFIX=settings.consumer_group_prefix,
        **extra,
    )
    return env


@pytest.fixture
async def settings(services: EmbeddedServices) -> Settings:
    """Fresh topics (and consumer groups) for every test, on the shared embedded broker."""
    prefix = f"t{os.getpid()}x{next(_prefixes)}"
    s = make_settings(services, prefix)
    await ensure_topics(s)
    return s


@pytest.fixture
async def ingress_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    from router.app import web

    async with web.ingress(settings) as ing:
        transport = httpx.ASGITransport(app=ing.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingress") as client:
            yield client


async def read_topic(
    settings: Settings,
    topic: Topic,
    *,
    expect: int,
    timeout: float = 10.0,
    settle: float = 0.3,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record on ``topic`` from the beginning: waits for ``expect`` records, then
    until none arrived for ``settle`` seconds, so that an unexpected extra one is seen too."""
    name = TopicNames(settings.topic_prefix)(topic)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        enable_auto_commit=False,
        fetch_max_wait_ms=20,
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(name) or set()
        if not partitions:
            await consumer._client.force_metadata_update()  # noqa: SLF001 - no public refresh
            partitions = consumer.partitions_for_topic(name) or set()
        tps = [TopicPartition(name, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[ConsumerRecord[bytes, bytes]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last_arrival = loop.time()
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=50)
            for recs in batch.values():
                records.extend(recs)
                last_arrival = loop.time()
            if len(records) >= expect and loop.time() - last_arrival >= settle:
                break
        return records
    finally:
        await consumer.stop()


def values(records: list[ConsumerRecord[bytes, bytes]]) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in records if r.value is not None]
