"""``SWITCHBOARD_PROBE_PORT``: the probes and ``/metrics`` on a port of their own, answered
while the traffic port is at its connection cap (where they would get its 503, and a
kubelet would restart a process that is only busy)."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import httpx
import pytest

from router.app import roles
from router.app.embedded import free_port
from router.app.web import bind_probes
from router.errors import ConfigError
from router.settings import Settings
from tests.component.channels.test_malformed_http import exchange

pytestmark = pytest.mark.component


async def test_the_probe_port_answers_while_the_traffic_port_is_at_its_cap(
    settings: Settings,
) -> None:
    local = settings.model_copy(
        update={"http_port": free_port(), "probe_port": free_port(), "http_max_connections": 2}
    )
    stop = asyncio.Event()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(roles.run_roles(local, {"ingress"}, stop, on_ready=ready.set_result))
    await asyncio.wait_for(ready, 20)
    try:
        async with contextlib.AsyncExitStack() as held:
            for _ in range(2):  # each sends the start of a request: busy, never idle
                _, writer = await asyncio.open_connection("127.0.0.1", local.http_port)
                held.push_async_callback(writer.wait_closed)
                held.callback(writer.close)
                writer.write(b"POST /v1/channels/webform HTTP/1.1\r\nHost: ingress\r\n")
            await asyncio.sleep(0.3)
            status, _, body = await exchange(
                local.http_port, b"GET /readyz HTTP/1.1\r\nHost: ingress\r\n\r\n"
            )
            assert status == 503
            assert b"too many open connections" in body

            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{local.probe_port}") as c:
                assert (await c.get("/healthz")).status_code == 200
                readiness = (await c.get("/readyz")).json()
                assert {"kafka", "redis"} <= set(readiness["checks"])
                assert "switchboard_http_requests_total" in (await c.get("/metrics")).text
                # only the probes: the ingress's endpoints are on the traffic port
                assert (await c.post("/v1/channels/webform", json={})).status_code == 404
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def test_a_probe_port_in_use_is_one_line_naming_the_setting() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError) as caught:
            bind_probes(Settings(probe_port=port))
    assert caught.value.setting == "SWITCHBOARD_PROBE_PORT"
    assert f"127.0.0.1:{port}" in str(caught.value)


def test_without_the_setting_there_is_no_probe_port() -> None:
    assert bind_probes(Settings()) is None
