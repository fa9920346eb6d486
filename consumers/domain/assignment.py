"""Assignment: an online agent with the queue's skills and free capacity on the ticket's
channel gets the ticket; otherwise it waits in line by priority, then age (contract
section 9). Part of the ``timers`` role, which already follows every ticket snapshot.

The pure part: who gets the next ticket (``choose_agent``), a ticket's place in line, the
event ids of its outcomes, the changes themselves, and the seat arithmetic that tells the
walk of the line (``consumers.sweep``) which tickets are worth offering. The agent store
reads the agents, asks ``choose_agent`` and claims the seat it names; the staffing
simulation asks the same function in virtual time. The ticket changes through the thread
store like any other change (compare-and-set, dedupe marker, outbox) under ids derived
from (ticket, round), so an assignment is published once. A declined or unaccepted
assignment starts a new round, and so does a move to another queue (a transfer, an
escalation) and an offer withdrawn because its agent went away or offline. An agent named by
a rule's ``assign`` or a transfer is offered the ticket by the timers role too
(``offer_pending``), with the same ``.assigned`` record and accept timeout.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from consumers.domain.outputs import Change
from router.events import Ticket
from router.ids import derived_id
from router.vocabulary import PRIORITIES, SETTLED, EventType


@dataclass(frozen=True, slots=True)
class AssignRequest:
    """One ticket to place with an agent: see ``AgentStore.assign``."""

    ticket_id: str
    channel: str
    queue: str
    skills: frozenset[str]
    strategy: str
    default_capacity: int
    exclude: Sequence[str] = ()  # never offered it: who declined it
    capacities: Mapping[str, int] = field(default_factory=dict)  # the rules' per channel
    # offered it only when no other agent can take it: who let an offer of it time out or
    # transferred it away, until their skip ends
    avoid: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class AgentState:
    """An online agent as the choice of assignee sees it at one moment: its skills, the
    capacity it stated per channel (a channel it did not state takes the rules' default)
    and how many tickets it holds per channel."""

    agent_id: str
    skills: frozenset[str]
    capacity: Mapping[str, int] = field(default_factory=dict)
    load: Mapping[str, int] = field(default_factory=dict)
    idle_since: float = 0.0  # when it last got a ticket or came online (epoch seconds)

    def capacity_on(self, channel: str, default: int) -> int:
        return self.capacity.get(channel, default)

    def occupancy(self, request: AssignRequest) -> float:
        """How busy the agent is across every channel, each relative to its capacity
        there: one chat of three seats weighs as much as three emails of nine."""
        busy = 0.0
        for channel, held in self.load.items():
            if held:
                default = request.capacities.get(channel, request.default_capacity)
                busy += held / max(self.capacity_on(channel, default), 1)
        return busy

    def can_take(self, request: AssignRequest) -> bool:
        """It has every skill of the queue, did not decline the ticket, and has a free seat
        on the ticket's channel."""
        return (
            request.skills <= self.skills
            and self.agent_id not in request.exclude
            and self.has_seat(request.channel, request.default_capacity)
        )

    def has_seat(self, channel: str, default: int) -> bool:
        """A free seat on ``channel`` (``default``: its capacity when the agent stated none)."""
        return self.load.get(channel, 0) < self.capacity_on(channel, default)

    def holding(self, channel: str, at: float | None = None) -> AgentState:
        """The same agent with one more ticket on ``channel`` (got at ``at``: no longer
        idle since before)."""
        load = {**self.load, channel: self.load.get(channel, 0) + 1}
        return replace(self, load=load, idle_since=self.idle_since if at is None else at)


def choose_agent(
    request: AssignRequest, candidates: Iterable[AgentState], round_robin_pointer: str | None
) -> str | None:
    """Who gets the ticket among the online ``candidates``, or None when nobody can take it.

    Candidates are taken in agent id order. ``least_loaded`` (and any strategy it does not
    know) picks the lowest occupancy across channels, relative to capacity, and on a tie
    the agent idle longest (then the first in id order); ``round_robin`` picks the first
    agent after ``round_robin_pointer`` (the last one chosen for the queue), wrapping
    around to the first.
    """
    eligible = [a for a in sorted(candidates, key=_by_id) if a.can_take(request)]
    if not eligible:
        return None
    # a skipped agent is passed over, not barred: the one agent who can take an urgent
    # ticket, back online after letting its offer lapse, gets it before newer tickets
    eligible = [a for a in eligible if a.agent_id not in request.avoid] or eligible
    if request.strategy == "round_robin":
        after = round_robin_pointer or ""
        return next((a.agent_id for a in eligible if a.agent_id > after), eligible[0].agent_id)
    return min(eligible, key=lambda a: (round(a.occupancy(request), 9), a.idle_since)).agent_id


def _by_id(agent: AgentState) -> str:
    return agent.agent_id


@dataclass(frozen=True, slots=True)
class FreeAgent:
    """An online agent's skills and free seats per channel (capacity minus load), as read
    at one moment: a hint for who could take what, never a claim (``assign`` decides)."""

    agent_id: str
    skills: frozenset[str]
    free: Mapping[str, int]


def waiting_member(ticket: Ticket) -> tuple[str, float] | None:
    """The ticket's place in line, or None when it does not wait (assigned, settled)."""
    if ticket.status in SETTLED or ticket.assignee is not None or ticket.queue is None:
        return None
    rank = len(PRIORITIES) - 1 - PRIORITIES.index(ticket.priority)  # urgent first
    return f"{ticket.id}|{ticket.assignment_round}", rank * 1e11 + ticket.created_at.timestamp()


def parse_member(member: str) -> tuple[str, int]:
    ticket_id, round_ = member.rsplit("|", 1)
    return ticket_id, int(round_)


def assign_event_id(ticket_id: str, round_: int) -> str:
    return derived_id(ticket_id, "assigned", str(round_))


def queued_event_id(ticket_id: str, round_: int) -> str:
    return derived_id(ticket_id, "queued", str(round_))


def assigned(
    ticket: Ticket, agent_id: str, strategy: str, at: datetime, *, accepted: bool = False
) -> Change:
    """The ticket offered to ``agent_id``, chosen by the line's ``strategy`` or ``named``
    by a rule or a transfer: it must be accepted within the accept timeout. ``accepted``
    for an agent who took it by working it (``replied``): nothing is left to accept.

    A ``new`` ticket becomes ``open``, as Zendesk's system rule has it ("when a New ticket
    is assigned to an agent, the ticket status automatically changes to Open"), and never
    goes back to ``new``: an offer that times out leaves it ``open`` in the line."""
    update: dict[str, Any] = {
        "assignee": agent_id,
        "assigned_at": at,
        "accepted": accepted,
        "queued_at": None,
        "updated_at": max(at, ticket.updated_at),
    }
    if ticket.status == "new":
        update["status"] = "open"
    if accepted:
        update["unaccepted"] = 0
    moved = ticket.model_copy(update=update)
    data = {"agent_id": agent_id, "queue": ticket.queue, "strategy": strategy}
    return Change(moved, [(EventType.TICKET_ASSIGNED, data)])


def named(agent_id: str) -> dict[str, Any]:
    """The fields that give a ticket to an agent chosen by name (a rule's ``assign``, a
    transfer to an agent), to be offered to them: see ``offer_pending``."""
    return {"assignee": agent_id, "assigned_at": None, "accepted": False, "queued_at": None}


def worked_by(ticket: Ticket, agent_id: str | None) -> dict[str, Any]:
    """The assignee who replies to, resolves or reopens a ticket offered to them, or
    answers the customer's call on it, has accepted it: they work it. Otherwise its
    accept timeout, which runs again when the ticket is reopened, would take it from the
    agent who answered it, or skip the agent who reopened it for a ticket they just took
    up."""
    if agent_id is not None and agent_id == ticket.assignee and not ticket.accepted:
        return {"accepted": True}
    return {}


def offer_pending(ticket: Ticket) -> bool:
    """Whether the ticket names an agent it was never offered to: what a rule's ``assign``
    (or a transfer to an agent) leaves for the timers role, which makes the offer (the
    ``.assigned`` record and the accept timeout) as it does for the line's own."""
    return (
        ticket.assignee is not None
        and ticket.assigned_at is None
        and not ticket.accepted
        and ticket.status not in SETTLED
    )


def named_offer_id(ticket: Ticket) -> str:
    """The event id of the offer ``offer_pending`` asks for, from the snapshot that named
    the agent: the same on a redelivery (its pending outbox is found and published), a
    new one when a later change names an agent again."""
    return derived_id(
        ticket.id,
        "assigned",
        str(ticket.assignment_round),
        ticket.assignee or "",
        ticket.updated_at.isoformat(),
    )


def queued(ticket: Ticket, at: datetime) -> Change:
    waiting = ticket.model_copy(update={"queued_at": at, "updated_at": max(at, ticket.updated_at)})
    data = {"queue": ticket.queue, "reason": "no online agent with the skills and capacity"}
    return Change(waiting, [(EventType.TICKET_QUEUED, data)])


def unassigned(
    ticket: Ticket,
    reason: str,
    at: datetime,
    *,
    skip_for: timedelta | None = None,
    decline_reason: str | None = None,
) -> Change:
    """Back in line for a new round (declined, not accepted in time, moved to another
    queue, whose agents it now waits for, or withdrawn from an agent who left). The next
    offer goes to someone else: an agent who declined is never offered the ticket again,
    one who let the offer time out is skipped for ``skip_for`` (they may have stepped
    away), so a ticket nobody else can take comes back to them then. A skip that ended
    meanwhile (while the ticket was held) is dropped: this new round offers the ticket to
    that agent already, so it must not be noticed later as a skip ending, with another
    ``.queued`` (``skip_ended``) and another round. ``skip_for`` skips the assignee
    (one who let the offer time out, or transferred the ticket away). ``decline_reason``:
    why the agent declined (``assignment.declined``'s ``reason``), carried onto the
    ``.queued`` record so the helpdesk and a supervisor see it where the ticket waits."""
    skips = {agent: until for agent, until in ticket.skipped_until.items() if until > at}
    timed_out = reason == "accept_timeout"
    lapsed = [a for a in ticket.lapsed if a in skips]
    if ticket.assignee is not None and skip_for is not None:
        skips[ticket.assignee] = at + skip_for
        lapsed = [a for a in lapsed if a != ticket.assignee]
        if timed_out:  # passed over, not barred: see ``skipped``
            lapsed.append(ticket.assignee)
    update: dict[str, Any] = {
        "assignee": None,
        "assigned_at": None,
        "accepted": False,
        "queued_at": at,
        "assignment_round": ticket.assignment_round + 1,
        "updated_at": max(at, ticket.updated_at),
        "skipped_until": skips,
        "lapsed": lapsed,
    }
    if timed_out:
        update["unaccepted"] = ticket.unaccepted + 1
    waiting = ticket.model_copy(update=update)
    data = {"queue": ticket.queue, "reason": reason, "agent_id": ticket.assignee}
    if decline_reason is not None:
        data["decline_reason"] = decline_reason
    return Change(waiting, [(EventType.TICKET_QUEUED, data)])


def requeued(
    before: Ticket, after: Ticket, reason: str, at: datetime, *, skip_for: timedelta | None = None
) -> Change:
    """``after``, a change of ``before`` that moved it to another queue (a transfer, an
    escalation), as a transfer to that queue leaves it: it leaves its assignee, who may
    lack the new queue's skills, and waits in the new queue's line in a new round
    (``.queued`` with ``reason``); the timers role frees the old assignee's seat as it
    does for any change of assignee. Unchanged, with no record, when the queue stayed. A
    settled ticket moved leaves its assignee with no record (it waits in no line, and
    its seat went with the resolution): a reopen then puts it in the new queue's line,
    not back with an agent who may lack that queue's skills. ``skip_for``: the assignee
    is passed over for that long (see ``unassigned``)."""
    if after.queue == before.queue:
        return Change(after)
    if after.status in SETTLED:
        update = {"assignee": None, "assigned_at": None, "accepted": False}
        return Change(
            after.model_copy(update={**update, "assignment_round": after.assignment_round + 1})
        )
    return unassigned(after, reason, at, skip_for=skip_for)


def withdrawn(ticket: Ticket, agent_id: str, status: str, at: datetime) -> Change | None:
    """The ticket offered to ``agent_id`` and not accepted yet, taken back because the
    agent went ``status`` (away or offline): back in line in a new round, for the others
    (``.queued``, reason ``agent_away`` / ``agent_offline``). Without that the offer would
    wait out the accept timeout for nobody, then escalate as unaccepted and skip the agent.
    They let nothing lapse, they left: no skip, no ``assignment.timeout``. An accepted
    ticket stays theirs (work in progress is not taken away). None when the ticket is no
    such offer (accepted, settled, or with someone else by now)."""
    if ticket.assignee != agent_id or ticket.accepted or ticket.status in SETTLED:
        return None
    return unassigned(ticket, f"agent_{status}", at)


def withdrawn_event_id(ticket_id: str, agent_id: str, departure: str) -> str:
    """The id of ``withdrawn``'s change, from the ticket and the agent's departure (one
    id per time they left), known before the ticket is read: a retry after a crash finds
    the withdrawal done and publishes what may still be pending."""
    return derived_id(ticket_id, "withdrawn", agent_id, departure)


def withdrawn_again_id(ticket: Ticket) -> str:
    """The id of ``withdrawn``'s change for an offer seen again (a reopen) after its
    agent left, once their departure was dealt with: from the ticket's round, known
    before the ticket is read. One per round, since a withdrawal starts a new one; a
    retry finds it done and publishes what may still be pending."""
    return derived_id(ticket.id, "withdrawn", ticket.assignee or "", str(ticket.assignment_round))


def skipped(ticket: Ticket, at: datetime | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Who is not offered the ticket at ``at``, and who only when nobody else can take it
    (``AssignRequest.exclude`` and ``.avoid``). Never: who declined it, and until their
    skip ends who transferred it away (offered straight back, the transfer would be
    undone). Last: until their skip ends who let an offer of it lapse, so the only agent
    with the skills, back online, gets the urgent ticket before newer ones. Every skip
    counts when ``at`` is None."""
    skips = [a for a, until in ticket.skipped_until.items() if at is None or until > at]
    barred = [a for a in skips if a not in ticket.lapsed]
    avoided = tuple(a for a in skips if a in ticket.lapsed)
    return tuple(dict.fromkeys([*ticket.declined_by, *barred])), avoided


def skip_ends(ticket: Ticket, after: datetime | None = None) -> datetime | None:
    """When the next skip of a waiting ticket ends (a retry is due then), if any."""
    ends = [u for u in ticket.skipped_until.values() if after is None or u > after]
    return min(ends) if ends else None


def seat_channel(ticket: Ticket) -> str:
    """The channel a waiting ticket needs a seat on: where the customer last wrote from.
    A chat followed up by email is an email conversation now: it waits for an email seat,
    not for a chat seat it no longer needs. A seat once taken stays on the channel it was
    taken on (the holder's seat is recorded with it)."""
    return ticket.last_channel or ticket.channel


def needs(ticket: Ticket) -> str:
    """What a waiting ticket asks of an agent, ``channel|queue``: a seat on its channel
    (``seat_channel``) and the skills of its queue (read from the rules when needed, so a
    reload applies)."""
    return f"{seat_channel(ticket)}|{ticket.queue or ''}"


def queue_of(need: str) -> str:
    """The queue of a waiting ticket's ``needs``."""
    return need.split("|", 1)[1]


class Seats:
    """The free seats of the online agents during one walk of the line.

    Read once per walk and kept current with what the walk assigned, it answers "could
    anybody take a ticket that needs this?" without a Redis call, so the walk reads the
    line page by page, offers only the tickets someone could take, and stops when nobody
    could take any of the tickets still ahead. A hint, not a claim: ``choose_agent`` and
    the store's claim decide, and a ticket the seats said could go but did not (declined by
    that agent, or the seats changed meanwhile) makes the walk read the seats again.
    """

    def __init__(self, agents: Iterable[FreeAgent]) -> None:
        # the narrowest skills first: a ticket any agent could take books one who could
        # take few others, leaving the specialists' seats to the tickets that need them
        narrow_first = sorted(agents, key=lambda a: (len(a.skills), a.agent_id))
        self._order = [a.agent_id for a in narrow_first]
        self._free = {a.agent_id: dict(a.free) for a in narrow_first}
        self._skills = {a.agent_id: a.skills for a in narrow_first}
        # (needs, skills) -> where in ``_order`` to look from: the agents before cannot
        # serve them, and seats are only taken, never freed, until the seats are read
        # again, so each kind of ticket passes over a full agent once, not once a ticket
        self._from: dict[tuple[str, frozenset[str]], int] = {}

    def copy(self) -> Seats:
        twin = Seats(())
        twin._order = self._order
        twin._free = {agent: dict(free) for agent, free in self._free.items()}
        twin._skills = self._skills
        twin._from = dict(self._from)
        return twin

    def agent_for(self, need: str, queue_skills: Mapping[str, frozenset[str]]) -> str | None:
        """Some agent with a free seat for a ticket that needs ``channel|queue``, or None."""
        channel, queue = need.split("|", 1)
        skills = queue_skills.get(queue, frozenset())
        order, free, has = self._order, self._free, self._skills
        i = self._from.get((need, skills), 0)
        while i < len(order) and not (
            free[order[i]].get(channel, 0) > 0 and skills <= has[order[i]]
        ):
            i += 1
        self._from[(need, skills)] = i
        return order[i] if i < len(order) else None

    def take(self, agent_id: str, channel: str) -> None:
        free = self._free.get(agent_id)
        if free is not None and channel in free:
            free[channel] -= 1

    def serve_any(
        self, ahead: Mapping[str, int], queue_skills: Mapping[str, frozenset[str]]
    ) -> bool:
        """Could anybody take one of the tickets ``ahead`` (needs -> how many)?"""
        return any(n > 0 and self.agent_for(need, queue_skills) for need, n in ahead.items())


def worth_offering(
    entries: Iterable[tuple[str, str | None]],
    seats: Seats,
    queue_skills: Mapping[str, frozenset[str]],
) -> list[str]:
    """The members, in line order, that the free seats could take: each one books a seat
    of some agent who could serve it, so no more are offered than there are seats. A
    member whose needs are unknown (a line written by an older version) is always
    offered: reading it is the only way to learn them.

    The booking only tells how many to offer; who takes which ticket is the choice's
    (``choose_in_turn``: least loaded, or round robin), made in line order. So the list
    stops at the first member that a seat could serve but the members before it booked:
    offered with a member behind it, the choice could give that seat to the one behind
    (an urgent tech ticket left waiting while a normal billing ticket behind it took the
    agent who does both). A member no free seat could serve is passed over, so that
    tickets nobody can take now do not hold up the others."""
    booked = seats.copy()
    chosen: list[str] = []
    for member, need in entries:
        if need is None:
            chosen.append(member)
            continue
        agent = booked.agent_for(need, queue_skills)
        if agent is not None:
            booked.take(agent, need.split("|", 1)[0])
            chosen.append(member)
        elif chosen and seats.agent_for(need, queue_skills) is not None:
            break  # its seat is one of those booked before it: offer those first
    return chosen
