"""Bearer tokens with the least they need: a read token (a wallboard) reads and may not
post actions, an action token (a helpdesk integration) posts actions and may not read
every customer's tickets; a token of ``SWITCHBOARD_API_TOKENS`` does both. A token used
beyond its scope is a 403 ``insufficient_scope``, not a wrong token: it is not counted
against the client's address. The ingress app with the read routes on a Redis that does
not answer, so a request that gets past the door is a 503 (the read) or a 400 (an empty
action list)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from channels.app import create_app
from channels.deps import IngressContext
from router.app.read_api import include_read_api
from router.observability import Telemetry
from router.redis import make_redis
from router.settings import RedisSettings, Settings
from tests.problems import assert_problem

pytestmark = pytest.mark.unit

BOTH, READ, ACT = "both-" + "b" * 40, "read-" + "r" * 40, "act-" + "a" * 40


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def client_of(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The ingress app with the read routes, as the ingress builds it, on ``settings``."""
    ctx = IngressContext(
        settings=settings,
        publisher=None,  # type: ignore[arg-type]
        telemetry=Telemetry(),
        ticket_owners=None,  # type: ignore[arg-type]
    )
    app = create_app(ctx)
    redis = make_redis(settings)
    include_read_api(app, settings, redis)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingress") as c:
            yield c
    finally:
        await redis.aclose()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        api_tokens=SecretStr(BOTH),
        api_read_tokens=SecretStr(f"{READ}, other-read"),
        api_action_tokens=SecretStr(ACT),
        redis=RedisSettings(url="redis://127.0.0.1:1"),
    )
    async for c in client_of(settings):
        yield c


async def post_action(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/v1/actions", json=[], headers=bearer(token))


async def test_each_token_does_what_its_scope_allows(client: httpx.AsyncClient) -> None:
    for token in (BOTH, READ):
        assert_problem(await client.get("/v1/queues", headers=bearer(token)), 503)
    for token in (BOTH, ACT):
        assert_problem(await post_action(client, token), 400)


async def test_a_token_beyond_its_scope_is_403_insufficient_scope(
    client: httpx.AsyncClient,
) -> None:
    for answer in (
        await post_action(client, READ),
        await client.get("/v1/agents", headers=bearer(ACT)),
    ):
        problem = assert_problem(answer, 403)
        assert problem["type"].endswith("/token-scope")
        assert 'error="insufficient_scope"' in answer.headers["www-authenticate"]
        assert READ not in answer.text
        assert ACT not in answer.text


async def test_beyond_its_scope_is_not_a_wrong_token_and_a_wrong_one_stays_401(
    client: httpx.AsyncClient,
) -> None:
    for _ in range(40):  # past the 30 wrong tokens a minute that bring a 429
        assert (await post_action(client, READ)).status_code == 403
    assert_problem(await post_action(client, "guess-" + "g" * 40), 401)


async def test_read_tokens_alone_leave_actions_closed_with_a_403() -> None:
    settings = Settings(
        api_read_tokens=SecretStr(READ), redis=RedisSettings(url="redis://127.0.0.1:1")
    )
    async for client in client_of(settings):
        assert_problem(await client.get("/v1/queues", headers=bearer(READ)), 503)
        assert_problem(await post_action(client, READ), 403)
        for _ in range(40):  # no action token to guess: never counted, never a 429
            problem = assert_problem(await post_action(client, "x" * 40), 401)
        assert problem["detail"] == "no API tokens for this route are configured"
