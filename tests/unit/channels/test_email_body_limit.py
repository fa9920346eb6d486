"""A body over ``SWITCHBOARD_MAX_BODY_BYTES`` is 413 with ``errors`` pointing at the whole
body (``""``), as every other 413 points at what is too large, on the email endpoint and
on every endpoint that shares its limit. Served over ASGI with nothing behind it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from router.settings import Settings
from tests.endpoints import POST_ENDPOINTS
from tests.unit.channels.support import ingress_client

pytestmark = pytest.mark.unit

LIMIT = 1024


async def no_owners(ticket_ids: list[str]) -> list[str | None]:
    return [None for _ in ticket_ids]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(api_tokens=SecretStr("t"), max_body_bytes=LIMIT)
    # no publisher: nothing is published past a 413
    async with ingress_client(settings, None, no_owners, raise_app_exceptions=False) as c:
        yield c


async def streamed(total: int) -> AsyncIterator[bytes]:
    for _ in range(total // 512):
        yield b"x" * 512


@pytest.mark.parametrize(("path", "ctype"), POST_ENDPOINTS.items(), ids=list(POST_ENDPOINTS))
@pytest.mark.parametrize("how", ["declared", "streamed"])
async def test_a_body_over_the_limit_is_413_pointing_at_the_body(
    client: httpx.AsyncClient, path: str, ctype: str, how: str
) -> None:
    content = b"x" * (LIMIT + 1) if how == "declared" else streamed(LIMIT * 4)
    headers = {"Authorization": "Bearer t", "content-type": ctype}
    resp = await client.post(path, content=content, headers=headers)
    assert resp.status_code == 413, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    problem = resp.json()
    assert problem["type"].endswith("/payload-too-large")
    assert problem["errors"] == [{"pointer": "", "detail": f"more than {LIMIT} bytes"}]
