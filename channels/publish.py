"""Publishing inbound events: durable on Kafka before the 2xx, retries recognised.

The order is: seen before? (Redis) -> produce and wait for the broker's ack -> remember
the id (Redis, with a TTL). A crash between the ack and the remember step means a
provider retry is published again with the *same* event id, which every consumer drops.

Every request gets one deadline (``SWITCHBOARD_KAFKA_REQUEST_TIMEOUT_MS``) around the
whole produce, metadata waits included. When it passes before the producer took the
record, nothing was written (``503 backend-unavailable``). When it passes after, the
record may still be written: the answer says so (``503 outcome-unknown``), and a retry
carrying the same idempotency key, or for web forms and chat the same content within
``SWITCHBOARD_INGRESS_DEDUPE_WINDOW_S``, gets the same event id and is recognised.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordTooLargeError

from router.codec import CONTENT_TYPE_HEADER, encode_event
from router.errors import BackendUnavailable, OutcomeUnknown, TooLarge
from router.events import CloudEvent, Interaction, iso, utcnow
from router.ids import event_id
from router.kafka import retriable
from router.keys import Keys
from router.limits import Limits, trim
from router.redis import UNAVAILABLE, RedisClient, redis_errors
from router.topic_watch import TopicWatch
from router.topics import Topic, TopicNames
from router.vocabulary import EventType

log = structlog.get_logger("switchboard.ingress")


@dataclass(frozen=True, slots=True)
class Accepted:
    id: str
    duplicate: bool


class Publisher:
    """Turns accepted input into durable records. Shared by every adapter."""

    def __init__(
        self,
        producer: AIOKafkaProducer,
        redis: RedisClient,
        names: TopicNames,
        *,
        seen_ttl_s: int,
        timeout_s: float = 10.0,
        limits: Limits | None = None,
        content_window_s: int = 300,
        topics: TopicWatch | None = None,
    ) -> None:
        self._producer = producer
        self._redis = redis
        self._names = names
        self._keys = Keys(names.prefix)
        self._seen_ttl_s = seen_ttl_s
        self._timeout_s = timeout_s
        self.limits = limits or Limits()
        self._content_window_s = content_window_s
        self._topics = topics

    async def interaction(
        self,
        source: str,
        provider_id: str | None,
        data: Interaction,
        *,
        time: datetime | None = None,
        text_pointer: str | None = None,
    ) -> Accepted:
        """Publish one customer message.

        ``provider_id`` None: the message has no id of its own, so one is derived from the
        sender and the content, the same for the same content within the dedupe window.
        ``text_pointer`` set: text over the limit is refused (413) and the pointer names
        the request field; unset: it is trimmed and the event says ``truncated``."""
        data = self._fit(data, text_pointer)
        if provider_id is None:
            provider_id = await self._content_id(source, data)
        event = CloudEvent(
            id=event_id(source, provider_id),
            source=source,
            type=EventType.INTERACTION_RECEIVED,
            subject=data.sender_key(),
            time=time or data.sent_at or utcnow(),
            data=data.model_dump(mode="json", exclude_none=True),
        )
        return await self.publish(Topic.INBOUND, data.sender_key(), event)

    def _fit(self, data: Interaction, text_pointer: str | None) -> Interaction:
        limit = self.limits.text_bytes
        if text_pointer is not None:  # refused above the limit, so never cut
            self.limits.check_text(data.text, pointer=text_pointer)
            text = data.text
        else:
            text = trim(data.text, limit)
        quoted = trim(data.quoted_text, limit) if data.quoted_text else data.quoted_text
        if text == data.text and quoted == data.quoted_text:
            return data
        return data.model_copy(update={"text": text, "quoted_text": quoted, "truncated": True})

    async def _content_id(self, source: str, data: Interaction) -> str:
        """The same id for the same sender and content within the window: a client that
        retries after an uncertain answer does not open a second ticket."""
        if self._content_window_s <= 0:
            return str(uuid.uuid4())
        basis = "\x1f".join(
            (source, data.sender_key(), data.thread.conversation_id or "", data.subject or "")
        )
        fingerprint = hashlib.sha256(f"{basis}\x1f{data.text}".encode()).hexdigest()
        key = self._keys.ingress_content(fingerprint).encode()
        fresh = f"content:{uuid.uuid4()}"
        with redis_errors():
            previous = await self._redis.set(
                key, fresh.encode(), nx=True, get=True, ex=self._content_window_s
            )
        if previous is None:
            return fresh
        return previous.decode() if isinstance(previous, bytes) else str(previous)

    async def publish(self, topic: Topic, key: str, event: CloudEvent) -> Accepted:
        value = encode_event(event)
        self.limits.check_inbound(value)
        marker = self._keys.ingress_seen(event.id).encode()
        with redis_errors():
            if await self._redis.exists(marker):
                return Accepted(event.id, duplicate=True)
        await self.send(topic, key, value)
        try:
            await self._redis.set(marker, iso(utcnow()).encode(), ex=self._seen_ttl_s)
        except UNAVAILABLE as exc:
            # The record is durable; only the duplicate memory failed. A retry re-publishes
            # the same id, which consumers drop, so answering 2xx is still truthful.
            log.warning("seen_marker_failed", event_id=event.id, error=type(exc).__name__)
        return Accepted(event.id, duplicate=False)

    async def send(self, topic: Topic, key: str, value: bytes) -> None:
        name = self._names(topic)
        if self._topics is not None and self._topics.missing(topic):
            raise BackendUnavailable(
                "kafka", f"topic {name} does not exist; run `switchboard topics ensure`"
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout_s
        try:
            future: asyncio.Future[Any] = await asyncio.wait_for(
                self._producer.send(
                    name, value=value, key=key.encode(), headers=[CONTENT_TYPE_HEADER]
                ),
                self._timeout_s,
            )
        except TimeoutError as exc:  # the producer never took the record
            raise BackendUnavailable("kafka", "no broker answered in time") from exc
        except KafkaError as exc:
            raise _refused(exc) from exc
        try:
            await asyncio.wait_for(asyncio.shield(future), max(deadline - loop.time(), 0.001))
        except TimeoutError as exc:
            raise OutcomeUnknown("kafka", "the broker did not confirm the write in time") from exc
        except KafkaError as exc:
            if retriable(exc):
                raise OutcomeUnknown("kafka", f"{type(exc).__name__}") from exc
            raise _refused(exc) from exc


def _refused(exc: KafkaError) -> Exception:
    """An error raised before the record was written: nothing was written."""
    if retriable(exc):
        return BackendUnavailable("kafka", type(exc).__name__)
    if isinstance(exc, MessageSizeTooLargeError | RecordTooLargeError):
        return TooLarge(f"the broker refused the record: {type(exc).__name__}")
    return BackendUnavailable("kafka", f"the broker refused the record: {type(exc).__name__}")
