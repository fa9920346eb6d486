"""``switchboard export inbound`` against the real embedded broker: a day of inbound
events (and some outside it) produced to the topic, exported as JSONL in time order,
plain and pseudonymized; both exports simulate to the same result as the day itself."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from router.app.export import export_inbound
from router.app.report.windows import Period
from router.app.simulate.day import read_day
from router.app.simulate.engine import simulate
from router.app.simulate.roster import loads_roster
from router.settings import Settings
from router.topics import Topic, TopicNames
from rules import load_ruleset
from tests.component.cli.test_report import cli_env

pytestmark = pytest.mark.component

ROOT = Path(__file__).resolve().parents[3]
DAY = datetime(2026, 11, 24, tzinfo=UTC)
ROSTER = """
version: 1
timezone: UTC
seed: 2
agents:
  - {group: desk, count: 2, skills: [billing, tech, sales], shifts: {tue: ["08:00-18:00"]}}
handling: [{exponential: {mean: 20m}}]
"""


def inbound(i: int, minutes: float, who: str, *, reply_to: int | None = None) -> dict[str, Any]:
    thread: dict[str, Any] = {"message_id": f"<m{i}@mail.example>"}
    if reply_to is not None:
        thread["in_reply_to"] = f"<m{reply_to}@mail.example>"
    return {
        "specversion": "1.0",
        "id": f"export-{i}",
        "source": "/v1/channels/email",
        "type": "switchboard.interaction.received",
        "subject": f"email:{who}@customer.example",
        "time": (DAY + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z"),
        "data": {
            "channel": "email",
            "customer": {"email": f"{who}@customer.example", "name": f"Name {who}"},
            "inbox": "billing@acme.example" if i % 2 else "support@acme.example",
            "thread": thread,
            "subject": "Invoice" if i % 2 else "Login error",
            "text": "my invoice" if i % 2 else "I get an error",
        },
    }


def a_day() -> list[dict[str, Any]]:
    """60 messages from 20 customers between 08:00 and 12:00 (every third a reply), one
    the day before and one the day after."""
    events = [
        inbound(
            i, 8 * 60 + i * 4, f"c{i % 20}", reply_to=i - 20 if i >= 20 and i % 3 == 0 else None
        )
        for i in range(60)
    ]
    events.append(inbound(100, -60, "early"))
    events.append(inbound(101, 25 * 60, "late"))
    return events


async def produce(settings: Settings, events: list[dict[str, Any]]) -> None:
    topic = TopicNames(settings.topic_prefix)(Topic.INBOUND)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        for event in reversed(events):  # out of order on purpose: the export sorts
            await producer.send_and_wait(topic, orjson.dumps(event), key=event["subject"].encode())
    finally:
        await producer.stop()


def outcome(path: Path) -> dict[str, Any]:
    rules = load_ruleset(ROOT / "rules" / "examples")
    result = asyncio.run(simulate(rules, loads_roster(ROSTER), read_day(path)))
    return {k: v for k, v in result.report["overall"].items() if k != "intervals"}


async def test_export_round_trip_plain_and_pseudonymized(
    settings: Settings, tmp_path: Path
) -> None:
    events = a_day()
    await produce(settings, events)
    plain = tmp_path / "day.jsonl"
    done = await export_inbound(settings, Period(DAY, DAY + timedelta(days=1)), plain)
    assert (done.read, done.written) == (62, 60)
    lines = [orjson.loads(line) for line in plain.read_bytes().splitlines()]
    assert lines == events[:60]  # the day's events, byte for byte the same data, in order

    hidden = tmp_path / "hidden.jsonl"
    cli = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "router.app", "export", "inbound", "--from", "2026-11-24",
         "--to", "2026-11-24", "--out", str(hidden), "--pseudonymize", "--salt", "s3cret"],
        env=cli_env(settings), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "wrote 60 to" in cli.stderr
    text = hidden.read_text()
    assert "customer.example" not in text
    assert "mail.example" not in text
    assert "Name c" not in text
    masked = [orjson.loads(line) for line in text.splitlines()]
    assert [m["id"] for m in masked] == [e["id"] for e in events[:60]]
    senders = {e["data"]["customer"]["email"] for e in events[:60]}
    assert len({m["data"]["customer"]["email"] for m in masked}) == len(senders) == 20

    # the original day, its export and its pseudonymized export route and staff alike
    original = tmp_path / "original.jsonl"
    original.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events[:60]))
    expected = await asyncio.to_thread(outcome, original)
    assert expected["offered"] < 60  # replies joined their tickets
    assert await asyncio.to_thread(outcome, plain) == expected
    assert await asyncio.to_thread(outcome, hidden) == expected
