"""``switchboard state rebuild``: restore Redis from Kafka after Redis lost its data.

Run it with every role stopped: a role running meanwhile writes into the state being
restored, and stops when the new state marker appears ("Redis state vanished"). So it
first asks the broker whether the consumer group of a role that keeps state in Redis
(router, timers, metrics, notifier) has live members, waiting up to one session timeout
for a role that just stopped to go, and refuses, naming the groups, unless forced
(``RolesRunning``: one line, exit 2). Then it
1. restores thread state (tickets, owners, message index, each customer's current ticket)
   from the latest snapshot of every ticket: the ``tickets`` topic (every lifecycle event
   carries the snapshot after the change) and the compacted ``ticket-state`` topic, whose
   tombstones (``switchboard forget``) win. A ticket closed longer ago than
   ``SWITCHBOARD_CLOSED_RETENTION_S`` is left out (it was archived: only its id goes back,
   into its customer's archived set, for ``forget``), and the others closed get their
   archive timers;
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
5. writes a new state marker, so the roles start again: last of all. The marker is
   deleted before anything is written, so a rebuild cut short (Ctrl-C, a broker lost
   part way) leaves the roles refusing to start, and the operator runs it again.

The timers and metrics state is then recomputed by replaying ``tickets`` through those
roles' own handlers (``roles.replay_tickets``, called by the CLI before it writes the
marker, ``mark=False`` then ``mark_rebuilt``): metric counts are exact again, and every
due time and waiting ticket is known again. An unreadable record is skipped and counted,
not dead-lettered again: the roles do that when they read it.

The ``customer.upserted`` actions on ``actions`` are then applied again in order
(``consumers.crm``, as the router applies them), after the links above: CRM links,
merges and profiles come back, except a forgotten person's. What is not in Kafka
cannot come back: agent presence (agents announce it again), CRM updates older than
the topic's retention, and the notifier's parked deliveries (their retry schedule is in
Redis only, their records committed).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import ConsumerRecord
from aiokafka.protocol.admin import (
    DescribeGroupsRequest,
    DescribeGroupsRequest_v0,
    DescribeGroupsRequest_v1,
    DescribeGroupsRequest_v2,
)
from aiokafka.protocol.api import Request
from aiokafka.protocol.group import HeartbeatRequest
from pydantic import ValidationError

from consumers.archive import ARCHIVE, archive_timers
from consumers.crm import upsert_customer, upsert_identities
from consumers.metrics import MetricsHandler
from consumers.notifier import NotifierHandler
from consumers.routing import RoutingHandler
from consumers.state.backlog import Backlog
from consumers.state.counters import WindowCounters
from consumers.state.epoch import StateEpoch
from consumers.state.schedule import TimerSchedule
from consumers.state.threads import RedisThreadStore
from consumers.timers import TimersHandler
from router.actions import CustomerUpserted, parse_action
from router.app.console import counted
from router.app.forget import release
from router.app.reading import Progress, read_through
from router.codec import decode_record
from router.errors import ConfigError, InvalidEvent
from router.events import Customer, Ticket
from router.ids import action_key, derived_id, scoped_id
from router.kafka import make_admin
from router.keys import Keys
from router.redis import Command, RedisClient, make_redis, run_batch
from router.settings import Settings
from router.topics import METRIC_TOPICS, Topic
from router.vocabulary import EventType

STATEFUL_ROLES = (
    RoutingHandler.name,
    TimersHandler.name,
    MetricsHandler.name,
    NotifierHandler.name,
)
"""The roles whose consumers keep state in Redis and guard the state marker."""
LIVE_STATES = frozenset({"Stable", "PreparingRebalance", "CompletingRebalance"})
"""Consumer group states in which members are consuming, or about to."""


class RolesRunning(ConfigError):
    """Roles are running: their consumer groups have live members. Not retriable until
    they are stopped; ``--force`` skips the check."""

    def __init__(self, live: dict[str, str]) -> None:
        self.groups = dict(sorted(live.items()))
        listed = ", ".join(f"{group} ({what})" for group, what in self.groups.items())
        noun = "group" if len(self.groups) == 1 else "groups"
        super().__init__(
            "state rebuild",
            f"roles are running: consumer {noun} {listed}; stop every role and run it "
            "again (--force rebuilds anyway)",
        )


_Versions = DescribeGroupsRequest_v0 | DescribeGroupsRequest_v1 | DescribeGroupsRequest_v2


class _DescribeGroups(Request[_Versions]):  # type: ignore[misc]  # aiokafka has no types
    """DescribeGroups at v2 at most: v3 adds only the authorized operations (not asked
    for here), and the embedded broker (Tansu) answers v3 in a form aiokafka cannot
    decode. Every broker that speaks v3 speaks v1 and v2 as well."""

    API_KEY = DescribeGroupsRequest.API_KEY

    def __init__(self, groups: list[str]) -> None:
        self._groups = groups

    def build(self, request_struct_class: type[Any]) -> Any:
        return request_struct_class(self._groups)


NOT_A_MEMBER = "switchboard-state-rebuild"
"""The member id of the heartbeat ``running_roles`` sends: no member has it."""


async def running_roles(settings: Settings) -> dict[str, str]:
    """The consumer groups of ``STATEFUL_ROLES`` that have live members, each with what
    was found: its member count, or the error the broker answered (a group it cannot
    describe may well be running).

    Each group is first sent a heartbeat of a member it does not have (answered
    UNKNOWN_MEMBER_ID, changing nothing): some brokers (the embedded Tansu) drop members
    whose session timed out only when their group is next touched, and list a member
    that left until then."""
    groups = [f"{settings.consumer_group_prefix}.{role}" for role in STATEFUL_ROLES]
    admin = make_admin(settings)
    await admin.start()
    try:
        by_node: dict[int, list[str]] = {}
        for group in groups:
            node = await admin.find_coordinator(group)
            by_node.setdefault(node, []).append(group)
            await admin._send_request(HeartbeatRequest(group, -1, NOT_A_MEMBER), node)  # noqa: SLF001
        responses = [
            # aiokafka's describe_consumer_groups always asks for the highest version
            await admin._send_request(_DescribeGroups(mine), node)  # noqa: SLF001
            for node, mine in by_node.items()
        ]
    finally:
        await admin.close()
    live: dict[str, str] = {}
    for response in responses:
        for group in response.to_object()["groups"]:
            if group["error_code"]:
                live[group["group"]] = f"not described: error {group['error_code']}"
            elif group["state"] in LIVE_STATES and group["members"]:
                live[group["group"]] = counted(len(group["members"]), "live member")
    return live


async def roles_still_running(settings: Settings) -> dict[str, str]:
    """``running_roles``, waiting up to one session timeout for them to go: a role that
    just stopped, or was killed, is a member until its session times out (on some
    brokers even after it left). Empty once none is left; else what the last look found."""
    deadline = time.monotonic() + settings.kafka.session_timeout_ms / 1000 + 1
    live = await running_roles(settings)
    while live and time.monotonic() < deadline:
        await asyncio.sleep(1)
        live = await running_roles(settings)
    return live


@dataclass
class Rebuilt:
    tickets: int = 0
    erased: int = 0
    identities: int = 0
    metric_windows: int = 0
    dedupe_markers: int = 0
    lifecycle: list[ConsumerRecord[bytes, bytes]] = field(default_factory=list)
    """The ``tickets`` topic as read: what the timers and metrics roles replay next."""
    archived: int = 0
    """Closed tickets past ``SWITCHBOARD_CLOSED_RETENTION_S``: not restored."""
    gone: list[Ticket] = field(default_factory=list)
    """The erased tickets as ``tickets`` last showed them: ``release_erased`` takes them
    out of what the replay of ``tickets`` puts them back in."""


async def read_all(
    settings: Settings, topic: Topic, progress: Progress | None = None
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of a topic, from the beginning to its end, in offset order per
    partition (see ``router.app.reading``)."""
    return [r async for batch in read_through(settings, topic, progress) for r in batch]


@dataclass
class Snapshots:
    """What the ticket snapshots on ``tickets`` and ``ticket-state`` say."""

    latest: dict[str, Ticket]
    """The latest snapshot per ticket still there (not erased)."""
    erased: set[str]
    """Tickets whose ``ticket-state`` tombstone (``switchboard forget``) is their last word."""
    links: dict[str, str]
    """identity -> customer, as the interactions on ``tickets`` show them."""
    written: dict[tuple[str, str], list[str]]
    """(participant, ticket) -> the message ids the participant wrote on that ticket."""
    forgotten: dict[str, int] = field(default_factory=dict)
    """identity -> when (ms) the customer it named was erased: the owners of erased
    tickets, as those tickets' interactions show them. A CRM upsert of theirs from before
    then must not bring them back; one after is a person seen again."""
    gone: dict[str, Ticket] = field(default_factory=dict)
    """The last snapshot on ``tickets`` of each erased ticket (what ``forget`` released)."""

    def customers(self) -> set[str]:
        """Every customer a restored snapshot names: its owner or a participant. A customer
        seen on ``tickets`` but in none of them was erased (``forget`` tombstoned their
        tickets and took them out of others')."""
        return {c for t in self.latest.values() for c in (t.customer_id, *t.participants)}

    def written_on(self, tickets: list[Ticket]) -> dict[tuple[str, str], list[str]]:
        """``written`` for these tickets, as their snapshots still show it: a participant
        and message ids ``forget`` took out of a ticket are not given back."""
        found: dict[tuple[str, str], list[str]] = {}
        for t in tickets:
            for participant in t.participants:
                mine = self.written.get((participant, t.id), [])
                found[participant, t.id] = [m for m in mine if m in t.message_ids]
        return found


def _newer(candidate: Ticket, than: Ticket | None) -> bool:
    """Whether a ``tickets`` snapshot is later than the ``ticket-state`` one. Every change
    moves ``updated_at`` forward or keeps it (never back) and publishes a ``ticket-state``
    snapshot, while an action with no lifecycle event (``assignment.accepted``) or
    ``forget``'s cleaned snapshot publishes only that: on a tie ``ticket-state`` wins."""
    return than is None or candidate.updated_at > than.updated_at


def _snapshots(
    tickets_topic: list[ConsumerRecord[bytes, bytes]],
    state_topic: list[ConsumerRecord[bytes, bytes]],
) -> tuple[dict[str, Ticket], set[str], dict[str, str]]:
    """Latest snapshot per ticket, erased ticket ids, and identity -> customer links."""
    found = _read_snapshots(tickets_topic, state_topic)
    return found.latest, found.erased, found.links


def _read_snapshots(
    tickets_topic: list[ConsumerRecord[bytes, bytes]],
    state_topic: list[ConsumerRecord[bytes, bytes]],
) -> Snapshots:
    """Per ticket, the later of its last ``ticket-state`` and last ``tickets`` snapshot
    (``_newer``); and from the interactions on ``tickets``, who sent each message."""
    state: dict[str, Ticket] = {}
    erased: dict[str, int] = {}  # ticket -> when its tombstone was written
    for record in state_topic:
        ticket_id = (record.key or b"").decode()
        if record.value is None:
            erased[ticket_id] = record.timestamp
            state.pop(ticket_id, None)
            continue
        erased.pop(ticket_id, None)
        ticket = _ticket(record.value)
        if ticket is not None:
            state[ticket.id] = ticket
    lifecycle: dict[str, Ticket] = {}
    identities: dict[str, str] = {}  # guesses: the first wins
    sure: dict[str, str] = {}  # links a record proves (a new ticket's, a new participant's)
    written: dict[tuple[str, str], list[str]] = {}
    gone: dict[str, Ticket] = {}
    gone_links: dict[str, str] = {}
    for record in tickets_topic:
        if record.value is None:
            continue
        data = _data(record.value)
        ticket = _ticket_from(data.get("ticket"))
        if ticket is None:
            continue
        if ticket.id in erased:  # who the erased owner was, not to be linked again
            _link_sender(data, ticket, gone.get(ticket.id), gone_links, gone_links)
            gone[ticket.id] = ticket
            continue
        previous = lifecycle.get(ticket.id)
        lifecycle[ticket.id] = ticket
        sender = _link_sender(data, ticket, previous, identities, sure)
        if sender is not None and sender != ticket.customer_id:
            before = set(previous.message_ids) if previous else set()
            mine = written.setdefault((sender, ticket.id), [])
            mine += [m for m in ticket.message_ids if m not in before and m not in mine]
    latest = dict(state)
    for ticket_id, ticket in lifecycle.items():
        if _newer(ticket, state.get(ticket_id)):
            latest[ticket_id] = ticket
    erased_at: dict[str, int] = {}
    for t in gone.values():
        erased_at[t.customer_id] = max(erased_at.get(t.customer_id, 0), erased[t.id])
    forgotten = {i: erased_at[c] for i, c in gone_links.items() if c in erased_at}
    return Snapshots(latest, set(erased), {**identities, **sure}, written, forgotten, gone)


def _link_sender(
    data: dict[str, Any],
    ticket: Ticket,
    previous: Ticket | None,
    identities: dict[str, str],
    sure: dict[str, str],
) -> str | None:
    """Link the identities of the message a record carries to its sender, and return the
    sender: the ticket's customer, or a participant the message added (a reply from
    someone else), or a participant whose identity a record proved before. A record that
    proves a link replaces an older proof (a forgotten person who came back is a new
    customer); a guess never replaces anything."""
    interaction = data.get("interaction")
    if not isinstance(interaction, dict) or not isinstance(interaction.get("customer"), dict):
        return None
    try:
        customer = Customer.model_validate(interaction["customer"])
    except ValidationError:
        return None
    before = set(previous.participants) if previous else set(ticket.participants)
    joined = [p for p in ticket.participants if p not in before]  # a first record: none
    if joined or not before:
        sender = joined[-1] if joined else ticket.customer_id
        sure.update(dict.fromkeys(customer.identities(), sender))
        return sender
    known = [sure[i] for i in customer.identities() if sure.get(i) in ticket.participants]
    sender = known[0] if known else ticket.customer_id
    for identity in customer.identities():
        identities.setdefault(identity, sender)
    return sender


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


def _event_id(value: bytes | None, *, scoped: bool = False, action: bool = False) -> str | None:
    """A structured record's id; ``scoped``: the id its effects are keyed by
    (``scoped_id``, ``action_key`` for an ``action``), for an event written by the
    ingress or a helpdesk."""
    try:
        event = orjson.loads(value) if value else None
    except orjson.JSONDecodeError:
        return None
    if not isinstance(event, dict):
        return None
    found, source = event.get("id"), event.get("source")
    if not (isinstance(found, str) and found):
        return None
    if not (scoped and isinstance(source, str)):
        return found
    return action_key(source, found) if action else scoped_id(source, found)


def _seen_markers(
    accepted: Iterable[ConsumerRecord[bytes, bytes]],
    keys: Keys,
    ttl_s: int,
    now_ms: int,
    *,
    actions: bool = False,
) -> Iterator[Marker]:
    """The ingress's marker of every event it accepted (``inbound``, or ``actions``: keyed
    as the router keys an action, so one written to Kafka under an inbound channel's
    source cannot mark a customer's next message as seen)."""
    for record in accepted:
        left = _left_s(record, ttl_s, now_ms)
        id_ = _event_id(record.value, scoped=True, action=actions)
        if left and id_:
            yield keys.ingress_seen(id_), left


def _done_markers(
    tickets_topic: list[ConsumerRecord[bytes, bytes]],
    state_topic: list[ConsumerRecord[bytes, bytes]],
    actions_topic: list[ConsumerRecord[bytes, bytes]],
    *,
    keys: Keys,
    ttl_s: int,
    now_ms: int,
    customers: set[str],
) -> Iterator[Marker]:
    """The router's marker of every message and action ``tickets`` or ``ticket-state``
    shows applied, under the ticket's customer (the key the router's commit wrote), for
    the ``customers`` still there (an erased customer's markers stay erased). An action's
    first lifecycle record has the id ``derived_id(action id, type, "0")``, its snapshot
    ``derived_id(action id, "switchboard.ticket.snapshot")``: an ``assignment.accepted``
    publishes only the snapshot, found while compaction has not replaced it."""
    by_id: dict[str, tuple[str, int]] = {}  # record id -> (customer, seconds left)
    for record in (*tickets_topic, *state_topic):
        left = _left_s(record, ttl_s, now_ms)
        data = _data(record.value) if left and record.value else {}
        ticket = _ticket_from(data.get("ticket"))
        if ticket is None or ticket.customer_id not in customers:
            continue
        interaction = data.get("interaction")
        cause = interaction.get("event_id") if isinstance(interaction, dict) else None
        if isinstance(cause, str) and cause:
            yield keys.done(ticket.customer_id, cause), left
        id_ = _event_id(record.value)
        if id_:
            by_id[id_] = (ticket.customer_id, left)
    for record in actions_topic:
        action_id = _event_id(record.value, scoped=True, action=True)
        if action_id is None or not _left_s(record, ttl_s, now_ms):
            continue
        ids = [derived_id(action_id, t.value, "0") for t in EventType]
        ids.append(derived_id(action_id, EventType.TICKET_SNAPSHOT.value))
        applied = next((by_id[i] for i in ids if i in by_id), None)
        if applied is not None:
            yield keys.done(applied[0], action_id), applied[1]


def _upserts(
    actions_topic: list[ConsumerRecord[bytes, bytes]], forgotten: dict[str, int]
) -> list[CustomerUpserted]:
    """The ``customer.upserted`` actions, in offset order per partition (a CRM's updates of
    one customer share a key, so they keep their order), but those naming a ``forgotten``
    identity written before its customer was erased. The other identities such an upsert
    names (a CRM id) are that person's too: later upserts naming only them, from before
    the erasure, are left out as well."""
    found: list[CustomerUpserted] = []
    forgotten = dict(forgotten)
    for record in actions_topic:
        try:
            action = parse_action(decode_record(record.value, record.headers))
        except (InvalidEvent, ValidationError, ValueError):
            continue  # the router dead-lettered it: it changed nothing
        if not isinstance(action, CustomerUpserted):
            continue
        named = upsert_identities(action)
        erased_at = max((forgotten.get(i, -1) for i in named), default=-1)
        if record.timestamp <= erased_at:  # of a person erased since: `forget` took it
            forgotten.update(dict.fromkeys(named, erased_at))
            continue
        found.append(action)
    return found


async def _replay_upserts(
    store: RedisThreadStore, upserts: list[CustomerUpserted], erased: set[str]
) -> int:
    """Apply the CRM upserts again through the router's own steps (``upsert_customer``):
    links, merges and profiles come back as they were. An upsert naming an ``erased``
    identity (a forgotten person's) is skipped: it must not bring them back."""
    replayed = 0
    for action in upserts:
        if erased.isdisjoint(upsert_identities(action)):
            await upsert_customer(store, action)
            replayed += 1
    return replayed


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


async def rebuild(
    settings: Settings,
    progress: Progress | None = None,
    *,
    force: bool = False,
    mark: bool = True,
) -> Rebuilt:
    """Restore Redis (see the module); raises RolesRunning, before reading or writing
    anything, while a role runs (still a member one session timeout on), unless
    ``force``. ``mark``: write the new state marker at the end; without it the caller
    does, with ``mark_rebuilt``, once what it does next (the replay) is done too."""
    if not force and (live := await roles_still_running(settings)):
        raise RolesRunning(live)
    tickets_topic = await read_all(settings, Topic.TICKETS, progress)
    state_topic = await read_all(settings, Topic.TICKET_STATE, progress)
    inbound_topic = await read_all(settings, Topic.INBOUND, progress)
    actions_topic = await read_all(settings, Topic.ACTIONS, progress)
    found = _read_snapshots(tickets_topic, state_topic)
    archived = past_retention(found.latest.values(), settings.closed_retention_s, time.time())
    customers = found.customers()
    links = {i: c for i, c in found.links.items() if c in customers}
    erased = {i for i, c in found.links.items() if c not in customers}
    revisions = await _metric_revisions(settings, progress)
    redis = make_redis(settings)
    prefix, ttl_s = settings.topic_prefix, settings.redis.dedupe_ttl_s
    try:
        await StateEpoch(redis, prefix).clear()  # written again when all is restored
        store = RedisThreadStore(redis, ttl_s=ttl_s, prefix=prefix)
        tickets = [t for t in found.latest.values() if t.id not in archived]
        current = {c: t for c, t in _current_tickets(found.latest).items() if t not in archived}
        for start in range(0, len(tickets), 1000):
            chunk = tickets[start : start + 1000]
            mine = {t.customer_id for t in chunk}
            await store.restore(
                chunk,
                {},
                {c: t for c, t in current.items() if c in mine},
                written=found.written_on(chunk),
            )
        linked = list(links.items())
        for start in range(0, len(linked), 1000):
            await store.restore([], dict(linked[start : start + 1000]), {})
        await _replay_upserts(store, _upserts(actions_topic, found.forgotten), erased)
        await WindowCounters(redis, prefix=prefix, ttl_s=ttl_s).seed_revisions(revisions)
        await Backlog(redis, prefix=prefix, ttl_s=ttl_s).follow_again()
        keys, now_ms = Keys(prefix), int(time.time() * 1000)
        markers = await _write_markers(
            redis,
            itertools.chain(
                _seen_markers(inbound_topic, keys, ttl_s, now_ms),
                _seen_markers(actions_topic, keys, ttl_s, now_ms, actions=True),
                _done_markers(
                    tickets_topic,
                    state_topic,
                    actions_topic,
                    keys=keys,
                    ttl_s=ttl_s,
                    now_ms=now_ms,
                    customers=customers,
                ),
            ),
        )
        await _remember_archived(redis, Keys(prefix), [found.latest[t] for t in archived])
        shards = TimerSchedule(redis, prefix=prefix, shards=settings.timers_shards)
        await shards.add(archive_timers(tickets, settings.closed_retention_s))
        if mark:
            await StateEpoch(redis, prefix).renew()
    finally:
        await redis.aclose()
    return Rebuilt(
        len(tickets),
        len(found.erased),
        len(links),
        len(revisions),
        markers,
        tickets_topic,
        archived=len(archived),
        gone=list(found.gone.values()),
    )


async def mark_rebuilt(settings: Settings) -> None:
    """The new state marker, the last step of a rebuild: the roles start again."""
    redis = make_redis(settings)
    try:
        await StateEpoch(redis, settings.topic_prefix).renew()
    finally:
        await redis.aclose()


async def release_erased(settings: Settings, tickets: list[Ticket]) -> None:
    """After the replay of ``tickets`` (``roles.replay_tickets``): the erased tickets out
    of the agents' seats, the waiting line, the backlog gauges and the timers, as
    ``forget`` left them. The replay reads their records like any other's, and an erased
    ticket never settles: it would count as open in the gauges for good."""
    if not tickets:
        return
    redis = make_redis(settings)
    try:
        await release(redis, settings, tickets)
    finally:
        await redis.aclose()


async def _remember_archived(redis: RedisClient, keys: Keys, tickets: list[Ticket]) -> None:
    """The archived tickets' ids in their customers' archived sets, as the timers role
    leaves them: ``forget`` erases their snapshots on ``ticket-state`` from there."""
    per_customer: dict[str, list[str]] = {}
    for t in tickets:
        per_customer.setdefault(t.customer_id, []).append(t.id)
    commands: list[Command] = [("SADD", keys.archived(c), *ids) for c, ids in per_customer.items()]
    for start in range(0, len(commands), 1000):
        await run_batch(redis, commands[start : start + 1000])


def past_retention(tickets: Iterable[Ticket], retention_s: int, now: float) -> set[str]:
    """The closed tickets the timers role would have archived by now: left out of the
    restore (their snapshots stay on ``ticket-state``). The others closed get their
    archive timers, whether or not ``tickets`` still holds a record of them."""
    due = archive_timers(tickets, retention_s)
    return {member.removesuffix(ARCHIVE) for member, when in due.items() if when <= now}


__all__ = [
    "Rebuilt",
    "RolesRunning",
    "read_all",
    "rebuild",
    "release_erased",
    "roles_still_running",
    "running_roles",
]
