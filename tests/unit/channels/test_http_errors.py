"""Answers the endpoints never shape themselves (unknown path, wrong method, a crash) are
problem+json too. The app is served over ASGI with nothing behind it: no broker needed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from router.settings import Settings
from tests.problems import assert_problem
from tests.unit.channels.support import ingress_client

pytestmark = pytest.mark.unit


async def broken_lookup(ticket_ids: list[str]) -> list[str | None]:
    raise RuntimeError(f"bug while looking up {ticket_ids}")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(api_tokens=SecretStr("t"))
    async with ingress_client(settings, None, broken_lookup, raise_app_exceptions=False) as c:
        yield c


async def test_unknown_path_is_a_404_problem(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/v1/channels/fax"), 404)
    assert body["detail"] == "nothing is served at /v1/channels/fax"
    assert body["title"] == "Not found"


@pytest.mark.parametrize(
    "path", ["/v1/channels/sms/", "/v1/channels/webform/", "/v1/channels/voice/", "/v1/actions/"]
)
async def test_a_trailing_slash_is_a_404_problem_never_a_redirect(
    client: httpx.AsyncClient, path: str
) -> None:
    """A redirect would name the internal address (http://, the proxy's upstream)."""
    resp = await client.post(path, content=b"{}", headers={"content-type": "application/json"})
    body = assert_problem(resp, 404)
    assert "location" not in resp.headers
    assert body["detail"] == f"nothing is served at {path}"


async def test_wrong_method_is_a_405_problem_naming_the_allowed_ones(
    client: httpx.AsyncClient,
) -> None:
    resp = await client.get("/v1/actions")
    body = assert_problem(resp, 405)
    assert resp.headers["allow"] == "POST"
    assert body["detail"] == "GET is not allowed on /v1/actions; use POST"
    assert_problem(await client.delete("/healthz"), 405)
    assert (await client.head("/healthz")).status_code == 200  # uptime checks probe so


async def test_head_on_metrics_answers_as_get_without_the_body(
    client: httpx.AsyncClient,
) -> None:
    """RFC 9110, 9.1: a server that answers GET answers HEAD."""
    resp = await client.head("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert int(resp.headers["content-length"]) > 0
    assert resp.content == b""


@pytest.mark.parametrize(
    ("path", "instance"),
    [
        ("/v1/tickets/..%2F..%2Fetc%2Fpasswd", "/v1/tickets/..%2F..%2Fetc%2Fpasswd"),
        ("/v1/tickets/a%00b?x=%00", "/v1/tickets/a%00b"),
        ("/v1/channels/fax%FF", "/v1/channels/fax%FF"),
    ],
)
async def test_a_problem_names_the_path_as_the_client_sent_it(
    client: httpx.AsyncClient, path: str, instance: str
) -> None:
    """``instance`` is a URI reference (RFC 9457, 3.1.5): decoded, ``%2F`` would name
    another resource and ``%00`` a NUL no URI holds."""
    body = assert_problem(await client.get(path), 404)
    assert body["instance"] == instance
    assert body["detail"] == f"nothing is served at {instance}"
    answered = await client.post(
        path, content=b"{}", headers={"content-type": "application/json; charset=utf-16"}
    )
    assert assert_problem(answered, 404)["instance"] == instance  # unknown: 404 before its 415


async def test_an_unexpected_error_is_a_500_problem_that_tells_nothing_inside(
    client: httpx.AsyncClient,
) -> None:
    action = {"type": "ticket.resolved", "data": {"ticket_id": "T-1"}}
    resp = await client.post("/v1/actions", json=action, headers={"Authorization": "Bearer t"})
    body = assert_problem(resp, 500)
    assert "T-1" not in str(body)
    assert "RuntimeError" not in str(body)
