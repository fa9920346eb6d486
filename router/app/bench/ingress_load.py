"""The ingress at concurrency 32 next to the baseline app (``baseline``), in one run,
and the latency of each at a steady offered load (``RATE_PER_S``).

Each server runs in its own process (the ingress as ``switchboard run --role
ingress``), with nothing consuming what they produce, and they take turns. The load is
a minimal HTTP/1.1 client on keep-alive connections, far cheaper per request than httpx,
so that on a small machine the client is less of a limit than the servers it compares.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import orjson

from router.app.bench.processes import RoleProcesses
from router.app.embedded import free_port
from router.settings import Settings

CONCURRENCY = 32
RATE_PER_S = 200
RATE_SECONDS = 5.0
ROUNDS = 3
SERVERS = ("baseline", "ingress")


@dataclass(frozen=True)
class HttpRate:
    """``ok`` 2xx answers of ``requests`` in ``seconds``; latency of each answer, ms."""

    requests: int
    ok: int
    seconds: float
    latencies_ms: list[float]
    cpu_s: float | None = None
    """The server process's CPU time (user and system) meanwhile, where it could be read."""

    @classmethod
    def pooled(cls, turns: list[HttpRate]) -> HttpRate:
        """Several turns as one: their requests, answers, time, latencies and CPU together."""
        cpu = [t.cpu_s for t in turns]
        return cls(
            sum(t.requests for t in turns),
            sum(t.ok for t in turns),
            sum(t.seconds for t in turns),
            [ms for t in turns for ms in t.latencies_ms],
            None if None in cpu else sum(c for c in cpu if c is not None),
        )

    @property
    def per_s(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_us_per_request(self) -> float | None:
        """The server's CPU per request answered, µs: what one core's rate follows from."""
        if self.cpu_s is None or not self.ok:
            return None
        return self.cpu_s / self.ok * 1e6


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
    """Both servers running, each given the same requests in ``ROUNDS`` turns taken in
    alternation, so that a machine that speeds up or slows down during the step (other
    work, CPU frequency) weighs on both alike; each server's rate is its 2xx answers over
    the time of its turns together. Then each alone at the steady ``RATE_PER_S``, for
    ``RATE_SECONDS`` or as many requests as the turns had, if fewer (a small run)."""
    paced_n = min(int(RATE_PER_S * RATE_SECONDS), requests)
    say(
        f"      baseline app and ingress: {requests} POSTs each per channel at concurrency "
        f"{CONCURRENCY}, in {ROUNDS} alternating turns, then {RATE_PER_S}/s for "
        f"{paced_n / RATE_PER_S:.1f} s each ..."
    )
    ports = {which: free_port() for which in SERVERS}
    for which, port in ports.items():
        module = "router.app.bench.baseline" if which == "baseline" else None
        roles.spawn(settings, which, port, module=module)
    closed: dict[str, dict[str, HttpRate]] = {which: {} for which in SERVERS}
    steady: dict[str, dict[str, HttpRate]] = {which: {} for which in SERVERS}
    try:
        await roles.wait_ready()
        for ch in CHANNELS:
            turns: dict[str, list[HttpRate]] = {which: [] for which in SERVERS}
            for which, port in ports.items():  # connections, imports, first produce paid
                warm = ch.bodies(CONCURRENCY * 2, f"warm-{which}-")
                await http_load(port, warm, CONCURRENCY, ch.path, ch.media_type)
            for turn in range(ROUNDS):
                for which, port in ports.items():
                    bodies = ch.bodies(requests // ROUNDS, f"load-{which}-{turn}-")
                    before = roles.cpu_seconds(which)
                    load = await http_load(port, bodies, CONCURRENCY, ch.path, ch.media_type)
                    after = roles.cpu_seconds(which)
                    if before is not None and after is not None:
                        load = replace(load, cpu_s=after - before)
                    turns[which].append(load)
            for which, port in ports.items():
                closed[which][ch.name] = HttpRate.pooled(turns[which])
                paced = ch.bodies(paced_n, f"rate-{which}-")
                steady[which][ch.name] = await http_at_rate(
                    port, paced, RATE_PER_S, ch.path, ch.media_type
                )
    finally:
        roles.stop()
    return IngressRates(
        ingress=closed["ingress"],
        baseline=closed["baseline"],
        ingress_at_rate=steady["ingress"],
        baseline_at_rate=steady["baseline"],
    )


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
