"""One webform at a time on an idle pipeline: what a single customer waits for."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer

from router.app.bench.clients import running
from router.kafka import client_options, group_options
from router.settings import Settings
from router.topics import Topic, TopicNames
from router.vocabulary import EventType

HTTP_SAMPLES = 30
WAIT_S = 10.0  # for the ingress to get ready, and for each ticket to be created


async def http_latencies(settings: Settings, url: str, samples: int) -> dict[str, list[float]]:
    """Sequential webform posts: time to the 202 (``accepted``), and time from the POST to
    its ``ticket.created`` record arriving at a consumer of the tickets topic (``e2e``), ms.
    """
    consumer = AIOKafkaConsumer(
        TopicNames(settings.topic_prefix)(Topic.TICKETS),
        **client_options(settings.kafka),
        **group_options(settings.kafka),
        group_id=f"{settings.topic_prefix}.bench-http",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=settings.kafka.fetch_max_wait_ms,
    )
    created = TicketsCreated()
    accepted: list[float] = []
    e2e: list[float] = []
    async with (
        running(consumer),
        in_background(created.follow(consumer)),
        httpx.AsyncClient(base_url=url, timeout=WAIT_S) as http,
    ):
        await _wait_until_ready(http)
        for i in range(samples):
            started = time.perf_counter()
            resp = await http.post(
                "/v1/channels/webform",
                json={"email": f"latency{i}@example.com", "message": "hello"},
            )
            resp.raise_for_status()
            accepted.append((time.perf_counter() - started) * 1000)
            arrived = await created.wait_for(resp.json()["id"], WAIT_S)
            if arrived is not None:
                e2e.append((arrived - started) * 1000)
    return {"accepted": accepted, "e2e": e2e}


class TicketsCreated:
    """When (``perf_counter``) the ``ticket.created`` record caused by each event arrived."""

    def __init__(self) -> None:
        self._arrived: dict[str, float] = {}
        self._waiting: dict[str, asyncio.Event] = {}

    async def follow(self, consumer: AIOKafkaConsumer) -> None:
        async for record in consumer:
            value = orjson.loads(record.value or b"{}")
            if value.get("type") == EventType.TICKET_CREATED:
                cause = value["data"]["interaction"]["event_id"]
                self._arrived[cause] = time.perf_counter()
                if cause in self._waiting:
                    self._waiting[cause].set()

    async def wait_for(self, event: str, timeout_s: float) -> float | None:
        if event not in self._arrived:
            self._waiting[event] = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._waiting[event].wait(), timeout_s)
        return self._arrived.get(event)


@asynccontextmanager
async def in_background(work: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Run ``work`` in the background for the duration of the block."""
    task = asyncio.create_task(work)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _wait_until_ready(http: httpx.AsyncClient) -> None:
    """Until the ingress answers ``/readyz`` with 200; the first POST tells if it never did."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if (await http.get("/readyz")).status_code == 200:
                return
        await asyncio.sleep(0.1)
