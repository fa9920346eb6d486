"""An agent who goes away or offline gives back the offers they had not accepted at once:
each goes back in line and to another agent, with no ``assignment.timeout`` escalation
and no skip. Before, the offer waited out the whole accept timeout for nobody. Accepted
tickets stay with the agent. So does an offer reopened after its agent left: it never
rests with an agent who is not online."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from pydantic import SecretStr

from consumers.domain.assignment import AssignRequest, withdrawn, withdrawn_again_id
from consumers.outbox import commit_for
from consumers.state.agents import AgentStore, Claim
from consumers.state.threads import ViewRequest
from consumers.state.waiting import WaitingLine
from consumers.sweep import LineSweep
from router.app import roles
from router.codec import TYPE_HEADER
from router.events import Ticket
from router.redis import make_redis
from router.settings import Settings
from router.topics import OutRecord, Topic
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
from tests.component.pipeline.test_timers_rounds import QUEUED, Timers
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
    await agents.presence("a1", "online", None, None)  # back before the sweep: offers stay,
    [back] = await agents.departures()  # but the entry waits for the sweep (a crash may have
    assert back == away._replace(back=True)  # left a withdrawal under its id to publish)
    await agents.departed([back])
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


def offered(ticket_id: str, agent_id: str) -> Ticket:
    """A ticket offered to ``agent_id`` a minute ago and not accepted yet."""
    now = datetime.now(UTC)
    return Ticket(
        id=ticket_id,
        status="open",
        channel="email",
        customer_id=f"C-{ticket_id}",
        queue="general",
        assignee=agent_id,
        assigned_at=now - timedelta(minutes=1),
        assignment_round=1,
        created_at=now - timedelta(minutes=2),
        updated_at=now - timedelta(minutes=1),
    )


def seat(ticket: Ticket) -> AssignRequest:
    return AssignRequest(ticket.id, ticket.channel, "general", frozenset(), "least_loaded", 1)


def reasons(records: list[OutRecord]) -> list[str]:
    return [
        orjson.loads(r.value or b"{}")["data"]["reason"]
        for r in records
        if r.topic == Topic.TICKETS
        and r.headers
        and dict(r.headers)[TYPE_HEADER].decode() == QUEUED
    ]


def sweep_of(timers: Timers, send: Callable[[list[OutRecord]], Awaitable[None]]) -> LineSweep:
    line = WaitingLine(timers.redis, prefix=timers.keys.prefix)
    return LineSweep(line, timers.store, timers.agents, rules=lambda: timers.rules, send=send)


async def test_a_withdrawal_cut_short_by_a_crash_is_published_when_its_agent_is_back(
    timers: Timers,
) -> None:
    """Committed, then the broker failed before the flush, and the agent came back online
    before the next sweep: that sweep still reaches the withdrawal's id (the departure
    stays until dealt with) and publishes it, and clears the departure. Before, coming
    online deleted the departure, and the ``.queued`` record was never published."""
    agents = timers.agents
    await agents.presence("w1", "online", [], {"email": 1})
    ticket = offered("T-crash", "w1")
    await timers.open(ticket)
    assert await agents.claim([(seat(ticket), "w1")]) == [Claim("claimed", "w1")]
    await agents.presence("w1", "offline", None, None)

    async def broker_down(records: list[OutRecord]) -> None:
        raise RuntimeError("broker down")

    with pytest.raises(RuntimeError):
        await sweep_of(timers, broker_down).sweep(time.time())
    [withdrawn_now] = await timers.store.tickets([ticket.id])
    assert withdrawn_now is not None
    assert withdrawn_now.assignee is None
    assert timers.outbox.records == []

    await agents.presence("w1", "online", None, None)
    await sweep_of(timers, timers.outbox.send).sweep(time.time())
    assert reasons(timers.outbox.records) == ["agent_offline"]
    assert await agents.departures() == []
    [after] = await timers.store.tickets([ticket.id])
    assert after == withdrawn_now  # nothing withdrawn twice


async def test_coming_back_before_the_sweep_keeps_the_offers(timers: Timers) -> None:
    agents = timers.agents
    await agents.presence("w2", "online", [], {"email": 1})
    ticket = offered("T-kept", "w2")
    await timers.open(ticket)
    await agents.claim([(seat(ticket), "w2")])
    await agents.presence("w2", "away", None, None)
    await agents.presence("w2", "online", None, None)
    await sweep_of(timers, timers.outbox.send).sweep(time.time())
    assert reasons(timers.outbox.records) == []
    assert await agents.departures() == []
    [kept] = await timers.store.tickets([ticket.id])
    assert kept is not None
    assert kept.assignee == "w2"
    assert await agents.held(["w2"]) == {"w2": [ticket.id]}


async def test_a_reopened_offer_withdrawn_before_a_crash_is_published_not_claimed(
    timers: Timers,
) -> None:
    """The timers role withdrew a reopened offer (its agent was gone) and died before
    publishing; the agent is online again when the snapshot comes back. The withdrawal is
    published and the agent gets no seat for a ticket that is back in line. Before, the
    claim's 'online' check passed and gave them the seat, and the ``.queued`` record was
    never published."""
    await timers.agents.presence("bob", "online", [], {"email": 1})
    ticket = offered("T-reopened", "bob")
    record = await timers.open(ticket)
    owner, eid = ticket.customer_id, withdrawn_again_id(ticket)
    [view] = await timers.store.views([ViewRequest(owner, eid, ticket_id=ticket.id)])
    at = datetime.now(UTC)
    change = withdrawn(ticket, "bob", "offline", at)
    assert change is not None
    commit = commit_for(owner, eid, change, view.ticket_version, at)
    assert await timers.store.commit_many([commit]) == ["OK"]  # then the crash

    await timers.handler().handle([record])  # the snapshot redelivered
    assert reasons(timers.outbox.records) == ["agent_offline"]
    assert await timers.agents.holders([ticket.id]) == [None]
    assert await timers.agents.held(["bob"]) == {"bob": []}
