"""What ``POST /v1/actions`` refuses before anything is written: a note that says
nothing, and a request without a valid bearer token, whose challenge says which
(RFC 6750, section 3.1). Served over ASGI: no broker, no Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from channels.publish import Accepted
from router.events import CloudEvent
from router.limits import Limits
from router.settings import Settings
from router.topics import Topic
from tests.unit.channels.support import ingress_client

pytestmark = pytest.mark.unit

AUTH = {"Authorization": "Bearer t"}
URL = "/v1/actions"


class Kept:
    def __init__(self) -> None:
        self.published: list[CloudEvent] = []
        self.limits = Limits()

    async def publish(self, topic: Topic, key: str, event: CloudEvent, **_: object) -> Accepted:
        assert (topic, key) == (Topic.ACTIONS, "T-1")
        self.published.append(event)
        return Accepted(event.id, duplicate=False)

    async def reused(self, named: list[tuple[str, str]]) -> list[bool]:
        return [False for _ in named]


async def every_ticket_exists(ticket_ids: list[str]) -> list[str | None]:
    return ["customer" for _ in ticket_ids]


@pytest.fixture
def publisher() -> Kept:
    return Kept()


@pytest.fixture
async def client(publisher: Kept) -> AsyncIterator[httpx.AsyncClient]:
    async with ingress_client(
        Settings(api_tokens=SecretStr("t")), publisher, every_ticket_exists
    ) as c:
        yield c


def problem_of(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = resp.json()
    return body


@pytest.mark.parametrize(
    "data",
    [
        {"ticket_id": "T-1"},
        {"ticket_id": "T-1", "agent_id": "a-1", "text": None},
        {"ticket_id": "T-1", "text": ""},
        {"ticket_id": "T-1", "text": " \n\t "},
        {"ticket_id": "T-1", "text": "\x00"},  # control characters go first: nothing is left
    ],
    ids=["missing", "null", "empty", "blank", "control-only"],
)
async def test_a_note_without_text_is_400_at_data_text(
    client: httpx.AsyncClient, publisher: Kept, data: dict[str, Any]
) -> None:
    """It was accepted and published an empty note."""
    resp = await client.post(URL, json={"type": "ticket.note_added", "data": data}, headers=AUTH)
    problem = problem_of(resp, 400)
    assert [e["pointer"] for e in problem["errors"]] == ["/data/text"]
    assert publisher.published == []


async def test_a_note_with_text_and_no_agent_is_written(
    client: httpx.AsyncClient, publisher: Kept
) -> None:
    note = {"type": "ticket.note_added", "data": {"ticket_id": "T-1", "text": "VIP"}}
    assert (await client.post(URL, json=note, headers=AUTH)).status_code == 202
    assert [e.data for e in publisher.published] == [{"ticket_id": "T-1", "text": "VIP"}]


@pytest.mark.parametrize(
    ("headers", "challenge"),
    [
        ({}, 'Bearer realm="switchboard"'),
        ({"Authorization": "Basic dDp0"}, 'Bearer realm="switchboard"'),
        ({"Authorization": "Bearer wrong"}, 'Bearer realm="switchboard", error="invalid_token"'),
    ],
    ids=["no-token", "not-bearer", "wrong-token"],
)
async def test_only_a_wrong_token_is_challenged_as_invalid(
    client: httpx.AsyncClient, headers: dict[str, str], challenge: str
) -> None:
    """A wrong token got the bare challenge: RFC 6750 section 3.1 says a token given and
    invalid SHOULD be answered ``error="invalid_token"``, and one not given gets no error.
    The read API checks its token with the same function."""
    closed = {"type": "ticket.closed", "data": {"ticket_id": "T-1"}}
    resp = await client.post(URL, json=closed, headers=headers)
    problem_of(resp, 401)
    assert resp.headers["www-authenticate"] == challenge


async def test_an_error_answer_lists_the_first_hundred_errors_and_counts_the_rest(
    client: httpx.AsyncClient, publisher: Kept
) -> None:
    """50,000 unknown members had been answered with a 3.2 MB body listing every one."""
    data = {"ticket_id": "T-1", "text": "hi", **{f"x{n}": 1 for n in range(50_000)}}
    resp = await client.post(URL, json={"type": "ticket.note_added", "data": data}, headers=AUTH)
    problem = problem_of(resp, 400)
    assert len(problem["errors"]) == 100
    assert problem["errors"][0]["pointer"] == "/data/x0"
    assert problem["errors_omitted"] == 49_900
    assert problem["detail"].endswith("(the first 100 errors are listed; 49,900 more are not)")
    assert len(resp.content) < 20_000
    assert publisher.published == []
