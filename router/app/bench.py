"""``switchboard bench``: the pipeline measured next to the raw Kafka passthrough ceiling.

Both figures come from the same broker in the same run:
1. raw produce of N inbound-sized records;
2. plain passthrough (consume 1, produce 2, wait for acks, commit per batch): the ceiling;
3. the pipeline: N interaction events through the router and metrics roles, each in its
   own ``switchboard run`` process as in production, with end-to-end latency per event
   (inbound record timestamp -> its lifecycle record timestamp).
Without configured Kafka/Redis it embeds both, like ``dev``. Topics get a fresh prefix.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.console import Console

from router.app.embedded import EmbeddedServices, free_port
from router.codec import CONTENT_TYPE_HEADER, encode_event
from router.events import CloudEvent, Customer, Interaction
from router.ids import event_id
from router.kafka import client_options, ensure_topics, make_admin, make_producer
from router.settings import Settings
from router.topics import Topic, TopicNames
from router.vocabulary import EventType

SUBJECTS = ["Refund for invoice 4411", "App is down", "Question about pricing", "Password reset"]
PAD = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 10


def inbound_events(n: int, customers: int) -> list[tuple[bytes, bytes]]:
    base = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    out = []
    for i in range(n):
        who = f"customer{i % customers}@example.com"
        data = Interaction(
            channel="email" if i % 3 else "chat",
            customer=Customer(email=who),
            inbox="support@example.com",
            subject=SUBJECTS[i % len(SUBJECTS)],
            text=f"message {i}. {PAD}",
        )
        event = CloudEvent(
            id=event_id("/bench", str(i)),
            source="/bench",
            type=EventType.INTERACTION_RECEIVED,
            time=base + timedelta(seconds=i),
            data=data.model_dump(mode="json", exclude_none=True),
        )
        out.append((data.sender_key().encode(), encode_event(event)))
    return out


async def produce_all(
    settings: Settings, topic: str, records: list[tuple[bytes, bytes]]
) -> tuple[float, list[int]]:
    """Seconds to produce and ack every record, and each record's timestamp (ms)."""
    producer = make_producer(settings, linger_ms=5)
    await producer.start()
    try:
        started = time.perf_counter()
        futures = [
            await producer.send(topic, value=v, key=k, headers=[CONTENT_TYPE_HEADER])
            for k, v in records
        ]
        metadata = await asyncio.gather(*futures)
        return time.perf_counter() - started, [m.timestamp for m in metadata]
    finally:
        await producer.stop()


async def passthrough(settings: Settings, source: str, sink: str, n: int) -> float:
    """Consume every record once, produce two per record, wait for acks, commit."""
    consumer = AIOKafkaConsumer(
        source,
        **client_options(settings.kafka),
        group_id=f"{settings.topic_prefix}.passthrough",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=settings.kafka.fetch_max_wait_ms,
        max_poll_records=settings.kafka.max_poll_records,
    )
    producer = make_producer(settings)
    await consumer.start()
    await producer.start()
    try:
        seen = 0
        started: float | None = None  # from the first record: joining the group is not work
        while seen < n:
            batch = await consumer.getmany(timeout_ms=100)
            if batch and started is None:
                started = time.perf_counter()
            futures = []
            for records in batch.values():
                for r in records:
                    for _ in range(2):
                        futures.append(await producer.send(sink, value=r.value, key=r.key))
                    seen += 1
            await asyncio.gather(*futures)
            if batch:
                await consumer.commit()
        return time.perf_counter() - (started or time.perf_counter())
    finally:
        await consumer.stop()
        await producer.stop()


def spawn_role(settings: Settings, role: str, port: int | None = None) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers or "",
        "SWITCHBOARD_REDIS_URL": settings.redis.url or "",
        "SWITCHBOARD_TOPIC_PREFIX": settings.topic_prefix,
        "SWITCHBOARD_CONSUMER_GROUP_PREFIX": settings.consumer_group_prefix,
        "SWITCHBOARD_HTTP_PORT": str(port or free_port()),
        "SWITCHBOARD_LOG_LEVEL": "warning",
        "SWITCHBOARD_OPEN_CHANNELS": "chat,voice",  # a loopback bench, open on purpose
        "SWITCHBOARD_RULES_PATH": str(settings.rules_path),
    }
    cmd = [sys.executable, "-m", "router.app", "run", "--role", role]
    return subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL)


async def pipeline_latencies(
    settings: Settings, sent_ms: dict[str, int], timeout_s: float
) -> tuple[int, list[float]]:
    """Wait until every inbound event has its lifecycle record: the last record's
    timestamp (ms) and the latency per event (ms)."""
    names = TopicNames(settings.topic_prefix)
    consumer = AIOKafkaConsumer(**client_options(settings.kafka), enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        tps = [
            TopicPartition(names(Topic.TICKETS), p)
            for p in sorted(consumer.partitions_for_topic(names(Topic.TICKETS)) or {0})
        ]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        first_seen: dict[str, float] = {}
        latencies: list[float] = []
        started = time.perf_counter()
        last = 0
        n = len(sent_ms)
        while len(latencies) < n and time.perf_counter() - started < timeout_s:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for r in records:
                    value = orjson.loads(r.value or b"{}")
                    if value.get("type") not in (
                        EventType.TICKET_CREATED,
                        EventType.TICKET_MESSAGE_ADDED,
                    ):
                        continue
                    cause = value["data"]["interaction"]["event_id"]
                    if cause in first_seen or cause not in sent_ms:
                        continue
                    first_seen[cause] = r.timestamp
                    latencies.append(r.timestamp - sent_ms.get(cause, r.timestamp))
                    last = max(last, r.timestamp)
        return last, latencies
    finally:
        await consumer.stop()


HTTP_SAMPLES = 30


async def http_latencies(settings: Settings, url: str, samples: int) -> dict[str, list[float]]:
    """Sequential webform posts on an idle pipeline: time to the 202, and time from the
    POST to its ``ticket.created`` record arriving at a consumer of the tickets topic."""
    names = TopicNames(settings.topic_prefix)
    arrived: dict[str, float] = {}
    waiting: dict[str, asyncio.Event] = {}
    consumer = AIOKafkaConsumer(
        names(Topic.TICKETS),
        **client_options(settings.kafka),
        group_id=f"{settings.topic_prefix}.bench-http",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=settings.kafka.fetch_max_wait_ms,
    )
    await consumer.start()

    async def follow() -> None:
        async for record in consumer:
            value = orjson.loads(record.value or b"{}")
            if value.get("type") == EventType.TICKET_CREATED:
                cause = value["data"]["interaction"]["event_id"]
                arrived[cause] = time.perf_counter()
                if cause in waiting:
                    waiting[cause].set()

    follower = asyncio.create_task(follow())
    accepted: list[float] = []
    e2e: list[float] = []
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            for _ in range(100):  # wait for the ingress to listen
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            for i in range(samples):
                started = time.perf_counter()
                resp = await http.post(
                    "/v1/channels/webform",
                    json={"email": f"latency{i}@example.com", "message": "hello"},
                )
                resp.raise_for_status()
                accepted.append((time.perf_counter() - started) * 1000)
                event = resp.json()["id"]
                if event not in arrived:
                    waiting[event] = asyncio.Event()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(waiting[event].wait(), 10)
                if event in arrived:
                    e2e.append((arrived[event] - started) * 1000)
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
        await consumer.stop()
    return {"accepted": accepted, "e2e": e2e}


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_bench(
    settings: Settings, n: int, stop: asyncio.Event, console: Console, *, as_json: bool = False
) -> dict[str, Any]:
    services = EmbeddedServices()
    try:
        if not settings.kafka.bootstrap_servers:
            services.start_kafka()
            settings = settings.model_copy(
                update={
                    "kafka": settings.kafka.model_copy(
                        update={"bootstrap_servers": services.bootstrap_servers}
                    )
                }
            )
        if not settings.redis.url:
            services.start_redis()
            settings = settings.model_copy(
                update={"redis": settings.redis.model_copy(update={"url": services.redis_url})}
            )
        prefix = f"bench{int(time.time())}"
        settings = settings.model_copy(
            update={"topic_prefix": prefix, "consumer_group_prefix": prefix}
        )
        return await _measure(settings, n, console, as_json=as_json)
    finally:
        services.stop()
        del stop


async def _measure(
    settings: Settings, n: int, console: Console, *, as_json: bool
) -> dict[str, Any]:
    names = TopicNames(settings.topic_prefix)

    def say(message: str) -> None:
        if not as_json:
            console.print(message)

    await ensure_topics(settings)
    raw_topic, sink_topic = f"{settings.topic_prefix}.raw", f"{settings.topic_prefix}.raw-out"
    events = inbound_events(n, customers=max(1, n // 4))
    size = sum(len(v) for _, v in events) / n
    broker = settings.kafka.bootstrap_servers
    say(f"[bold]switchboard bench[/]: {n} events of {size:.0f} B, broker {broker}")
    say("1/3 raw produce ...")
    raw_produce_s, _ = await produce_all(settings, raw_topic, events)
    say("2/3 raw passthrough (consume 1, produce 2, ack, commit) ...")
    pass_s = await passthrough(settings, raw_topic, sink_topic, n)
    say("3/3 pipeline: ingress, router and metrics roles, one process each ...")
    port = free_port()
    procs = [
        spawn_role(settings, "router"),
        spawn_role(settings, "metrics"),
        spawn_role(settings, "ingress", port),
    ]
    try:
        await asyncio.sleep(3.0)  # let both consumers join their groups before the load
        http_ms = await http_latencies(settings, f"http://127.0.0.1:{port}", HTTP_SAMPLES)
        _, stamps = await produce_all(settings, names(Topic.INBOUND), events)
        ids = [orjson.loads(v)["id"] for _, v in events]
        last_ms, latencies = await pipeline_latencies(
            settings, dict(zip(ids, stamps, strict=True)), timeout_s=max(60.0, n / 50)
        )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)
    elapsed = (last_ms - stamps[0]) / 1000 if latencies else float("inf")
    pipeline = round(len(latencies) / elapsed)
    ceiling = round(n / pass_s)
    lat = {
        "p50": pct(latencies, 0.5),
        "p90": pct(latencies, 0.9),
        "p99": pct(latencies, 0.99),
        "max": max(latencies, default=float("nan")),
    }
    result: dict[str, Any] = {
        "events": n,
        "record_bytes": round(size),
        "raw_produce_per_s": round(n / raw_produce_s),
        "passthrough_per_s": ceiling,
        "pipeline_per_s": pipeline,
        "pipeline_completed": len(latencies),
        "pipeline_vs_passthrough": round(pipeline / ceiling, 3),
        "latency_ms": lat,
        "http_webform_ms": {
            "samples": len(http_ms["e2e"]),
            "accepted_p50": pct(http_ms["accepted"], 0.5),
            "e2e_p50": pct(http_ms["e2e"], 0.5),
            "e2e_p90": pct(http_ms["e2e"], 0.9),
            "e2e_max": max(http_ms["e2e"], default=float("nan")),
        },
    }
    if as_json:
        console.print_json(orjson.dumps(result).decode())
    else:
        console.print(f"  raw produce          {result['raw_produce_per_s']:>8} msg/s")
        console.print(f"  raw passthrough      {ceiling:>8} msg/s   (the ceiling)")
        console.print(
            f"  pipeline             {pipeline:>8} events/s "
            f"({result['pipeline_vs_passthrough']:.2f}x the ceiling, {len(latencies)}/{n} done)"
        )
        console.print(
            f"  end-to-end latency   p50 {lat['p50']:.0f} ms  p90 {lat['p90']:.0f} ms  "
            f"p99 {lat['p99']:.0f} ms  max {lat['max']:.0f} ms"
        )
        web = result["http_webform_ms"]
        console.print(
            f"  one webform, idle    202 in {web['accepted_p50']:.1f} ms (p50); POST -> "
            f"ticket.created p50 {web['e2e_p50']:.1f} ms  p90 {web['e2e_p90']:.1f} ms  "
            f"max {web['e2e_max']:.1f} ms  ({web['samples']} sequential posts)"
        )
    await _drop_topics(settings)
    return result


async def _drop_topics(settings: Settings) -> None:
    """The embedded broker keeps everything in memory: free what the bench wrote."""
    admin = make_admin(settings)
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(settings.topic_prefix + ".")]
        await admin.delete_topics(mine)
    finally:
        await admin.close()
