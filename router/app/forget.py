"""``switchboard forget``: erase a customer's identities and thread state (GDPR erasure).

Redis state goes at once; the ticket snapshots on the compacted ``ticket-state`` topic get
tombstones (null values), which Kafka's compaction then removes. Records on the
non-compacted topics age out with ``SWITCHBOARD_KAFKA_RETENTION_MS``.
"""

from __future__ import annotations

from dataclasses import dataclass

from consumers.state.threads import RedisThreadStore
from router.identity import normalize_email, normalize_phone
from router.kafka import make_producer, send_and_wait_all
from router.redis import make_redis
from router.settings import Settings
from router.topics import Topic, TopicNames


@dataclass(frozen=True)
class Forgotten:
    customer_id: str | None
    tickets: list[str]


def identity_of(who: str) -> str | None:
    """``C-...`` is a customer id (None: no lookup needed); else an email or a phone."""
    if who.startswith("C-"):
        return None
    if "@" in who:
        return f"email:{normalize_email(who)}"
    return f"phone:{normalize_phone(who)}"


async def forget(settings: Settings, who: str) -> Forgotten:
    redis = make_redis(settings)
    try:
        store = RedisThreadStore(
            redis, ttl_s=settings.redis.dedupe_ttl_s, prefix=settings.topic_prefix
        )
        identity = identity_of(who)
        customer = await store.customer_of(identity) if identity else who
        if customer is None:
            return Forgotten(None, [])
        tickets = await store.forget(customer)
    finally:
        await redis.aclose()
    if tickets:
        producer = make_producer(settings)
        await producer.start()
        try:
            name = TopicNames(settings.topic_prefix)(Topic.TICKET_STATE)
            await send_and_wait_all(producer, [(name, t.encode(), None, []) for t in tickets])
        finally:
            await producer.stop()
    return Forgotten(customer, tickets)
