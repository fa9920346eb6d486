"""The SLA timer worker (role ``timers``): warnings, breaches and the escalation rules.

It follows the tickets topic and keeps one Redis sorted set of due times (``schedule``).
Every second it fires what is due: the ticket changes through the same thread store as
the router (compare-and-set on the ticket version, dedupe marker, outbox), under an event
id derived from (ticket, target, kind, due time), so a timer fires exactly once however
often it is retried. A timer that is no longer due (met, resolved, rescheduled) is dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import redis.asyncio as aioredis
import structlog
from aiokafka import AIOKafkaProducer
from pydantic import ValidationError
from redis.exceptions import RedisError

from consumers.assignment import unassigned
from consumers.deadletter import deadletter_record
from consumers.decisions import apply_decision, routed_data, ticket_facts
from consumers.outputs import Change, LifecycleOutputs
from consumers.runner import Record
from consumers.waiting import LineSweep, WaitingLine
from router.agents import AgentStore
from router.codec import decode_event
from router.errors import BackendUnavailable, InvalidEvent
from router.events import SETTLED, EventType, Ticket, iso
from router.ids import derived_id
from router.kafka import publish
from router.redis import text
from router.state import Commit, OutRecord, RedisThreadStore, ViewRequest
from router.topics import TopicNames
from rules import RuleSet

log = structlog.get_logger("switchboard.timers")
KINDS = {"warning": EventType.TICKET_SLA_WARNING, "breached": EventType.TICKET_SLA_BREACHED}
BATCH = 500


class Timer(NamedTuple):
    member: str
    when: float
    ticket_id: str
    target: str
    kind: str

    @classmethod
    def parse(cls, member: str, when: float) -> Timer:
        ticket_id, target, kind = member.split("|")
        return cls(member, when, ticket_id, target, kind)

    @property
    def event_id(self) -> str:
        at = iso(datetime.fromtimestamp(self.when, UTC))
        return derived_id(self.ticket_id, "sla", self.target, self.kind, at)


def schedule(ticket: Ticket, accept_timeout: timedelta | None = None) -> dict[str, float]:
    """The timers a ticket needs now: ``ticket|target|kind`` -> when (epoch seconds):
    SLA warnings and breaches, and the deadline for accepting an assignment. A postponed
    ticket's SLA timers wait until the postponement ends."""
    if ticket.status in SETTLED:
        return {}
    out: dict[str, float] = {}
    if accept_timeout is not None and ticket.assigned_at and not ticket.accepted:
        out[f"{ticket.id}|assignment|timeout"] = (ticket.assigned_at + accept_timeout).timestamp()
    resume = ticket.postponed_until.timestamp() if ticket.postponed_until else 0.0
    for target, clock in ticket.sla.items():
        if clock.met_at or clock.breached or clock.due is None:
            continue
        if clock.warn_at and not clock.warned:
            out[f"{ticket.id}|{target}|warning"] = max(clock.warn_at.timestamp(), resume)
        out[f"{ticket.id}|{target}|breached"] = max(clock.due.timestamp(), resume)
    return out


def fire(ticket: Ticket, target: str, kind: str, rules: RuleSet, now: datetime) -> Change | None:
    """The ticket after an SLA warning or breach, or an assignment not accepted in time,
    and the escalation rules for it; None when the timer is stale (met, settled, warned
    already, accepted, postponed, or not yet due)."""
    if target == "assignment":
        return _accept_timeout(ticket, rules, now)
    clock = ticket.sla.get(target)
    if clock is None or clock.met_at or clock.breached or ticket.status in SETTLED:
        return None
    when = clock.warn_at if kind == "warning" else clock.due
    postponed = ticket.postponed_until is not None and now < ticket.postponed_until
    if when is None or when > now or postponed or (kind == "warning" and clock.warned):
        return None
    marked = clock.model_copy(update={"warned": True} if kind == "warning" else {"breached": True})
    fired = ticket.model_copy(update={"sla": {**ticket.sla, target: marked}})
    events: list[tuple[EventType, dict[str, Any]]] = [
        (KINDS[kind], {"target": target, "policy": ticket.sla_policy, "due": clock.due})
    ]
    return _escalate(fired, events, f"sla.{target}.{kind}", rules, now)


def _accept_timeout(ticket: Ticket, rules: RuleSet, now: datetime) -> Change | None:
    deadline = ticket.assigned_at + rules.assignment.accept_timeout if ticket.assigned_at else None
    if ticket.status in SETTLED or ticket.accepted or deadline is None or deadline > now:
        return None
    back = unassigned(ticket, "accept_timeout", now)
    return _escalate(back.ticket, list(back.events), "assignment.timeout", rules, now)


def _escalate(
    ticket: Ticket,
    events: list[tuple[EventType, dict[str, Any]]],
    trigger: str,
    rules: RuleSet,
    now: datetime,
) -> Change:
    """Run the escalation rules for ``trigger``; a match adds an ``.escalated`` event."""
    fired = ticket
    facts = {
        "channel": ticket.channel,
        "inbox": ticket.inbox,
        "subject": ticket.subject,
        "customer": {"id": ticket.customer_id},
        "ticket": ticket_facts(ticket),
        "metadata": {},
    }
    decision = rules.evaluate(facts, trigger=trigger, now=now)
    if decision.matched:
        escalated = apply_decision(fired, decision, rules, fill_defaults=False)
        events.append(
            (
                EventType.TICKET_ESCALATED,
                {
                    "reason": trigger,
                    "from": {"queue": fired.queue, "priority": fired.priority},
                    "to": {"queue": escalated.queue, "priority": escalated.priority},
                    **routed_data(decision),
                },
            )
        )
        fired = escalated
    return Change(fired, events)


def commit_for(
    customer_id: str, event_id: str, change: Change, version: int, at: datetime
) -> Commit:
    """The commit of one change: the new ticket and its lifecycle records as the outbox."""
    out = LifecycleOutputs(event_id, change.ticket, at)
    for etype, data in change.events:
        out.add(etype, **data)
    out.snapshot()
    return Commit(customer_id, event_id, change.ticket, version, out.records)


class TimersHandler:
    name = "timers"

    def __init__(
        self,
        client: aioredis.Redis,
        store: RedisThreadStore,
        *,
        agents: AgentStore,
        producer: AIOKafkaProducer,
        names: TopicNames,
        rules: Callable[[], RuleSet],
        prefix: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._r = client
        self._store = store
        self._agents = agents
        self._line = WaitingLine(client, prefix=prefix)
        self._sweep = LineSweep(
            self._line, store, agents, rules=rules, commit_for=commit_for, send=self._send
        )
        self._producer = producer
        self._names = names
        self._rules = rules
        self._key = f"{prefix}:timers"
        self._clock = clock

    async def handle(self, records: list[Record]) -> None:
        """Keep the schedule and the waiting line in step with the latest snapshot of
        every ticket, then fire what is due and offer what arrived."""
        latest: dict[str, Ticket] = {}
        dead: list[OutRecord] = []
        for record in records:
            try:
                event = decode_event(record.value)
                ticket = Ticket.model_validate((event.data or {}).get("ticket"))
            except (InvalidEvent, ValidationError) as exc:
                dead.append(deadletter_record(record, self.name, exc))
                continue
            latest[ticket.id] = ticket
        await self._follow_assignments(list(latest.values()))
        timeout = self._rules().assignment.accept_timeout
        wanted: dict[str, float] = {}
        for ticket in latest.values():
            wanted.update(schedule(ticket, timeout))
        try:
            if wanted:
                await self._r.zadd(self._key, wanted)
        except (RedisError, OSError) as exc:
            raise BackendUnavailable("redis", type(exc).__name__) from exc
        await self._send(dead)
        await self.tick()

    async def _follow_assignments(self, tickets: list[Ticket]) -> None:
        """Free the capacity of settled or re-assigned tickets; keep the line current."""
        holders = await self._agents.holders([t.id for t in tickets])
        await self._agents.release(
            [
                t.id
                for t, holder in zip(tickets, holders, strict=True)
                if holder and (t.status in SETTLED or t.assignee != holder)
            ]
        )
        await self._line.follow(tickets)

    async def tick(self) -> None:
        """Fire every timer that is due, then move the waiting line if anything changed."""
        now = self._clock()
        try:
            due: list[Any] = await self._r.zrangebyscore(
                self._key, "-inf", now, 0, BATCH, withscores=True
            )
        except (RedisError, OSError) as exc:
            raise BackendUnavailable("redis", type(exc).__name__) from exc
        if due:
            await self._fire([(text(m), float(score)) for m, score in due], now)
        await self._sweep.sweep(now)

    async def _fire(self, due: list[tuple[str, float]], now: float) -> None:
        timers = [Timer.parse(member, when) for member, when in due]
        owners = await self._store.ticket_owners([t.ticket_id for t in timers])
        found = [(t, o) for t, o in zip(timers, owners, strict=True) if o]
        views = await self._store.views(
            [ViewRequest(o, t.event_id, ticket_id=t.ticket_id) for t, o in found]
        )
        rules = self._rules()
        at = datetime.fromtimestamp(now, UTC)
        outputs: list[OutRecord] = []
        commits: list[Commit] = []
        gone = [t.member for t, o in zip(timers, owners, strict=True) if not o]  # forgotten
        later: dict[str, float] = {}
        member_of: dict[str, str] = {}
        for (timer, owner), view in zip(found, views, strict=True):
            if view.done:  # fired before: publish what may still be pending
                outputs.extend(view.outbox or [])
                gone.append(timer.member)
                continue
            change = fire(view.ticket, timer.target, timer.kind, rules, at) if view.ticket else None
            if change is None:  # stale, or moved (postponed): keep only a future timer
                when = schedule(view.ticket).get(timer.member) if view.ticket else None
                if when is not None and when > now:
                    later[timer.member] = when
                else:
                    gone.append(timer.member)
                continue
            fired_at = datetime.fromtimestamp(timer.when, UTC)
            commits.append(commit_for(owner, timer.event_id, change, view.ticket_version, fired_at))
            member_of[timer.event_id] = timer.member
        results = await self._store.commit_many(commits) if commits else []
        acked = []
        for commit, result in zip(commits, results, strict=True):
            if result == "OK":  # a CONFLICT waits for the next tick, with fresh state
                outputs.extend(commit.outbox)
                acked.append((commit.customer_id, commit.event_id))
                gone.append(member_of[commit.event_id])
                log.info("sla_timer_fired", event_id=commit.event_id)
        await self._send(outputs)
        await self._store.clear_outboxes(acked)
        try:
            if gone:
                await self._r.zrem(self._key, *gone)
            if later:
                await self._r.zadd(self._key, later)
        except (RedisError, OSError) as exc:
            raise BackendUnavailable("redis", type(exc).__name__) from exc

    async def _send(self, records: list[OutRecord]) -> None:
        await publish(self._producer, self._names, records)
