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
from router.errors import InvalidEvent
from router.events import Ticket
from router.redis import RedisClient
from router.topics import OutRecord
from router.vocabulary import SETTLED
from rules import RuleSet

log = structlog.get_logger("switchboard.timers")
BATCH = 500


def typed(record: Record) -> bool:
    """Written by Switchboard's lifecycle outputs (which name the type in a header): a
    well-formed CloudEvent keyed by its ticket's id, with a valid snapshot."""
    return any(key == TYPE_HEADER for key, _ in record.headers or ())


def superseded_dropped(records: list[Record]) -> list[Record]:
    """The records whose snapshot the handler needs. Only the latest snapshot of each
    ticket in a poll counts, whatever the event's type (every lifecycle record carries
    one, and any of them may move an SLA clock or the waiting line), so a record of ours
    followed in the same poll by another one of ours for the same ticket is passed over
    unparsed. Records of any other writer are all decoded: a malformed one is still
    dead-lettered."""
    last: dict[bytes, int] = {}
    for i, record in enumerate(records):
        if record.key is not None and typed(record):
            last[record.key] = i
    return [
        r for i, r in enumerate(records) if r.key is None or last.get(r.key, i) == i or not typed(r)
    ]


def ticket_of(record: Record) -> Ticket:
    """The snapshot a record carries (``data.ticket``). One of ours is parsed with orjson
    and only its ticket validated; anything else goes through the CloudEvent model."""
    if record.value is not None and typed(record):
        try:
            data = orjson.loads(record.value).get("data")
        except (orjson.JSONDecodeError, AttributeError):
            data = None
        if isinstance(data, dict):
            return Ticket.model_validate(data.get("ticket"))
    event = decode_event(record.value)
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
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._r = client
        self._store = store
        self._agents = agents
        self._line = WaitingLine(client, prefix=prefix)
        self._sweep = LineSweep(self._line, store, agents, rules=rules, send=send)
        self._send = send
        self._rules = rules
        self._schedule = TimerSchedule(client, prefix=prefix)
        self._clock = clock

    async def handle(self, records: list[Record]) -> None:
        """Keep the schedule and the waiting line in step with the latest snapshot of
        every ticket, then fire what is due and offer what arrived."""
        latest: dict[str, Ticket] = {}
        dead: list[OutRecord] = []
        for record in superseded_dropped(records):
            try:
                ticket = ticket_of(record)
            except (InvalidEvent, ValidationError) as exc:
                log.warning("deadlettered", offset=record.offset, error=str(exc)[:200])
                dead.append(deadletter_record(record, self.name, exc))
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
        now = self._clock()
        due = await self._schedule.due(now, BATCH)
        if due:
            await self._fire(due, now)
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
        await self._schedule.settle(gone, later)
