"""The ingress at concurrency 32 next to the baseline app (``baseline``), in one run,
and the latency of each at a steady offered load (``RATE_PER_S``).

Each server runs alone in its own process (the ingress as ``switchboard run --role
ingress``), with nothing consuming what they produce. The load is a minimal HTTP/1.1
client on keep-alive connections, far cheaper per request than httpx, so that on a small
machine the client is less of a limit than the servers it compares.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from router.app.bench.processes import RoleProcesses
from router.app.embedded import free_port
from router.settings import Settings

CONCURRENCY = 32
RATE_PER_S = 200
RATE_SECONDS = 5.0


@dataclass(frozen=True)
class HttpRate:
    """``ok`` 2xx answers of ``requests`` in ``seconds``; latency of each answer, ms."""

    requests: int
    ok: int
    seconds: float
    latencies_ms: list[float]

    @property
    def per_s(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Channel:
    """One kind of request: where it goes, its media type and how its bodies look."""

    name: str
    path: str
    media_type: bytes
    bodies: Callable[[int, str], list[bytes]]


@dataclass(frozen=True)
class IngressRates:
    """Per channel: the ingress and the baseline app, the same requests to each, at
    concurrency 32 and (``*_at_rate``) at the steady ``RATE_PER_S``."""

    ingress: dict[str, HttpRate]
    baseline: dict[str, HttpRate]
    ingress_at_rate: dict[str, HttpRate] = field(default_factory=dict)
    baseline_at_rate: dict[str, HttpRate] = field(default_factory=dict)

    def ratio(self, channel: str) -> float:
        base = self.baseline[channel].per_s
        return self.ingress[channel].per_s / base if base else 0.0


def webform_bodies(n: int, tag: str) -> list[bytes]:
    """Every body different: no dedupe shortcut, each is produced and acked."""
    return [
        orjson.dumps({"email": f"{tag}{i}@example.com", "message": f"hello from {tag} {i}"})
        for i in range(n)
    ]


def email_bodies(n: int, tag: str) -> list[bytes]:
    """Short plain-text emails, each with a Message-ID of its own."""
    return [
        (
            f"From: Customer {i} <{tag}{i}@example.com>\r\n"
            "To: support@example.com\r\n"
            f"Subject: Order {i} has not arrived\r\n"
            f"Message-ID: <{tag}{i}@bench.example.com>\r\n"
            "Date: Fri, 04 Dec 2026 10:00:00 +0000\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Hello, my order {i} has not arrived yet. Could you look into it?\r\n"
        ).encode()
        for i in range(n)
    ]


CHANNELS = (
    Channel("webform", "/v1/channels/webform", b"application/json", webform_bodies),
    Channel("email", "/v1/channels/email", b"message/rfc822", email_bodies),
)


async def measure_ingress(
    settings: Settings, roles: RoleProcesses, requests: int, say: Callable[[str], None]
) -> IngressRates:
    """The baseline, then the ingress, each alone, each given the same requests."""
    closed: list[dict[str, HttpRate]] = []
    steady: list[dict[str, HttpRate]] = []
    for which in ("baseline", "ingress"):
        say(
            f"      {which}: {requests} POSTs per channel at concurrency {CONCURRENCY}, "
            f"then {RATE_PER_S}/s for {RATE_SECONDS:.0f} s ..."
        )
        rates, at_rate = await _one_server(settings, roles, which, requests)
        closed.append(rates)
        steady.append(at_rate)
    return IngressRates(
        ingress=closed[1], baseline=closed[0], ingress_at_rate=steady[1], baseline_at_rate=steady[0]
    )


async def _one_server(
    settings: Settings, roles: RoleProcesses, which: str, requests: int
) -> tuple[dict[str, HttpRate], dict[str, HttpRate]]:
    port = free_port()
    module = "router.app.bench.baseline" if which == "baseline" else None
    roles.spawn(settings, which, port, module=module)
    rates, at_rate = {}, {}
    try:
        await roles.wait_ready()
        for ch in CHANNELS:
            warm = ch.bodies(CONCURRENCY * 2, f"warm-{which}-")
            await http_load(port, warm, CONCURRENCY, ch.path, ch.media_type)
            bodies = ch.bodies(requests, f"load-{which}-")
            rates[ch.name] = await http_load(port, bodies, CONCURRENCY, ch.path, ch.media_type)
            steady = ch.bodies(int(RATE_PER_S * RATE_SECONDS), f"rate-{which}-")
            at_rate[ch.name] = await http_at_rate(port, steady, RATE_PER_S, ch.path, ch.media_type)
    finally:
        roles.stop()
    return rates, at_rate


async def http_load(
    port: int, bodies: list[bytes], concurrency: int, path: str, media_type: bytes
) -> HttpRate:
    """POST every body to ``path``, ``concurrency`` at a time, each connection kept alive."""
    todo = iter(bodies)
    latencies: list[float] = []
    ok = 0

    async def worker() -> None:
        nonlocal ok
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            for body in todo:
                if conn is None:
                    conn = await asyncio.open_connection("127.0.0.1", port)
                started = time.perf_counter()
                status, keep = await _post(*conn, path.encode(), media_type, body)
                latencies.append((time.perf_counter() - started) * 1000)
                ok += 200 <= status < 300
                if not keep:
                    conn[1].close()
                    conn = None
        finally:
            if conn is not None:
                conn[1].close()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return HttpRate(len(bodies), ok, time.perf_counter() - began, latencies)


async def http_at_rate(
    port: int, bodies: list[bytes], per_s: float, path: str, media_type: bytes
) -> HttpRate:
    """POST the bodies at a steady ``per_s``, whatever the answers take (an open loop):
    each latency runs from the moment its request was due, so a server that falls behind
    shows it in the percentiles instead of slowing the offered load down. Requests go
    out on up to ``CONCURRENCY`` keep-alive connections; beyond that they wait, counted."""
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    slots = asyncio.Semaphore(CONCURRENCY)
    latencies: list[float] = []
    ok = 0

    async def one(due: float, body: bytes) -> None:
        nonlocal ok
        async with slots:
            conn = idle.pop() if idle else await asyncio.open_connection("127.0.0.1", port)
            status, keep = await _post(*conn, path.encode(), media_type, body)
            latencies.append((time.perf_counter() - due) * 1000)
            ok += 200 <= status < 300
            if keep:
                idle.append(conn)
            else:
                conn[1].close()

    gc.collect()  # the bench's own objects: no full collection pauses the clock below
    gc.freeze()
    began = time.perf_counter()  # not loop.time(): uvloop's counts whole milliseconds
    sending = []
    for i, body in enumerate(bodies):
        due = began + i / per_s
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        sending.append(asyncio.create_task(one(due, body)))
    await asyncio.gather(*sending)
    seconds = time.perf_counter() - began
    gc.unfreeze()
    for _, writer in idle:
        writer.close()
    return HttpRate(len(bodies), ok, seconds, latencies)


async def _post(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    path: bytes,
    media_type: bytes,
    body: bytes,
) -> tuple[int, bool]:
    """One request on the connection: the status, and whether the connection stays open."""
    writer.write(
        b"POST %s HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: %s\r\n"
        b"content-length: %d\r\n\r\n%s" % (path, media_type, len(body), body)
    )
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length, keep = None, True
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            keep = False
    if length is None:
        await reader.read()  # no framing: the body ends with the connection
        return status, False
    await reader.readexactly(length)
    return status, keep
