"""The sweep that moves the waiting line (part of the ``timers`` role): offers waiting
tickets to free agents when something changed, and takes back the offers of agents who
went away or offline before accepting them. The line's keys and their costs are
described in ``consumers/state/waiting.py``; one timers process sweeps at a time."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Collection, Container, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

import structlog

from consumers.domain.assignment import (
    AssignRequest,
    Seats,
    assign_event_id,
    assigned,
    parse_member,
    queue_of,
    queued,
    queued_event_id,
    seat_channel,
    skipped,
    waiting_member,
    withdrawn,
    withdrawn_event_id,
    worth_offering,
)
from consumers.outbox import Delivery, Send, commit_for
from consumers.recent import Recent
from consumers.state.agents import AgentStore, Departure
from consumers.state.threads import Commit, RedisThreadStore, ViewRequest
from consumers.state.waiting import Entry, WaitingLine
from router.errors import BackendUnavailable
from router.events import Ticket
from router.topics import OutRecord
from rules import RuleSet

log = structlog.get_logger("switchboard.timers")

HOLD_S = 3.0
"""How long the line stays with a sweeper that stopped renewing (it died)."""
ANNOUNCED_MEMORY = 20_000
"""How many members this process remembers as announced (``ticket.queued`` committed in
their round), so that a snapshot from before the announcement, read after it, does not
mark them for another offer only to find them announced: what a catch-up does, the topic
holding each ticket as it was before it was queued. Forgetting costs that offer (bounded
as ``timers.FIRED_MEMORY`` is, for the same reason)."""


@dataclass(slots=True)
class Offered:
    """What one offer did: member -> (agent, channel) of the tickets now assigned, and
    the members still waiting."""

    assigned: dict[str, tuple[str, str]] = field(default_factory=dict)
    waiting: set[str] = field(default_factory=set)


class LineSweep:
    """Offers waiting tickets to the agents when something changed (see the module doc).

    Holds in memory only the agents' change counter and the rules hash of the last
    complete walk, and the members it saw announced; losing them (a restart) costs one
    walk and an offer per member, nothing else.
    """

    def __init__(
        self,
        line: WaitingLine,
        store: RedisThreadStore,
        agents: AgentStore,
        *,
        rules: Callable[[], RuleSet],
        send: Send,
    ) -> None:
        self._line = line
        self._store = store
        self._agents = agents
        self._rules = rules
        self._send = send
        self._walked: tuple[int, str] | None = None
        self._me = uuid.uuid4().hex
        self._announced: Recent[None] = Recent(ANNOUNCED_MEMORY)
        self._warned: tuple[str, set[str]] = ("", set())  # rules hash, queues warned of

    @property
    def announced(self) -> Container[str]:
        """Members known to be announced in their round (see ``ANNOUNCED_MEMORY``)."""
        return self._announced

    async def sweep(self, now: float) -> None:
        """Walk the line if an assignment may have become possible, then offer what is
        marked for a recheck (new arrivals first among them). Only while this process
        holds the line; on a failure it lets go, so another may finish at once."""
        if not await self._line.lead(self._me, HOLD_S):
            return
        try:
            await self._sweep(now)
        except Exception:
            await self.resign()
            raise

    async def resign(self) -> None:
        """Let another process sweep at once; a Redis that does not answer is let be (the
        hold lapses then)."""
        with contextlib.suppress(BackendUnavailable):
            await self._line.resign(self._me)

    async def _sweep(self, now: float) -> None:
        rules = self._rules()
        at = datetime.fromtimestamp(now, UTC)
        seen = (await self._agents.changes(), rules.hash)
        if seen != self._walked:  # a presence counts a change: departures are read then
            settled = await self._withdraw(at)
            walked = await self._walk(rules, at, complete=self._walked is None)
            if not walked:
                return  # the hold lapsed: the line is another process's now
            if settled:  # else the next sweep withdraws what is left
                self._walked = seen
        after: Entry | None = None
        while page := await self._line.recheck_page(after):
            after = page[-1]
            await self._offer(page, rules, at)
            if not await self._line.lead(self._me, HOLD_S):
                return  # a slow page: renewed, or left to the process that took it

    async def _withdraw(self, at: datetime) -> bool:
        """Take back every offer an agent who went away or offline had not accepted
        (``withdrawn``): each ticket goes back in line, and its snapshot puts it there
        and frees the seat, for the next sweep to offer it to the others. Whether every
        departure was dealt with; one whose ticket moved meanwhile (a compare-and-set
        conflict) is kept, and the next sweep tries again. A resolved ticket holds no
        seat, so its offer is not found here: reopened while its agent is still gone, the
        timers role takes it back then (``TimersHandler._withdraw_again``).

        An agent online again before the sweep keeps their offers: nothing new is withdrawn,
        but a withdrawal committed before a crash (its seat still held, as its snapshot was
        never published) is published, since only this departure's id reaches it."""
        departures = await self._agents.departures()
        if not departures:
            return True
        held = await self._agents.held([d.agent_id for d in departures])
        offers = [(t, d) for d in departures for t in held[d.agent_id]]
        owners = await self._store.ticket_owners([t for t, _ in offers])
        found = [
            (owner, withdrawn_event_id(t, d.agent_id, d.marker), t, d)
            for (t, d), owner in zip(offers, owners, strict=True)
            if owner  # forgotten: nothing to take back
        ]
        views = await self._store.views(
            [ViewRequest(owner, eid, ticket_id=t) for owner, eid, t, _ in found]
        )
        delivery = Delivery(self._store, self._send)
        commits: list[tuple[Departure, Commit]] = []
        for (owner, eid, _, departure), view in zip(found, views, strict=True):
            if view.done:  # withdrawn before: publish what may still be pending
                delivery.publish(owner, eid, view.outbox or [])
                continue
            change = None
            if view.ticket is not None and not departure.back:
                change = withdrawn(view.ticket, departure.agent_id, departure.status, at)
            if change is not None:
                commits.append((departure, commit_for(owner, eid, change, view.ticket_version, at)))
        results = await delivery.commit([c for _, c in commits])
        await delivery.flush()
        moved = {d.agent_id for (d, _), r in zip(commits, results, strict=True) if r == "CONFLICT"}
        await self._agents.departed([d for d in departures if d.agent_id not in moved])
        return not moved

    async def _walk(self, rules: RuleSet, at: datetime, *, complete: bool) -> bool:
        """Offer, in line order, the tickets the free seats could take, until nobody could
        take any of those still ahead (or to the end when ``complete``, for members
        whose needs are unknown). False when the hold on the line lapsed on the way: the
        walk is another process's to make then."""
        skills = {name: queue.skills for name, queue in rules.queues.items()}
        capacity = rules.assignment.capacity
        counted = await self._line.waiting()
        ahead = {need: n for need, n in counted.items() if queue_of(need) in skills}
        await self._warn_unknown(
            rules, {queue_of(need) for need, n in counted.items() if n}, counted
        )
        seats = Seats(await self._agents.free_seats(capacity))
        after: Entry | None = None
        while complete or seats.serve_any(ahead, skills):
            if after is not None and not await self._line.lead(self._me, HOLD_S):
                return False  # the hold lapsed (a slow page): another process sweeps now
            page = await self._line.page(after)
            if not page:
                return True
            after = page[-1]
            reread = False  # the seats, once per page when an offer finds them wrong
            place = {e.member: e for e in page}
            pending = dict(zip(place, await self._line.needs_of(page), strict=True))
            for need in pending.values():
                if need is not None and need in ahead:
                    ahead[need] -= 1
            # a queue the rules dropped has no skills to check: nobody is offered its tickets
            pending = {m: n for m, n in pending.items() if n is None or queue_of(n) in skills}
            while picks := worth_offering(pending.items(), seats, skills):
                expected = {m for m in picks if pending[m] is not None}
                offered = await self._offer([place[m] for m in picks], rules, at)
                for member in picks:
                    del pending[member]
                if offered.waiting & expected and not reread:
                    # The seats were wrong (declined, or moved): read again, once a page. A
                    # seat taken meanwhile is then known; wrong again, the tickets were
                    # declined by (or are barred from) the agents free for them, which no
                    # read shows. Reading every agent per such ticket had made a walk past
                    # a hundred of them take seconds at 1,000 agents online.
                    seats, reread = Seats(await self._agents.free_seats(capacity)), True
                    continue  # the read includes this offer's seats
                for agent, channel in offered.assigned.values():
                    seats.take(agent, channel)
        return True

    async def _offer(self, entries: list[Entry], rules: RuleSet, at: datetime) -> Offered:
        """Assign each ticket if an agent is free, else announce once that it waits; then
        publish, and only then let go of the recheck marks."""
        await self._line.mark(entries)
        outputs, offers, left = await self._read(entries)
        strategy = rules.assignment.strategy
        known = [o for o in offers if o.ticket.queue in rules.queues]
        if len(known) < len(offers):
            await self._warn_unknown(rules, {o.ticket.queue or "" for o in offers})
        agents = await self._agents.assign_many([request_for(o.ticket, rules, at) for o in known])
        chosen = dict(zip([o.member for o in known], agents, strict=True))
        commits: list[tuple[Offer, str | None, Commit]] = []
        for offer in offers:
            ticket, agent = offer.ticket, chosen.get(offer.member)
            if agent is not None:
                change, event_id = assigned(ticket, agent, strategy, at), assign_event_id
            elif ticket.queued_at is None:
                change, event_id = queued(ticket, at), queued_event_id
            else:
                continue
            eid = event_id(ticket.id, offer.round)
            commits.append((offer, agent, commit_for(offer.owner, eid, change, offer.version, at)))
        delivery = Delivery(self._store, self._send)
        delivery.add(outputs)
        results = await delivery.commit([c for _, _, c in commits])
        conflicts: set[str] = set()
        done = Offered()
        for offer in offers:
            if offer.ticket.queued_at is not None:
                self._announced.remember(offer.member, None)
        for (offer, agent, _), result in zip(commits, results, strict=True):
            if result == "CONFLICT":  # the ticket moved meanwhile: rechecked, fresh, next sweep
                conflicts.add(offer.member)
                continue
            if agent is None:
                self._announced.remember(offer.member, None)
            # 'OK' is published below; 'DUP': another sweep applied it and publishes it
            if agent is not None:
                done.assigned[offer.member] = (agent, seat_channel(offer.ticket))
                left.append(offer.member)
        await delivery.flush()
        still = [o for o in offers if o.member not in done.assigned and o.member not in conflicts]
        done.waiting = {o.member for o in still}
        await self._line.settle(
            left=left,
            waiting=[o.ticket for o in still],
            done=[e.member for e in entries if e.member not in conflicts],
        )
        return done

    async def _warn_unknown(
        self, rules: RuleSet, queues: Collection[str], counted: Mapping[str, int] | None = None
    ) -> None:
        """Tell the platform team, once per queue and rules hash, that tickets wait in a
        queue the current rules do not have: they wait until a reload brings it back or an
        action transfers them. ``counted``: how many wait per needs (read when not given)."""
        if self._warned[0] != rules.hash:
            self._warned = (rules.hash, set())
        warned = self._warned[1]
        unknown = sorted(q for q in queues if q not in rules.queues and q not in warned)
        if unknown and counted is None:
            counted = await self._line.waiting()
        for queue in unknown:
            warned.add(queue)
            log.warning(
                "queue_not_in_rules",
                queue=queue,
                rules_version=rules.version,
                rules_hash=rules.hash,
                waiting=sum(n for need, n in (counted or {}).items() if queue_of(need) == queue),
            )

    async def _read(self, entries: list[Entry]) -> tuple[list[OutRecord], list[Offer], list[str]]:
        """The tickets still waiting in the round their member names, with their versions;
        the records of earlier outcomes still to publish; the members that left the line."""
        lined = [(e.member, *parse_member(e.member)) for e in entries]
        owners = await self._store.ticket_owners([tid for _, tid, _ in lined])
        found = [(entry, o) for entry, o in zip(lined, owners, strict=True) if o]
        left = [m for (m, _, _), o in zip(lined, owners, strict=True) if not o]  # forgotten
        views = await self._store.views(
            [
                request
                for (_, tid, round_), owner in found
                for request in (
                    ViewRequest(owner, assign_event_id(tid, round_), ticket_id=tid),
                    ViewRequest(
                        owner, queued_event_id(tid, round_), ticket_id=tid, wants_ticket=False
                    ),
                )
            ]
        )
        outputs: list[OutRecord] = []
        offers: list[Offer] = []
        for i, ((member, _, round_), owner) in enumerate(found):
            assign_view, queued_view = views[2 * i], views[2 * i + 1]
            if assign_view.done:  # assigned before: publish what may still be pending
                outputs.extend(assign_view.outbox or [])
                left.append(member)
                continue
            ticket = assign_view.ticket
            current = waiting_member(ticket) if ticket else None
            if ticket is None or current is None or current[0] != member:
                left.append(member)  # no longer waiting in this round
                continue
            if queued_view.done:
                outputs.extend(queued_view.outbox or [])
            offers.append(Offer(member, owner, ticket, round_, assign_view.ticket_version))
        return outputs, offers, left


class Offer(NamedTuple):
    """A waiting ticket as read for an offer: its compare-and-set version included."""

    member: str
    owner: str
    ticket: Ticket
    round: int
    version: int


def request_for(ticket: Ticket, rules: RuleSet, at: datetime | None = None) -> AssignRequest:
    queue = rules.queues.get(ticket.queue or "")
    channel = seat_channel(ticket)
    barred, avoided = skipped(ticket, at)
    return AssignRequest(
        ticket.id,
        channel,
        ticket.queue or "",
        queue.skills if queue else frozenset(),
        rules.assignment.strategy,
        rules.assignment.capacity.get(channel, 1),
        barred,
        rules.assignment.capacity,
        avoided,
    )
