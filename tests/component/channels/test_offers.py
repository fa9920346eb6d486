"""POST /v1/actions: an accept or a decline is an answer to an offer, so one from an agent
the ticket is not offered to is 409, nothing written; the helpdesk must not believe an
agent took (or gave back) a ticket that stayed where it was."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from consumers.state.threads import Commit, RedisThreadStore
from router.events import Ticket, utcnow
from router.redis import make_redis
from router.settings import Settings
from router.topics import Topic
from tests.component.channels.support import assert_nothing_written, assert_problem, client_for
from tests.conftest import read_topic, values

pytestmark = pytest.mark.component

AUTH = {"Authorization": "Bearer tok"}
URL = "/v1/actions"


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(settings.model_copy(update={"api_tokens": SecretStr("tok")})) as c:
        yield c


async def ticket_offered(settings: Settings, ticket_id: str, assignee: str | None) -> None:
    """A ticket as the router stores it, offered to ``assignee`` (None: back in the line)."""
    redis = make_redis(settings)
    store = RedisThreadStore(redis, ttl_s=60, prefix=settings.topic_prefix)
    now = utcnow()
    ticket = Ticket(
        id=ticket_id,
        channel="webform",
        customer_id="C-test",
        created_at=now,
        updated_at=now,
        assignee=assignee,
        assigned_at=now if assignee else None,
    )
    try:
        commit = Commit(
            customer_id="C-test", event_id=f"create-{ticket_id}", ticket=ticket, expected_version=0
        )
        assert await store.commit_many([commit]) == ["OK"]
    finally:
        await redis.aclose()


def answer(kind: str, ticket_id: str, agent_id: str) -> dict[str, Any]:
    return {"type": f"assignment.{kind}", "data": {"ticket_id": ticket_id, "agent_id": agent_id}}


async def test_an_accept_from_an_agent_the_ticket_is_not_offered_to_is_409(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await ticket_offered(settings, "T-bill", "a-bill")
    resp = await client.post(URL, json=answer("accepted", "T-bill", "a-other"), headers=AUTH)
    problem = assert_problem(resp, 409, "/data/agent_id")
    assert problem["type"].endswith("/not-offered")
    assert "offered to 'a-bill'" in problem["detail"]
    assert "'a-other'" in problem["detail"]
    decline = await client.post(URL, json=answer("declined", "T-bill", "a-other"), headers=AUTH)
    assert "offered to 'a-bill'" in assert_problem(decline, 409, "/data/agent_id")["detail"]
    await assert_nothing_written(settings)

    taken = await client.post(URL, json=answer("accepted", "T-bill", "a-bill"), headers=AUTH)
    assert taken.status_code == 202, taken.text
    [event] = values(await read_topic(settings, Topic.ACTIONS, expect=1))
    assert event["data"] == {"ticket_id": "T-bill", "agent_id": "a-bill"}


async def test_an_accept_of_a_ticket_offered_to_nobody_is_409_at_its_place_in_the_list(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """A ticket back in the waiting line after an accept timeout: nobody can accept it,
    an agent seen before or never seen."""
    await ticket_offered(settings, "T-bill", "a-bill")
    await ticket_offered(settings, "T-line", None)
    batch = [
        answer("accepted", "T-bill", "a-bill"),
        answer("accepted", "T-line", "a-two"),
        answer("declined", "T-line", "never-seen-agent"),
    ]
    problem = assert_problem(await client.post(URL, json=batch, headers=AUTH), 409)
    assert [e["pointer"] for e in problem["errors"]] == ["/1/data/agent_id", "/2/data/agent_id"]
    assert "offered to nobody" in problem["errors"][0]["detail"]
    assert problem["detail"].startswith("/1/data/agent_id: ")
    await assert_nothing_written(settings)


async def test_an_offer_made_earlier_in_the_same_request_can_be_answered(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """A transfer to an agent offers the ticket to them; their decline gives it back, so
    the same agent cannot then accept it."""
    await ticket_offered(settings, "T-bill", "a-bill")
    presence = {"type": "agent.presence", "data": {"agent_id": "a-kim", "status": "online"}}
    transfer = {"type": "ticket.transferred", "data": {"ticket_id": "T-bill", "agent_id": "a-kim"}}
    moved = [presence, transfer, answer("accepted", "T-bill", "a-kim")]
    resp = await client.post(URL, json=moved, headers=AUTH)
    assert resp.status_code == 202, resp.text

    both = [answer("declined", "T-bill", "a-bill"), answer("accepted", "T-bill", "a-bill")]
    problem = assert_problem(await client.post(URL, json=both, headers=AUTH), 409)
    assert [e["pointer"] for e in problem["errors"]] == ["/1/data/agent_id"]
    assert len(await read_topic(settings, Topic.ACTIONS, expect=3)) == 3  # the first only
