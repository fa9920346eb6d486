"""``switchboard tail`` against the real embedded broker: it stops at the topic's end
unless following, ``--limit`` never waits for records that are not there, ``--full``
prints the values, and metric topics come out as a table."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from rich.console import Console

from router.app.tail import UnknownTopic, tail_topic
from router.settings import Settings
from router.topics import Topic, TopicNames

pytestmark = pytest.mark.component

RETURNS_WITHIN = 15.0


def lifecycle(n: int) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"e-{n}",
        "source": "/switchboard/router",
        "type": "switchboard.ticket.created",
        "time": f"2026-12-03T10:0{n}:00Z",
        "data": {"ticket": {"id": f"T-{n}", "status": "open", "queue": "billing"}},
    }


async def produce(settings: Settings, topic: Topic, *records: tuple[str, Any]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        name = TopicNames(settings.topic_prefix)(topic)
        for key, value in records:
            await producer.send_and_wait(name, orjson.dumps(value), key=key.encode())
    finally:
        await producer.stop()


async def run_tail(settings: Settings, topic: str, **options: Any) -> tuple[int, str]:
    buffer = io.StringIO()
    console = Console(file=buffer, width=300, color_system=None)
    count = await asyncio.wait_for(
        tail_topic(settings, topic, asyncio.Event(), console, **options), RETURNS_WITHIN
    )
    return count, buffer.getvalue()


async def test_limit_larger_than_the_topic_stops_at_its_end(settings: Settings) -> None:
    await produce(settings, Topic.TICKETS, *((f"T-{n}", lifecycle(n)) for n in range(3)))
    count, output = await run_tail(settings, "tickets", limit=10)
    assert count == 3
    assert output.count("switchboard.ticket.created") == 3
    assert "queue=billing" in output


async def test_an_empty_topic_returns_at_once(settings: Settings) -> None:
    count, output = await run_tail(settings, "tickets")
    assert (count, output) == (0, "")


async def test_limit_smaller_than_the_topic(settings: Settings) -> None:
    await produce(settings, Topic.TICKETS, *((f"T-{n}", lifecycle(n)) for n in range(4)))
    count, output = await run_tail(settings, "tickets", limit=2)
    assert count == 2
    assert len(output.strip().splitlines()) == 2


async def test_full_prints_each_records_value(settings: Settings) -> None:
    await produce(settings, Topic.TICKETS, ("T-1", lifecycle(1)))
    _, summary = await run_tail(settings, "tickets")
    assert '"id": "T-1"' not in summary
    _, output = await run_tail(settings, "tickets", full=True)
    assert output.splitlines()[0].startswith("[0]")
    body = output.split("\n", 1)[1]
    assert orjson.loads(body) == lifecycle(1)


async def test_follow_waits_for_new_records_until_stopped(settings: Settings) -> None:
    await produce(settings, Topic.TICKETS, ("T-1", lifecycle(1)))
    buffer = io.StringIO()
    stop = asyncio.Event()
    console = Console(file=buffer, width=300, color_system=None)
    task = asyncio.create_task(tail_topic(settings, "tickets", stop, console, follow=True))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RETURNS_WITHIN
    # polling a StringIO: there is no event to await
    while "T-1" not in buffer.getvalue() and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    assert not task.done(), "a following tail must not stop at the end of the topic"
    await produce(settings, Topic.TICKETS, ("T-2", lifecycle(2)))
    while "T-2" not in buffer.getvalue() and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    assert "key=T-2" in buffer.getvalue()
    stop.set()
    assert await asyncio.wait_for(task, RETURNS_WITHIN) == 2


async def test_metric_topic_is_a_table_of_the_latest_revisions(settings: Settings) -> None:
    def window(revision: int, breached: int) -> dict[str, Any]:
        return {
            "metric": "sla",
            "window": {"start": "2026-12-03T10:00:00Z", "end": "2026-12-03T11:00:00Z"},
            "dimensions": {"queue": "billing"},
            "counters": {"breached": breached},
            "values": {"compliance": 0.875},
            "revision": revision,
            "final": revision == 2,
        }

    key = "sla|billing|2026-12-03T10:00:00Z"
    await produce(settings, Topic.METRICS_SLA, (key, window(1, 1)), (key, window(2, 3)))
    count, output = await run_tail(settings, "metrics.sla")
    assert count == 2
    assert "latest revision per window" in output
    row = next(line for line in output.splitlines() if "billing" in line)
    assert "breached=3" in row
    assert "compliance=0.875" in row
    assert "yes" in row


async def test_unknown_topic_is_an_error_naming_it(settings: Settings) -> None:
    with pytest.raises(UnknownTopic) as caught:
        await run_tail(settings, "no-such-topic")
    assert caught.value.name == "no-such-topic"
    assert str(caught.value) == "no topic 'no-such-topic' (run `switchboard topics ensure`?)"
    assert not caught.value.retriable
