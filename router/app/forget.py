"""``switchboard forget``: erase a customer's identities and thread state (GDPR erasure).

Whom: a customer id ``C-...`` (a customer merged into another stands for the person they
are now part of: both are erased), an email, a phone number, or any identity key the
store links (``email:...``, ``phone:...``, ``<channel>:<handle>`` such as ``chat:v-frank``,
``crm:<id>``).

First the settings are checked, so that a wrong one is an error (exit 2) and never "no
such customer", an erasure falsely confirmed: the ``ticket-state`` topic of
``SWITCHBOARD_TOPIC_PREFIX`` must exist, and when no customer is found, the Redis state
marker of that prefix must exist in that database (else nothing there was ever Switchboard's).

In this order, each step idempotent, so a run that fails halfway is simply run again:
1. the tombstones (null values) for the customer's tickets on the compacted
   ``ticket-state`` topic, which Kafka's compaction then removes. The topic is checked
   first (never created by the write) and Redis is still whole if this fails, so a rerun
   finds the customer again;
2. the tickets leave everything that counts them apart from the thread state: an agent's
   seat, the waiting line, the backlog gauges and the SLA timers. Once the tickets are
   erased no action can reach them (404), so a seat they kept would never be freed. It
   reads the snapshots the erasure deletes, so it runs before it;
3. the Redis state: the customer's identities, tickets, profile and indexes, and, on the
   tickets of others they wrote on, their id, their message ids and their last message
   (those tickets stay their owners'). A ticket the router opened for them meanwhile
   gets its tombstone after, and each ticket of others they were taken out of a new
   snapshot on ``ticket-state`` without them, which replaces the old ones there and wins
   over the ``tickets`` records in ``state rebuild``;
4. the notifications parked for the erased tickets (``RetrySchedule``: the message,
   the address and the record), so none is sent to the person afterwards. One parked
   by a record in flight meanwhile is dropped by the retry loop, its ticket gone.

What stays: records on the non-compacted topics until ``SWITCHBOARD_KAFKA_RETENTION_MS``
ages them out. ``state rebuild`` reads them but brings back no one it finds in no
restored snapshot (see ``router/app/rebuild.py``).
"""

from __future__ import annotations

import re
from contextlib import suppress
from dataclasses import dataclass, field

from consumers.domain.outputs import LifecycleOutputs
from consumers.state.agents import AgentStore
from consumers.state.backlog import Backlog
from consumers.state.notifications import RetrySchedule
from consumers.state.schedule import TimerSchedule
from consumers.state.threads import RedisThreadStore
from consumers.state.waiting import WaitingLine
from router.errors import ConfigError
from router.events import Ticket
from router.identity import normalize_email, normalize_phone
from router.ids import derived_id
from router.kafka import Produced, make_producer, send_and_wait_all
from router.keys import Keys
from router.redis import RedisClient, make_redis, read_marker, redis_errors
from router.settings import Settings
from router.topic_admin import missing_topics
from router.topics import OutRecord, Topic, TopicNames
from router.vocabulary import SETTLED


@dataclass(frozen=True)
class Forgotten:
    customer_id: str | None
    tickets: list[str]
    released: dict[str, str] = field(default_factory=dict)
    """ticket -> the agent whose seat it held, now free."""
    timers: int = 0
    """SLA and assignment timers dropped."""
    notifications: int = 0
    """Parked notifications (waiting for a provider) dropped."""


@dataclass(frozen=True)
class Released:
    seats: dict[str, str]
    timers: int


_KEYED = re.compile(r"[a-z][a-z0-9_-]*:.+")
"""``<kind>:<value>``: how the store spells an identity (``chat:v-frank``, ``crm:42``)."""
_CUSTOMER_ID = re.compile(r"C-[0-9a-f]{16}")
"""A customer id as ``router.ids`` makes one: ``C-`` and 16 lowercase hex digits."""


def identity_of(who: str) -> str | None:
    """The identity key ``who`` names; None when it is a customer id ``C-...``.

    ``email:`` and ``phone:`` are normalised as the adapters normalise them, as are a
    bare address or phone number (``mailto:``, ``tel:``, ``whatsapp:`` spellings too);
    any other ``<kind>:<value>`` is taken as it is, its kind in lower case. Raises
    ValueError for anything else, a ``C-`` id Switchboard never makes too: that is a
    typo, not a customer erased before.
    """
    who = who.strip()
    if who.startswith("C-"):
        if not _CUSTOMER_ID.fullmatch(who):
            raise ValueError(
                f"{who!r} is no customer id: one is C- and 16 lowercase hex digits, "
                "e.g. C-7b678e0a12c4d5f6"
            )
        return None
    kind, colon, rest = who.partition(":")
    if colon and kind.isalpha():  # the kind in any case, as people type it: Email:, CRM:
        kind = kind.lower()
        who = f"{kind}:{rest}"
    if kind == "email":
        return f"email:{normalize_email(rest)}"
    if kind == "phone":
        return f"phone:{normalize_phone(rest)}"
    keyed = bool(colon) and kind != "mailto" and _KEYED.fullmatch(who) is not None
    if "@" in who and not keyed:  # chat:kim@example.com, voice:sip:a@pbx: their kind's
        with suppress(ValueError):
            return f"email:{normalize_email(who)}"
    with suppress(ValueError):
        return f"phone:{normalize_phone(who)}"
    if _KEYED.fullmatch(who):
        return who
    raise ValueError(
        "not an email, a phone number, an identity such as chat:<handle> or crm:<id>, "
        "or a customer id C-..."
    )


async def forget(settings: Settings, who: str) -> Forgotten:
    """Erase the customer ``who`` names (see the module doc for the order and what
    stays). Raises ``ConfigError`` when the ``ticket-state`` topic is missing or, finding
    no one, when Redis holds no state under the prefix (no state marker), and
    ``ValueError`` when ``who`` is malformed (``identity_of``), having changed nothing."""
    redis = make_redis(settings)
    try:
        store = RedisThreadStore(
            redis, ttl_s=settings.redis.dedupe_ttl_s, prefix=settings.topic_prefix
        )
        await _require_ticket_state(settings)
        customer = await _known_customer(store, who)
        if customer is None:
            await _require_state_marker(redis, settings)
            return Forgotten(None, [])
        # a person is every customer merged into them too (their identities name them)
        people = [customer, *await store.merged_customers(customer)]
        owned = [t for c in people for t in await store.customer_ticket_ids(c)]
        await _tombstone(settings, owned)
        held = [t for c in people for t in await store.customer_tickets(c)]
        released = await release(redis, settings, held)
        others = [t.id for c in people for t in await store.participated_tickets(c)]
        tickets = sorted({t for c in people for t in await store.forget(c)} | set(owned))
        cleaned = [t for t in await store.tickets(others) if t is not None]
        # notifications go to a ticket's customer or to notify targets, never to its
        # other participants: the erased tickets' are all that name the person
        parked = await RetrySchedule(redis, prefix=settings.topic_prefix).drop_tickets(tickets)
    finally:
        await redis.aclose()
    await _tombstone(settings, [t for t in tickets if t not in owned], cleaned)
    return Forgotten(customer, tickets, released.seats, released.timers, parked)


async def _tombstone(
    settings: Settings, tickets: list[str], cleaned: list[Ticket] | None = None
) -> None:
    """A null value for each ticket on ``ticket-state``, and the ``cleaned`` snapshots of
    others' tickets the customer was taken out of, once the topic is known to exist (a
    write to a missing topic could create it with the broker's defaults, uncompacted).
    A cleaned snapshot keeps its ``updated_at``: ``state rebuild`` prefers ``ticket-state``
    over an equally recent ``tickets`` record, so the customer does not come back."""
    if not tickets and not cleaned:
        return
    name = await _require_ticket_state(settings)
    producer = make_producer(settings)
    await producer.start()
    try:
        records: list[Produced] = [(name, t.encode(), None, []) for t in tickets]
        records += [(name, r.key_bytes, r.value, list(r.headers)) for r in _snapshots(cleaned)]
        await send_and_wait_all(producer, records)
    finally:
        await producer.stop()


async def _require_ticket_state(settings: Settings) -> str:
    """The ``ticket-state`` topic's name, once it is known to exist. Checked before the
    customer is looked up too: a wrong ``SWITCHBOARD_TOPIC_PREFIX`` finds no one, and
    "no such customer" would confirm an erasure that never happened."""
    name = TopicNames(settings.topic_prefix)(Topic.TICKET_STATE)
    if name in await missing_topics(settings):
        raise ConfigError(
            "SWITCHBOARD_TOPIC_PREFIX",
            f"topic {name} is missing: nothing was erased; check the prefix, or run "
            "`switchboard topics ensure`, then forget again",
        )
    return name


async def _require_state_marker(redis: RedisClient, settings: Settings) -> None:
    """Before "no such customer": the Redis state marker of this prefix, written by the
    first role to start (``consumers/state/epoch.py``), and on a cluster its copy on
    every primary. Without it this Redis database holds no Switchboard state under the
    prefix (the wrong database in ``SWITCHBOARD_REDIS_URL``, the wrong prefix, or state
    lost, on a cluster perhaps by one node), and finding no one there says nothing about
    whether the customer is stored."""
    key = Keys(settings.topic_prefix).epoch
    with redis_errors():
        found = await read_marker(redis, settings.topic_prefix)
    if found is None:
        raise ConfigError(
            "SWITCHBOARD_REDIS_URL",
            f"no Switchboard state in this Redis database under SWITCHBOARD_TOPIC_PREFIX="
            f"{settings.topic_prefix} (the state marker {key}, or its copy on a cluster "
            "node, is missing), so no customer can be looked up: nothing was erased; "
            "check both settings, or restore lost state with `switchboard state rebuild`",
        )


def _snapshots(tickets: list[Ticket] | None) -> list[OutRecord]:
    """A ``ticket.snapshot`` record of each ticket as it is now, with an id of its own."""
    records: list[OutRecord] = []
    for ticket in tickets or []:
        cause = derived_id(ticket.id, "forget", ticket.model_dump_json())
        out = LifecycleOutputs(cause, ticket, ticket.updated_at)
        out.snapshot()
        records += out.records
    return records


async def _known_customer(store: RedisThreadStore, who: str) -> str | None:
    """The customer id ``who`` names, or None when Redis knows no such customer: a
    mistyped ``C-...`` id must say so as an unknown email does, not report an erasure.
    A customer merged into another names that one: the person is erased whole."""
    identity = identity_of(who)
    if identity is not None:
        customer = await store.customer_of(identity)
    else:
        customer = who.strip() if await store.customer_known(who.strip()) else None
    return None if customer is None else await store.survivor_of(customer)


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
