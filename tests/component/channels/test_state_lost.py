"""Redis restarted empty takes every ticket with it until ``switchboard state rebuild``:
the ingress then answers a lookup it cannot make with 503 and Retry-After, which a
helpdesk retries, never with the 404 it takes as final (and drops the reply or the
resolution it sent). A rebuild's new marker ends it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from router.keys import Keys
from router.redis import make_redis
from router.settings import Settings
from tests.component.channels.support import (
    assert_nothing_written,
    assert_problem,
    client_for,
    create_tickets,
)

pytestmark = pytest.mark.component

AUTH = {"Authorization": "Bearer tok"}
REPLY = {"type": "agent.replied", "data": {"ticket_id": "T-1", "agent_id": "a1", "public": True}}


async def set_marker(settings: Settings, value: str | None) -> None:
    redis = make_redis(settings)
    key = Keys(settings.topic_prefix).epoch
    try:
        await (redis.set(key, value) if value is not None else redis.delete(key))
    finally:
        await redis.aclose()


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    await set_marker(settings, "epoch-1")  # the roles' first start wrote it
    with_tokens = settings.model_copy(update={"api_tokens": SecretStr("tok")})
    async with client_for(with_tokens) as c:
        yield c


async def test_a_ticket_lost_with_the_state_is_503_not_404(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await create_tickets(settings, "T-other")
    assert_problem(await client.post("/v1/actions", json=REPLY, headers=AUTH), 404)

    await set_marker(settings, None)  # Redis restarted empty
    answers = [
        await client.post("/v1/actions", json=REPLY, headers=AUTH),
        await client.get("/v1/tickets/T-1", headers=AUTH),
    ]
    for answer in answers:
        problem = assert_problem(answer, 503)
        assert answer.headers["Retry-After"].isdigit()
        assert "state rebuild" in problem["detail"]
    await assert_nothing_written(settings)

    await set_marker(settings, "epoch-2")  # rebuilt: T-1 truly does not exist
    assert_problem(await client.post("/v1/actions", json=REPLY, headers=AUTH), 404)
