"""An agent who goes away or offline gives back the offers they had not accepted at once:
each goes back in line and to another agent, with no ``assignment.timeout`` escalation
and no skip. Before, the offer waited out the whole accept timeout for nobody. Accepted
tickets stay with the agent. So does an offer reopened after its agent left: it never
rests with an agent who is not online."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from consumers.domain.assignment import AssignRequest
from consumers.state.agents import AgentStore, Claim
from router.app import roles
from router.redis import make_redis
from router.settings import Settings
from router.topics import Topic
from tests.component.pipeline.conftest import Running, run_switchboard
from tests.component.pipeline.test_assignment import until_online
from tests.component.pipeline.test_assignment_lifecycle import (
    act,
    holder,
    online,
    open_ticket,
    outcomes,
    story_until,
)
from tests.conftest import read_topic, values

pytestmark = pytest.mark.component

RULES = """\
version: 1
queues: {general: {}}
defaults: {queue: general}
assignment: {accept_timeout: 10m}
escalations:
  - name: nobody accepted
    on: assignment.timeout
    then: {notify: [team-lead]}
"""


@pytest.fixture
async def agents(settings: Settings) -> AsyncIterator[AgentStore]:
    client = make_redis(settings)
    yield AgentStore(client, prefix=settings.topic_prefix)
    await client.aclose()


async def test_a_departure_is_kept_until_dealt_with_and_cancelled_by_coming_back(
    agents: AgentStore,
) -> None:
    await agents.presence("a1", "online", [], {"email": 2})
    assert await agents.departures() == []
    await agents.presence("a1", "away", None, None)
    [away] = await agents.departures()
    assert (away.agent_id, away.status) == ("a1", "away")
    await agents.presence("a1", "online", None, None)  # back before the sweep: nothing to do
    assert await agents.departures() == []

    await agents.presence("a1", "offline", None, None)
    [first] = await agents.departures()
    await agents.presence("a1", "offline", None, None)  # left again after the sweep read
    await agents.departed([first])
    [second] = await agents.departures()  # kept: offers made since are still to withdraw
    assert second.marker != first.marker
    await agents.departed([second])
    assert await agents.departures() == []


async def test_held_lists_an_agents_tickets_on_every_channel(agents: AgentStore) -> None:
    picks = [
        (AssignRequest("T-mail", "email", "q", frozenset(), "least_loaded", 1), "h1"),
        (AssignRequest("T-chat", "chat", "q", frozenset(), "least_loaded", 1), "h1"),
    ]
    await agents.claim(picks, force=True)
    assert await agents.held(["h1", "h2"]) == {"h1": ["T-chat", "T-mail"], "h2": []}


async def test_going_offline_gives_unaccepted_offers_to_others_and_keeps_accepted_work(
    settings: Settings, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    update = {"rules_path": rules, "api_tokens": SecretStr("tok")}
    async with run_switchboard(settings.model_copy(update=update), frozenset(roles.ROLES)) as sb:
        two_seats = {"agent_id": "a1", "status": "online", "capacity": {"webform": 2}}
        await act(sb, {"type": "agent.presence", "data": two_seats})
        await until_online(sb, "a1")
        kept = await open_ticket(sb, "kim@example.com", "first question")
        seen, _ = await story_until(sb, kept, lambda s: len(s) >= 1)
        assert seen == [("assigned", "a1")]
        await act(
            sb, {"type": "assignment.accepted", "data": {"ticket_id": kept, "agent_id": "a1"}}
        )
        offered = await open_ticket(sb, "lou@example.com", "second question")
        seen, _ = await story_until(sb, offered, lambda s: len(s) >= 1)
        assert seen == [("assigned", "a1")]
        await online(sb, "a2", [])

        gone = {"agent_id": "a1", "status": "offline"}
        await act(sb, {"type": "agent.presence", "data": gone})
        seen, records = await story_until(sb, offered, lambda s: len(s) >= 3)
        assert seen == [("assigned", "a1"), ("queued", "agent_offline"), ("assigned", "a2")]
        assert not [e for e in records if e["type"].endswith((".escalated", ".notification"))]
        back = next(e for e in records if e["type"].endswith(".queued"))
        assert back["data"]["agent_id"] == "a1"
        assert back["data"]["ticket"]["skipped_until"] == {}  # no penalty: a1 did not let it lapse
        assert await holder(sb, offered) == "a2"

        everything = values(await read_topic(sb.settings, Topic.TICKETS, expect=1))
        assert outcomes(everything, kept) == [("assigned", "a1")]  # accepted work stays
        assert await holder(sb, kept) == "a1"


async def test_an_offer_seen_again_takes_a_seat_only_while_its_agent_is_online(
    agents: AgentStore,
) -> None:
    """``claim.lua``'s 'online' check: an unaccepted offer whose seat was freed (a
    resolution) is counted again on a reopen, even past the agent's capacity, but not
    for an agent who is away or offline: the timers role withdraws it then."""
    await agents.presence("o1", "online", [], {"email": 1})

    def offer(ticket_id: str) -> AssignRequest:
        return AssignRequest(ticket_id, "email", "q", frozenset(), "least_loaded", 1)

    assert await agents.claim([(offer("T-busy"), "o1")]) == [Claim("claimed", "o1")]
    again = await agents.claim([(offer("T-again"), "o1")], force=True, while_online={"T-again"})
    assert again == [Claim("claimed", "o1")]  # full, and counted: the offer is theirs
    await agents.presence("o1", "away", None, None)
    gone = await agents.claim([(offer("T-gone"), "o1")], force=True, while_online={"T-gone"})
    assert gone == [Claim("offline", "o1")]
    assert await agents.holders(["T-gone"]) == [None]
    named = await agents.claim([(offer("T-named"), "o1")], force=True)
    assert named == [Claim("claimed", "o1")]  # a rule's choice is counted whoever is away
    assert await agents.statuses(["o1", "never-seen"]) == {"o1": "away", "never-seen": "offline"}
    # no presence recorded at all (a state rebuild starts without any): nobody said they
    # left, so the offer keeps its seat instead of being withdrawn by the replay
    unknown = await agents.claim(
        [(offer("T-rebuilt"), "ghost")], force=True, while_online={"T-rebuilt"}
    )
    assert unknown == [Claim("claimed", "ghost")]


async def resolved_and_left(sb: Running, ticket_id: str, status: str) -> None:
    """Resolve the ticket offered to bob, then bob leaves once its seat is free, and the
    sweep deals with his departure while it is resolved: nothing to withdraw then."""
    await act(sb, {"type": "ticket.resolved", "data": {"ticket_id": ticket_id}})
    for _ in range(100):
        if await holder(sb, ticket_id) is None:
            break
        await asyncio.sleep(0.1)
    assert await holder(sb, ticket_id) is None
    await act(sb, {"type": "agent.presence", "data": {"agent_id": "bob", "status": status}})
    client = make_redis(sb.settings)
    try:
        store = AgentStore(client, prefix=sb.settings.topic_prefix)
        for _ in range(100):
            await asyncio.sleep(0.1)
            if [s for s in await store.records(["bob"]) if s.status == status] and not (
                await store.departures()
            ):
                return
    finally:
        await client.aclose()
    raise AssertionError("the sweep never dealt with bob's departure")


@pytest.mark.parametrize(("status", "reopen"), [("offline", "action"), ("away", "message")])
async def test_a_reopened_offer_of_an_agent_who_left_meanwhile_goes_to_another_at_once(
    settings: Settings, tmp_path: Path, status: str, reopen: str
) -> None:
    """The audit's repro: offered to bob, resolved, bob leaves, reopened (by an agent, or
    by the customer writing again). The offer goes back in line at the reopen and on to
    alice, with no accept timeout, no skip and no escalation, and bob holds no seat.
    Before, bob got the ticket back with a seat and it timed out on him."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.replace("10m", "4s"), encoding="utf-8")
    update = {"rules_path": rules, "api_tokens": SecretStr("tok")}
    async with run_switchboard(settings.model_copy(update=update), frozenset(roles.ROLES)) as sb:
        await online(sb, "bob", [])
        ticket_id = await open_ticket(sb, "kim@example.com", "my parcel?")
        seen, _ = await story_until(sb, ticket_id, lambda s: len(s) >= 1)
        assert seen == [("assigned", "bob")]
        await online(sb, "alice", [])
        await resolved_and_left(sb, ticket_id, status)

        if reopen == "action":
            await act(sb, {"type": "ticket.reopened", "data": {"ticket_id": ticket_id}})
        else:
            assert await open_ticket(sb, "kim@example.com", "still no parcel") == ticket_id
        seen, records = await story_until(sb, ticket_id, lambda s: len(s) >= 3)
        assert seen == [("assigned", "bob"), ("queued", f"agent_{status}"), ("assigned", "alice")]
        assert not [e for e in records if e["type"].endswith((".escalated", ".notification"))]
        back = next(e for e in records if e["type"].endswith(".queued"))
        assert back["data"]["agent_id"] == "bob"
        assert back["data"]["ticket"]["skipped_until"] == {}
        assert await holder(sb, ticket_id) == "alice"
        client = make_redis(sb.settings)
        try:
            store = AgentStore(client, prefix=sb.settings.topic_prefix)
            assert await store.held(["bob"]) == {"bob": []}
        finally:
            await client.aclose()
