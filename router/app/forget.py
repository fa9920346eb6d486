"""``switchboard forget``: erase a customer's identities and thread state (GDPR erasure).

Redis state goes at once; the ticket snapshots on the compacted ``ticket-state`` topic get
tombstones (null values), which Kafka's compaction then removes. Records on the
non-compacted topics age out with ``SWITCHBOARD_KAFKA_RETENTION_MS``.

Before the thread state goes, the customer's tickets leave everything that counts them
apart from it: an agent's seat, the waiting line, the backlog gauges and the SLA timers.
Once the tickets are erased no action can reach them (404), so a seat they kept would
never be freed and the gauges would count them forever. That cleanup reads the snapshots
the erasure deletes, so it runs first: a run that fails halfway is simply run again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from consumers.state.agents import AgentStore
from consumers.state.backlog import Backlog
from consumers.state.schedule import TimerSchedule
from consumers.state.threads import RedisThreadStore
from consumers.state.waiting import WaitingLine
from router.events import Ticket
from router.identity import normalize_email, normalize_phone
from router.kafka import make_producer, send_and_wait_all
from router.redis import RedisClient, make_redis
from router.settings import Settings
from router.topics import Topic, TopicNames
from router.vocabulary import SETTLED


@dataclass(frozen=True)
class Forgotten:
    customer_id: str | None
    tickets: list[str]
    released: dict[str, str] = field(default_factory=dict)
    """ticket -> the agent whose seat it held, now free."""
    timers: int = 0
    """SLA and assignment timers dropped."""


@dataclass(frozen=True)
class Released:
    seats: dict[str, str]
    timers: int


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
        customer = await _known_customer(store, who)
        if customer is None:
            return Forgotten(None, [])
        # a person is every customer merged into them too (their identities name them)
        people = [customer, *await store.merged_customers(customer)]
        held = [t for c in people for t in await store.customer_tickets(c)]
        released = await release(redis, settings, held)
        tickets = [t for c in people for t in await store.forget(c)]
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
    return Forgotten(customer, tickets, released.seats, released.timers)


async def _known_customer(store: RedisThreadStore, who: str) -> str | None:
    """The customer id ``who`` names, or None when Redis knows no such customer: a
    mistyped ``C-...`` id must say so as an unknown email does, not report an erasure."""
    identity = identity_of(who)
    if identity is not None:
        return await store.customer_of(identity)
    return who if await store.customer_known(who) else None


async def release(redis: RedisClient, settings: Settings, tickets: list[Ticket]) -> Released:
    """Take the tickets out of the agents' seats, the waiting line, the backlog gauges and
    the timer schedule; each step idempotent. Every ticket is released from the first
    three (a few commands each): a settled ticket's seat or gauge entry may still be
    there, its snapshot not followed yet. Timers cost a scan per ticket, so only the
    unsettled tickets' are looked for: a settled ticket's timers are stale already, and
    dropped when due (their ticket gone)."""
    prefix, shards = settings.topic_prefix, settings.timers_shards
    seats = await AgentStore(redis, prefix=prefix).release_seats([t.id for t in tickets])
    await WaitingLine(redis, prefix=prefix, shards=shards).drop(tickets)
    await Backlog(redis, prefix=prefix).drop(tickets)
    timers = await TimerSchedule(redis, prefix=prefix, shards=shards).drop_tickets(
        t.id for t in tickets if t.status not in SETTLED
    )
    return Released(seats, timers)
