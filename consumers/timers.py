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

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import structlog
from pydantic import ValidationError

from consumers.archive import NO_EVENT, Archiver, is_archive
from consumers.deadletter import parked
from consumers.domain.assignment import (
    assigned,
    named_offer_id,
    offer_pending,
    unassigned,
    withdrawn,
    withdrawn_again_id,
)
from consumers.domain.escalation import Timer, fire, schedule, ticket_timers
from consumers.outbox import Delivery, Send, commit_for
from consumers.recent import Recent
from consumers.runner import Record
from consumers.state.agents import AgentStore
from consumers.state.schedule import TimerSchedule
from consumers.state.threads import (
    PENDING,
    Commit,
    RedisThreadStore,
    ThreadView,
    ViewRequest,
)
from consumers.state.waiting import WaitingLine
from consumers.sweep import LineSweep, request_for
from consumers.ticket_records import superseded_dropped, ticket_of
from router.errors import BackendUnavailable, InvalidEvent
from router.events import Ticket
from router.keys import DEFAULT_SHARDS
from router.limits import Limits
from router.observability import Telemetry
from router.redis import RedisClient
from router.topics import OutRecord
from router.vocabulary import SETTLED
from rules import RuleSet

log = structlog.get_logger("switchboard.timers")
BATCH = 500
REHOME_EVERY_S = 30.0
"""How often what an earlier layout left is looked for (older processes may still write it
during a rolling upgrade)."""
SEAT_AUDIT_EVERY_S = 300.0
"""How often the seats held for settled tickets are looked for (``_audit_seats``)."""
SEAT_AUDIT_SETTLED_S = 60.0
"""How long a ticket must have been settled before the audit frees its seat: every path
that frees seats has done so by then, and a reopen in that time is seen, not raced."""
PENDING_WAIT_S = 2.0
"""A named offer or withdrawal waits for the router to publish the ticket's change
(``_commit_when_published``) until its pause reaches this (about 2.5 s in all, once per
poll): then the ticket's next snapshot decides."""
FIRED_MEMORY = 20_000
"""How many fired timers a process remembers (member -> due times), so that a snapshot
older than their firing, read after it, does not schedule them again only for a claim and
a read to find them fired: what a catch-up does, the topic holding each ticket as it was
before its timers fired. Forgetting costs that read, nothing else. About 300 bytes each:
the bound keeps the role's memory flat (a few MB) while covering a catch-up of thousands
of tickets."""


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
        telemetry: Telemetry | None = None,
        closed_retention_s: int = 0,
        reopen_window_s: int = 0,
    ) -> None:
        self._limits = limits or Limits()
        self._archiver = Archiver(store, closed_retention_s, reopen_window_s)
        self._telemetry = telemetry
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
        self._audit_at = time.monotonic() + SEAT_AUDIT_EVERY_S
        self._fired_at: Recent[tuple[float, ...]] = Recent(FIRED_MEMORY)
        self._accept_timeout: timedelta | None = None  # the rules' last seen, to follow

    async def handle(self, records: list[Record]) -> None:
        """Keep the schedule and the waiting line in step with the latest snapshot of
        every ticket, then fire what is due and offer what arrived."""
        latest: dict[str, Ticket] = {}
        settled: dict[str, Ticket] = {}  # the last settled snapshot, even if an older follows
        dead: list[OutRecord] = []
        for record in superseded_dropped(records, self._limits):
            try:
                ticket = ticket_of(record, self._limits)
            except (InvalidEvent, ValidationError) as exc:
                dead.append(parked(record, self.name, exc, self._limits, self._telemetry))
                continue
            latest[ticket.id] = ticket
            if ticket.status in SETTLED:
                settled[ticket.id] = ticket
        owners = await self._owners(latest)
        latest = {t: ticket for t, ticket in latest.items() if t in owners}
        await self._follow_assignments(list(latest.values()), owners)
        await self._drop_settled(list(latest.values()), owners)
        timeout = self._rules().assignment.accept_timeout
        wanted: dict[str, float] = {}
        for ticket in latest.values():
            wanted.update(schedule(ticket, timeout))
        wanted.update(self._archiver.timers(t for t in settled.values() if t.id in owners))
        fired = self._fired_at
        await self._schedule.add(
            {m: when for m, when in wanted.items() if when not in fired.get(m, ())}
        )
        await self._send(dead)
        await self.tick()

    async def _drop_settled(self, tickets: list[Ticket], owners: dict[str, str]) -> None:
        """Unschedule the SLA and assignment timers of the tickets that are settled now
        (their snapshot says resolved or closed, and so does Redis: an older ``.resolved``
        read after a reopen drops nothing). Left, each would be claimed, read and dropped
        when due, days later for a resolution target: an outside run found 48,000 such
        members of 12,000 settled tickets. Read only when a poll holds settled tickets."""
        settled = [t for t in tickets if t.status in SETTLED]
        if not settled:
            return
        views = await self._store.views(
            [ViewRequest(owners[t.id], NO_EVENT, ticket_id=t.id) for t in settled]
        )
        done = [
            t.id
            for t, view in zip(settled, views, strict=True)
            if (view.ticket.status in SETTLED if view.ticket else not view.unreadable)
        ]
        await self._schedule.remove([m for ticket_id in done for m in ticket_timers(ticket_id)])

    async def _owners(self, tickets: dict[str, Ticket]) -> dict[str, str]:
        """Ticket -> its customer, for the tickets ``switchboard forget`` has not erased:
        a snapshot still in flight when its customer was erased must not give back the
        seat, the place in line or the timers the erasure took (an erased ticket has no
        owner any more)."""
        found = await self._store.ticket_owners(list(tickets))
        return {t: owner for t, owner in zip(tickets, found, strict=True) if owner}

    async def _follow_assignments(self, tickets: list[Ticket], owners: dict[str, str]) -> None:
        """Free the capacity of settled or re-assigned tickets, offer a ticket a rule or a
        transfer gave to a named agent and count that agent's seat, and keep the line
        current. The offer comes before the seat: a seat already held by the named agent
        says the ticket was seen (a retry after a failure still offers it), and a ticket
        a reply gave to its agent before replies were offers is not offered anew.

        An offer not accepted yet whose agent holds no seat for it (a reopen: resolving
        freed the seat) is counted only while that agent is online; one who went away or
        offline meanwhile gets it taken back at once (``_withdraw_again``). The sweep
        could not: a resolved ticket is no offer to withdraw, and their departure was
        dealt with before the reopen. Checked in the claim this role makes anyway; such
        an offer costs one read of views more (``_withdrawals``), for a withdrawal done
        before a crash is republished, not claimed over.

        Seats follow the ticket as it is now, not a snapshot older than that
        (``_as_now``): such a snapshot frees what the ticket no longer holds and claims
        nothing. It still reaches the offers and withdrawals it caused (their ids come
        from it), so what a crash left unpublished is published."""
        holders = await self._agents.holders([t.id for t in tickets])
        now = await self._as_now(tickets, holders, owners)
        stale = {t.id for t, current in zip(tickets, now, strict=True) if current is not t}
        unknown = await self._offer_named(
            [
                t
                for t, holder in zip(tickets, holders, strict=True)
                if offer_pending(t) and holder != t.assignee
            ],
            owners,
        )
        await self._agents.release(
            [
                t.id
                for t, holder in zip(now, holders, strict=True)
                if holder and (t.status in SETTLED or t.assignee != holder)
            ]
        )
        rules = self._rules()
        named = [
            (t, agent)
            for t, holder in zip(tickets, holders, strict=True)
            if (agent := t.assignee)
            and t.status not in SETTLED
            and holder != agent
            and t.id not in unknown
        ]
        seen_again = {t.id for t, _ in named if t.assigned_at and not t.accepted}
        withdrawals = await self._withdrawals([t for t, _ in named if t.id in seen_again], owners)
        named = [
            (t, agent) for t, agent in named if t.id not in withdrawals.done and t.id not in stale
        ]
        claims = await self._agents.claim(
            [(request_for(t, rules), agent) for t, agent in named],
            force=True,
            while_online=seen_again,
        )
        await self._withdraw_again(
            [t for (t, _), claim in zip(named, claims, strict=True) if claim.outcome == "offline"],
            withdrawals,
        )
        await self._line.follow(tickets, self._sweep.announced)

    async def _as_now(
        self, tickets: list[Ticket], holders: list[str | None], owners: dict[str, str]
    ) -> list[Ticket]:
        """Each snapshot, or the ticket as it is now when the snapshot is older than that
        (the same object when it is not). Two writers commit a ticket and publish its
        record after: the line's offer (``.assigned``) committed first can reach the
        topic after the router's ``.resolved`` committed second. Taken at its word, that
        older snapshot would claim back the seat the ``.resolved`` had freed, for a
        resolved ticket, forever; read in the same poll, it hides the ``.resolved``
        (``superseded_dropped``), which then frees nothing. An older ``.resolved`` read
        after a reopen would free the seat of a ticket at work.

        Read for the tickets that hold a seat or whose snapshot asks for one, in one
        round trip (views, pipelined); a poll of tickets nobody works reads nothing."""
        seats = [
            (i, t)
            for i, (t, holder) in enumerate(zip(tickets, holders, strict=True))
            if holder is not None or seat_holder(t) is not None
        ]
        if not seats:
            return tickets
        views = await self._store.views(
            [ViewRequest(owners[t.id], NO_EVENT, ticket_id=t.id) for _, t in seats]
        )
        found = list(tickets)
        for (i, seen), view in zip(seats, views, strict=True):
            now = view.ticket
            if now is not None and older(seen, now):
                log.debug(
                    "stale_snapshot_skipped",
                    ticket_id=seen.id,
                    snapshot_updated_at=seen.updated_at.isoformat(),
                    current_updated_at=now.updated_at.isoformat(),
                )
                found[i] = now
        return found

    async def _withdrawals(self, tickets: list[Ticket], owners: dict[str, str]) -> Withdrawals:
        """For each offer seen again, not accepted and without its seat (a reopen, or a
        redelivery), whether ``_withdraw_again`` took it back already: done before a crash
        that kept its outbox from the broker, the agent may be online again by now, and
        the claim would give them a seat for a ticket back in line. Such a withdrawal is
        published now (a delivery of its own, flushed before the claim) and its ticket
        not claimed. One read of views, only when there are such offers; kept for
        ``_withdraw_again``."""
        found = [(owners[t.id], withdrawn_again_id(t), t) for t in tickets]
        if not found:
            return Withdrawals([], [], set())
        views = await self._store.views(
            [ViewRequest(owner, eid, ticket_id=t.id) for owner, eid, t in found]
        )
        delivery = Delivery(self._store, self._send)
        done: set[str] = set()
        for (owner, eid, seen), view in zip(found, views, strict=True):
            if view.done:  # withdrawn before: publish what may still be pending
                delivery.publish(owner, eid, view.outbox or [])
                done.add(seen.id)
        if done:
            await delivery.flush()
        return Withdrawals(found, views, done)

    async def _withdraw_again(self, tickets: list[Ticket], withdrawals: Withdrawals) -> None:
        """Take back each offer, not accepted, whose agent was found away or offline when
        the ticket came back to them (a reopen), as the sweep withdraws the offers of an
        agent who leaves (``withdrawn``: ``.queued`` ``agent_away``/``agent_offline``, no
        skip, no ``assignment.timeout``): otherwise it would wait out its accept time for
        nobody. Only while the ticket is still in the round of that snapshot: a later
        round is another offer, and a conflict waits for the ticket's next snapshot.
        Committed on the views ``_withdrawals`` read (a compare-and-set: a ticket that
        moved since is a conflict)."""
        if not tickets:
            return
        statuses = await self._agents.statuses([t.assignee or "" for t in tickets])
        gone = {t.id for t in tickets}
        at = datetime.fromtimestamp(self._clock(), UTC)
        delivery = Delivery(self._store, self._send)
        commits: list[Commit] = []
        for (owner, eid, seen), view in zip(withdrawals.found, withdrawals.views, strict=True):
            if seen.id not in gone or seen.id in withdrawals.done:
                continue
            ticket, agent = view.ticket, seen.assignee or ""
            status = "away" if statuses.get(agent) == "away" else "offline"
            if ticket is not None and ticket.assignment_round == seen.assignment_round:
                change = withdrawn(ticket, agent, status, at)
                if change is not None:
                    commits.append(commit_for(owner, eid, change, view.ticket_version, at))
        # as an offer: the snapshot read may be the router's, its mark not cleared yet
        await self._commit_when_published(delivery, commits)
        await delivery.flush()

    async def _offer_named(self, tickets: list[Ticket], owners: dict[str, str]) -> set[str]:
        """Offer each ticket to the agent it names but was never offered to (a rule's
        ``assign``, a transfer to an agent), as the line offers: the ``.assigned`` record,
        whose snapshot schedules the accept timeout. Committed on the ticket as it is now,
        under an id from the snapshot that named the agent, so a retry publishes the same
        record, and a ticket that moved meanwhile (another agent named) waits for its next
        snapshot.

        An agent no ``agent.presence`` ever named (a typo in a rule's ``assign``) is
        offered nothing: the ticket goes straight to the line (``unknown_agent``), rather
        than wait out the accept timeout for nobody, and no seat is claimed for them,
        which would make up a roster entry. Answers the tickets named to such agents, and
        those whose offer did not commit, for the caller to claim no seat for."""
        if not tickets:
            return set()
        agents = list(dict.fromkeys(t.assignee or "" for t in tickets))
        known = dict(zip(agents, await self._agents.known(agents), strict=True))
        unknown = {t.id for t in tickets if not known[t.assignee or ""]}
        found = [
            (owners[t.id], named_offer_id(t), t.id, agent) for t in tickets if (agent := t.assignee)
        ]
        views = await self._store.views(
            [ViewRequest(o, eid, ticket_id=tid) for o, eid, tid, _ in found]
        )
        at = datetime.fromtimestamp(self._clock(), UTC)
        delivery = Delivery(self._store, self._send)
        commits: list[Commit] = []
        for (owner, eid, _, named), view in zip(found, views, strict=True):
            ticket = view.ticket
            if view.done:  # offered before: publish what may still be pending
                delivery.publish(owner, eid, view.outbox or [])
            elif ticket is not None and ticket.assignee == named and offer_pending(ticket):
                if known[named]:
                    change = assigned(ticket, named, "named", at)
                else:
                    change = unassigned(ticket, "unknown_agent", at)
                commits.append(commit_for(owner, eid, change, view.ticket_version, at))
        refused = await self._commit_when_published(delivery, commits)
        await delivery.flush()
        # the ticket moved meanwhile: its next snapshot decides, and no seat is claimed for
        # it before then (a seat held by the named agent would say it was offered)
        return unknown | {c.ticket.id for c in refused if c.ticket}

    async def _commit_when_published(
        self, delivery: Delivery, commits: list[Commit]
    ) -> list[Commit]:
        """Commit, waiting a little (10 ms, doubling, about 2.5 s in all) for the commits
        of tickets whose other writer (the router) has not published its change yet:
        read from the topic, its record is out, and only its mark is still to go; or
        its poll is about to end. The commits that did not go through are answered."""
        refused: list[Commit] = []
        pause = 0.01
        while commits:
            results = await delivery.commit(commits, waits=pause < PENDING_WAIT_S)
            refused += [c for c, r in zip(commits, results, strict=True) if r == "CONFLICT"]
            commits = [c for c, r in zip(commits, results, strict=True) if r == PENDING]
            if commits:
                await asyncio.sleep(pause)
                pause *= 2
        return refused

    async def park(self, record: Record, error: Exception) -> None:
        """Dead-letter a record whose handling failed for good (``run_consumer``)."""
        await self._send([parked(record, self.name, error, self._limits, self._telemetry)])

    async def tick(self) -> None:
        """Fire every timer that is due, then move the waiting line if anything changed."""
        await self._rehome()
        await self._audit_seats()
        now = self._clock()
        await self._follow_accept_timeout(now)
        due = await self._schedule.due(now, BATCH)  # claimed: settled below, or they lapse
        if self._telemetry is not None:
            self._telemetry.timers_due.set(self._schedule.backlog.due)
            self._telemetry.timers_oldest_due.set(round(self._schedule.backlog.late_s, 3))
        if due:
            try:
                await self._fire(due, now)
            except Exception:
                with contextlib.suppress(BackendUnavailable):  # else the claims lapse
                    await self._schedule.settle(due, (), {})
                raise
        await self._sweep.sweep(now)

    async def _follow_accept_timeout(self, now: float) -> None:
        """A reload that shortened ``assignment.accept_timeout``: every offer's timer is
        brought forward to now and re-checked as it fires (``accept_timeout``), so an
        offer already past its new deadline times out at once and the others are moved
        to theirs. A longer one needs nothing here: each timer, found early as it fires,
        is moved on to the ticket's new deadline."""
        timeout = self._rules().assignment.accept_timeout
        shorter = self._accept_timeout is not None and timeout < self._accept_timeout
        if shorter:
            moved = await self._schedule.bring_forward("assignment|timeout", now)
            log.info("accept_timeout_shortened", offers=moved, seconds=timeout.total_seconds())
        self._accept_timeout = timeout

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

    async def _audit_seats(self) -> None:
        """Free the seats still held for tickets resolved or closed a while ago, every
        SEAT_AUDIT_EVERY_S. Seats follow the tickets' records, and each
        path that frees one is idempotent and checked, but the line's claim comes before
        its commit and records of one ticket from two writers can pass each other: a seat
        held for a settled ticket would block its agent's capacity for good, with no
        record of that ticket left to free it. Reads every held seat (a few per agent)
        and the tickets they name, in three round trips; idempotent, so every timers
        process may run it."""
        if time.monotonic() < self._audit_at:
            return
        self._audit_at = time.monotonic() + SEAT_AUDIT_EVERY_S
        held = [
            ticket_id
            for agent in await self._agents.records()
            for tickets in agent.tickets.values()
            for ticket_id in tickets
        ]
        owners = await self._store.ticket_owners(held)
        known = [(t, owner) for t, owner in zip(held, owners, strict=True) if owner]
        views = await self._store.views(
            [ViewRequest(owner, NO_EVENT, ticket_id=t) for t, owner in known]
        )
        settled_before = datetime.fromtimestamp(self._clock() - SEAT_AUDIT_SETTLED_S, UTC)
        stale = [  # a ticket not found is left alone (erasing frees its seats itself)
            t
            for (t, _), view in zip(known, views, strict=True)
            if (ticket := view.ticket) is not None
            and ticket.status in SETTLED
            and ticket.updated_at < settled_before
        ]
        freed = await self._agents.release_seats(stale)
        for ticket_id, agent in freed.items():
            log.warning("seat_freed_by_audit", ticket_id=ticket_id, agent_id=agent)

    def _fired(self, timer: Timer, current: float | None = None) -> None:
        """Remember that ``timer`` fired (see ``FIRED_MEMORY``): at the due time it was
        claimed with and at the ``current`` one of the clock it fired on. The two differ
        when the snapshot that scheduled it was older than the ticket (its priority, so
        its clock, changed since); the ticket's later snapshots name the current one. The
        event id, (ticket, target, kind, due time), holds the same assumption: one due
        time of a member is one firing."""
        when = (timer.when,) if current is None else (timer.when, current)
        self._fired_at.remember(timer.member, when)

    async def _fire(self, due: list[tuple[str, float]], now: float) -> None:
        """Fire the claimed timers, each ticket's in due order, in rounds: a round reads
        and commits the next timer of every ticket whose previous one is settled (fired,
        fired before, stale). So a ticket with several timers due (a warning and its
        breach, after an outage) has them all fired in one tick, each on the ticket its
        predecessor left and under its own event id, instead of all but the first failing
        the compare-and-set and waiting for another tick. A commit that conflicts (the
        ticket moved meanwhile) ends its ticket's rounds: that timer and the ticket's
        later ones stay in the schedule, to be claimed again at the next tick. Archive
        timers (closed tickets past their retention) go to the ``Archiver``."""
        archive = [(m, when) for m, when in due if is_archive(m)]
        gone, later = await self._archiver.fire(archive, now) if archive else ([], {})
        outcome = Settled(gone, later)
        queues: dict[str, list[Timer]] = {}
        for member, when in due:  # earliest first
            if is_archive(member):
                continue
            timer = Timer.parse(member, when)
            queues.setdefault(timer.ticket_id, []).append(timer)
        owners = await self._store.ticket_owners(list(queues))
        heads: list[Queue] = []
        for timers, owner in zip(queues.values(), owners, strict=True):
            if owner:
                heads.append(Queue(owner, iter(timers)))
            else:  # forgotten
                outcome.gone.extend(t.member for t in timers)
        delivery = Delivery(self._store, self._send)
        rules = self._rules()
        while heads:
            heads = await self._fire_round(heads, now, rules, delivery, outcome)
        await delivery.flush()
        await self._schedule.settle(due, outcome.gone, outcome.later)
        if outcome.fired:  # one line per tick, not per timer: thousands may fire a second
            log.info("timers_fired", **outcome.fired)
            if self._telemetry is not None:
                for kind, count in outcome.fired.items():
                    self._telemetry.timers_fired.labels(kind).inc(count)

    async def _fire_round(
        self, queues: list[Queue], now: float, rules: RuleSet, delivery: Delivery, out: Settled
    ) -> list[Queue]:
        """Read and fire the next timer of each queue (a ticket's claimed timers); the
        queues whose timer settled, to go on with."""
        heads = [(q, t) for q in queues for t in itertools.islice(q.timers, 1)]
        views = await self._store.views(
            [ViewRequest(q.owner, t.event_id, ticket_id=t.ticket_id) for q, t in heads]
        )
        at = datetime.fromtimestamp(now, UTC)
        going_on: list[Queue] = []
        commits: list[tuple[Queue, Timer, Commit, float | None, str | None]] = []
        for (queue, timer), view in zip(heads, views, strict=True):
            if view.done:  # fired before: publish what may still be pending
                delivery.publish(queue.owner, timer.event_id, view.outbox or [])
                self._fired(timer)
                out.gone.append(timer.member)
                going_on.append(queue)
                continue
            ticket, seen = view.ticket, (view.message, view.profile)
            change, current = None, None  # current: when the ticket as it is now has it due
            if ticket is not None:
                change = fire(ticket, timer.target, timer.kind, rules, at, seen=seen)
                # the accept timeout of the rules now: a longer one after a reload moves
                # an offer's deadline on, where the stale timer would have been dropped
                current = schedule(ticket, rules.assignment.accept_timeout).get(timer.member)
            if change is None or ticket is None:  # stale, or postponed: keep only a future one
                if current is not None and current > now:
                    out.later[timer.member] = current
                else:
                    out.gone.append(timer.member)
                going_on.append(queue)
                continue
            when = fired_at(timer, ticket, current)
            commit = commit_for(queue.owner, timer.event_id, change, view.ticket_version, when)
            commits.append((queue, timer, commit, current, lapsed_offer(timer, ticket)))
        # a CONFLICT, or the router's change of the ticket not published yet (PENDING): let
        # go, and claimed again at the next tick, to fire on the ticket as it is then
        results = await delivery.commit([c for _, _, c, _, _ in commits])
        lapsed: list[str] = []
        for (queue, timer, commit, current, agent), result in zip(commits, results, strict=True):
            if result == "OK":
                self._fired(timer, current)
                out.gone.append(timer.member)
                going_on.append(queue)
                log.debug(
                    "sla_timer_fired",
                    event_id=commit.event_id,
                    ticket_id=timer.ticket_id,
                    target=timer.target,
                    kind=timer.kind,
                )
                out.fired[timer.kind] = out.fired.get(timer.kind, 0) + 1
                if agent is not None:
                    lapsed.append(agent)
        for agent in await self._agents.step_away(lapsed):
            log.info("agent_away_after_accept_timeout", agent_id=agent)
        return going_on


def seat_holder(ticket: Ticket) -> str | None:
    """The agent whose seat ``ticket`` takes, as its snapshot says: its assignee until it
    is settled, nobody after."""
    return ticket.assignee if ticket.status not in SETTLED else None


def older(snapshot: Ticket, now: Ticket) -> bool:
    """Whether ``snapshot`` is an earlier state of the ticket stored as ``now``. Every
    change moves ``updated_at`` on or keeps it (two changes in the same instant, or an
    event dated before the last change), so a different ticket as late or later is a
    later change. One dated later than the stored ticket is newer than Redis (writes a
    replica lost in a failover): its record is then the better word."""
    return now != snapshot and now.updated_at >= snapshot.updated_at


def lapsed_offer(timer: Timer, ticket: Ticket) -> str | None:
    """The agent whose offer of ``ticket`` the accept timeout ``timer`` takes back: they
    stopped answering, so they are set away (``AgentStore.step_away``) until their next
    presence, as TaskRouter's TimeoutActivity or Omni-Channel's push time-out do. Else
    every other ticket would be offered to them first and wait out the whole timeout."""
    if timer.target == "assignment" and timer.kind == "timeout":
        return ticket.assignee
    return None


def fired_at(timer: Timer, ticket: Ticket, current: float | None = None) -> datetime:
    """The time a fired timer's records carry, so the window that counts them.

    A breach: its due time, however late it fired (the contract counts ``breached`` in
    the window of the due time): the ticket's own (``current``) when a change the
    schedule has not seen yet brought it forward (an escalation's priority change whose
    records a crashed process left unpublished), as its record's ``due`` says. A warning
    or an accept timeout: its own time, unless the ticket changed after it: a priority
    change that re-timed a clock (or a reopen that re-armed an offer) can make it due at
    once, and it is then dated at that change, never before what caused it. A catch-up
    after an outage dates it at its own time when the ticket did not change meanwhile
    (at its last change when it did: the ticket does not say which change re-timed the
    clock). A warning is never dated after its clock's due time, where its breach is
    dated: a change after that time (the ticket queued, offered) had dated it there."""
    if timer.kind == "breached":
        due = timer.when if current is None else min(timer.when, current)
        return datetime.fromtimestamp(due, UTC)
    when = max(datetime.fromtimestamp(timer.when, UTC), ticket.updated_at)
    clock = ticket.sla.get(timer.target) if timer.kind == "warning" else None
    return min(when, clock.due) if clock is not None and clock.due is not None else when


class Withdrawals(NamedTuple):
    """The offers seen again (``TimersHandler._withdrawals``): each one's owner,
    withdrawal id and ticket as the snapshot had it, the view read under that id, and
    the tickets whose withdrawal was found done."""

    found: list[tuple[str, str, Ticket]]
    views: list[ThreadView]
    done: set[str]


class Queue(NamedTuple):
    """One ticket's claimed timers still to fire, earliest first."""

    owner: str
    timers: Iterator[Timer]


@dataclass(slots=True)
class Settled:
    """What ``settle`` does with the claimed timers: drop those ``gone`` (fired, stale,
    forgotten), move those due ``later``, let go of the rest."""

    gone: list[str] = field(default_factory=list)
    later: dict[str, float] = field(default_factory=dict)
    fired: dict[str, int] = field(default_factory=dict)
    """How many fired, by kind (``warning``, ``breached``, ``timeout``, ``retry``)."""
