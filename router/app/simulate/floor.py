"""The agents of a simulation: who is on shift, what they hold, who is free for what.

What the agent store keeps in Redis (presence, load per channel, the holder of each
ticket, the round-robin pointers) kept in dicts, and the same choice of agent:
``choose_agent`` from ``consumers.domain.assignment`` names the agent, as it does for
``AgentStore.assign_many``. To keep that choice cheap with hundreds of agents, only the
on-shift agents with the queue's skills and a free seat on the ticket's channel are
handed to it: the others cannot take the ticket (``AgentState.can_take``), so the answer
is the same.

It also keeps the time accounts occupancy and utilisation are computed from: each
agent's spans on shift, and per 30-minute interval the agent-seconds holding at least
one ticket while on shift, in total and per queue (an agent holding tickets of two
queues gives each half), and the seat-seconds held (an agent holding three chats holds
three seats), in total and per queue.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

from consumers.domain.assignment import AgentState, AssignRequest, choose_agent
from router.app.simulate.roster import Roster
from router.app.simulate.tally import Spans
from rules import RuleSet


class Floor:
    def __init__(self, roster: Roster, rules: RuleSet) -> None:
        self._default = dict(rules.assignment.capacity)
        self.states: dict[str, AgentState] = {}
        self.online: set[str] = set()
        self.holders: dict[str, tuple[str, str]] = {}  # ticket -> (agent, channel)
        self.pointers: dict[str, str | None] = {}
        # (channel, queue) -> on-shift agents with the queue's skills and a free seat there
        self._free: dict[tuple[str, str], dict[str, None]] = defaultdict(dict)
        self._queues: dict[str, list[str]] = {}  # agent -> queues it has the skills of
        self._skilled: dict[str, list[str]] = defaultdict(list)  # queue -> agents
        self._held: dict[str, dict[str, str]] = defaultdict(dict)  # agent -> ticket -> queue
        self._since: dict[str, float] = {}  # agent -> time accounted up to
        self.queue_busy: dict[str, Spans] = defaultdict(Spans)  # its share of agents' time
        self.shifts: dict[str, list[tuple[float, float]]] = defaultdict(list)  # on shift
        self.busy = Spans()  # holding a ticket while on shift
        self.seats_busy = Spans()  # seat-seconds held while on shift (one per ticket)
        self.queue_seats: dict[str, Spans] = defaultdict(Spans)  # held by its tickets
        self._on_since: dict[str, float] = {}
        self._shifts_left: dict[str, int] = defaultdict(int)  # agent -> shifts still to start
        for staff in roster.staff:
            for agent_id in staff.agent_ids():
                self.states[agent_id] = AgentState(agent_id, staff.skills, dict(staff.capacity))
                queues = [n for n, q in rules.queues.items() if q.skills <= staff.skills]
                self._queues[agent_id] = queues
                for queue in queues:
                    self._skilled[queue].append(agent_id)

    # --- presence --------------------------------------------------------------------
    def expect_shift(self, agent_id: str) -> None:
        """A shift of the agent is scheduled (see ``ever_serves``)."""
        self._shifts_left[agent_id] += 1

    def come_online(self, agent_id: str, now: float) -> None:
        if self._shifts_left.get(agent_id, 0) > 0:
            self._shifts_left[agent_id] -= 1
        if agent_id in self.online:
            return
        self.online.add(agent_id)
        self._on_since[agent_id] = now
        self._since[agent_id] = now
        for channel in self._channels(agent_id):
            self._seat_changed(agent_id, channel, was_free=False)

    def go_offline(self, agent_id: str, now: float) -> None:
        """Off shift: takes nothing new; what it holds it finishes (and frees) later."""
        if agent_id not in self.online:
            return
        was_free = {c: self._has_seat(agent_id, c) for c in self._channels(agent_id)}
        self._account(agent_id, now)
        self.online.discard(agent_id)
        self.shifts[agent_id].append((self._on_since.pop(agent_id), now))
        for channel, free in was_free.items():
            self._seat_changed(agent_id, channel, was_free=free)

    def close(self, now: float) -> None:
        for agent_id in list(self.online):
            self.go_offline(agent_id, now)

    # --- seats -----------------------------------------------------------------------
    def could_serve(self, channel: str, queue: str) -> bool:
        """Is some on-shift agent with the queue's skills free on the channel?"""
        return bool(self._free.get((channel, queue)))

    def ever_serves(self, channel: str, queue: str) -> bool:
        """Could some agent still take a ticket of ``queue`` on ``channel`` in this run:
        one with the queue's skills and a seat on the channel, on shift now or with a
        shift still to come? False when the roster lacks the skills or the seat, or
        nobody who has them works again before the run's shifts end."""
        return any(self.works_again(a, channel) for a in self.skilled(queue))

    def works_again(self, agent_id: str, channel: str) -> bool:
        """Has the agent a seat on ``channel`` and is it on shift now or later in the run?"""
        return self.takes(agent_id, channel) and (
            agent_id in self.online or self._shifts_left.get(agent_id, 0) > 0
        )

    def choose(self, request: AssignRequest) -> str | None:
        free = self._free.get((request.channel, request.queue))
        if not free:
            return None
        candidates = [self.states[a] for a in free]
        return choose_agent(request, candidates, self.pointers.get(request.queue))

    def take(self, agent_id: str, ticket_id: str, channel: str, queue: str, now: float) -> None:
        was_free = self._has_seat(agent_id, channel)
        self._account(agent_id, now)
        self._held[agent_id][ticket_id] = queue
        self.states[agent_id] = self.states[agent_id].holding(channel, now)
        self.holders[ticket_id] = (agent_id, channel)
        self.pointers[queue] = agent_id
        self._seat_changed(agent_id, channel, was_free=was_free)

    def release(self, ticket_id: str, now: float) -> str | None:
        """Free the seat a ticket holds (idempotent); the agent that held it."""
        held = self.holders.pop(ticket_id, None)
        if held is None:
            return None
        agent_id, channel = held
        was_free = self._has_seat(agent_id, channel)
        self._account(agent_id, now)
        self._held[agent_id].pop(ticket_id, None)
        state = self.states[agent_id]
        load = {**state.load, channel: state.load.get(channel, 0) - 1}
        self.states[agent_id] = replace(state, load=load)
        self._seat_changed(agent_id, channel, was_free=was_free)
        return agent_id

    # --- bookkeeping -----------------------------------------------------------------
    def _account(self, agent_id: str, now: float) -> None:
        """Book the agent's time since the last change: busy while on shift and holding
        a ticket, shared equally among the queues of the tickets it holds."""
        since = self._since.get(agent_id, now)
        self._since[agent_id] = now
        held = self._held.get(agent_id)
        if agent_id not in self.online or not held or now <= since:
            return
        self.busy.add(since, now)
        self.seats_busy.add(since, now, len(held))
        weight = 1.0 / len(held)
        for queue in held.values():
            self.queue_busy[queue].add(since, now, weight)
            self.queue_seats[queue].add(since, now)

    def _channels(self, agent_id: str) -> set[str]:
        state = self.states[agent_id]
        return {c for c in (*self._default, *state.capacity) if self._capacity(state, c) > 0}

    def _capacity(self, state: AgentState, channel: str) -> int:
        return state.capacity_on(channel, self._default.get(channel, 1))

    def seats(self, agent_id: str) -> dict[str, int]:
        """The agent's seats per channel it takes (its capacity there)."""
        state = self.states[agent_id]
        return {c: self._capacity(state, c) for c in self._channels(agent_id)}

    def takes(self, agent_id: str, channel: str) -> bool:
        """Has the agent any seat on ``channel`` (on shift or not)?"""
        return self._capacity(self.states[agent_id], channel) > 0

    def has_seat(self, agent_id: str, channel: str) -> bool:
        """On shift with a free seat on ``channel``."""
        return self._has_seat(agent_id, channel)

    def _has_seat(self, agent_id: str, channel: str) -> bool:
        if agent_id not in self.online:
            return False
        state = self.states[agent_id]
        return state.load.get(channel, 0) < self._capacity(state, channel)

    def _seat_changed(self, agent_id: str, channel: str, *, was_free: bool) -> None:
        now_free = self._has_seat(agent_id, channel)
        if now_free == was_free:
            return
        for queue in self._queues[agent_id]:
            if now_free:
                self._free[(channel, queue)][agent_id] = None
            else:
                self._free[(channel, queue)].pop(agent_id, None)

    def skilled(self, queue: str) -> list[str]:
        return self._skilled.get(queue, [])
