"""Publishing inbound events: durable on Kafka before the 2xx, retries recognised.

The order is: claim the id (Redis ``SET NX``; a marker there says it was seen) ->
produce and wait for the broker's ack -> remember the id (the claim becomes the seen
marker, with a TTL). A crash between the ack and the remember step means a provider
retry is published again with the *same* event id, which every consumer drops. An id
just minted for new content (see ``_content_id``) is claimed too, in the round trip that
mints it: a copy of the same content arriving at once reads that id and finds the claim.

Copies of one request that arrive together (a provider retrying before the first
answer), in one process or on several replicas, do not both write: a copy finds the
claim and waits for its outcome. It is answered ``duplicate`` once the first was
written, takes over if it failed, and is refused (422) if it names the same
Idempotency-Key for another request.

Every request gets one deadline (``SWITCHBOARD_KAFKA_REQUEST_TIMEOUT_MS``) around the
whole produce, metadata waits included. When it passes before the producer took the
record, nothing was written (``503 backend-unavailable``). When it passes after, the
record may still be written: the answer says so (``503 outcome-unknown``), and a retry
carrying the same idempotency key, or for web forms and chat the same content within
``SWITCHBOARD_INGRESS_DEDUPE_WINDOW_S``, gets the same event id and is recognised.

Throughput comes from doing each step for many requests at once: concurrent requests
share the producer's batches (one produce request, one ack, for all that arrived while
the previous one was in flight) and their Redis commands go out together, one batch
for all that were asked while the previous one was in flight (``RedisBatch``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordTooLargeError
from redis.typing import EncodableT

from channels.problems import Problem
from router.codec import CONTENT_TYPE_HEADER, encode_envelope, encode_event
from router.errors import BackendUnavailable, OutcomeUnknown, TooLarge
from router.events import CloudEvent, Interaction, iso, received_time, utcnow
from router.ids import event_id, scoped_id
from router.kafka import outcome_read, retriable
from router.keys import Keys
from router.limits import Limits, trim
from router.redis import UNAVAILABLE, Command, RedisClient, redis_errors, run_batch
from router.topic_watch import TopicWatch
from router.topics import Topic, TopicNames
from router.vocabulary import EventType

log = structlog.get_logger("switchboard.ingress")


@dataclass(frozen=True, slots=True)
class Accepted:
    id: str
    duplicate: bool

    def json(self) -> bytes:
        """The 202 body (``AcceptedBody``), without building the model."""
        return orjson.dumps({"id": self.id, "duplicate": self.duplicate})


_PROCESS = uuid.uuid4().hex
_MINTED = itertools.count()
"""A content id never used before is this process's random name and a counter: unique
as a uuid4 per request would be, without a system call per request."""
_CLAIMS = itertools.count()


def _claim_token() -> bytes:
    """A claim no other request holds, in this process or another (``_claim``): the
    process's random name and a counter, as unique as a uuid4 and without its system call."""
    return b"%s%s-%d" % (PENDING, _PROCESS.encode(), next(_CLAIMS))


class RedisBatch:
    """Redis commands of concurrent requests, sent together as one batch (``run_batch``).

    Requests under load reach the same step together (one produce response acks them
    all): one round trip serves them all, instead of one each. One batch is in flight
    at a time; what is asked meanwhile waits for it and goes out as the next one, so the
    busier the ingress, the larger the batches (as the producer's batches grow while a
    produce request is in flight). Each caller gets its own reply, or its own error (a
    command error, or the connection's failure for everyone in the batch), exactly as if
    it had sent the command alone."""

    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis
        self._queued: list[tuple[Command, asyncio.Future[Any]]] = []
        self._running: asyncio.Task[None] | None = None

    def __call__(self, *command: EncodableT) -> asyncio.Future[Any]:
        """The reply to ``command`` (its words, e.g. ``"EXISTS", key``), as the server
        sent it: bytes, an integer or None."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queued.append((command, future))
        if self._running is None:
            self._running = loop.create_task(self._drain())
        return future

    async def _drain(self) -> None:
        try:
            while self._queued:
                await asyncio.sleep(0)  # let the requests woken with this one queue too
                queued, self._queued = self._queued, []
                await self._execute(queued)
        finally:
            self._running = None

    async def _execute(self, queued: list[tuple[Command, asyncio.Future[Any]]]) -> None:
        try:
            commands = [command for command, _ in queued]
            replies = await run_batch(self._redis, commands, raise_on_error=False)
        except BaseException as exc:  # handed to every caller; cancellation re-raised
            for _, future in queued:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), reply in zip(queued, replies, strict=True):
            if future.done():  # the caller gave up (its deadline, a disconnect)
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)


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
        self._settling: set[asyncio.Task[None]] = set()
        self._claim_hold_ms = int((timeout_s + CLAIM_SPARE_S) * 1000)
        self.limits = limits or Limits()
        self._content_window_s = content_window_s
        self._topics = topics
        self._batch = RedisBatch(redis)

    async def interaction(
        self,
        source: str,
        provider_id: str | None,
        data: Interaction,
        *,
        time: datetime | None = None,
        text_pointer: str | None = None,
        fingerprint: str | None = None,
    ) -> Accepted:
        """Publish one customer message.

        ``provider_id`` None: the message has no id of its own, so one is derived from the
        sender and the content, the same for the same content within the dedupe window.
        ``text_pointer`` set: text over the limit is refused (413) and the pointer names
        the request field; unset: it is trimmed and the event says ``truncated``."""
        data = self._fit(data, text_pointer)
        key = data.sender_key()
        claimed: bytes | None = None
        minted: str | None = None
        if provider_id is None:
            provider_id, claimed, minted = await self._content_id(source, data, key)
        id_ = minted or event_id(source, provider_id)
        value = encode_envelope(  # the bytes of encode_event(CloudEvent(...)), made directly
            id_,
            source,
            EventType.INTERACTION_RECEIVED,
            subject=key,
            time=received_time(time or data.sent_at),
            data=data.model_dump(mode="json", exclude_none=True),
        )
        return await self._publish(
            Topic.INBOUND, key, id_, value, fingerprint=fingerprint, claimed=claimed
        )

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

    async def _content_id(
        self, source: str, data: Interaction, sender_key: str
    ) -> tuple[str, bytes | None, str | None]:
        """The same id for the same sender and content within the window: a client that
        retries after an uncertain answer does not open a second ticket. With an id
        minted by this call, its claim (see ``_claim``), taken in the same round trip:
        a copy arriving at once reads the minted id and finds the claim. None when the
        claim must still be taken (the content was seen, or a copy took it first).
        Last, the event id of a minted id (``event_id``), None for an id read back."""
        if self._content_window_s <= 0:
            return str(uuid.uuid4()), None, None
        basis = "\x1f".join(
            (source, sender_key, data.thread.conversation_id or "", data.subject or "")
        )
        fingerprint = hashlib.sha256(f"{basis}\x1f{data.text}".encode()).hexdigest()
        key = self._keys.ingress_content(fingerprint).encode()
        fresh = f"content:{_PROCESS}-{next(_MINTED)}"
        fresh_id = event_id(source, fresh)
        marker = self._keys.ingress_seen(fresh_id).encode()
        claim = _claim_token()
        with redis_errors():
            # a claim on an id that goes unused (the content was seen) expires unread
            minting = self._batch("SET", key, fresh, "NX", "GET", "EX", self._content_window_s)
            claiming = self._batch("SET", marker, claim, "NX", "PX", self._claim_hold_ms)
            previous, took = await minting, await claiming
        if previous is None:
            return fresh, claim if took else None, fresh_id
        return (previous.decode() if isinstance(previous, bytes) else str(previous)), None, None

    async def publish(
        self,
        topic: Topic,
        key: str,
        event: CloudEvent,
        *,
        fingerprint: str | None = None,
        conflict: Problem | None = None,
        encoded: bytes | None = None,
    ) -> Accepted:
        """``conflict``: what to answer when the id was taken for other content (default:
        the ``422`` of a reused Idempotency-Key). ``encoded``: the event's bytes, when the
        caller has them already."""
        return await self._publish(
            topic,
            key,
            event.id,
            encode_event(event) if encoded is None else encoded,
            fingerprint=fingerprint,
            conflict=conflict,
            seen_as=scoped_id(event.source, event.id),
        )

    async def reused(self, named: Sequence[tuple[str, str]]) -> list[bool]:
        """For each ``(event id, fingerprint)``: True when the id was written, or is being
        written, for content with another fingerprint. One round trip for them all, so a
        request can refuse such an item before it publishes any other."""
        markers = [self._keys.ingress_seen(id_).encode() for id_, _ in named]
        with redis_errors():
            seen = await asyncio.gather(*(self._batch("GET", m) for m in markers))
        return [not _same_content(s, f) for s, (_, f) in zip(seen, named, strict=True)]

    async def _publish(
        self,
        topic: Topic,
        key: str,
        id_: str,
        value: bytes,
        *,
        fingerprint: str | None = None,
        conflict: Problem | None = None,
        claimed: bytes | None = None,
        seen_as: str | None = None,
    ) -> Accepted:
        """``fingerprint``: what the request said, for an id named by an Idempotency-Key
        or given by the client; the same id for different content is refused
        (``conflict``, by default the 422 of a reused key), not taken for a retry.
        ``claimed``: the claim on the id this request already holds (a minted id's).
        ``seen_as``: the id the duplicate memory knows it by (``scoped_id``), if not
        ``id_``."""
        self.limits.check_inbound(value)
        marker = self._keys.ingress_seen(seen_as or id_).encode()
        tail = FINGERPRINT_SEP + fingerprint.encode() if fingerprint is not None else b""
        claim = claimed or _claim_token() + tail
        if claimed is None and await self._claim(marker, claim, fingerprint, conflict):
            return Accepted(id_, duplicate=True)
        try:
            await self.send(topic, key, value)
        except Unsettled as exc:
            # The record may still be written: the claim stays while the producer tries,
            # so a copy waiting on it (here or on another replica) writes nothing more
            self._settle_later(marker, claim, exc.future)
            raise
        except BaseException:
            with contextlib.suppress(*UNAVAILABLE):  # let a retry (here or elsewhere) go ahead
                if await self._batch("GET", marker) == claim:
                    await self._batch("DEL", marker)
            raise
        stamp, ttl = iso(utcnow()).encode() + tail, self._seen_ttl_s
        try:
            await self._batch("SET", marker, stamp, "EX", ttl)
        except UNAVAILABLE as exc:
            # The record is durable; only the duplicate memory failed. A retry re-publishes
            # the same id, which consumers drop, so answering 2xx is still truthful.
            log.warning("seen_marker_failed", event_id=id_, error=type(exc).__name__)
        return Accepted(id_, duplicate=False)

    async def close(self) -> None:
        """Stop settling writes whose outcome is unknown (their claims then lapse)."""
        for task in list(self._settling):
            task.cancel()
        await asyncio.gather(*self._settling, return_exceptions=True)

    def _settle_later(self, marker: bytes, claim: bytes, future: asyncio.Future[Any]) -> None:
        """Hold the claim of a write whose outcome is unknown until the producer settles it
        (at most ``UNSETTLED_HOLD_S``), then let it go. Copies arriving meanwhile wait on
        it and are told the outcome is unknown too, rather than writing the record again;
        a retry after that writes it again under the same id (consumers drop the copy).
        A late success is not taken as written: a broker that came back empty may
        acknowledge into a topic that ``topics ensure`` then recreates."""

        async def settle() -> None:
            with contextlib.suppress(*UNAVAILABLE):
                hold = int(UNSETTLED_HOLD_S * 1000)
                await self._batch("SET", marker, claim, "XX", "PX", hold)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_settled(future), UNSETTLED_HOLD_S)
                if await self._batch("GET", marker) == claim:
                    await self._batch("DEL", marker)

        task = asyncio.get_running_loop().create_task(settle())
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def _claim(
        self, marker: bytes, claim: bytes, fingerprint: str | None, conflict: Problem | None
    ) -> bool:
        """Take the id for this request (``SET NX``), or learn it was seen (True). A copy
        in flight on another replica holds a pending claim: this one waits for its
        outcome (seen, or let go after a failure) up to the produce deadline, so two
        replicas never both write and answer an id as new."""
        deadline = asyncio.get_running_loop().time() + self._timeout_s
        hold_ms = self._claim_hold_ms
        with redis_errors():
            while True:
                taken = self._batch("SET", marker, claim, "NX", "PX", hold_ms)
                current = self._batch("GET", marker)  # one round trip with the claim
                if await taken:
                    return False
                seen = await current
                if seen is None:
                    continue  # let go (or expired) between the two: claim again
                if fingerprint is not None and not _same_content(seen, fingerprint):
                    raise conflict or key_reused()
                if not bytes(seen).startswith(PENDING):
                    return True
                if asyncio.get_running_loop().time() > deadline:
                    # another copy's write is in flight: it may still land
                    raise OutcomeUnknown("kafka", "a copy of this request is being written")
                await asyncio.sleep(CLAIM_POLL_S)

    async def send(self, topic: Topic, key: str, value: bytes) -> None:
        name = self._names(topic)
        if self._topics is not None and self._topics.missing(topic):
            raise BackendUnavailable(
                "kafka", f"topic {name} does not exist; run `switchboard topics ensure`"
            )
        if self._topics is not None and self._topics.unreachable:
            # Answer at once, and truthfully "nothing written", rather than after the
            # deadline with "may have been written": no broker is listening.
            raise BackendUnavailable("kafka", "no broker accepts connections")
        # One deadline around both waits; ``asyncio.timeout`` rather than ``wait_for``,
        # which would wrap each await in a task of its own.
        future: asyncio.Future[Any] | None = None
        try:
            async with asyncio.timeout(self._timeout_s):
                future = await self._producer.send(
                    name, value=value, key=key.encode(), headers=[CONTENT_TYPE_HEADER]
                )
                await asyncio.shield(future)
        except TimeoutError as exc:
            if future is None:  # the producer never took the record
                raise BackendUnavailable("kafka", "no broker answered in time") from exc
            # the producer settles it later; its error (if any) is read there, or asyncio
            # would log "Future exception was never retrieved" as an error, long after
            future.add_done_callback(outcome_read)
            raise Unsettled(future) from exc
        except KafkaError as exc:
            if future is not None and retriable(exc):
                raise OutcomeUnknown("kafka", f"{type(exc).__name__}") from exc
            raise _refused(exc) from exc


def _refused(exc: KafkaError) -> Exception:
    """An error raised before the record was written: nothing was written."""
    if retriable(exc):
        return BackendUnavailable("kafka", type(exc).__name__)
    if isinstance(exc, MessageSizeTooLargeError | RecordTooLargeError):
        return TooLarge(f"the broker refused the record: {type(exc).__name__}")
    return BackendUnavailable("kafka", f"the broker refused the record: {type(exc).__name__}")


FINGERPRINT_SEP = b"|"
PENDING = b"pending:"
"""A seen marker holding this is a claim: the request that took it is still producing."""
CLAIM_SPARE_S = 5.0  # a claim outlives its produce deadline by this much
CLAIM_POLL_S = 0.05  # how often a copy looks whether the claim it waits on settled
UNSETTLED_HOLD_S = 120.0
"""How long the claim of a write whose outcome is unknown is held while the producer
settles it (aiokafka gives a record up within its delivery timeout)."""


class Unsettled(OutcomeUnknown):
    """A produce the broker did not confirm in time, still pending in the producer."""

    def __init__(self, future: asyncio.Future[Any]) -> None:
        super().__init__("kafka", "the broker did not confirm the write in time")
        self.future = future


async def _settled(future: asyncio.Future[Any]) -> None:
    with contextlib.suppress(Exception):  # its outcome is read by ``outcome_read``
        await asyncio.shield(future)


def fingerprint_of(content: Any) -> str:
    """A request's content as a short digest, the same for the same fields in any order."""
    canonical = orjson.dumps(content, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()[:32]


def _same_content(seen: Any, fingerprint: str) -> bool:
    """Whether a seen marker (or claim) is for content with this fingerprint. A marker
    written before fingerprints, or without one, is taken as the same content; no marker
    at all (None) too: nothing was written under the id."""
    if not isinstance(seen, bytes) or FINGERPRINT_SEP not in seen:
        return True
    return seen.rsplit(FINGERPRINT_SEP, 1)[1].decode() == fingerprint


def key_reused(errors: list[dict[str, Any]] | None = None) -> Problem:
    """The 422 for an Idempotency-Key whose first request said something else."""
    return Problem(
        422,
        "this Idempotency-Key was used for a different request; nothing was written "
        "(use a new key for a new request)",
        slug="idempotency-key-reused",
        errors=errors,
    )
