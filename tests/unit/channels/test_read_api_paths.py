"""The read API's answers that come before any Redis read: an empty id is the 404 of a
path nothing serves, an id no request could name (control characters, bytes that are no
UTF-8) a 400 at it; and what the answers say when Redis is away. The ingress app with
the read routes on a Redis that does not answer (nothing listens on the port)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from router.settings import RedisSettings, Settings
from tests.problems import assert_problem
from tests.unit.channels.test_token_scopes import client_of

pytestmark = pytest.mark.unit

AUTH = {"Authorization": "Bearer t"}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(api_tokens=SecretStr("t"), redis=RedisSettings(url="redis://127.0.0.1:1"))
    async for c in client_of(settings):
        yield c


@pytest.mark.parametrize("path", ["/v1/agents/", "/v1/tickets/", "/v1/customers//tickets"])
async def test_an_empty_id_is_the_404_of_any_trailing_slash(
    client: httpx.AsyncClient, path: str
) -> None:
    """Was 400 "/path/agent_id: String should have at least 1 character", where
    ``/v1/queues/`` is 404."""
    problem = assert_problem(await client.get(path, headers=AUTH), 404)
    assert problem["detail"] == f"nothing is served at {path}"


@pytest.mark.parametrize(
    ("path", "pointer"),
    [
        ("/v1/agents/%FF", "/path/agent_id"),
        ("/v1/tickets/T-%C3", "/path/ticket_id"),
        ("/v1/customers/email:a%FF@example.com/tickets", "/path/customer_id"),
        ("/v1/queues/bill%FEing/waiting", "/path/name"),
    ],
)
async def test_an_id_with_bytes_that_are_no_utf8_is_a_400_at_it(
    client: httpx.AsyncClient, path: str, pointer: str
) -> None:
    """Was looked up with U+FFFD in place of the bytes (404 "no agent '\\ufffd'"), which
    could name a real id."""
    problem = assert_problem(await client.get(path, headers=AUTH), 400, pointer)
    assert "UTF-8" in problem["detail"]


@pytest.mark.parametrize(
    ("path", "pointer"),
    [
        ("/v1/agents/%00", "/path/agent_id"),
        ("/v1/tickets/T-%1B1", "/path/ticket_id"),
        ("/v1/customers/C-%7F/tickets", "/path/customer_id"),
        ("/v1/queues/bill%0Aing/waiting", "/path/name"),
    ],
)
async def test_an_id_with_a_control_character_is_a_400_at_it(
    client: httpx.AsyncClient, path: str, pointer: str
) -> None:
    """As the ingress refuses such an id in an action: it names nothing real. (Was a 404
    looking it up.) ``instance`` names the path as sent, escapes kept."""
    problem = assert_problem(await client.get(path, headers=AUTH), 400, pointer)
    assert "control character" in problem["detail"]
    assert problem["instance"] == path


async def test_a_bad_id_without_a_token_is_still_401(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/agents/%FF"), 401)


async def test_two_authorization_headers_are_refused_at_the_header(
    client: httpx.AsyncClient,
) -> None:
    """Was let through on the first (right) token, whatever the second said."""
    headers = [("Authorization", "Bearer t"), ("Authorization", "Bearer wrong")]
    assert_problem(await client.get("/v1/agents", headers=headers), 400, "/header/authorization")


async def test_a_read_redis_does_not_answer_says_nothing_could_be_read(
    client: httpx.AsyncClient,
) -> None:
    """Was "...: nothing was written; retry later", as if the GET had been a write."""
    resp = await client.get("/v1/agents/a-1", headers=AUTH)
    problem = assert_problem(resp, 503)
    assert "nothing could be read" in problem["detail"]
    assert "written" not in problem["detail"]
    assert resp.headers["retry-after"]


async def test_read_routes_are_counted_under_their_openapi_template(
    client: httpx.AsyncClient,
) -> None:
    """Was ``route="/v1/tickets/{ticket_id:path}"``, Starlette's converter syntax."""
    await client.get("/v1/tickets/T-%00", headers=AUTH)
    await client.get("/v1/agents/a%FF", headers=AUTH)
    metrics = (await client.get("/metrics")).text
    assert 'route="/v1/tickets/{ticket_id}",status="400"' in metrics
    assert 'route="/v1/agents/{agent_id}",status="400"' in metrics
    assert ":path}" not in metrics
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {"/v1/tickets/{ticket_id}", "/v1/agents/{agent_id}"} <= paths.keys()
