"""A cursor the read API did not make is 400 at ``/query/cursor``, even one that decodes
to the right field names: ``{"o": true}`` is no position (a bool passed for an int)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from pydantic import SecretStr

from router.settings import Settings
from tests.component.channels.support import assert_problem, client_for
from tests.component.pipeline.conftest import RULES

pytestmark = pytest.mark.component

AUTH = {"Authorization": "Bearer read-token"}


def forged(position: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(position)).decode().rstrip("=")


@pytest.fixture
async def http(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    update = {"rules_path": RULES, "api_tokens": SecretStr("read-token")}
    async with client_for(settings.model_copy(update=update)) as client:
        yield client


@pytest.mark.parametrize(
    ("url", "position"),
    [
        ("/v1/customers/C-0123456789abcdef/tickets", {"o": True}),
        ("/v1/customers/C-0123456789abcdef/tickets", {"o": False}),
        ("/v1/customers/C-0123456789abcdef/tickets", {"o": 1.0}),
        ("/v1/queues/billing/waiting", {"s": 1.5, "m": "T-1", "p": True}),
    ],
)
async def test_a_forged_cursor_is_400(http: httpx.AsyncClient, url: str, position: object) -> None:
    assert forged({"o": True}) == "eyJvIjp0cnVlfQ"  # the audit's cursor
    resp = await http.get(url, params={"cursor": forged(position)}, headers=AUTH)
    assert_problem(resp, 400, "/query/cursor")
