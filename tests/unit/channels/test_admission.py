"""Past the work it can take on, the ingress answers at once, 503 with Retry-After and
nothing read or written, instead of taking every request of a burst in and answering each
after the client's own timeout; the probes are never held back."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest
from starlette.types import Receive, Scope, Send

from channels.admission import MIN_COST, SHED_MIN, Admission, Gate

pytestmark = pytest.mark.unit


class Slow:
    """An app whose web forms are worked on until ``done`` is set."""

    def __init__(self) -> None:
        self.done = asyncio.Event()
        self.started = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        del receive  # the body is not read here
        self.started += 1
        if scope["path"] == "/v1/channels/webform":
            await self.done.wait()
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


def client(app: Slow, gate: Gate) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=Admission(app, gate))
    return httpx.AsyncClient(transport=transport, base_url="http://ingress")


async def test_past_its_work_in_flight_a_request_is_answered_503() -> None:
    app, gate = Slow(), Gate(budget=2 * MIN_COST, wait_s=0.2, shed_after_s=30, retry_after_s=5)
    async with client(app, gate) as http:
        held = [asyncio.create_task(http.post("/v1/channels/webform", json={})) for _ in range(2)]
        await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        began = loop.time()
        refused = await http.post("/v1/channels/webform", json={})  # waits its 0.2 s
        assert 0.15 < loop.time() - began < 2
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "5"
        assert refused.headers["content-type"] == "application/problem+json"
        assert orjson.loads(refused.content)["type"].endswith("/overloaded")
        assert app.started == 2  # the refused one never reached the app

        assert (await http.get("/healthz")).status_code == 202  # never held back

        app.done.set()
        assert [r.status_code for r in await asyncio.gather(*held)] == [202, 202]
        assert (await http.post("/v1/channels/webform", json={})).status_code == 202


async def test_a_request_waiting_for_room_goes_on_when_it_frees() -> None:
    app, gate = Slow(), Gate(budget=MIN_COST, wait_s=5, shed_after_s=30, retry_after_s=5)
    async with client(app, gate) as http:
        first = asyncio.create_task(http.post("/v1/channels/webform", json={}))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(http.get("/v1/queues"))
        await asyncio.sleep(0.05)
        assert app.started == 1
        app.done.set()
        assert (await first).status_code == 202
        assert (await second).status_code == 202


async def test_a_large_body_counts_for_more_of_the_work() -> None:
    gate = Gate(budget=64 * MIN_COST, wait_s=0.05, shed_after_s=30, retry_after_s=5)
    big = gate.cost(10 * 1024 * 1024)  # a 10 MiB email: a quarter of the budget at most
    assert big == 16 * MIN_COST
    assert gate.cost(300) == MIN_COST  # a web form
    tickets = [await gate.enter(big) for _ in range(4)]
    assert None not in tickets
    assert await gate.enter(MIN_COST) is None  # no room left: refused after its wait
    gate.leave(tickets[0])  # type: ignore[arg-type]
    assert await gate.enter(MIN_COST) is not None


async def test_a_waiting_request_that_is_cancelled_gives_its_room_back() -> None:
    gate = Gate(budget=MIN_COST, wait_s=5, shed_after_s=30, retry_after_s=5)
    first = await gate.enter(MIN_COST)
    assert first is not None
    waiting = asyncio.create_task(gate.enter(MIN_COST))
    await asyncio.sleep(0.05)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    gate.leave(first)
    assert await gate.enter(MIN_COST) is not None  # nothing leaked


async def test_falling_behind_refuses_new_work_at_once() -> None:
    gate = Gate(budget=1024 * MIN_COST, wait_s=5, shed_after_s=0.05, retry_after_s=5)
    held = [await gate.enter(MIN_COST) for _ in range(SHED_MIN)]
    assert None not in held
    await asyncio.sleep(0.1)  # the oldest is overdue: the broker stopped answering, say
    loop = asyncio.get_running_loop()
    began = loop.time()
    assert await gate.enter(MIN_COST) is None
    assert loop.time() - began < 0.05
