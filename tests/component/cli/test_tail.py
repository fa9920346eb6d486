"""``switchboard tail`` against the real embedded broker: it stops at the topic's end
unless following, ``--limit`` never waits for records that are not there, ``--full``
prints the values, and metric topics come out as a table."""

from __future__ import annotations

import asyncio
import base64
import io
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from rich.console import Console

from router.app.tail import UnknownTopic, tail_topic
from router.settings import Settings
from router.topics import Topic, TopicNames
from tests.conftest import settings_env

pytestmark = pytest.mark.component

RETURNS_WITHIN = 15.0
ROOT = Path(__file__).resolve().parents[3]


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
            body = None if value is None else orjson.dumps(value)  # None: a tombstone
            await producer.send_and_wait(name, body, key=key.encode())
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
    assert output.splitlines()[0].startswith("[p0:0] ")
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


async def test_following_from_the_end_prints_only_records_written_after_it_started(
    settings: Settings,
) -> None:
    """Records written before, in one multi-record batch (as a role writes a poll's), are
    not printed: the embedded broker reports such a partition's end inside that batch."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        name = TopicNames(settings.topic_prefix)(Topic.TICKETS)
        batch = producer.create_batch()
        for n in range(5):
            batch.append(key=b"T-old", value=orjson.dumps(lifecycle(n)), timestamp=None)
        batch.close()
        await (await producer.send_batch(batch, name, partition=0))
    finally:
        await producer.stop()
    buffer = io.StringIO()
    stop = asyncio.Event()
    console = Console(file=buffer, width=300, color_system=None)
    task = asyncio.create_task(
        tail_topic(settings, "tickets", stop, console, follow=True, from_beginning=False)
    )
    await asyncio.sleep(1.5)  # joined, and polled what followed the reported end
    await produce(settings, Topic.TICKETS, ("T-new", lifecycle(7)))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RETURNS_WITHIN
    while "T-new" not in buffer.getvalue() and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    stop.set()
    assert await asyncio.wait_for(task, RETURNS_WITHIN) == 1
    assert "T-old" not in buffer.getvalue()
    assert "key=T-new" in buffer.getvalue()


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


async def test_a_metric_table_cut_by_limit_says_later_revisions_were_not_read(
    settings: Settings,
) -> None:
    """Under "latest revision per window" it had shown revision 1 of a window whose
    revision 2 the limit left unread, without a word."""

    def window(revision: int) -> dict[str, Any]:
        return {
            "metric": "sla",
            "window": {"start": "2026-12-03T10:00:00Z", "end": "2026-12-03T11:00:00Z"},
            "dimensions": {"queue": "billing"},
            "counters": {"breached": revision},
            "values": {},
            "revision": revision,
            "final": False,
        }

    key = "sla|billing|2026-12-03T10:00:00Z"
    await produce(settings, Topic.METRICS_SLA, (key, window(1)), (key, window(2)))
    _, cut = await run_tail(settings, "metrics.sla", limit=1)
    assert "the first 1 records only (--limit): later revisions were not read" in cut
    _, whole = await run_tail(settings, "metrics.sla", limit=2)
    assert "--limit" not in whole


async def test_a_tombstoned_window_leaves_the_table_as_compaction_drops_it(
    settings: Settings,
) -> None:
    """A window deleted (a null value under its key) had stayed in the table with its
    last counts, under a stray tombstone line: report and verify drop it."""

    def window(queue: str) -> dict[str, Any]:
        return {
            "metric": "sla",
            "window": {"start": "2026-12-03T10:00:00Z", "end": "2026-12-03T11:00:00Z"},
            "dimensions": {"queue": queue},
            "counters": {"breached": 1},
            "values": {},
            "revision": 1,
            "final": False,
        }

    gone, kept = "sla|billing|2026-12-03T10:00:00Z", "sla|tech|2026-12-03T10:00:00Z"
    await produce(
        settings, Topic.METRICS_SLA, (gone, window("billing")), (kept, window("tech")), (gone, None)
    )
    count, output = await run_tail(settings, "metrics.sla")
    assert count == 3
    assert "tech" in output
    assert "billing" not in output
    assert "tombstone" not in output


async def test_a_ratio_without_a_denominator_is_a_dash_in_the_table_and_null_in_json(
    settings: Settings,
) -> None:
    record = {
        "metric": "workload",
        "window": {"start": "2026-12-03T10:00:00Z", "end": "2026-12-03T10:01:00Z"},
        "dimensions": {"queue": "billing", "channel": "email"},
        "counters": {"created": 1, "handled": 0},
        "values": {"aht_seconds": None},
        "revision": 1,
        "final": False,
    }
    await produce(settings, Topic.METRICS_WORKLOAD, ("workload|billing", record))
    _, output = await run_tail(settings, "metrics.workload")
    row = next(line for line in output.splitlines() if "billing" in line)
    assert "aht_seconds=–" in row
    assert "None" not in output
    _, dumped = await run_tail(settings, "metrics.workload", as_json=True)
    assert orjson.loads(dumped)["value"]["values"] == {"aht_seconds": None}


async def test_unknown_topic_is_an_error_naming_it(settings: Settings) -> None:
    with pytest.raises(UnknownTopic) as caught:
        await run_tail(settings, "no-such-topic")
    assert caught.value.name == "no-such-topic"
    assert str(caught.value) == "no topic 'no-such-topic' (run `switchboard topics ensure`?)"
    assert not caught.value.retriable


async def test_a_registry_topic_missing_names_the_prefix_setting(settings: Settings) -> None:
    """``tail tickets`` under a prefix nobody created topics for: a wrong prefix is the
    likelier cause, and running ``topics ensure`` with it would make a second, empty
    installation."""
    other = settings.model_copy(update={"topic_prefix": "nobody-here"})
    with pytest.raises(UnknownTopic) as caught:
        await run_tail(other, "tickets")
    assert str(caught.value) == (
        "SWITCHBOARD_TOPIC_PREFIX: no topic 'nobody-here.tickets' "
        "(run `switchboard topics ensure`?)"
    )


def interaction(n: int) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"in-{n}",
        "source": "/v1/channels/webform",
        "type": "switchboard.interaction.received",
        "subject": f"email:c{n}@customer.example",
        "time": f"2026-12-03T10:0{n}:00Z",
        "data": {
            "channel": "webform",
            "customer": {"email": f"c{n}@customer.example"},
            "inbox": "support@acme.example",
            "text": "my invoice is wrong" if n % 2 else "I get an error",
            "metadata": {"category": "payment"} if n % 2 else {},
        },
    }


async def test_json_dump_lines_replay_through_rules_simulate(
    settings: Settings, tmp_path: Path
) -> None:
    await produce(settings, Topic.INBOUND, *((f"email:c{n}", interaction(n)) for n in range(5)))
    dump = tmp_path / "inbound.jsonl"
    with dump.open("w") as file:
        tail = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "router.app", "tail", "inbound", "--json"],
            env=settings_env(settings), stdout=file, stderr=subprocess.PIPE, text=True,
            timeout=120, check=False,
        )  # fmt: skip
    assert tail.returncode == 0, tail.stderr
    # inbound has several partitions: records come partition by partition
    lines = sorted(
        (orjson.loads(line) for line in dump.read_text().splitlines()), key=lambda d: d["key"]
    )
    name = TopicNames(settings.topic_prefix)(Topic.INBOUND)
    assert [(d["topic"], d["key"], d["value"]) for d in lines] == [
        (name, f"email:c{n}", interaction(n)) for n in range(5)
    ]
    assert all(isinstance(d["partition"], int) and d["offset"] >= 0 for d in lines)
    simulated = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "router.app", "rules", "simulate", str(ROOT / "rules" / "examples"),
         "--events", str(dump), "--json"],
        env=settings_env(settings), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert simulated.returncode == 0, simulated.stdout + simulated.stderr
    report = orjson.loads(simulated.stdout)
    assert (report["evaluated"], report["skipped"]) == (5, 0)
    assert report["tags"]["billing"] == 2  # the metadata and text reached the rules


async def test_json_lines_of_a_tombstone_and_a_text_value(settings: Settings) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        name = TopicNames(settings.topic_prefix)(Topic.TICKET_STATE)
        await producer.send_and_wait(name, b"not json", key=b"T-1")
        await producer.send_and_wait(name, None, key=b"T-1")
    finally:
        await producer.stop()
    count, output = await run_tail(settings, "ticket-state", as_json=True)
    assert count == 2
    first, second = (orjson.loads(line) for line in output.splitlines())
    assert first == {"topic": name, "partition": 0, "offset": 0, "key": "T-1", "value": "not json"}
    assert (second["offset"], second["value"]) == (1, None)


async def test_metric_table_off_a_terminal_is_not_cut_and_says_what_it_left_out(
    settings: Settings,
) -> None:
    long_dimension = "enterprise-customers-in-the-northern-european-region-" * 3

    def window(hour: int) -> tuple[str, dict[str, Any]]:
        start = f"2026-12-03T{hour:02d}:00:00Z"
        record = {
            "metric": "sla",
            "window": {"start": start, "end": start},
            "dimensions": {"queue": "billing", "segment": long_dimension},
            "counters": {"breached": hour},
            "values": {"compliance": 0.875},
            "revision": 1,
            "final": True,
        }
        return f"sla|billing|{start}", record

    await produce(settings, Topic.METRICS_SLA, *(window(hour) for hour in range(24)))
    buffer = io.StringIO()
    narrow = Console(file=buffer, width=80, color_system=None)  # what rich assumes in a pipe
    count = await asyncio.wait_for(
        tail_topic(settings, "metrics.sla", asyncio.Event(), narrow, windows=20), RETURNS_WITHIN
    )
    output = buffer.getvalue()
    assert count == 24
    assert f"queue=billing,segment={long_dimension}" in output
    assert "…" not in output
    assert "showing the last 20 of 24 windows" in output
    assert "breached=3 " not in output  # hours 0-3 are the ones left out
    assert "breached=23" in output


async def test_each_line_names_the_partition_and_offset_of_its_record(settings: Settings) -> None:
    """Issue: lines showed the offset alone, and offsets count per partition, so on a
    topic of several partitions they repeated and interleaved."""
    await produce(settings, Topic.INBOUND, *((f"email:c{n}", interaction(n)) for n in range(8)))
    count, output = await run_tail(settings, "inbound")
    _, dumped = await run_tail(settings, "inbound", as_json=True)
    lines = [orjson.loads(line) for line in dumped.splitlines()]
    assert len({d["partition"] for d in lines}) > 1  # the case at hand
    where = [line.split(" ", 1)[0] for line in output.splitlines()]
    assert count == len(where) == 8
    assert len(set(where)) == 8  # no two records look alike
    assert set(where) == {f"[p{d['partition']}:{d['offset']}]" for d in lines}


async def produce_raw(settings: Settings, topic: Topic, *records: tuple[bytes, bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        name = TopicNames(settings.topic_prefix)(topic)
        for key, value in records:
            await producer.send_and_wait(name, value, key=key)
    finally:
        await producer.stop()


async def test_control_characters_written_to_a_topic_reach_no_terminal_raw(
    settings: Settings,
) -> None:
    """Audit: a record written straight to ``actions`` cleared the screen, retitled the
    window and coloured the output of whoever tailed it; a non-UTF-8 value printed NUL."""
    await produce_raw(
        settings,
        Topic.ACTIONS,
        (b"T-\x1b[2Jx", b"\x1b]0;PWNED\x07\x1b[31mRED\x1b[0m"),
        (b"T-2", b"\xff\xfe garbage \x00"),
    )
    _, output = await run_tail(settings, "actions")
    assert re.findall(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", output) == []
    # the two keys may land on different partitions: compare the lines after [p:offset]
    assert sorted(line.split(" ", 1)[1] for line in output.splitlines()) == [
        "T-2  \ufffd\ufffd garbage \\x00",
        "T-\\x1b[2Jx  \\x1b]0;PWNED\\x07\\x1b[31mRED\\x1b[0m",
    ]
    _, dumped = await run_tail(settings, "actions", as_json=True)
    values = {
        d["key"]: d.get("value", d.get("value_b64")) for d in map(orjson.loads, dumped.splitlines())
    }
    assert values["T-\x1b[2Jx"] == "\x1b]0;PWNED\x07\x1b[31mRED\x1b[0m"
    assert base64.b64decode(values["T-2"]) == b"\xff\xfe garbage \x00"  # not UTF-8: exact


async def test_metric_table_says_how_many_records_it_could_not_read(settings: Settings) -> None:
    """Audit: a non-JSON record on a metric topic left an empty table and no note."""
    await produce_raw(settings, Topic.METRICS_SLA, (b"sla|billing", b"not a window"))
    count, output = await run_tail(settings, "metrics.sla")
    assert count == 1
    assert "latest revision per window" in output
    assert "note: 1 record could not be read as metric windows (see --json)" in output
