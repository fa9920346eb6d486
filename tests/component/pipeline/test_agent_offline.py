"""An agent who goes away or offline gives back the offers they had not accepted at once:
each goes back in line and to another agent, with no ``assignment.timeout`` escalation
and no skip. Before, the offer waited out the whole accept timeout for nobody. Accepted
tickets stay with the agent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from consumers.domain.assignment import AssignRequest
from consumers.state.agents import AgentStore
from router.app import roles
from router.redis import make_redis
from router.settings import Settings
from router.topics import Topic
from tests.component.pipeline.conftest import run_switchboard
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
