"""What the OpenAPI document and ``/metrics`` say matches what the ingress does: the
limits of a list of actions, which answers carry ``errors``, the web form's ``category``
limit, and the route of every request that a route serves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from channels.actions import MAX_ACTIONS
from router.settings import Settings
from tests.problems import assert_problem
from tests.unit.channels.support import Remembering, ingress_client

pytestmark = pytest.mark.unit


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with ingress_client(Settings(api_tokens=SecretStr("t")), Remembering()) as c:
        yield c


async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    resp = await client.get("/openapi.json")
    assert resp.status_code == 200
    found: dict[str, Any] = resp.json()
    return found


async def test_a_list_of_actions_is_declared_with_the_lengths_the_server_takes(
    client: httpx.AsyncClient,
) -> None:
    """Was an array of any length, while ``[]`` and 501 items are 400."""
    content = (await document(client))["paths"]["/v1/actions"]["post"]["requestBody"]["content"]
    lists = [
        next(s for s in content["application/json"]["schema"]["oneOf"] if s.get("type") == "array"),
        content["application/cloudevents-batch+json"]["schema"],
    ]
    for schema in lists:
        assert (schema["minItems"], schema["maxItems"]) == (1, MAX_ACTIONS)
    auth = {"authorization": "Bearer t"}
    assert_problem(await client.post("/v1/actions", json=[], headers=auth), 400)
    too_many = [{"type": "ticket.resolved", "data": {"ticket_id": "T-1"}}] * (MAX_ACTIONS + 1)
    assert_problem(await client.post("/v1/actions", json=too_many, headers=auth), 400)


async def test_errors_is_not_declared_as_a_400_only_member(client: httpx.AsyncClient) -> None:
    """A 404 (unknown tickets), 409 and 413 carry ``errors`` too."""
    answers = (await document(client))["paths"]["/v1/actions"]["post"]["responses"]
    schema = answers["404"]["content"]["application/problem+json"]["schema"]
    described = schema["properties"]["errors"]["description"]
    assert "400 only" not in described
    assert all(status in described for status in ("404", "409", "413"))


async def test_the_category_limit_is_declared_on_what_is_left_of_it(
    client: httpx.AsyncClient,
) -> None:
    """Control characters are removed from every text field before its limit judges it
    (as for ``name``, ``subject``, ``message``): the document says so."""
    paths = (await document(client))["paths"]
    schema = paths["/v1/channels/webform"]["post"]["requestBody"]["content"]["application/json"]
    category = schema["schema"]["properties"]["category"]
    assert "control characters" in category["description"]
    sent = {"email": "a@example.com", "message": "hi", "category": "b\x00" * 60}
    assert (await client.post("/v1/channels/webform", json=sent)).status_code == 202
    sent["category"] = "b" * 101
    assert_problem(await client.post("/v1/channels/webform", json=sent), 400, "/category")


async def test_framework_routes_are_counted_under_their_path(client: httpx.AsyncClient) -> None:
    """``/openapi.json`` and ``/docs`` were counted as ``route="unmatched"``."""
    await client.get("/openapi.json")
    await client.get("/docs")
    await client.get("/v1/nothing")
    metrics = (await client.get("/metrics")).text
    assert 'route="/openapi.json",status="200"' in metrics
    assert 'route="/docs",status="200"' in metrics
    assert 'route="unmatched",status="404"' in metrics
    assert 'route="unmatched",status="200"' not in metrics
