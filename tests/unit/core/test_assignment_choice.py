"""Who gets the next ticket: the pure choice the store and the staffing simulation share."""

from __future__ import annotations

import pytest

from consumers.domain.assignment import AgentState, AssignRequest, choose_agent
from consumers.domain.turns import choose_in_turn

pytestmark = pytest.mark.unit


def request(
    *,
    ticket: str = "T-1",
    channel: str = "email",
    queue: str = "q",
    skills: frozenset[str] = frozenset(),
    strategy: str = "least_loaded",
    default_capacity: int = 2,
    exclude: tuple[str, ...] = (),
    avoid: tuple[str, ...] = (),
) -> AssignRequest:
    return AssignRequest(
        ticket, channel, queue, skills, strategy, default_capacity, exclude, avoid=avoid
    )


def agent(
    agent_id: str,
    *skills: str,
    capacity: dict[str, int] | None = None,
    load: dict[str, int] | None = None,
) -> AgentState:
    return AgentState(agent_id, frozenset(skills), capacity or {}, load or {})


def test_the_agent_needs_every_skill_of_the_queue() -> None:
    wanted = request(skills=frozenset({"billing", "tier2"}))
    agents = [agent("a1", "billing"), agent("a2", "billing", "tier2", "tech")]
    assert choose_agent(wanted, agents, None) == "a2"
    assert choose_agent(wanted, agents[:1], None) is None


def test_a_queue_without_skills_takes_anybody() -> None:
    assert choose_agent(request(), [agent("a1")], None) == "a1"


def test_agents_who_declined_the_ticket_are_passed_over() -> None:
    agents = [agent("a1"), agent("a2", load={"email": 1})]
    assert choose_agent(request(exclude=("a1",)), agents, None) == "a2"
    assert choose_agent(request(exclude=("a1", "a2")), agents, None) is None


def test_a_skipped_agent_gets_the_ticket_only_when_nobody_else_can_take_it() -> None:
    """Who let an offer of it lapse is passed over, not barred: the only agent with the
    skills, back online, takes the urgent ticket before newer ones (it had waited out
    five accept timeouts while they served the rest of the line)."""
    agents = [agent("a1"), agent("a2", load={"email": 1})]
    assert choose_agent(request(avoid=("a1",)), agents, None) == "a2"
    assert choose_agent(request(avoid=("a1",)), agents[:1], None) == "a1"
    full = agent("a2", load={"email": 2})
    assert choose_agent(request(avoid=("a1",)), [agents[0], full], None) == "a1"
    assert choose_agent(request(exclude=("a1",), avoid=("a1",)), agents[:1], None) is None


def test_capacity_is_the_agents_own_else_the_default_for_the_channel() -> None:
    full_by_default = agent("a1", load={"email": 2})  # default capacity 2
    roomy = agent("a2", capacity={"email": 3}, load={"email": 2})
    assert choose_agent(request(), [full_by_default, roomy], None) == "a2"
    assert choose_agent(request(default_capacity=3), [full_by_default], None) == "a1"


def test_a_stated_capacity_wins_over_the_default_even_when_smaller() -> None:
    none_on_email = agent("a1", capacity={"email": 0, "chat": 5})
    assert choose_agent(request(default_capacity=10), [none_on_email], None) is None
    assert choose_agent(request(channel="chat"), [none_on_email], None) == "a1"


def test_load_counts_only_on_the_tickets_channel() -> None:
    busy_elsewhere = agent("a1", load={"chat": 9, "email": 0})
    assert choose_agent(request(default_capacity=1), [busy_elsewhere], None) == "a1"


def test_least_loaded_picks_the_lowest_load_and_the_first_id_on_a_tie() -> None:
    agents = [
        agent("a3", load={"email": 0}),
        agent("a2", load={"email": 1}),
        agent("a1", load={"email": 0}),
    ]
    assert choose_agent(request(), agents, None) == "a1"
    assert choose_agent(request(), agents[:2], None) == "a3"


def test_unknown_strategies_choose_as_least_loaded() -> None:
    agents = [agent("a1", load={"email": 1}), agent("a2")]
    assert choose_agent(request(strategy="other"), agents, "a1") == "a2"


def test_round_robin_takes_the_next_agent_after_the_pointer_in_id_order() -> None:
    agents = [agent("r3"), agent("r1", load={"email": 1}), agent("r2")]
    rr = request(strategy="round_robin")
    assert choose_agent(rr, agents, None) == "r1"  # no pointer yet: the first
    assert choose_agent(rr, agents, "r1") == "r2"  # not the least loaded: the next
    assert choose_agent(rr, agents, "r2") == "r3"
    assert choose_agent(rr, agents, "r3") == "r1"  # wraps around
    assert choose_agent(rr, agents, "r0") == "r1"  # a pointer to someone gone
    assert choose_agent(rr, agents, "r25") == "r3"


def test_round_robin_skips_who_cannot_take_the_ticket() -> None:
    agents = [agent("r1"), agent("r2", load={"email": 2}), agent("r3", "vip")]
    rr = request(strategy="round_robin", skills=frozenset())
    assert choose_agent(rr, agents, "r1") == "r3"
    vip = request(strategy="round_robin", skills=frozenset({"vip"}))
    assert choose_agent(vip, agents, "r3") == "r3"  # wraps around to the pointer itself
    assert choose_agent(request(strategy="round_robin", exclude=("r3",)), agents, "r1") == "r1"


def test_nobody_eligible_means_no_agent() -> None:
    assert choose_agent(request(), [], None) is None
    assert choose_agent(request(strategy="round_robin"), [], "r1") is None
    full = [agent("a1", load={"email": 2}), agent("a2", capacity={"email": 1}, load={"email": 1})]
    assert choose_agent(request(), full, None) is None
    assert choose_agent(request(strategy="round_robin"), full, "a1") is None


def test_in_turn_each_choice_sees_the_seats_the_ones_before_it_took() -> None:
    agents = [agent("a1", capacity={"email": 1}), agent("a2", load={"email": 1})]
    tickets = [request(ticket=f"T-{n}") for n in range(4)]
    assert choose_in_turn(tickets, agents, {}, {}) == ["a1", "a2", None, None]
    assert agents[0].load == {}  # the candidates themselves are left as they were


def test_in_turn_round_robin_moves_the_pointer_of_its_queue_only() -> None:
    agents = [agent("r1", capacity={"email": 9}), agent("r2", capacity={"email": 9})]
    rr = [request(ticket=f"T-{n}", strategy="round_robin") for n in range(3)]
    other = request(ticket="T-x", queue="other", strategy="round_robin")
    assert choose_in_turn([*rr, other], agents, {"q": "r1"}, {}) == ["r2", "r1", "r2", "r1"]


def test_in_turn_a_held_ticket_keeps_its_holder_and_takes_no_seat() -> None:
    agents = [agent("a1", capacity={"email": 1})]
    held = request(ticket="T-held")
    fresh = request(ticket="T-new")
    assert choose_in_turn([held, fresh], agents, {}, {"T-held": "a9"}) == ["a9", "a1"]
    assert choose_in_turn([fresh, fresh], agents, {}, {"T-held": None}) == ["a1", "a1"]


def test_least_loaded_weighs_occupancy_across_channels_relative_to_capacity() -> None:
    wanted = AssignRequest(
        "T-1", "email", "q", frozenset(), "least_loaded", 10, (), {"chat": 3, "email": 10}
    )
    chats = AgentState("a1", frozenset(), {}, {"chat": 2})  # two of three chat seats: 0.67
    emails = AgentState("a2", frozenset(), {}, {"email": 5})  # five of ten email seats: 0.5
    assert choose_agent(wanted, [chats, emails], None) == "a2"
    small = AgentState("a2", frozenset(), {"email": 6}, {"email": 5})  # stated 6: 0.83
    assert choose_agent(wanted, [chats, small], None) == "a1"


def test_on_equal_occupancy_the_agent_idle_longest_gets_the_ticket() -> None:
    agents = [
        AgentState("a1", frozenset(), {}, {"email": 1}, idle_since=2_000.0),
        AgentState("a2", frozenset(), {}, {"email": 1}, idle_since=1_000.0),
        AgentState("a3", frozenset(), {}, {"email": 1}, idle_since=3_000.0),
    ]
    assert choose_agent(request(), agents, None) == "a2"
    # in turn: whoever just got one is no longer idle longest
    two = [request(ticket="T-1", channel="chat"), request(ticket="T-2", channel="chat")]
    assert choose_in_turn(two, agents, {}, {}) == ["a2", "a1"]
