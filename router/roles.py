"""Composition root: assembles each role from settings. Only this and the CLI import
``channels``, ``rules`` and ``consumers``; nothing imports this module back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

from fastapi import FastAPI

from channels.app import create_app
from channels.deps import IngressContext, ReadyCheck
from channels.publish import Publisher
from router.kafka import make_admin, make_producer
from router.observability import Telemetry
from router.redis import make_redis
from router.settings import Settings
from router.topics import TopicNames


@dataclass
class Ingress:
    app: FastAPI
    context: IngressContext
    extra_checks: dict[str, ReadyCheck] = field(default_factory=dict)


def kafka_ready(settings: Settings) -> ReadyCheck:
    async def check() -> None:
        admin = make_admin(settings)
        try:
            await admin.start()
            await admin.list_topics()
        finally:
            await admin.close()

    return check


@asynccontextmanager
async def ingress(settings: Settings, telemetry: Telemetry | None = None) -> AsyncIterator[Ingress]:
    """The HTTP ingress with its producer and Redis client, started and torn down together."""
    async with AsyncExitStack() as stack:
        producer = make_producer(settings)
        await producer.start()
        stack.push_async_callback(producer.stop)
        redis = make_redis(settings)
        stack.push_async_callback(redis.aclose)
        publisher = Publisher(
            producer,
            redis,
            TopicNames(settings.topic_prefix),
            seen_ttl_s=settings.redis.dedupe_ttl_s,
        )

        async def redis_ready() -> None:
            await redis.ping()

        ctx = IngressContext(
            settings=settings,
            publisher=publisher,
            telemetry=telemetry or Telemetry(),
            ready_checks={"kafka": kafka_ready(settings), "redis": redis_ready},
        )
        yield Ingress(create_app(ctx), ctx)
