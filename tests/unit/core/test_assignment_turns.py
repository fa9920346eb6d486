"""``choose_in_turn`` answers what ``choose_agent`` answers ticket by ticket, on random
rosters (skills, stated capacities, loads, idle times with ties, declines, avoids,
holders, pointers), and stays cheap with thousands of agents online."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.domain.assignment import (
    AgentState,
    AssignRequest,
    FreeAgent,
    Seats,
    choose_agent,
    worth_offering,
)
from consumers.domain.turns import choose_in_turn

pytestmark = pytest.mark.unit

SKILLS = ("billing", "tech", "tier2", "vip")
CHANNELS = ("email", "chat", "voice")
AGENT_IDS = [f"a{i}" for i in range(12)]


def one_by_one(
    requests: Sequence[AssignRequest],
    agents: Sequence[AgentState],
    pointers: Mapping[str, str | None],
    holders: Mapping[str, str | None],
) -> list[str | None]:
    """The definition: ``choose_agent`` per ticket on the roster the choices before it
    left, the chosen agent the busiest from then on."""
    roster = {a.agent_id: a for a in agents}
    pointer, held = dict(pointers), dict(holders)
    chosen: list[str | None] = []
    for request in requests:
        agent = held.get(request.ticket_id)
        if agent is None:
            agent = choose_agent(request, roster.values(), pointer.get(request.queue))
            if agent is not None:
                busiest = max(a.idle_since for a in roster.values())
                roster[agent] = roster[agent].holding(request.channel, busiest + 1)
                pointer[request.queue] = held[request.ticket_id] = agent
        chosen.append(agent)
    return chosen


skill_sets = st.frozensets(st.sampled_from(SKILLS), max_size=3)
counts = st.dictionaries(st.sampled_from(CHANNELS), st.integers(0, 3), max_size=3)

idle_times = st.sampled_from([0.0, 1.0, 2.5, 7.0])  # few values: ties are common


@st.composite
def rosters(draw: st.DrawFn) -> list[AgentState]:
    ids = draw(st.lists(st.sampled_from(AGENT_IDS), unique=True, max_size=len(AGENT_IDS)))
    return [
        AgentState(i, draw(skill_sets), draw(counts), draw(counts), draw(idle_times)) for i in ids
    ]


def requests_for(draw: st.DrawFn, n: int) -> list[AssignRequest]:
    capacities = draw(st.sampled_from([{}, {"email": 2, "chat": 1}, {"voice": 1}]))
    names = st.lists(st.sampled_from(AGENT_IDS), max_size=3)
    return [
        AssignRequest(
            f"T-{draw(st.integers(0, 6))}",
            draw(st.sampled_from(CHANNELS)),
            draw(st.sampled_from(["q1", "q2"])),
            draw(st.frozensets(st.sampled_from(SKILLS), max_size=2)),
            draw(st.sampled_from(["least_loaded", "round_robin", "other"])),
            capacities.get("email", draw(st.integers(1, 3))),
            tuple(draw(names)),
            capacities,
            tuple(draw(names)),
        )
        for _ in range(n)
    ]


@st.composite
def batches(
    draw: st.DrawFn,
) -> tuple[list[AssignRequest], list[AgentState], dict[str, str | None], dict[str, str | None]]:
    agents = draw(rosters())
    requests = requests_for(draw, draw(st.integers(1, 25)))
    maybe_agent = st.none() | st.sampled_from(AGENT_IDS)
    pointers = draw(st.dictionaries(st.sampled_from(["q1", "q2"]), maybe_agent))
    holders = draw(st.dictionaries(st.sampled_from([r.ticket_id for r in requests]), maybe_agent))
    return requests, agents, pointers, holders


@settings(max_examples=250, deadline=None)
@given(batches())
def test_the_same_choices_as_choose_agent_one_by_one(
    batch: tuple[
        list[AssignRequest], list[AgentState], dict[str, str | None], dict[str, str | None]
    ],
) -> None:
    requests, agents, pointers, holders = batch
    assert choose_in_turn(requests, agents, pointers, holders) == one_by_one(
        requests, agents, pointers, holders
    )


def test_a_full_agent_is_passed_over_by_round_robin_on_that_channel_only() -> None:
    agents = [
        AgentState("r1", frozenset(), {"chat": 1}),
        AgentState("r2", frozenset(), {"chat": 2}),
        AgentState("r3", frozenset(), {"chat": 1}),
    ]
    chats = [AssignRequest(f"T-{i}", "chat", "q", frozenset(), "round_robin", 1) for i in range(5)]
    email = AssignRequest("T-mail", "email", "q", frozenset(), "round_robin", 1)
    expected = ["r1", "r2", "r3", "r2", None, "r3"]  # no chat seat left; email: after r2
    assert choose_in_turn([*chats, email], agents, {}, {}) == expected
    assert one_by_one([*chats, email], agents, {}, {}) == expected


def test_thousands_of_agents_are_looked_at_once_per_kind_of_ticket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The roster is grouped once per kind of ticket, then each ticket costs a heap
    operation: 500 tickets among 3,000 agents look at an agent's capacity some ten
    thousand times, where ``choose_agent`` per ticket did a million and a half times
    (1.2 s of CPU; ``switchboard bench`` measures the sweep)."""
    agents = [
        AgentState(f"agent-{i:05d}", frozenset(SKILLS[: 1 + i % 4]), {"email": 10}, {}, i % 7)
        for i in range(3000)
    ]
    tickets = [
        AssignRequest(f"T-{j}", "email", "q", frozenset(SKILLS[: j % 3]), "least_loaded", 10)
        for j in range(500)
    ]
    expected = one_by_one(tickets[:40], agents, {}, {})
    looked = 0
    capacity_on = AgentState.capacity_on

    def counted(self: AgentState, channel: str, default: int) -> int:
        nonlocal looked
        looked += 1
        return capacity_on(self, channel, default)

    monkeypatch.setattr(AgentState, "capacity_on", counted)
    chosen = choose_in_turn(tickets, agents, {}, {})
    assert chosen[:40] == expected
    assert len(set(chosen)) == 500  # the least loaded: a new agent each time
    assert looked < 20_000


def naive_worth_offering(
    entries: list[tuple[str, str]], agents: list[FreeAgent], skills: Mapping[str, frozenset[str]]
) -> list[str]:
    """The walk's booking by its definition: each member books a seat of the first agent,
    narrowest skills first, with a free seat on its channel and the queue's skills."""
    order = sorted(agents, key=lambda a: (len(a.skills), a.agent_id))
    free = {a.agent_id: dict(a.free) for a in order}
    chosen: list[str] = []
    for member, need in entries:
        channel, queue = need.split("|", 1)
        for a in order:
            if free[a.agent_id].get(channel, 0) > 0 and skills[queue] <= a.skills:
                free[a.agent_id][channel] -= 1
                chosen.append(member)
                break
        else:  # booked by the members before it, whose choice comes first: stop there
            if chosen and any(
                a.free.get(channel, 0) > 0 and skills[queue] <= a.skills for a in order
            ):
                break
    return chosen


@st.composite
def walks(
    draw: st.DrawFn,
) -> tuple[list[FreeAgent], list[list[tuple[str, str]]], list[tuple[str, str]]]:
    ids = draw(st.lists(st.sampled_from(AGENT_IDS), unique=True, max_size=len(AGENT_IDS)))
    agents = [FreeAgent(i, draw(skill_sets), draw(counts)) for i in ids]
    needs = st.tuples(st.sampled_from(CHANNELS), st.sampled_from(["q1", "q2", "q3"]))
    pages = draw(st.lists(st.lists(needs.map("|".join), max_size=12), min_size=1, max_size=4))
    taken = draw(st.lists(st.tuples(st.sampled_from(AGENT_IDS), st.sampled_from(CHANNELS))))
    return agents, [[(f"m{i}", n) for i, n in enumerate(page)] for page in pages], taken


QUEUE_SKILLS = {"q1": frozenset(), "q2": frozenset({"billing"}), "q3": frozenset({"tech", "vip"})}


@settings(max_examples=200, deadline=None)
@given(walks())
def test_the_walk_books_the_seats_as_a_pass_over_every_agent_would(
    walk: tuple[list[FreeAgent], list[list[tuple[str, str]]], list[tuple[str, str]]],
) -> None:
    """Pages offered one after another, seats taken between them (what the walk assigned):
    each page books what a fresh pass over every agent would."""
    agents, pages, taken = walk
    seats = Seats(agents)
    left = {a.agent_id: dict(a.free) for a in agents}
    for page in pages:
        now = [FreeAgent(a.agent_id, a.skills, left[a.agent_id]) for a in agents]
        assert worth_offering(page, seats, QUEUE_SKILLS) == naive_worth_offering(
            page, now, QUEUE_SKILLS
        )
        for agent, channel in taken[:3]:
            seats.take(agent, channel)
            if agent in left and channel in left[agent]:
                left[agent][channel] -= 1
        taken = taken[3:]
        after = [FreeAgent(a.agent_id, a.skills, left[a.agent_id]) for a in agents]
        ahead = {need: 1 for _, need in page}
        anybody = naive_worth_offering([(n, n) for n in ahead], after, QUEUE_SKILLS)
        assert seats.serve_any(ahead, QUEUE_SKILLS) == bool(anybody)


def test_an_urgent_ticket_is_not_passed_over_for_one_behind_it() -> None:
    """a-1 does billing and tech, a-2 billing and sales and has been idle longer; in line:
    an urgent billing ticket, an urgent tech one, a normal billing one. Served in line
    order, the first goes to a-2 (least loaded, idle longest) and the tech one to a-1.
    The walk offered the first and the third together (the second's seat was booked for
    the first), and the choice gave a-1 to the third: the urgent tech ticket waited."""
    both, billing_sales = frozenset({"billing", "tech"}), frozenset({"billing", "sales"})
    roster = [
        AgentState("a-1", both, {"email": 1}, {}, 200.0),
        AgentState("a-2", billing_sales, {"email": 1}, {}, 100.0),
    ]
    skills = {"billing": frozenset({"billing"}), "tech": frozenset({"tech"})}
    line = {"T1|0": "email|billing", "T2|0": "email|tech", "T3|0": "email|billing"}
    request = {
        m: AssignRequest(m[:2], "email", n[6:], skills[n[6:]], "least_loaded", 1)
        for m, n in line.items()
    }
    seats = Seats([FreeAgent(a.agent_id, a.skills, {"email": 1}) for a in roster])
    pending, agents, got = dict(line), list(roster), {}
    while picks := worth_offering(pending.items(), seats, skills):  # as the walk does
        for member, agent in zip(
            picks, choose_in_turn([request[m] for m in picks], agents, {}, {}), strict=True
        ):
            del pending[member]
            got[member] = agent
            if agent is not None:
                seats.take(agent, "email")
                agents = [a.holding("email", 300.0) if a.agent_id == agent else a for a in agents]
    assert got == {"T1|0": "a-2", "T2|0": "a-1"}  # T3 waits for the next free seat
    assert one_by_one(list(request.values()), roster, {}, {}) == ["a-2", "a-1", None]
