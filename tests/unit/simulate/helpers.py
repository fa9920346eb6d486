"""Small days and rosters written inline, so each test shows what it simulates."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import orjson

from router.app.simulate.day import DayEvent, parse_line
from router.app.simulate.engine import Result, simulate
from router.app.simulate.roster import loads_roster
from rules import RuleSet, loads_ruleset

MONDAY = datetime(2026, 11, 23, tzinfo=UTC)
ALL_WEEK = (
    "{"
    + ", ".join(f'{d}: ["00:00-24:00"]' for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
    + "}"
)

RULES = loads_ruleset(
    """
version: 1
queues:
  general: {}
  billing: {skills: [billing]}
sla:
  standard:
    first_response: {normal: 10m, urgent: 2m}
    resolution: 1h
defaults: {queue: general, priority: normal, sla: standard}
assignment: {capacity: {email: 1, chat: 1}}
rules:
  - name: billing
    if: {text: {contains: [invoice]}}
    then: {queue: billing}
  - name: urgent
    if: {text: {contains: [outage]}}
    then: {priority: urgent}
"""
)


def message(
    minute: float,
    who: str,
    text: str = "hello",
    *,
    channel: str = "email",
    n: int = 0,
    reply_to: str | None = None,
) -> DayEvent:
    """One inbound event ``minute`` minutes after Monday 00:00 UTC."""
    at = MONDAY + timedelta(minutes=minute)
    message_id = f"<{who}.{minute}.{n}@test>"
    thread: dict[str, object] = {"message_id": message_id}
    if reply_to:
        thread["in_reply_to"] = reply_to
    envelope = {
        "specversion": "1.0",
        "id": f"ev-{who}-{minute}-{n}",
        "source": "/test",
        "type": "switchboard.interaction.received",
        "subject": f"email:{who}@test.example",
        "time": at.isoformat().replace("+00:00", "Z"),
        "data": {
            "channel": channel,
            "customer": {"email": f"{who}@test.example"},
            "thread": thread,
            "text": text,
        },
    }
    return parse_line(orjson.dumps(envelope), "test")


def roster(agents: str, handling: str = "{fixed: 10m}", patience: str = "") -> str:
    text = f"version: 1\ntimezone: UTC\nseed: 1\nagents:\n{agents}handling:\n  - {handling}\n"
    return text + (f"patience: {patience}\n" if patience else "")


def run(roster_text: str, day: list[DayEvent], rules: RuleSet = RULES) -> Result:
    return asyncio.run(simulate(rules, loads_roster(roster_text, "roster.yaml"), day))
