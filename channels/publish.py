"""Publishing inbound events: durable on Kafka before the 2xx, provider retries recognised.

The order is: seen before? (Redis) -> produce and wait for the broker's ack -> remember
the id (Redis, with a TTL). A crash between the ack and the remember step means a
provider retry is published again with the *same* event id, which every consumer drops.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

from router.codec import CONTENT_TYPE_HEADER, encode_event
from router.errors import BackendUnavailable
from router.events import CloudEvent, EventType, Interaction, iso, utcnow
from router.ids import event_id
from router.topics import Topic, TopicNames

SEEN_PREFIX = "ingress:seen:"


@dataclass(frozen=True, slots=True)
class Accepted:
    id: str
    duplicate: bool


class Publisher:
    """Turns accepted input into durable records. Shared by every adapter."""

    def __init__(
        self,
        producer: AIOKafkaProducer,
        redis: aioredis.Redis,
        names: TopicNames,
        *,
        seen_ttl_s: int,
        timeout_s: float = 60.0,
    ) -> None:
        """``timeout_s`` is only a backstop. The producer's own ``request_timeout_ms``
        must fire first: a record it gives up on is dropped from its buffer, so the 503
        is truthful. Abandoning the wait earlier would leave the record queued, to be
        written after the 503 once the broker is back."""
        self._producer = producer
        self._redis = redis
        self._names = names
        self._seen_ttl_s = seen_ttl_s
        self._timeout_s = timeout_s

    async def interaction(
        self, source: str, provider_id: str, data: Interaction, *, time: datetime | None = None
    ) -> Accepted:
        event = CloudEvent(
            id=event_id(source, provider_id),
            source=source,
            type=EventType.INTERACTION_RECEIVED,
            subject=data.sender_key(),
            time=time or data.sent_at or utcnow(),
            data=data.model_dump(mode="json", exclude_none=True),
        )
        return await self.publish(Topic.INBOUND, data.sender_key(), event)

    async def publish(self, topic: Topic, key: str, event: CloudEvent) -> Accepted:
        # Namespaced by topic prefix: deployments (and tests) sharing one Redis stay apart.
        marker = f"{self._names.prefix}:{SEEN_PREFIX}{event.id}".encode()
        try:
            if await self._redis.exists(marker):
                return Accepted(event.id, duplicate=True)
        except (RedisError, OSError) as exc:
            raise BackendUnavailable("redis", type(exc).__name__) from exc
        await self.send(topic, key, encode_event(event))
        try:
            await self._redis.set(marker, iso(utcnow()).encode(), ex=self._seen_ttl_s)
        except (RedisError, OSError) as exc:
            # The record is durable; only the duplicate memory failed. A retry re-publishes
            # the same id, which consumers drop, so answering 2xx is still truthful.
            del exc
        return Accepted(event.id, duplicate=False)

    async def send(self, topic: Topic, key: str, value: bytes) -> None:
        try:
            future = await asyncio.wait_for(
                self._producer.send(
                    self._names(topic), value=value, key=key.encode(), headers=[CONTENT_TYPE_HEADER]
                ),
                self._timeout_s,
            )
            await asyncio.wait_for(future, self._timeout_s)
        except (KafkaError, TimeoutError, OSError) as exc:
            raise BackendUnavailable("kafka", type(exc).__name__) from exc
