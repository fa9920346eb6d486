"""Ingress throughput against the embedded broker, next to the raw produce rate of the
same broker in the same run.

    .venv/bin/python -m bench.ingress [--requests 2000] [--concurrency 32]

Starts its own embedded Tansu + valkey, serves the ingress with uvicorn in a child
process on a free loopback port (so the HTTP client does not share its CPU), and drives
it with httpx: sequentially (one request at a time) and concurrently. Every request is
unique, so every one is produced with ``acks=all`` and awaited before its 202. The
"raw" rows are aiokafka sending records of the same size to the same broker: awaited
one by one, and all in flight at once.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from router.app.embedded import EmbeddedServices, free_port
from router.kafka import make_producer
from router.settings import Settings
from router.topic_admin import ensure_topics

Request = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]


@dataclass(frozen=True)
class Result:
    name: str
    mode: str
    count: int
    seconds: float
    latencies_ms: list[float]

    def row(self) -> str:
        lat = sorted(self.latencies_ms) or [0.0]
        p50 = statistics.median(lat)
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        rate = self.count / self.seconds if self.seconds else 0.0
        return f"{self.name:<10} {self.mode:<11} {rate:>10,.0f} {p50:>9.2f} {p99:>9.2f}"


def _serve(settings_json: str, port: int) -> None:
    """Child process: the ingress role on ``port`` until terminated, or its parent is."""
    import uvicorn

    from router.app import web
    from router.app.embedded import die_with_parent

    die_with_parent()  # a parent stopped by SIGTERM or kill -9 leaves no server behind

    async def main() -> None:
        settings = Settings.model_validate_json(settings_json)
        async with web.ingress(settings) as ing:
            config = uvicorn.Config(
                ing.app, host="127.0.0.1", port=port, log_level="warning", access_log=False
            )
            await uvicorn.Server(config).serve()

    asyncio.run(main())


def webform(client: httpx.AsyncClient, n: int) -> Awaitable[httpx.Response]:
    body = {"email": f"bench{n % 500}@example.com", "subject": "Bench", "message": "x" * 400}
    return client.post("/v1/channels/webform", json=body, headers={"Idempotency-Key": f"b{n}"})


EMAIL = (
    "From: Bench {n} <bench{k}@example.com>\r\nTo: support@acme.test\r\n"
    "Subject: =?utf-8?q?Bench_r=C3=A9ply?= {n}\r\nMessage-ID: <{id}@bench.example>\r\n"
    "Date: Tue, 03 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
    'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
    "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n\r\n"
    "On Mon, Nov 2, 2026 at 9:00 AM, Support <support@acme.test> wrote:\r\n> Earlier.\r\n"
    "--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>{text}</p>\r\n--b--\r\n"
)


def email(client: httpx.AsyncClient, n: int) -> Awaitable[httpx.Response]:
    raw = EMAIL.format(n=n, k=n % 500, id=uuid.uuid4().hex, text="The invoice is wrong. " * 15)
    headers = {"content-type": "message/rfc822"}
    return client.post("/v1/channels/email", content=raw.encode(), headers=headers)


async def drive(
    base_url: str, name: str, request: Request, count: int, concurrency: int
) -> list[Result]:
    results: list[Result] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:
        for _ in range(20):  # warm-up: connections, topic metadata
            (await request(client, -1)).raise_for_status()
        for mode, parallel in (("sequential", 1), (f"conc={concurrency}", concurrency)):
            latencies: list[float] = []
            gate = asyncio.Semaphore(parallel)
            offset = len(results) * count

            async def one(
                n: int, gate: asyncio.Semaphore = gate, lat: list[float] = latencies
            ) -> None:
                async with gate:
                    started = time.perf_counter()
                    resp = await request(client, n)
                    lat.append((time.perf_counter() - started) * 1000)
                    if resp.status_code != 202 or resp.json()["duplicate"]:
                        raise RuntimeError(f"{name}: {resp.status_code} {resp.text[:200]}")

            started = time.perf_counter()
            await asyncio.gather(*(one(offset + n) for n in range(count)))
            results.append(Result(name, mode, count, time.perf_counter() - started, latencies))
    return results


async def raw_produce(settings: Settings, count: int, size: int) -> list[Result]:
    producer = make_producer(settings)
    await producer.start()
    topic = f"{settings.topic_prefix}.inbound"
    value = b"x" * size
    results = []
    try:
        await (await producer.send(topic, value, key=b"warm"))
        lat: list[float] = []
        started = time.perf_counter()
        for n in range(count):
            t = time.perf_counter()
            await (await producer.send(topic, value, key=f"k{n % 500}".encode()))
            lat.append((time.perf_counter() - t) * 1000)
        results.append(Result("raw kafka", "sequential", count, time.perf_counter() - started, lat))
        started = time.perf_counter()
        futures = [
            await producer.send(topic, value, key=f"k{n % 500}".encode()) for n in range(count)
        ]
        await asyncio.gather(*futures)
        results.append(Result("raw kafka", "all queued", count, time.perf_counter() - started, []))
    finally:
        await producer.stop()
    return results


async def run(count: int, concurrency: int) -> None:
    with EmbeddedServices() as services:
        settings = Settings(
            kafka={"bootstrap_servers": services.bootstrap_servers},
            redis={"url": services.redis_url},
            topic_prefix="bench",
            log_level="warning",
        )
        await ensure_topics(settings)
        port = free_port()
        ctx = multiprocessing.get_context("spawn")
        server = ctx.Process(target=_serve, args=(settings.model_dump_json(), port), daemon=True)
        server.start()
        try:
            base = f"http://127.0.0.1:{port}"
            await _wait_ready(base)
            results = await raw_produce(settings, count, size=1200)
            results += await drive(base, "webform", webform, count, concurrency)
            results += await drive(base, "email", email, count, concurrency)
        finally:
            server.terminate()
            server.join(10)
    print(f"{count} requests per row; broker {services.bootstrap_servers} (embedded Tansu)")
    print(f"{'endpoint':<10} {'mode':<11} {'req/s':>10} {'p50 ms':>9} {'p99 ms':>9}")
    for result in results:
        print(result.row())


async def _wait_ready(base: str) -> None:
    async with asyncio.timeout(30), httpx.AsyncClient(base_url=base) as client:
        while True:
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    asyncio.run(run(args.requests, args.concurrency))


if __name__ == "__main__":
    main()
