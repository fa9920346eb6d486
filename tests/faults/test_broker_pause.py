"""The broker freezes under a steady load of web forms: every request is answered within
the request timeout (plus a second), each failure says whether anything may have been
written, and clients that retry with the same Idempotency-Key end with exactly one event
id per request on the inbound topic: none lost, none extra."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from channels.publish import PENDING
from router.keys import Keys
from router.topics import Topic
from tests.conftest import read_topic, values
from tests.faults.harness import ChildServer, Deployment, RoleProcess, Scale, wait_until

pytestmark = pytest.mark.faults

PROBLEM = "application/problem+json"
FAILURE_TYPES = ("/backend-unavailable", "/outcome-unknown")


@dataclass
class Request:
    """One distinct web form and every answer it got, first attempt and retries."""

    key: str
    body: dict[str, str]
    answers: list[tuple[int | None, float, httpx.Headers | None, Any]] = field(default_factory=list)

    @property
    def accepted_id(self) -> str | None:
        for status, _, _, body in self.answers:
            if status == 202:
                return str(body["id"])
        return None


async def post(http: httpx.AsyncClient, request: Request) -> int | None:
    started = time.monotonic()
    try:
        resp = await http.post(
            "/v1/channels/webform", json=request.body, headers={"Idempotency-Key": request.key}
        )
    except httpx.TimeoutException:
        request.answers.append((None, time.monotonic() - started, None, "no answer"))
        return None
    took = time.monotonic() - started
    body: Any = resp.json() if resp.headers.get("content-type", "").endswith("json") else resp.text
    request.answers.append((resp.status_code, took, resp.headers, body))
    return resp.status_code


def form(n: int) -> dict[str, str]:
    return {"email": f"load{n}@example.com", "subject": f"order {n}", "message": f"hello {n}"}


async def start_ingress(deployment: Deployment, timeout_ms: int) -> RoleProcess:
    ingress = deployment.spawn(
        "ingress", env={"SWITCHBOARD_KAFKA_REQUEST_TIMEOUT_MS": str(timeout_ms)}
    )
    await ingress.wait_ready()
    return ingress


@pytest.mark.slow
async def test_paused_broker_answers_in_time_and_retries_lose_and_double_nothing(
    deployment: Deployment, broker: ChildServer, scale: Scale
) -> None:
    timeout_ms = scale.pick(3000, 10_000)
    pause_s = scale.pick(6.0, 15.0)
    clients = scale.pick(4, 16)
    budget_s = timeout_ms / 1000 + 1.0
    ingress = await start_ingress(deployment, timeout_ms)

    requests: list[Request] = []
    accepted_after_resume = 0
    resumed = asyncio.Event()
    stop_load = asyncio.Event()

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal accepted_after_resume
        while not stop_load.is_set():
            n = len(requests)
            request = Request(f"pause-{n}", form(n))
            requests.append(request)
            status = await post(http, request)
            if status == 202 and resumed.is_set():
                accepted_after_resume += 1
            await asyncio.sleep(0.05)

    async with httpx.AsyncClient(base_url=ingress.url, timeout=budget_s + 5) as http:
        load = [asyncio.create_task(client(http)) for _ in range(clients)]
        try:

            async def warmed_up() -> bool:
                return sum(1 for r in requests if r.answers and r.answers[0][0] == 202) >= clients

            await wait_until(warmed_up, 20, "steady load before the pause")
            broker.pause()
            await asyncio.sleep(pause_s)  # the fault's length, not a wait for a condition
            broker.resume()
            resumed.set()

            async def recovered() -> bool:
                return accepted_after_resume >= clients

            await wait_until(recovered, 30, "requests accepted again after the resume")
        finally:
            stop_load.set()
            await asyncio.gather(*load, return_exceptions=True)

        failed = [r for r in requests if r.answers[0][0] != 202]
        assert failed, "the pause must have hit some requests for this test to mean much"
        for request in failed:
            status, _, headers, body = request.answers[0]
            assert status == 503, (request.key, status, body)
            assert headers is not None
            assert headers["content-type"] == PROBLEM, body
            assert headers.get("retry-after", "").isdigit(), headers
            assert str(body["type"]).endswith(FAILURE_TYPES), body
            assert body["status"] == 503, body

        # Each client retries what failed, with the same body and the same key.
        for request in failed:
            deadline = time.monotonic() + 30
            while await post(http, request) != 202:
                assert time.monotonic() < deadline, (request.key, request.answers[-1])
                await asyncio.sleep(0.2)

    answers = [(r.key, a[0], round(a[1], 2)) for r in requests for a in r.answers]
    slow = [a for a in answers if a[1] is None or a[2] > budget_s]
    assert not slow, f"answered later than {budget_s}s (or not at all): {slow}"

    ids = {r.key: r.accepted_id for r in requests}
    assert None not in ids.values()
    assert len(set(ids.values())) == len(requests), "one event id per distinct request"
    kinds = Counter(str(r.answers[0][3]["type"]).rsplit("/", 1)[-1] for r in failed)
    records = values(
        await read_topic(
            deployment.settings(), Topic.INBOUND, expect=len(requests), timeout=30, settle=1.0
        )
    )
    # A record the broker took after an outcome-unknown answer, and taken again for the
    # retry, is there twice under one id, which consumers drop: what counts is the ids.
    on_topic = Counter(str(r["id"]) for r in records)
    lost = set(ids.values()) - set(on_topic)
    stray = set(on_topic) - set(ids.values())
    assert not lost, f"{len(lost)} accepted requests missing from the topic ({kinds})"
    assert not stray, f"{len(stray)} events on the topic that no request was told about"
    assert len(on_topic) == len(requests)


async def test_a_retry_without_a_key_of_the_same_form_is_a_duplicate(
    deployment: Deployment,
) -> None:
    ingress = await start_ingress(deployment, 3000)
    body = {"email": "ann@example.com", "subject": "Refund", "message": "my invoice is wrong"}
    async with httpx.AsyncClient(base_url=ingress.url, timeout=10) as http:
        first = await http.post("/v1/channels/webform", json=body)
        assert first.status_code == 202, first.text
        assert first.json()["duplicate"] is False
        again = await http.post("/v1/channels/webform", json=body)
        assert again.status_code == 202, again.text
        assert again.json() == {"id": first.json()["id"], "duplicate": True}
        other = await http.post("/v1/channels/webform", json={**body, "message": "and another"})
        assert other.status_code == 202, other.text
        assert other.json()["id"] != first.json()["id"]
    records = values(await read_topic(deployment.settings(), Topic.INBOUND, expect=2, settle=1.0))
    assert Counter(r["id"] for r in records) == {first.json()["id"]: 1, other.json()["id"]: 1}


@asynccontextmanager
async def requests_stuck_on_a_hung_broker(
    deployment: Deployment, broker: ChildServer, count: int
) -> AsyncIterator[tuple[RoleProcess, list[asyncio.Task[int | None]]]]:
    """An ingress with the default produce deadline, and ``count`` web forms in flight to
    a broker frozen under them; the broker thaws at the end of the block."""
    ingress = await start_ingress(deployment, 10_000)
    async with httpx.AsyncClient(base_url=ingress.url, timeout=60) as http:
        assert (await post(http, Request("warm", form(0)))) == 202
        broker.pause()
        try:
            caught = [Request(f"caught-{n}", form(n)) for n in range(1, count + 1)]
            in_flight = [asyncio.create_task(post(http, r)) for r in caught]
            await claimed(deployment, count)
            await asyncio.sleep(0.5)  # and waiting on the broker
            yield ingress, in_flight
        finally:
            broker.resume()


async def claimed(deployment: Deployment, count: int) -> None:
    """Until the ingress holds ``count`` pending claims: every request is past its
    reading and in the app. A request still unread when the stop comes has its idle
    connection closed (as uvicorn does), which is no answer at its deadline; on a loaded
    machine a fixed wait had let one through."""
    redis = Redis.from_url(deployment.redis_url)
    pattern = Keys(deployment.prefix).ingress_seen("*")

    async def pending() -> bool:
        keys = [key async for key in redis.scan_iter(match=pattern)]
        held = await redis.mget(keys) if keys else []
        return sum(1 for value in held if value and bytes(value).startswith(PENDING)) >= count

    try:
        await wait_until(pending, 30, f"{count} requests claimed by the ingress")
    finally:
        await redis.aclose()


async def connecting(pid: int, within_s: float = 30.0) -> None:
    """Until the process has a socket open (it is past its imports, which a loaded
    machine can take seconds over, and connecting to the broker)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if _has_socket(pid):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"process {pid} opened no socket within {within_s:.0f} s")


def _has_socket(pid: int) -> bool:
    with contextlib.suppress(OSError):
        fds = Path(f"/proc/{pid}/fd").iterdir()
        return any(os.readlink(fd).startswith("socket:") for fd in fds)
    return False


async def stopped_by_sigterm(role: RoleProcess) -> tuple[int | None, float]:
    """SIGTERM, then the exit code and how long after the signal it came."""
    started = time.monotonic()
    role.proc.send_signal(signal.SIGTERM)
    code = await role.wait_exit(60)
    return code, time.monotonic() - started


@pytest.mark.slow
async def test_an_ingress_stops_within_its_grace_period_while_the_broker_hangs(
    deployment: Deployment, broker: ChildServer
) -> None:
    """SIGTERM with the broker frozen and a request in flight: the request is answered
    (503) at its produce deadline, then the producer's close and the topic watch's last
    refresh are bounded. They were not: the ingress took about 34 s to exit, past a
    Kubernetes grace period of 30 s (25 s after the preStop sleep)."""
    async with requests_stuck_on_a_hung_broker(deployment, broker, 20) as (ingress, in_flight):
        code, took = await stopped_by_sigterm(ingress)
        assert set(await asyncio.gather(*in_flight)) == {503}
    assert code == 0, ingress.describe()
    # the produce deadline, then the producer's close (5 s) and the watch's refresh (1 s)
    assert took < 10 + 5 + 1 + 3, f"stopped after {took:.1f} s"


@pytest.mark.slow
async def test_a_second_sigterm_stops_the_ingress_at_once(
    deployment: Deployment, broker: ChildServer
) -> None:
    """The first SIGTERM drains (requests in flight wait for their produce deadline); a
    second one stops now, as the CLI says. It had been ignored until the drain ended."""
    async with requests_stuck_on_a_hung_broker(deployment, broker, 5) as (ingress, in_flight):
        ingress.proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(1.0)
        code, took = await stopped_by_sigterm(ingress)
        await asyncio.gather(*in_flight, return_exceptions=True)
    assert code == 130, ingress.describe()  # interrupted, as the CLI says
    assert "Traceback" not in ingress.stderr_text()
    assert took < 7, f"stopped {took:.1f} s after the second SIGTERM"


async def test_a_sigterm_while_a_role_checks_a_hung_broker_stops_it_cleanly(
    deployment: Deployment, broker: ChildServer
) -> None:
    """A pod terminated while its role still checks the broker: it stops at once, exit
    0, no ``startup_failed``. It had waited out the check and reported a start-up
    failure (exit 2) for a stop that was asked for."""
    broker.pause()
    try:
        role = deployment.spawn("metrics")
        await connecting(role.proc.pid)  # started, checking the broker that does not answer
        await asyncio.sleep(0.5)
        code, took = await stopped_by_sigterm(role)
    finally:
        broker.resume()
    assert code == 0, role.describe()
    assert not [line for line in role.log_lines() if line.get("event") == "startup_failed"]
    # "at once", on a busy machine: the check it had waited out takes its connect timeout
    # (10 s by default), of which at most about a second has passed here
    assert took < 5, f"stopped {took:.1f} s after SIGTERM"
