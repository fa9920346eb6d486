"""A list of actions is written whole or answered with what was written: an outside
audit found a list refused 413 for its second item with the first already on Kafka, a
503 part-way that said "nothing was written", and misspelt members of ``data`` dropped
with a 202."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from router.app import web
from router.errors import BackendUnavailable
from router.settings import Settings
from router.topics import Topic
from tests.component.channels.support import assert_nothing_written, create_tickets
from tests.conftest import read_topic, values

pytestmark = pytest.mark.component

AUTH = {"Authorization": "Bearer tok"}
URL = "/v1/actions"


@pytest.fixture
async def ingress(settings: Settings) -> AsyncIterator[Any]:
    async with web.ingress(settings.model_copy(update={"api_tokens": SecretStr("tok")})) as ing:
        yield ing


def client(ingress: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=ingress.app)
    return httpx.AsyncClient(transport=transport, base_url="http://ingress")


async def test_a_list_with_an_item_over_the_size_limit_is_413_at_it_and_writes_nothing(
    ingress: Any, settings: Settings
) -> None:
    await create_tickets(settings, "T-1")
    big = {"type": "customer.upserted", "data": {"id": "crm-9", "attributes": {"b": "x" * 300_000}}}
    body = [{"type": "ticket.resolved", "data": {"ticket_id": "T-1"}}, big]
    async with client(ingress) as http:
        resp = await http.post(URL, json=body, headers=AUTH)
    assert resp.status_code == 413, resp.text
    assert [e["pointer"] for e in resp.json()["errors"]] == ["/1"]
    await assert_nothing_written(settings)


async def test_a_broker_failure_part_way_names_the_actions_already_written(
    ingress: Any, settings: Settings
) -> None:
    await create_tickets(settings, "T-1", "T-2", "T-3")
    publisher = ingress.context.publisher
    real, calls = publisher.send, []

    async def fails_second(topic: Topic, key: str, value: bytes) -> None:
        calls.append(key)
        if len(calls) == 2:
            raise BackendUnavailable("kafka", "no broker answered in time")
        await real(topic, key, value)

    publisher.send = fails_second
    body = [{"type": "ticket.resolved", "data": {"ticket_id": t}} for t in ("T-1", "T-2", "T-3")]
    async with client(ingress) as http:
        resp = await http.post(URL, json=body, headers=AUTH)
    assert resp.status_code == 503, resp.text
    written = values(await read_topic(settings, Topic.ACTIONS, expect=1))
    assert [event["data"]["ticket_id"] for event in written] == ["T-1"]
    problem = resp.json()
    assert problem["type"].endswith("/backend-unavailable")
    assert problem["detail"] == (
        f"kafka: no broker answered in time: the actions /0 (event {written[0]['id']}) were "
        "written before it; the rest were not. Retry with the same Idempotency-Key (what was "
        "written is answered as a duplicate), or send only the rest"
    )


@pytest.mark.parametrize(
    ("action", "pointer"),
    [
        (
            {"type": "ticket.resolved", "data": {"ticket_id": "T-1", "agentid": "a-1"}},
            "/data/agentid",
        ),
        (
            {
                "type": "agent.presence",
                "data": {"agent_id": "a-1", "status": "online", "capacities": {}},
            },
            "/data/capacities",
        ),
    ],
)
async def test_a_misspelt_member_of_data_is_400_at_it(
    ingress: Any, settings: Settings, action: dict[str, Any], pointer: str
) -> None:
    await create_tickets(settings, "T-1")
    async with client(ingress) as http:
        resp = await http.post(URL, json=action, headers=AUTH)
        listed = await http.post(URL, json=[action], headers=AUTH)
    assert resp.status_code == 400, resp.text
    assert [e["pointer"] for e in resp.json()["errors"]] == [pointer]
    assert resp.json()["errors"][0]["detail"].startswith("unknown member; one of ")
    assert [e["pointer"] for e in listed.json()["errors"]] == ["/0" + pointer]
    await assert_nothing_written(settings)


async def test_a_capacity_past_what_an_agent_can_hold_is_400_at_it(
    ingress: Any, settings: Settings
) -> None:
    """2**63 - 1 had been accepted, a number Redis's and Lua's arithmetic cannot hold."""
    presence = {"agent_id": "a-1", "status": "online", "capacity": {"chat": 2**63 - 1}}
    async with client(ingress) as http:
        resp = await http.post(URL, json={"type": "agent.presence", "data": presence}, headers=AUTH)
    assert resp.status_code == 400, resp.text
    assert [e["pointer"] for e in resp.json()["errors"]] == ["/data/capacity/chat"]
    await assert_nothing_written(settings)
