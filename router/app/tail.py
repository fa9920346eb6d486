"""``switchboard tail``: follow a topic and print its records for people."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.console import Console
from rich.live import Live
from rich.table import Table

from router.kafka import client_options
from router.settings import Settings
from router.topics import METRIC_TOPICS, Topic, TopicNames


def resolve(settings: Settings, topic: str) -> tuple[str, Topic | None]:
    names = TopicNames(settings.topic_prefix)
    if (known := names.parse(topic)) is not None:
        return topic, known
    try:
        registry = Topic(topic)
    except ValueError:
        return topic, None
    return names(registry), registry


async def tail_topic(
    settings: Settings,
    topic: str,
    stop: asyncio.Event,
    console: Console,
    *,
    from_beginning: bool = True,
    limit: int = 0,
) -> None:
    name, registry = resolve(settings, topic)
    consumer = AIOKafkaConsumer(**client_options(settings.kafka), enable_auto_commit=False)
    await consumer.start()
    try:
        # aiokafka has no public metadata refresh for a manually assigned consumer
        await consumer._client.force_metadata_update()  # noqa: SLF001
        partitions = consumer.partitions_for_topic(name)
        if not partitions:
            console.print(f"[red]no topic {name!r}[/] (run `switchboard topics ensure`?)")
            return
        tps = [TopicPartition(name, p) for p in sorted(partitions)]
        consumer.assign(tps)
        if from_beginning:
            await consumer.seek_to_beginning(*tps)
        metrics = registry in METRIC_TOPICS.values()
        latest: dict[str, dict[str, Any]] = {}
        seen = 0
        view = Live(metric_table(latest), console=console, auto_refresh=False)
        with view if metrics else contextlib.nullcontext() as live:
            while not stop.is_set() and (not limit or seen < limit):
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    for record in records:
                        seen += 1
                        value = orjson.loads(record.value) if record.value else None
                        key = (record.key or b"").decode(errors="replace")
                        if metrics and isinstance(value, dict):
                            latest[key] = value
                        else:
                            console.print(
                                format_record(key, value, record.offset),
                                highlight=False,
                                soft_wrap=True,
                            )
                if metrics and batch and isinstance(live, Live):
                    live.update(metric_table(latest), refresh=True)
    finally:
        await consumer.stop()


def format_record(key: str, value: Any, offset: int) -> str:
    if value is None:
        return f"[{offset}] {key}  (tombstone)"
    if isinstance(value, dict) and "type" in value and "specversion" in value:
        data = value.get("data") or {}
        ticket = data.get("ticket") or {}
        parts = [f"[{offset}]", value.get("time", ""), value["type"], f"key={key}"]
        for field in ("status", "queue", "priority", "tags"):
            if field in ticket:
                parts.append(f"{field}={ticket[field]}")
        if "matched" in data:
            parts.append(f"matched={data['matched']}")
        return "  ".join(str(p) for p in parts)
    return f"[{offset}] {key}  {orjson.dumps(value).decode()}"


def metric_table(latest: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="latest revision per window", expand=False)
    for col in ("metric", "window start", "dimensions", "counters", "values", "rev", "final"):
        table.add_column(col)
    for key in sorted(latest)[-40:]:
        rec = latest[key]
        dims = ",".join(f"{k}={v}" for k, v in sorted(rec.get("dimensions", {}).items()))
        counters = " ".join(f"{k}={v}" for k, v in sorted(rec.get("counters", {}).items()))
        values = " ".join(
            f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
            for k, v in sorted(rec.get("values", {}).items())
        )
        table.add_row(
            rec.get("metric", "?"),
            rec.get("window", {}).get("start", "?"),
            dims,
            counters,
            values,
            str(rec.get("revision")),
            "yes" if rec.get("final") else "",
        )
    return table
