"""The SLA timer worker (role ``timers``): warnings, breaches and the escalation rules.

It follows the tickets topic and keeps the due times in Redis, sharded by ticket
(``consumers/state/schedule.py``). Every second it claims what is due, so that several
timers processes split the work, and fires it: the ticket changes through the same
thread store as the router (compare-and-set on the ticket version, dedupe marker,
outbox), under an event id derived from (ticket, target, kind, due time), so a timer
fires exactly once however often it is retried. A timer that is no longer due (met,
resolved, rescheduled) is dropped.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
import structlog
from pydantic import ValidationError

from consumers.deadletter import deadletter_record
from consumers.domain.escalation import Timer, fire, schedule
from consumers.outbox import Delivery, Send, commit_for
from consumers.runner import Record
from consumers.state.agents import AgentStore
from consumers.state.schedule import TimerSchedule
from consumers.state.threads import Commit, RedisThreadStore, ViewRequest
from consumers.state.waiting import WaitingLine
from consumers.sweep import LineSweep, request_for
from router.codec import TYPE_HEADER, decode_event
from router.errors import BackendUnavailable, InvalidEvent
from router.events import Ticket
from router.keys import DEFAULT_SHARDS
from router.limits import Limits
from router.redis import RedisClient
from router.topics import OutRecord
from router.vocabulary import LIFECYCLE_TYPES, SETTLED
from rules import RuleSet

log = structlog.get_logger("switchboard.timers")
BATCH = 500
REHOME_EVERY_S = 30.0
"""How often what an earlier layout left is looked for (older processes may still write it
during a rolling upgrade)."""


def typed(record: Record, limits: Limits) -> bool:
    """Written by Switchboard's lifecycle outputs (which name the type in a header): a
    well-formed CloudEvent keyed by its ticket's id, with a valid snapshot. A record over
    the size limit, or whose header names no lifecycle type, is not taken on trust."""
    if len(record.value or b"") > limits.record_bytes:
        return False
    declared = declared_type(record)
    return declared is not None and declared in LIFECYCLE_TYPES


def declared_type(record: Record) -> str | None:
    """The CloudEvents type the record's ``ce_type`` header names, if it has one."""
    value = next((v for k, v in record.headers or () if k == TYPE_HEADER), None)
    return value.decode(errors="replace") if value is not None else None


def superseded_dropped(records: list[Record], limits: Limits) -> list[Record]:
    """The records whose snapshot the handler needs. Only the latest snapshot of each
    ticket in a poll counts, whatever the event's type (every lifecycle record carries
    one, and any of them may move an SLA clock or the waiting line), so a record of ours
    followed in the same poll by another one of ours for the same ticket is passed over
    unparsed. Records of any other writer are all decoded: a malformed one is still
    dead-lettered."""
    ours = [record.key is not None and typed(record, limits) for record in records]
    last = {r.key: i for i, (r, mine) in enumerate(zip(records, ours, strict=True)) if mine}
    return [
        r
        for i, (r, mine) in enumerate(zip(records, ours, strict=True))
        if not mine or last[r.key] == i
    ]


def ticket_of(record: Record, limits: Limits) -> Ticket:
    """The snapshot a record carries (``data.ticket``). One of ours is parsed with orjson
    and only its ticket validated; anything else goes through the CloudEvent model. A
    record over the size limit or of a type that is no lifecycle event is poison."""
    limits.check_record(record.value)
    declared = declared_type(record)
    if declared is not None and declared not in LIFECYCLE_TYPES:
        raise InvalidEvent(f"unknown lifecycle type {declared!r}")
    if record.value is not None and typed(record, limits):
        try:
            data = orjson.loads(record.value).get("data")
        except (orjson.JSONDecodeError, AttributeError):
            data = None
        if isinstance(data, dict):
            return Ticket.model_validate(data.get("ticket"))
    event = decode_event(record.value)
    if event.type not in LIFECYCLE_TYPES:
        raise InvalidEvent(f"unknown lifecycle type {event.type!r}")
    return Ticket.model_validate((event.data or {}).get("ticket"))


class TimersHandler:
    name = "timers"

    def __init__(
        self,
        client: RedisClient,
        store: RedisThreadStore,
        *,
        agents: AgentStore,
        send: Send,
        rules: Callable[[], RuleSet],
        prefix: str,
        shards: int = DEFAULT_SHARDS,
        clock: Callable[[], float] = time.time,
        limits: Limits | None = None,
    ) -> None:
        self._limits = limits or Limits()
        self._r = client
        self._store = store
        self._agents = agents
        self._line = WaitingLine(client, prefix=prefix, shards=shards)
        self._sweep = LineSweep(self._line, store, agents, rules=rules, send=send)
        self._send = send
        self._rules = rules
        self._schedule = TimerSchedule(client, prefix=prefix, shards=shards)
        self._clock = clock
        self._rehome_at = 0.0

    async def handle(self, records: list[Record]) -> None:
        """Keep the schedule and the waiting line in step with the latest snapshot of
        every ticket, then fire what is due and offer what arrived."""
        latest: dict[str, Ticket] = {}
        dead: list[OutRecord] = []
        for record in superseded_dropped(records, self._limits):
            try:
                ticket = ticket_of(record, self._limits)
            except (InvalidEvent, ValidationError) as exc:
                log.warning("deadlettered", offset=record.offset, error=str(exc)[:200])
                dead.append(deadletter_record(record, self.name, exc, self._limits))
                continue
            latest[ticket.id] = ticket
        await self._follow_assignments(list(latest.values()))
        timeout = self._rules().assignment.accept_timeout
        wanted: dict[str, float] = {}
        for ticket in latest.values():
            wanted.update(schedule(ticket, timeout))
        await self._schedule.add(wanted)
        await self._send(dead)
        await self.tick()

    async def _follow_assignments(self, tickets: list[Ticket]) -> None:
        """Free the capacity of settled or re-assigned tickets, count the seat of a
        ticket a rule or a transfer gave to a named agent, and keep the line current."""
        holders = await self._agents.holders([t.id for t in tickets])
        await self._agents.release(
            [
                t.id
                for t, holder in zip(tickets, holders, strict=True)
                if holder and (t.status in SETTLED or t.assignee != holder)
            ]
        )
        rules = self._rules()
        named = [
            (request_for(t, rules), agent)
            for t, holder in zip(tickets, holders, strict=True)
            if (agent := t.assignee) and t.status not in SETTLED and holder != agent
        ]
        await self._agents.claim(named, force=True)
        await self._line.follow(tickets)

    async def tick(self) -> None:
        """Fire every timer that is due, then move the waiting line if anything changed."""
        await self._rehome()
        now = self._clock()
        due = await self._schedule.due(now, BATCH)  # claimed: settled below, or they lapse
        if due:
            try:
                await self._fire(due, now)
            except Exception:
                with contextlib.suppress(BackendUnavailable):  # else the claims lapse
                    await self._schedule.settle(due, (), {})
                raise
        await self._sweep.sweep(now)

    async def close(self) -> None:
        """On the way out: let go of the waiting line, so another process sweeps it at
        once rather than when the hold lapses."""
        await self._sweep.resign()

    async def _rehome(self) -> None:
        """Move what an earlier layout left (the single keys of versions before the
        shards, another shard count) into the shards: at start, then every
        REHOME_EVERY_S, which costs a few commands when there is nothing to move."""
        if time.monotonic() < self._rehome_at:
            return
        previous = await self._schedule.recorded_shards()
        timers = await self._schedule.rehome(previous)
        line = await self._line.rehome(previous)
        if previous != self._schedule.shards:
            await self._schedule.record_shards()
        if timers or line:
            log.info("moved_to_shards", timers=timers, waiting=line, previous_shards=previous)
        self._rehome_at = time.monotonic() + REHOME_EVERY_S

    async def _fire(self, due: list[tuple[str, float]], now: float) -> None:
        timers = [Timer.parse(member, when) for member, when in due]
        owners = await self._store.ticket_owners([t.ticket_id for t in timers])
        found = [(t, o) for t, o in zip(timers, owners, strict=True) if o]
        views = await self._store.views(
            [ViewRequest(o, t.event_id, ticket_id=t.ticket_id) for t, o in found]
        )
        rules = self._rules()
        at = datetime.fromtimestamp(now, UTC)
        delivery = Delivery(self._store, self._send)
        commits: list[Commit] = []
        gone = [t.member for t, o in zip(timers, owners, strict=True) if not o]  # forgotten
        later: dict[str, float] = {}
        member_of: dict[str, str] = {}
        for (timer, owner), view in zip(found, views, strict=True):
            if view.done:  # fired before: publish what may still be pending
                delivery.publish(owner, timer.event_id, view.outbox or [])
                gone.append(timer.member)
                continue
            ticket, seen = view.ticket, (view.message, view.profile)
            change = None
            if ticket is not None:
                change = fire(ticket, timer.target, timer.kind, rules, at, seen=seen)
            if change is None:  # stale, or moved (postponed): keep only a future timer
                when = schedule(ticket).get(timer.member) if ticket else None
                if when is not None and when > now:
                    later[timer.member] = when
                else:
                    gone.append(timer.member)
                continue
            fired_at = datetime.fromtimestamp(timer.when, UTC)
            commits.append(commit_for(owner, timer.event_id, change, view.ticket_version, fired_at))
            member_of[timer.event_id] = timer.member
        results = await delivery.commit(commits)  # a CONFLICT waits for the next tick
        for commit, result in zip(commits, results, strict=True):
            if result == "OK":
                gone.append(member_of[commit.event_id])
                log.info("sla_timer_fired", event_id=commit.event_id)
        await delivery.flush()
        await self._schedule.settle(due, gone, later)
