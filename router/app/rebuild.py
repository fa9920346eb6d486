"""``switchboard state rebuild``: restore Redis from Kafka after Redis lost its data.

Run it with every role stopped. It
1. restores thread state (tickets, owners, message index, each customer's current ticket)
   from the latest snapshot of every ticket: the ``tickets`` topic (every lifecycle event
   carries the snapshot after the change) and the compacted ``ticket-state`` topic, whose
   tombstones (``switchboard forget``) win;
2. restores identity links from the interactions on ``tickets``: a message's sender is
   the ticket's customer, unless the message added a participant to the ticket (a reply
   from someone else), who is then the sender. Customer ids are random, not derived from
   an identity, so these links are what names a returning customer after the rebuild;
3. seeds every metric window's revision from the compacted metric topics, so the windows
   recomputed next keep growing revisions;
4. restores the dedupe markers of events still within ``SWITCHBOARD_REDIS_DEDUPE_TTL_S``
   (each for the rest of its TTL, counted from the record's timestamp): the ingress's
   "seen" marker of every record on ``inbound`` and ``actions``, and the router's "done"
   marker of every event ``tickets`` says was applied (a message's records name it in
   ``data.interaction.event_id``; an action's are recognised by the ids derived from
   it). Without them a provider's retry, or a redelivered record, of something handled
   before the loss would be taken for new: a second ``message_added``, a contact counted
   twice;
5. writes a new state marker, so the roles start again.

The timers and metrics state is then recomputed by replaying ``tickets`` through those
roles' own handlers (``roles.replay_tickets``, called by the CLI): metric counts are exact
again, and every due time and waiting ticket is known again.

What is not in Kafka cannot come back: CRM profiles (``customer.upserted``; send them
again) and agent presence (agents announce it again).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import ConsumerRecord
from pydantic import ValidationError

from consumers.state.counters import WindowCounters
from consumers.state.epoch import StateEpoch
from consumers.state.threads import RedisThreadStore
from router.app.reading import Progress, read_through
from router.events import Customer, Ticket
from router.ids import derived_id
from router.keys import Keys
from router.redis import Command, RedisClient, make_redis, run_batch
from router.settings import Settings
from router.topics import METRIC_TOPICS, Topic
from router.vocabulary import EventType


@dataclass
class Rebuilt:
    tickets: int = 0
    erased: int = 0
    identities: int = 0
    metric_windows: int = 0
    dedupe_markers: int = 0


async def read_all(
    settings: Settings, topic: Topic, progress: Progress | None = None
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of a topic, from the beginning to its end, in offset order per
    partition (see ``router.app.reading``)."""
    return [r async for batch in read_through(settings, topic, progress) for r in batch]


def _snapshots(
    tickets_topic: list[ConsumerRecord[bytes, bytes]],
    state_topic: list[ConsumerRecord[bytes, bytes]],
) -> tuple[dict[str, Ticket], set[str], dict[str, str]]:
    """Latest snapshot per ticket, erased ticket ids, and identity -> customer links."""
    latest: dict[str, Ticket] = {}
    identities: dict[str, str] = {}
    erased: set[str] = set()
    for record in state_topic:
        ticket_id = (record.key or b"").decode()
        if record.value is None:
            erased.add(ticket_id)
            latest.pop(ticket_id, None)
            continue
        erased.discard(ticket_id)
        ticket = _ticket(record.value)
        if ticket is not None:
            latest[ticket.id] = ticket
    sure: dict[str, str] = {}  # links a record proves: a new ticket's, a new participant's
    seen: dict[str, set[str]] = {}  # participants per ticket so far
    for record in tickets_topic:  # the full lifecycle: later than any snapshot it caused
        if record.value is None:
            continue
        data = _data(record.value)
        ticket = _ticket_from(data.get("ticket"))
        if ticket is None or ticket.id in erased:
            continue
        before = seen.get(ticket.id, set(ticket.participants))  # a first record proves none
        latest[ticket.id] = ticket
        seen[ticket.id] = set(ticket.participants)
        interaction = data.get("interaction")
        if isinstance(interaction, dict) and isinstance(interaction.get("customer"), dict):
            try:
                customer = Customer.model_validate(interaction["customer"])
            except ValidationError:
                continue
            # the sender is the ticket's customer, or a participant the message added
            joined = [p for p in ticket.participants if p not in before]
            sender = joined[-1] if joined else ticket.customer_id
            links = sure if joined or not before else identities
            for identity in customer.identities():
                links.setdefault(identity, sender)
    return latest, erased, {**identities, **sure}


def _data(value: bytes) -> dict[str, Any]:
    try:
        event = orjson.loads(value)
    except orjson.JSONDecodeError:
        return {}
    data = event.get("data") if isinstance(event, dict) else None
    return data if isinstance(data, dict) else {}


def _ticket(value: bytes) -> Ticket | None:
    return _ticket_from(_data(value).get("ticket"))


def _ticket_from(raw: object) -> Ticket | None:
    if not isinstance(raw, dict):
        return None
    try:
        return Ticket.model_validate(raw)
    except ValidationError:
        return None


def _current_tickets(tickets: dict[str, Ticket]) -> dict[str, str]:
    """Each customer's current ticket: the one their latest message went to."""
    current: dict[str, Ticket] = {}
    for t in tickets.values():
        best = current.get(t.customer_id)
        at = t.last_customer_at or t.created_at
        if best is None or at >= (best.last_customer_at or best.created_at):
            current[t.customer_id] = t
    return {c: t.id for c, t in current.items()}


async def _metric_revisions(settings: Settings, progress: Progress | None) -> dict[str, int]:
    revisions: dict[str, int] = {}
    for topic in METRIC_TOPICS.values():
        for record in await read_all(settings, topic, progress):
            if record.value is None or record.key is None:
                continue
            try:
                revision = int(orjson.loads(record.value).get("revision", 0))
            except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
                continue
            key = record.key.decode()
            revisions[key] = max(revisions.get(key, 0), revision)
    return revisions


Marker = tuple[str, int]
"""A dedupe marker to write back: its key and the seconds it has left."""


def _left_s(record: ConsumerRecord[bytes, bytes], ttl_s: int, now_ms: int) -> int:
    """Seconds the marker written when ``record`` was would still live (0: expired)."""
    return max(0, ttl_s - max(0, now_ms - int(record.timestamp)) // 1000)


def _event_id(value: bytes | None) -> str | None:
    try:
        event = orjson.loads(value) if value else None
    except orjson.JSONDecodeError:
        return None
    found = event.get("id") if isinstance(event, dict) else None
    return found if isinstance(found, str) and found else None


def _seen_markers(
    accepted: Iterable[ConsumerRecord[bytes, bytes]], keys: Keys, ttl_s: int, now_ms: int
) -> Iterator[Marker]:
    """The ingress's marker of every event it accepted (``inbound``, ``actions``)."""
    for record in accepted:
        left, id_ = _left_s(record, ttl_s, now_ms), _event_id(record.value)
        if left and id_:
            yield keys.ingress_seen(id_), left


def _done_markers(
    tickets_topic: list[ConsumerRecord[bytes, bytes]],
    actions_topic: list[ConsumerRecord[bytes, bytes]],
    keys: Keys,
    ttl_s: int,
    now_ms: int,
) -> Iterator[Marker]:
    """The router's marker of every message and action ``tickets`` shows applied, under
    the ticket's customer (the key the router's commit wrote). An action's first record
    has the id ``derived_id(action id, type, "0")``."""
    by_id: dict[str, tuple[str, int]] = {}  # lifecycle record id -> (customer, seconds left)
    for record in tickets_topic:
        left = _left_s(record, ttl_s, now_ms)
        data = _data(record.value) if left and record.value else {}
        ticket = _ticket_from(data.get("ticket"))
        if ticket is None:
            continue
        interaction = data.get("interaction")
        cause = interaction.get("event_id") if isinstance(interaction, dict) else None
        if isinstance(cause, str) and cause:
            yield keys.done(ticket.customer_id, cause), left
        id_ = _event_id(record.value)
        if id_:
            by_id[id_] = (ticket.customer_id, left)
    for record in actions_topic:
        action_id = _event_id(record.value)
        if action_id is None or not _left_s(record, ttl_s, now_ms):
            continue
        for etype in EventType:
            applied = by_id.get(derived_id(action_id, etype.value, "0"))
            if applied is not None:
                yield keys.done(applied[0], action_id), applied[1]
                break


async def _write_markers(redis: RedisClient, markers: Iterable[Marker]) -> int:
    """SET NX, so a marker that survived (with its request fingerprint) is kept."""
    chunk: list[Command] = []
    written = 0
    for key, left in markers:
        chunk.append(("SET", key, "1", "NX", "EX", left))
        if len(chunk) == 1000:
            written += sum(1 for r in await run_batch(redis, chunk) if r)
            chunk = []
    if chunk:
        written += sum(1 for r in await run_batch(redis, chunk) if r)
    return written


async def rebuild(settings: Settings, progress: Progress | None = None) -> Rebuilt:
    tickets_topic = await read_all(settings, Topic.TICKETS, progress)
    state_topic = await read_all(settings, Topic.TICKET_STATE, progress)
    inbound_topic = await read_all(settings, Topic.INBOUND, progress)
    actions_topic = await read_all(settings, Topic.ACTIONS, progress)
    latest, erased, identities = _snapshots(tickets_topic, state_topic)
    revisions = await _metric_revisions(settings, progress)
    redis = make_redis(settings)
    prefix, ttl_s = settings.topic_prefix, settings.redis.dedupe_ttl_s
    try:
        store = RedisThreadStore(redis, ttl_s=ttl_s, prefix=prefix)
        tickets = list(latest.values())
        current = _current_tickets(latest)
        for start in range(0, len(tickets), 1000):
            chunk = tickets[start : start + 1000]
            mine = {t.customer_id for t in chunk}
            await store.restore(
                chunk,
                {i: c for i, c in identities.items() if c in mine},
                {c: t for c, t in current.items() if c in mine},
            )
        await WindowCounters(redis, prefix=prefix, ttl_s=ttl_s).seed_revisions(revisions)
        keys, now_ms = Keys(prefix), int(time.time() * 1000)
        markers = await _write_markers(
            redis,
            itertools.chain(
                _seen_markers((*inbound_topic, *actions_topic), keys, ttl_s, now_ms),
                _done_markers(tickets_topic, actions_topic, keys, ttl_s, now_ms),
            ),
        )
        await StateEpoch(redis, prefix).renew()
    finally:
        await redis.aclose()
    return Rebuilt(len(latest), len(erased), len(identities), len(revisions), markers)


__all__ = ["Rebuilt", "read_all", "rebuild"]
