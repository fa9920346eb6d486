"""Methods as RFC 9110 has them: a 405's ``Allow`` names every method the path serves
(some paths have several routes), every GET endpoint answers HEAD, and the 415 for a
body the endpoints cannot read comes only after routing (404 and 405 first)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from pydantic import SecretStr

from channels.problems import install_http_errors
from router.app import web
from router.health import ops_app
from router.observability import Telemetry
from router.settings import Settings
from tests.component.channels.support import assert_problem

pytestmark = pytest.mark.component

HANDSHAKE = "/v1/channels/messenger?hub.mode=subscribe&hub.verify_token=tok&hub.challenge=42"
UTF16 = {"content-type": "application/json; charset=utf-16"}
GZIP = {"content-type": "application/json", "content-encoding": "gzip"}


@asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Telemetry]]:
    """The ingress (read API included) over ASGI, and the telemetry it counts requests in."""
    telemetry = Telemetry()
    local = settings.model_copy(
        update={"meta_verify_token": SecretStr("tok"), "api_tokens": SecretStr("t")}
    )
    async with web.ingress(local, telemetry) as ing:
        transport = httpx.ASGITransport(app=ing.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingress") as client:
            yield client, telemetry


def counted(telemetry: Telemetry, route: str, status: int) -> float:
    text = telemetry.render().decode()
    labels = rf'route="{re.escape(route)}",status="{status}"'
    pattern = rf"^switchboard_http_requests_total\{{{labels}\}} (\S+)$"
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def test_allow_names_the_methods_of_every_route_on_the_path(settings: Settings) -> None:
    """Messenger's path has a GET route (the handshake) and a POST route (deliveries)."""
    async with served(settings) as (client, _):
        for method in ("PUT", "DELETE", "PATCH"):
            resp = await client.request(method, "/v1/channels/messenger")
            problem = assert_problem(resp, 405)
            assert resp.headers["allow"] == "GET, HEAD, POST"
            assert problem["detail"].endswith("; use GET, HEAD, POST")
        post_only = await client.put("/v1/channels/webform")
        assert assert_problem(post_only, 405)
        assert post_only.headers["allow"] == "POST"
        health = await client.post("/healthz")
        assert_problem(health, 405)
        assert health.headers["allow"] == "GET, HEAD"


async def test_the_messenger_handshake_answers_head_as_get(settings: Settings) -> None:
    async with served(settings) as (client, _):
        got = await client.get(HANDSHAKE)
        head = await client.head(HANDSHAKE)
        assert (got.status_code, got.text) == (200, "42")
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]
        assert head.headers["content-length"] == got.headers["content-length"]
        refused = await client.head(HANDSHAKE.replace("tok", "wrong"))
        assert refused.status_code == 403


async def test_every_get_endpoint_answers_head_and_its_405_names_head(
    settings: Settings,
) -> None:
    async with served(settings) as (client, _):
        doc = (await client.get("/openapi.json")).json()
        paths = [p for p, ops in doc["paths"].items() if "get" in ops]
        assert "/v1/channels/messenger" in paths
        assert "/v1/queues" in paths
        for template in [*paths, "/openapi.json", "/docs"]:
            path = re.sub(r"\{[^}]+\}", "x", template)
            got = await client.get(path)
            head = await client.head(path)
            assert head.status_code == got.status_code != 405, (path, head.status_code)
            assert head.content == b"", path
            refused = await client.delete(path)
            assert refused.status_code == 405, path
            assert "GET, HEAD" in refused.headers["allow"], (path, refused.headers["allow"])


async def test_the_ops_app_answers_head_and_names_it_in_allow() -> None:
    app = ops_app(Telemetry(), dict)
    install_http_errors(app)  # as the roles serve it
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ops") as client:
        for path in ("/healthz", "/readyz", "/metrics"):
            got = await client.get(path)
            head = await client.head(path)
            assert (head.status_code, got.status_code) == (200, 200), path
            assert head.content == b""
            assert head.headers["content-type"] == got.headers["content-type"]
            refused = await client.post(path)
            assert refused.status_code == 405
            assert refused.headers["allow"] == "GET, HEAD", path


@pytest.mark.parametrize("cors", [False, True], ids=["hot-paths", "cors"])
async def test_a_415_comes_only_for_a_request_a_route_serves(
    settings: Settings, cors: bool
) -> None:
    """With CORS origins the hot paths are served through the middleware stack: both ways."""
    local = settings.model_copy(update={"cors_origins": "https://shop.example"} if cors else {})
    async with served(local) as (client, telemetry):
        for headers in (UTF16, GZIP):
            assert_problem(await client.post("/v1/channels/nowhere", headers=headers), 404)
            assert_problem(await client.put("/v1/channels/webform", headers=headers), 405)
            assert_problem(await client.post("/healthz", headers=headers), 405)
            for path in ("/v1/channels/webform", "/v1/channels/chat"):
                assert_problem(await client.post(path, content=b"{}", headers=headers), 415)
        assert counted(telemetry, "unmatched", 415) == 0
        assert counted(telemetry, "unmatched", 404) == 2
        assert counted(telemetry, "/v1/channels/webform", 405) == 2
        assert counted(telemetry, "/v1/channels/webform", 415) == 2
        assert counted(telemetry, "/v1/channels/chat", 415) == 2
