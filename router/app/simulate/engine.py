"""The staffing simulation: a recorded day replayed against a roster in virtual time.

A heap of timed events (shift starts and ends, arrivals, finished work, customers
giving up), processed in time order; nothing sleeps, nothing touches Kafka or Redis. The
router's own code does the work, against the in-memory thread store:

- each arrival goes through ``RoutingHandler.handle`` as the inbound record it was:
  customer resolution, threading (``place``), the rules, the SLA clocks, the commit;
- the ticket snapshots it publishes drive the waiting line and seat releases as they
  drive the timers role (``waiting_member``, and a settled ticket frees its seat);
- a waiting ticket is given to the agent ``choose_agent`` names, as the sweep does, and
  changed by ``assignment.assigned`` and committed to the store;
- the agent answers publicly as it takes the ticket and resolves it when its handling
  time is over, through ``lifecycle.apply_action``, which meets the SLA clocks as the
  real actions would;
- a customer who runs out of patience closes the ticket unresolved (``lifecycle.abandoned``);
- a ticket the customer reopens stays with its assignee, as in the router (it does not
  wait in line again): that agent answers and resolves it again when a seat is free;
- a ticket a rule assigns to a named agent (``assign:``) is that agent's, as the timers
  role offers it to them: taken when they are on shift with a free seat on its channel,
  else it waits for them, oldest first. When they are off shift, not on the roster or
  have no seat on its channel, the offer would lapse unaccepted (``accept_timeout``):
  the ticket goes to the line, at once (accept timeouts are not simulated).

Random durations are drawn from a generator seeded by (roster seed, ticket, round), so
two rosters compared on one day see the same handling time for the same ticket.
"""

from __future__ import annotations

import heapq
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from itertools import count
from typing import Any, cast

import orjson

from consumers.domain.assignment import assign_event_id, assigned, offer_pending, unassigned
from consumers.domain.lifecycle import abandoned, apply_action
from consumers.domain.outputs import Change
from consumers.routing import RoutingHandler
from consumers.state.agents import AgentStore
from consumers.state.memory import InMemoryThreadStore
from consumers.state.threads import Commit, ViewRequest
from consumers.sweep import request_for
from router.actions import MAX_HANDLE_SECONDS, AgentReplied, TicketResolved
from router.app.simulate.day import NAMES, DayEvent
from router.app.simulate.floor import Floor
from router.app.simulate.line import Line
from router.app.simulate.roster import Roster, on_shift
from router.app.simulate.tally import Outcome, report
from router.events import Ticket
from router.ids import derived_id
from router.topics import OutRecord, Topic
from router.vocabulary import AWAITING_AGENT, SETTLED
from rules import RuleSet

Progress = Callable[[int, int], None]
PROGRESS_EVERY = 2000


class Kind(IntEnum):
    """What happens at one instant; at equal times in this order: shifts end first (the
    agent whose work ends as the shift does takes nothing more then), work ends and seats
    free, customers give up, and agents are on shift before the arrivals of that
    moment."""

    SHIFT_OFF = 0
    DONE = 1
    ABANDON = 2
    SHIFT_ON = 3


NAMED = "named"
"""The patience member of a ticket waiting for the agent a rule assigned it to."""

SHIFT_WEEK = timedelta(days=7)
MAX_WEEKS = 52
"""Shifts are laid out a week at a time past the last arrival while tickets wait that the
roster could serve; a backlog a year of them does not clear is reported unserved."""


@dataclass(slots=True, repr=False)
class Result:
    """What a run measured. No generated ``repr``: asyncio (3.11) formats the result of
    the main task into a message when it restores the SIGINT handler, and a repr of a
    hundred thousand tickets costs seconds."""

    report: dict[str, Any]
    outcomes: list[Outcome]
    events: int
    deadlettered: int
    wall_s: float
    skipped: list[tuple[int, str]]  # events file line, why the router could not take it
    unserved: list[str]  # per queue whose tickets were never served: how many, and why
    on_shift: frozenset[str] = frozenset()  # agents on shift at some time in the run


class _NoPresence:
    """The router touches the agent store only for presence actions, which live on the
    actions topic, never in a recorded inbound day."""

    async def presence(self, *_: object) -> None:
        raise AssertionError("agent presence is not part of a recorded day")


class Simulation:
    def __init__(
        self, rules: RuleSet, roster: Roster, day: list[DayEvent], *, reopen_window: timedelta
    ) -> None:
        self.rules = rules
        self.roster = roster
        self.day = day
        self.store = InMemoryThreadStore()
        self._published: list[OutRecord] = []
        self.router = RoutingHandler(
            self.store,
            self._send,
            NAMES,
            lambda: rules,
            agents=cast(AgentStore, _NoPresence()),
            reopen_window=reopen_window,
        )
        self.floor = Floor(roster, rules)
        self.line = Line()
        self.outcomes: dict[str, Outcome] = {}
        self._heap: list[tuple[float, int, int, str, str]] = []
        self._order = count()
        self.now = day[0].at if day else 0.0
        self.deadlettered = 0
        self.skipped: list[tuple[int, str]] = []
        self._working: dict[str, tuple[str, float, float]] = {}  # ticket -> agent, work, start
        self._nth: dict[str, int] = {}  # ticket -> its place in the order tickets came in
        # agent -> channel -> tickets it owes an answer (reopened, or assigned to it by a
        # rule), oldest first
        self._owed: dict[str, dict[str, dict[str, None]]] = {}
        self._named: dict[str, str] = {}  # ticket -> agent a rule named, until it answers
        self._lapsing: list[Ticket] = []  # named to an agent who cannot take them now
        # ticket -> (ticket, version) as this simulation last committed it; dropped when the
        # router publishes a snapshot of it (it committed a change of its own)
        self._mine: dict[str, tuple[Ticket, int]] = {}
        self._shifts_until: datetime | None = None  # shifts are laid out until then
        self._off_at: dict[str, float] = {}  # agent -> the end of its last span laid out
        self._cut: set[tuple[str, float]] = set()  # shift ends a later week continues
        self._weeks_out = 0  # weeks of shifts laid out past the last arrival's

    async def _send(self, records: list[OutRecord]) -> None:
        self._published.extend(records)

    def _push(self, at: float, kind: Kind, ticket_or_agent: str, detail: str = "") -> None:
        heapq.heappush(self._heap, (at, int(kind), next(self._order), ticket_or_agent, detail))

    def _at(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)

    async def run(self, progress: Progress | None = None) -> Result:
        started = time.perf_counter()
        self._schedule_shifts()
        arrivals, total = 0, len(self.day)
        stop_at: float | None = None  # once nobody can serve: the last give-up pending
        while True:
            due = self.day[arrivals].at if arrivals < total else float("inf")
            if self._heap and self._heap[0][0] <= due:
                at, kind, _, name, detail = heapq.heappop(self._heap)
                self.now = at
                await self._event(Kind(kind), name, detail)
            elif arrivals < total:
                self.now = due
                await self._arrive(self.day[arrivals], arrivals)
                arrivals += 1
                if progress and arrivals % PROGRESS_EVERY == 0:
                    progress(arrivals, total)
            else:
                break
            if (
                stop_at is None
                and arrivals == total
                and not self.floor.holders
                and not self._can_still_serve()
                and not self._more_shifts()
            ):
                # every agent is done and every ticket still in line is one no agent of
                # the roster will ever take: later shifts would only add idle time (a
                # reopened ticket whose agent is off shift until another day stays
                # unanswered; its clock counts if already due). A customer in line
                # still gives up when out of patience: giving up is theirs, not the
                # agents', so the run goes on until the last of them has
                stop_at = self._last_give_up()
            if stop_at is not None and (not self._heap or self._heap[0][0] > stop_at):
                break
        if progress:
            progress(arrivals, total)
        self.floor.close(self.now)
        end = self._at()
        outcomes = list(self.outcomes.values())
        figures = report(
            outcomes,
            busy=self.floor.busy,
            queue_busy=self.floor.queue_busy,
            seats_busy=self.floor.seats_busy,
            queue_seats=self.floor.queue_seats,
            seats={agent: self.floor.seats(agent) for agent in self.floor.states},
            shifts=self.floor.shifts,
            skilled={q: self.floor.skilled(q) for q in self.rules.queues},
            end=end,
        )
        wall = time.perf_counter() - started
        unserved = self._unserved(outcomes)
        on_shift = frozenset(a for a, spans in self.floor.shifts.items() if spans)
        return Result(
            figures, outcomes, total, self.deadlettered, wall, self.skipped, unserved, on_shift
        )

    def _last_give_up(self) -> float:
        """When the last customer still in line runs out of patience; now if none will
        (a give-up scheduled for a ticket that left the line since is void)."""
        pending = (
            at
            for at, kind, _, ticket_id, member in self._heap
            if kind == Kind.ABANDON and self._waits(ticket_id, member)
        )
        return max(pending, default=self.now)

    def _waits(self, ticket_id: str, member: str) -> bool:
        """Does the ticket still wait as it did when its customer's patience was drawn:
        in line in that round, or for the agent a rule named?"""
        if member == NAMED:
            return ticket_id in self._named
        return self.line.current.get(ticket_id) == member

    def _can_still_serve(self) -> bool:
        """Is some ticket in line one an agent could still take (one with its skills and
        a seat on its channel, on shift now or later in the run)? A ticket waiting for
        tomorrow's or next week's shift keeps the run going: that wait is real. One no
        agent ever takes does not: it stays unserved, and said so (``_unserved``). A
        ticket waiting for the agent a rule named keeps it going while that agent works
        again."""
        for need in self.line.waiting_needs():
            channel, queue = need.split("|", 1)
            if self.floor.ever_serves(channel, queue):
                return True
        return any(
            self.floor.works_again(agent, self.outcomes[ticket_id].channel)
            for ticket_id, agent in self._named.items()
        )

    def _unserved(self, outcomes: list[Outcome]) -> list[str]:
        """Per queue with tickets no agent ever took, a line saying why when the roster
        shows it: nobody has the queue's skills, or nobody with them takes the channel."""
        by_queue: dict[str, list[Outcome]] = {}
        for outcome in outcomes:
            if outcome.unserved:
                by_queue.setdefault(outcome.queue, []).append(outcome)
        lines = []
        for queue, left in sorted(by_queue.items()):
            agents = self.floor.skilled(queue)
            channels = sorted({o.channel for o in left})
            untaken = [c for c in channels if not any(self.floor.takes(a, c) for a in agents)]
            named = sorted({a for o in left if (a := self._named.get(o.ticket_id))})
            if named:
                why = f"still waiting for {', '.join(named)}, whom a rule assigns them to"
            elif not self.floor.states:  # every group of the roster has count 0
                why = "no agent is on the roster"
            elif not agents:
                needs = self.rules.queues[queue].skills if queue in self.rules.queues else ()
                why = f"no agent on the roster has its skills ({', '.join(sorted(needs))})"
            elif untaken:
                why = f"no agent with its skills has a seat on {', '.join(untaken)}"
            elif self._weeks_out >= MAX_WEEKS:
                why = (
                    f"still waiting {MAX_WEEKS} weeks of shifts after the last arrival "
                    "(the roster does not clear the backlog)"
                )
            else:
                why = "still waiting when the run ended (no agent with its skills free in time)"
            tickets = "1 ticket" if len(left) == 1 else f"{len(left)} tickets"
            lines.append(f"queue {queue or '(none)'}: {tickets} never served: {why}")
        return lines

    def _schedule_shifts(self) -> None:
        """The shifts from the first arrival's day to a week after the last arrival; more
        follow a week at a time while a backlog the roster could serve waits
        (``_more_shifts``)."""
        if not self.day:
            return
        first = datetime.fromtimestamp(self.day[0].at, UTC)
        start = first.astimezone(self.roster.timezone).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        end = datetime.fromtimestamp(self.day[-1].at, UTC) + SHIFT_WEEK
        self._lay_out(start.astimezone(UTC), end)

    def _lay_out(self, start: datetime, end: datetime) -> None:
        """The roster's shifts between ``start`` and ``end``. A span that continues one the
        last lay-out cut at its end is the same shift: that end is void (``_cut``)."""
        for staff in self.roster.staff:
            spans = on_shift(staff, start, end)
            for agent_id in staff.agent_ids():
                for on, off in spans:
                    if self._off_at.get(agent_id) == on:
                        self._cut.add((agent_id, on))
                    else:
                        self.floor.expect_shift(agent_id)
                        self._push(on, Kind.SHIFT_ON, agent_id)
                    self._push(off, Kind.SHIFT_OFF, agent_id)
                    self._off_at[agent_id] = off
        self._shifts_until = end

    def _more_shifts(self) -> bool:
        """Another week of shifts when tickets still wait and the shifts laid out are
        over: True when some agent of that week could take one (the run goes on), False
        when none could or ``MAX_WEEKS`` are laid out (what waits is unserved)."""
        if self._shifts_until is None or self._weeks_out >= MAX_WEEKS:
            return False
        if next(self.line.waiting_needs(), None) is None and not self._named:
            return False
        start = self._shifts_until
        self._weeks_out += 1
        self._lay_out(start, start + SHIFT_WEEK)
        return self._can_still_serve()

    async def _event(self, kind: Kind, name: str, detail: str) -> None:
        if kind is Kind.SHIFT_ON:
            self.floor.come_online(name, self.now)
            await self._walk()
        elif kind is Kind.SHIFT_OFF:
            if (name, self.now) in self._cut:  # the next week's lay-out goes on with it
                self._cut.discard((name, self.now))
                return
            self.floor.go_offline(name, self.now)
        elif kind is Kind.DONE:
            await self._done(name)
            await self._walk()
        else:
            await self._abandon(name, detail)
            await self._walk()

    # --- the router's side -------------------------------------------------------------
    async def _arrive(self, event: DayEvent, offset: int) -> None:
        await self.router.handle([event.record(offset)])
        published, self._published = self._published, []
        waiting = False
        for record in published:
            if record.topic is Topic.TICKET_STATE and record.value is not None:
                ticket = Ticket.model_validate(orjson.loads(record.value)["data"]["ticket"])
                self._mine.pop(ticket.id, None)
                waiting |= self._follow(ticket)
            elif record.topic is Topic.DEADLETTER:
                self.deadlettered += 1
                headers = dict(record.headers or ())
                why = headers.get("dlq.error", b"not an inbound event the router takes")
                self.skipped.append((event.line, why.decode(errors="replace")))
        lapsing, self._lapsing = self._lapsing, []
        for ticket in lapsing:
            await self._lapse(ticket)
        if waiting or lapsing or self._owed:
            await self._walk()

    async def _lapse(self, named: Ticket) -> None:
        """The agent a rule named cannot take the ticket (off shift, not on the roster, no
        seat on its channel): the router's offer would lapse unaccepted after the accept
        timeout and the ticket go to the line; here it goes at once."""
        ticket, version = await self._read(named.id, named.customer_id)
        if not offer_pending(ticket):  # seen twice, or changed since
            return
        change = unassigned(ticket, "accept_timeout", self._at())
        event_id = derived_id(ticket.id, "simulated-lapse", str(ticket.assignment_round))
        await self._commit(ticket, change, event_id, version)

    def _follow(self, ticket: Ticket) -> bool:
        """What the timers role does with every snapshot: free the seat of a settled or
        re-assigned ticket, keep the line current. True when the ticket waits."""
        held = self.floor.holders.get(ticket.id)
        if held and (ticket.status in SETTLED or ticket.assignee != held[0]):
            self.floor.release(ticket.id, self.now)
        waits = self.line.follow(ticket)
        outcome = self.outcomes.get(ticket.id)
        named = self._newly_named(ticket)
        if outcome is None and (waits or named):
            created = ticket.created_at.timestamp()
            outcome = Outcome(ticket.id, ticket.queue or "", ticket.channel, created, ticket)
            self.outcomes[ticket.id] = outcome
            # numbered as it comes in, whatever the roster does with it after: two rosters
            # draw the same handling times for the same ticket
            self._nth.setdefault(ticket.id, len(self._nth))
            patience = self.roster.patience.get(ticket.channel)
            if patience is not None:
                rng = self._random("patience", ticket)
                member = NAMED if named else self.line.current[ticket.id]
                self._push(self.now + patience.sample(rng), Kind.ABANDON, ticket.id, member)
        if named:  # it waits for that agent, behind what it owes already
            self._named[ticket.id] = named
            self._owed.setdefault(named, {}).setdefault(ticket.channel, {})[ticket.id] = None
        if outcome is not None:
            outcome.ticket = ticket
            if outcome.assigned_at is None:  # counted in the queue it waited in: a late
                # answer's breach may escalate it elsewhere as the agent takes it
                outcome.queue = ticket.queue or outcome.queue
            if (
                ticket.status in AWAITING_AGENT
                and ticket.assignee is not None
                and outcome.done_at is not None
                and ticket.id not in self.floor.holders
            ):  # reopened after its agent was done: the assignee owes an answer
                owed = self._owed.setdefault(ticket.assignee, {})
                owed.setdefault(ticket.channel, {})[ticket.id] = None
        return waits

    def _newly_named(self, ticket: Ticket) -> str | None:
        """The agent a rule has just assigned the ticket to, when on shift with a seat on
        its channel (it waits for them); else None, and such a ticket lapses to the line.
        A ticket no longer assigned to the agent it waited for (moved to another queue,
        named anew) stops waiting for them."""
        named = ticket.assignee if offer_pending(ticket) else None
        if self._named.get(ticket.id) == named:
            return None  # waits for them already, or was never named
        self._unname(ticket.id, ticket.channel)
        if named is None or (
            named in self.floor.online and self.floor.takes(named, ticket.channel)
        ):
            return named
        self._lapsing.append(ticket)
        return None

    def _unname(self, ticket_id: str, channel: str) -> str | None:
        """The ticket no longer waits for the agent a rule named: that agent, if it did."""
        agent = self._named.pop(ticket_id, None)
        if agent is not None:
            self._owed[agent][channel].pop(ticket_id, None)
        return agent

    def _random(self, what: str, ticket: Ticket) -> random.Random:
        """The draws for one ticket, seeded by when it came in the day (not its id, which
        a pseudonymized export changes), so such a day simulates like the original."""
        nth = self._nth.setdefault(ticket.id, len(self._nth))
        return random.Random(f"{self.roster.seed}|{what}|{nth}|{ticket.assignment_round}")

    async def _walk(self) -> None:
        """Offer waiting tickets, in line order, to the free agents who could take them."""
        floor = self.floor

        def servable(need: str) -> bool:
            channel, queue = need.split("|", 1)
            return floor.could_serve(channel, queue)

        for agent, owed in list(self._owed.items()):
            if agent not in floor.online:
                continue
            for channel, tickets in list(owed.items()):
                while tickets and floor.has_seat(agent, channel):
                    ticket_id = next(iter(tickets))
                    del tickets[ticket_id]
                    await self._answer_owed(agent, ticket_id, channel)
                if not tickets:
                    del owed[channel]
            if not owed:
                del self._owed[agent]
        skipped: list[Ticket] = []
        while (found := self.line.next_for(servable)) is not None:
            ticket_id, need = found
            self.line.pop(need)
            left = await self._assign(ticket_id)
            if left is not None:
                skipped.append(left)
        for ticket in skipped:  # nobody could take it after all (it declined them): wait on
            self.line.follow(ticket)

    async def _answer_owed(self, agent: str, ticket_id: str, channel: str) -> None:
        """The agent takes a ticket it owes an answer: a reopened one, or one a rule
        assigned to it, whose offer it accepts by working it."""
        outcome = self.outcomes[ticket_id]
        self.floor.take(agent, ticket_id, channel, outcome.queue, self.now)
        ticket, version = await self._read(ticket_id)
        assignment = None
        if self._named.pop(ticket_id, None) is not None:
            outcome.assigned_at, outcome.agent = self.now, agent
            assignment = assigned(ticket, agent, "named", self._at(), accepted=True)
        await self._start_work(ticket, version, agent, assignment)

    async def _read(self, ticket_id: str, owner: str | None = None) -> tuple[Ticket, int]:
        """The ticket and its version: as last committed here when the router has not
        changed it since (every router commit of a ticket publishes its snapshot), else
        read from the store as the sweep reads it. ``owner``: its customer, for a ticket
        not offered yet."""
        mine = self._mine.get(ticket_id)
        if mine is not None:
            return mine
        owner = owner or self.outcomes[ticket_id].ticket.customer_id
        [view] = await self.store.views([ViewRequest(owner, "", ticket_id=ticket_id)])
        if view.ticket is None:
            raise AssertionError(f"ticket {ticket_id} vanished from the store")
        return view.ticket, view.ticket_version

    async def _commit(self, ticket: Ticket, change: Change, event_id: str, version: int) -> None:
        # the change as ``outbox.commit_for`` commits it, less the outbox: a simulation
        # publishes nothing, and encoding records nobody reads would cost a third of its time
        commit = Commit(ticket.customer_id, event_id, change.ticket, version)
        [result] = await self.store.commit_many([commit])
        if result != "OK":
            raise AssertionError(f"simulated commit {event_id} answered {result}")
        self._mine[ticket.id] = (change.ticket, version + 1)
        self._follow(change.ticket)

    async def _assign(self, ticket_id: str) -> Ticket | None:
        """Give the ticket to the agent ``choose_agent`` names; the ticket back when
        nobody can take it."""
        ticket, version = await self._read(ticket_id)
        request = request_for(ticket, self.rules)
        agent = self.floor.choose(request)
        if agent is None:
            return ticket
        self.floor.take(agent, ticket.id, ticket.channel, request.queue, self.now)
        outcome = self.outcomes[ticket_id]
        outcome.assigned_at, outcome.agent = self.now, agent
        await self._start_work(
            ticket, version, agent, assigned(ticket, agent, request.strategy, self._at())
        )
        return None

    async def _start_work(
        self, ticket: Ticket, version: int, agent: str, assignment: Change | None
    ) -> None:
        """The agent answers publicly as it takes the ticket (so the first response is
        the wait for an agent, the service level contact centres count) and works on it
        for a handling time drawn from the roster; then it resolves it (``_done``)."""
        outcome = self.outcomes[ticket.id]
        handling = self.roster.handling_for(outcome.queue, ticket.channel)
        seconds = handling.sample(self._random(f"handling{len(outcome.work)}", ticket))
        if not outcome.work:
            outcome.handle_s = seconds
        reported = min(seconds, MAX_HANDLE_SECONDS)  # as a helpdesk may report it
        reply = AgentReplied(
            ticket_id=ticket.id, agent_id=agent, public=True, handle_seconds=reported
        )
        current, events = assignment.ticket if assignment else ticket, []
        if assignment is not None:
            events.extend(assignment.events)
        replied = apply_action(current, reply, self._at(), self.rules)
        if replied is not None:
            current = replied.ticket
            events.extend(replied.events)
        if assignment is not None:
            event_id = assign_event_id(ticket.id, ticket.assignment_round)
        else:
            event_id = derived_id(ticket.id, "simulated-answer", str(len(outcome.work)))
        self._working[ticket.id] = (agent, seconds, self.now)
        await self._commit(ticket, Change(current, events), event_id, version)
        self._push(self.now + seconds, Kind.DONE, ticket.id)

    async def _done(self, ticket_id: str) -> None:
        """The agent's handling time is over: it resolves the ticket, which frees its seat."""
        ticket, version = await self._read(ticket_id)
        outcome = self.outcomes[ticket_id]
        agent, _, started = self._working.pop(ticket_id)
        outcome.work.append((started, self.now))
        if outcome.done_at is None:
            outcome.done_at = self.now
        resolve = TicketResolved(ticket_id=ticket_id, agent_id=agent)
        change = apply_action(ticket, resolve, self._at(), self.rules)
        if change is None:  # settled meanwhile: only the seat to free
            self.floor.release(ticket_id, self.now)
            return
        event_id = derived_id(ticket_id, "simulated-resolve", str(len(outcome.work)))
        await self._commit(ticket, change, event_id, version)

    async def _abandon(self, ticket_id: str, member: str) -> None:
        if not self._waits(ticket_id, member):
            return  # an agent took it in time
        ticket, version = await self._read(ticket_id)
        change = abandoned(ticket, self._at(), self.rules)
        outcome = self.outcomes[ticket_id]
        outcome.abandoned_at = self.now
        if self._unname(ticket_id, outcome.channel) is None:
            self.line.leave(ticket_id)
        if change is not None:
            event_id = derived_id(ticket_id, "simulated-abandon", member)
            await self._commit(ticket, change, event_id, version)


async def simulate(
    rules: RuleSet,
    roster: Roster,
    day: list[DayEvent],
    *,
    reopen_window: timedelta = timedelta(days=7),
    progress: Progress | None = None,
) -> Result:
    return await Simulation(rules, roster, day, reopen_window=reopen_window).run(progress)
