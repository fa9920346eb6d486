"""A simulated busy day, written straight to the ``tickets`` topic as lifecycle records.

The metrics role reads only that topic, so a day of lifecycle records is all it takes to
load it, far faster than driving the router. Every ticket follows a plausible path:
created; a first reply (met or missed); maybe a second customer message and a next reply;
maybe a transfer, a postponement, an escalation, an SLA warning and breach; a resolution
(first contact or not); maybe a reopen and a second resolution; maybe CSAT, NPS and CES.
On top: *redeliveries* (a record written twice under one id, as after a crash) and *late
events* (a record written up to half an hour of event time after its neighbours, inside
the default allowed lateness of one hour). Deterministic for a seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from router.settings import Settings
from router.topics import Topic, TopicNames

DAY = datetime(2026, 11, 24, tzinfo=UTC)
QUEUES = ("general", "billing", "tech", "vip")
CHANNELS = ("email", "chat", "sms", "whatsapp", "webform", "voice")
PRIORITIES = ("low", "normal", "high", "urgent")
HEADERS = [("content-type", b"application/cloudevents+json; charset=utf-8")]


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class _Ticket:
    snapshot: dict[str, Any]
    events: list[tuple[datetime, dict[str, Any]]]

    def emit(self, name: str, at: datetime, **data: Any) -> None:
        n = len(self.events)
        self.snapshot = {**self.snapshot, "updated_at": _iso(at)}
        event = {
            "specversion": "1.0",
            "id": f"{self.snapshot['id']}-{n}",
            "source": "/busyday",
            "type": f"switchboard.ticket.{name}",
            "subject": self.snapshot["id"],
            "time": _iso(at),
            "data": {"ticket": dict(self.snapshot), **data},
        }
        self.events.append((at, event))

    def set(self, **fields: Any) -> None:
        self.snapshot = {**self.snapshot, **fields}


def _ticket(rng: random.Random, n: int) -> _Ticket:
    """One ticket's lifecycle (its events in event-time order)."""
    opened = DAY + timedelta(seconds=rng.uniform(0, 86_400 - 7_200))
    t = _Ticket(
        {
            "id": f"T-{n}",
            "status": "new",
            "channel": rng.choice(CHANNELS),
            "customer_id": f"C-{n % 9973}",
            "queue": rng.choice(QUEUES) if rng.random() < 0.97 else None,
            "priority": rng.choice(PRIORITIES),
            "sla_policy": "standard" if rng.random() < 0.9 else None,
            "assignee": f"a-{rng.randrange(40)}" if rng.random() < 0.8 else None,
            "contacts": 1,
            "agent_replies": 0,
            "reopen_count": 0,
            "created_at": _iso(opened),
            "updated_at": _iso(opened),
            "last_customer_at": _iso(opened),
        },
        [],
    )
    now = opened
    t.emit("created", now)
    agent = t.snapshot["assignee"] or f"a-{rng.randrange(40)}"

    def later(low: float, high: float) -> datetime:
        nonlocal now
        now += timedelta(seconds=rng.uniform(low, high))
        return now

    due = opened + timedelta(seconds=rng.choice((600, 1800, 3600)))
    if rng.random() < 0.3:
        t.emit("sla_warning", due - timedelta(seconds=300), target="first_response", due=_iso(due))
    breached = rng.random() < 0.2
    if breached:
        t.emit("sla_breached", due, target="first_response", policy="standard", due=_iso(due))
        if rng.random() < 0.5:
            t.set(priority="urgent")
            t.emit("escalated", due + timedelta(seconds=1), reason="sla", to={"priority": "urgent"})
        now = max(now, due + timedelta(seconds=2))
    if rng.random() < 0.1:
        t.set(queue=rng.choice(QUEUES))
        t.emit("transferred", later(5, 300), to={"queue": t.snapshot["queue"]})
    handle = rng.choice((None, 30, 60, 240, 600.4))
    t.set(agent_replies=1, status="pending", assignee=t.snapshot["assignee"] or agent)
    t.emit("responded", later(10, 900), response="first", agent_id=agent,
           within_sla=None if t.snapshot["sla_policy"] is None else not breached,
           handle_seconds=handle)  # fmt: skip
    if rng.random() < 0.15:
        until = later(60, 600) + timedelta(hours=2)
        t.set(status="pending", postponed_until=_iso(until))
        t.emit("postponed", now, until=_iso(until), sla_paused_seconds=7200)
    if rng.random() < 0.35:
        t.set(contacts=t.snapshot["contacts"] + 1, status="open", last_customer_at=_iso(now))
        t.emit("message_added", later(60, 1800))
        t.set(agent_replies=t.snapshot["agent_replies"] + 1, status="pending")
        handle = rng.choice((None, 45, 120))
        t.emit("responded", later(10, 900), response="next", agent_id=agent,
               within_sla=rng.random() < 0.8, handle_seconds=handle)  # fmt: skip

    def first_contact() -> bool:
        s = t.snapshot
        return bool(s["contacts"] == 1 and s["agent_replies"] <= 1 and s["reopen_count"] == 0)

    if rng.random() < 0.85:
        fcr = first_contact()
        t.set(status="resolved")
        t.emit("resolved", later(60, 3600), agent_id=agent, first_contact=fcr,
               within_sla=rng.random() < 0.9)  # fmt: skip
        if rng.random() < 0.08:
            t.set(status="open", reopen_count=t.snapshot["reopen_count"] + 1)
            t.emit("reopened", later(60, 1800), by="customer", was_first_contact=fcr)
            t.set(status="resolved")
            t.emit("resolved", later(60, 1800), agent_id=agent, first_contact=first_contact(),
                   within_sla=None)  # fmt: skip
        answers = (("csat", 1, 5, 0.4), ("nps", 0, 10, 0.25), ("ces", 1, 7, 0.2))
        for kind, low, high, share in answers:
            if rng.random() < share:
                t.emit("feedback_received", later(30, 900), kind=kind,
                       score=rng.randint(low, high), agent_id=t.snapshot["assignee"])  # fmt: skip
    return t


@dataclass(frozen=True)
class Day:
    records: list[tuple[bytes, bytes]]  # (key, value) in the order they are written
    tickets: int
    events: int  # distinct lifecycle events
    redelivered: int
    late: int


def busy_day(tickets: int, seed: int = 11) -> Day:
    """``tickets`` tickets over one day, as records in the order a topic would hold them."""
    rng = random.Random(seed)
    timeline: list[tuple[datetime, int, dict[str, Any]]] = []
    for n in range(tickets):
        timeline.extend((at, n, ev) for at, ev in _ticket(rng, n).events)
    timeline.sort(key=lambda e: (e[0], e[1]))
    events = len(timeline)
    # late: written as if it arrived up to 30 minutes (event time) after it happened
    late = 0
    arrivals: list[tuple[datetime, int, dict[str, Any]]] = []
    for at, n, ev in timeline:
        if rng.random() < 0.02:
            late += 1
            arrivals.append((at + timedelta(seconds=rng.uniform(60, 1800)), n, ev))
        else:
            arrivals.append((at, n, ev))
    arrivals.sort(key=lambda e: (e[0], e[1]))
    # redelivered: the same record again a little later (a producer retried after a crash)
    order: list[dict[str, Any]] = []
    redelivered = 0
    for _, _, ev in arrivals:
        order.append(ev)
        if rng.random() < 0.01 and len(order) > 50:
            redelivered += 1
            order.append(order[-rng.randrange(1, 50)])
    records = [(str(ev["subject"]).encode(), orjson.dumps(ev)) for ev in order]
    return Day(records, tickets, events, redelivered, late)


async def write_day(settings: Settings, day: Day) -> dict[int, int]:
    """Write the day to ``tickets`` and wait for every ack; the end offset (last offset
    + 1) of every partition written, which the broker may not report right."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        max_batch_size=1 << 20,
        linger_ms=20,
    )
    await producer.start()
    ends: dict[int, int] = {}
    try:
        name = TopicNames(settings.topic_prefix)(Topic.TICKETS)
        chunk = 20_000
        for start in range(0, len(day.records), chunk):
            futures = [
                await producer.send(name, value, key=key, headers=HEADERS)
                for key, value in day.records[start : start + chunk]
            ]
            for future in futures:
                meta = await future
                ends[meta.partition] = max(ends.get(meta.partition, 0), meta.offset + 1)
    finally:
        await producer.stop()
    return ends
