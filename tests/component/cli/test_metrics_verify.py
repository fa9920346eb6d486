"""``switchboard metrics verify``: a small busy day counted by the metrics role's own
handler equals the independent recount (exit 0); a metric record that lies is named key
by key (exit 1). The recount's definitions are pinned by pure tests at the bottom."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from consumers.domain.windows import CONTRIBUTORS, window_of
from router.app import roles
from router.app.rebuild import read_all
from router.app.recount import Recount
from router.app.verify import Period, Published, compare
from router.events import metric_key
from router.observability import Telemetry
from router.redis import make_redis
from router.settings import Settings
from router.topics import Topic, TopicNames
from tests.conftest import settings_env
from tests.faults.busyday import DAY, busy_day, write_day

pytestmark = pytest.mark.component


async def count_with_the_metrics_role(settings: Settings) -> None:
    records = await read_all(settings, Topic.TICKETS)
    redis = make_redis(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        handler = roles.metrics_handler(settings, redis, producer, Telemetry())
        for start in range(0, len(records), 500):
            await handler.handle(records[start : start + 500])
    finally:
        await producer.stop()
        await redis.aclose()


def verify_cli(
    settings: Settings, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = settings_env(settings, **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "router.app", "metrics", "verify", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
async def test_verify_finds_no_difference_then_names_the_record_that_lies(
    settings: Settings,
) -> None:
    await write_day(settings, busy_day(150, seed=3))
    await count_with_the_metrics_role(settings)

    done = verify_cli(settings, "--from", "2026-11-24", "--to", "2026-11-26")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ": 0 differences" in done.stdout, done.stdout
    assert "read " in done.stderr  # progress on stderr, the verdict on stdout
    # a window length other than the role's would make every window differ: named instead
    other = {"SWITCHBOARD_METRICS_WINDOW_S": str(settings.metrics_window_s * 2)}
    mismatched = verify_cli(settings, "--from", "2026-11-24", "--to", "2026-11-26", env=other)
    assert mismatched.returncode == 2, mismatched.stdout + mismatched.stderr
    assert "SWITCHBOARD_METRICS_WINDOW_S" in mismatched.stderr
    assert "set it as the metrics role has it" in mismatched.stderr

    # a newer revision of one fcr window that counts one resolution too many
    fcr = [
        r
        for r in await read_all(settings, Topic.METRICS_FCR)
        if r.value and orjson.loads(r.value)["counters"].get("resolved")
    ]
    lying = orjson.loads(fcr[0].value or b"{}")
    lying["revision"] += 100
    lying["counters"]["resolved"] += 1
    lying["values"]["fcr_rate"] = 0.125
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        name = TopicNames(settings.topic_prefix)(Topic.METRICS_FCR)
        await producer.send_and_wait(name, orjson.dumps(lying), key=fcr[0].key)
    finally:
        await producer.stop()

    done = verify_cli(settings, "--from", "2026-11-24", "--to", "2026-11-26")
    assert done.returncode == 1, done.stdout + done.stderr
    key = (fcr[0].key or b"").decode()
    resolved = lying["counters"]["resolved"]
    assert f"{key}: resolved recount {resolved - 1}, metric topics {resolved}" in done.stdout
    assert f"{key}: values.fcr_rate recount" in done.stdout
    assert "metric topics 0.125" in done.stdout
    assert ": 2 differences" in done.stdout

    # outside the period nothing differs
    done = verify_cli(settings, "--from", "2026-11-20", "--to", "2026-11-21")
    assert done.returncode == 0, done.stdout
    bad = verify_cli(settings, "--from", "yesterday", "--to", "2026-11-21")
    assert bad.returncode == 2
    assert "--from" in bad.stderr


# ---------------------------------------------------------------- the definitions, pure

AT = datetime(2026, 11, 24, 10, 0, 30, tzinfo=UTC)


def ev(n: int, name: str, at: datetime, **data: Any) -> dict[str, Any]:
    ticket = {
        "id": "T-1",
        "channel": "chat",
        "customer_id": "C-1",
        "queue": "general",
        "priority": "normal",
        "sla_policy": "standard",
        "assignee": "a-1",
        "created_at": "2026-11-24T09:00:00Z",
        "updated_at": at.isoformat(),
    }
    return {
        "specversion": "1.0",
        "id": f"e-{n}",
        "source": "/t",
        "type": f"switchboard.ticket.{name}",
        "time": at.isoformat(),
        "data": {"ticket": ticket, **data},
    }


def recount(*events: dict[str, Any]) -> dict[str, dict[str, int]]:
    counted = Recount(60)
    for event in events:
        counted.add_record(orjson.dumps(event), 0)
    return {w.key: c for w, c in counted.windows.items()}


def test_recount_counts_each_event_once_in_its_window() -> None:
    resolved = ev(1, "resolved", AT, first_contact=True, within_sla=True, agent_id="a-2")
    reopened = ev(2, "reopened", AT + timedelta(minutes=5), was_first_contact=True)
    csat = ev(3, "feedback_received", AT, kind="csat", score=4)
    nps = ev(4, "feedback_received", AT, kind="nps", score=8)
    got = recount(resolved, resolved, reopened, csat, nps)
    base = "channel=chat,queue=general"
    assert got[f"fcr/2026-11-24T10:00:00Z/agent=a-2,{base}"] == {
        "resolved": 1,
        "resolved_first_contact": 1,
    }
    assert got[f"fcr/2026-11-24T10:05:00Z/agent=a-1,{base}"] == {"reopened_after_first_contact": 1}
    assert got[f"satisfaction/2026-11-24T10:00:00Z/agent=a-1,{base}"] == {
        "csat_responses": 1,
        "csat_satisfied": 1,
        "nps_responses": 1,
        "passives": 1,
    }
    assert got[f"workload/2026-11-24T10:00:00Z/{base}"] == {"resolved": 1}
    sla = "sla/2026-11-24T10:00:00Z/channel=chat,policy=standard,priority=normal,queue=general"
    assert got[f"{sla},target=resolution"] == {"met": 1}


def test_what_the_metrics_role_dead_letters_is_not_recounted() -> None:
    """A snapshot that fails validation, an unknown type, a record over the size limit:
    the role dead-letters each, so a recount that counted them would report a difference
    that can never go away."""
    bad_snapshot = ev(1, "created", AT)
    bad_snapshot["data"]["ticket"] = {"id": "T-bad"}
    unknown = ev(2, "teleported", AT)
    counted = Recount(60)
    for event in (bad_snapshot, unknown, ev(3, "created", AT)):
        counted.add_record(orjson.dumps(event), 0)
    counted.add_record(b"x" * 2_000_000, 0)
    assert (counted.events, counted.unreadable) == (1, 3)
    assert {w.key: c for w, c in counted.windows.items()} == {
        "workload/2026-11-24T10:00:00Z/channel=chat,queue=general": {"created": 1}
    }


def test_a_breach_counts_in_the_window_of_its_due_time() -> None:
    due = AT - timedelta(minutes=3)
    got = recount(ev(1, "sla_breached", AT, target="first_response", due=due.isoformat()))
    [key] = got
    assert key.startswith("sla/2026-11-24T09:57:00Z/")


def test_gauges_are_not_compared_and_a_missing_window_is_named() -> None:
    published = Published()
    gauges = {
        "metric": "workload",
        "window": {"start": "2026-11-24T10:00:00Z", "end": "2026-11-24T10:01:00Z"},
        "dimensions": {"queue": "general"},
        "counters": {"open": 3, "waiting": 1, "oldest_waiting_seconds": 40},
        "revision": 1,
    }
    published.add_record(b"k", orjson.dumps(gauges))
    counted = Recount(60)
    counted.add_record(orjson.dumps(ev(1, "created", AT)), 0)
    period = Period(DAY, DAY + timedelta(days=1))
    differences, expected, found = compare(counted.windows, published.windows(), period)
    assert (expected, found) == (1, 0)
    [missing] = differences
    assert str(missing) == (
        "workload/2026-11-24T10:00:00Z/channel=chat,queue=general: missing from the "
        "metric topics (recount: created=1)"
    )


def test_the_metrics_role_counts_a_late_fired_breach_in_the_window_of_its_due_time() -> None:
    due = AT - timedelta(seconds=45)  # fired 45 s late, after the 10:00 boundary
    data = orjson.loads(orjson.dumps(ev(1, "sla_breached", AT, target="first_response")))
    data["data"]["due"] = due.isoformat()
    role = {
        metric_key(c.metric, window_of(c.at or AT, 60)[0], c.dimensions)
        for contributor in CONTRIBUTORS
        for c in contributor(str(data["type"]), data["data"])
    }
    assert role == set(recount(data))


def test_handle_time_of_replies_and_of_answered_calls_is_counted_as_the_role_counts_it() -> None:
    reply = ev(1, "responded", AT, handle_seconds=30, response="first")
    call = ev(2, "message_added", AT, handle_seconds=150, contact=False)  # talk+hold+wrap
    message = ev(3, "message_added", AT)  # a customer message: no handle time
    got = recount(reply, call, message)
    assert got["workload/2026-11-24T10:00:00Z/channel=chat,queue=general"] == {
        "handled": 2,
        "handle_ms_sum": 180_000,
    }
    role: dict[str, dict[str, int]] = {}
    for event in (reply, call, message):
        plain = orjson.loads(orjson.dumps(event))
        for contributor in CONTRIBUTORS:
            for c in contributor(str(plain["type"]), plain["data"]):
                if c.metric == "workload":
                    key = metric_key(c.metric, window_of(c.at or AT, 60)[0], c.dimensions)
                    counters = role.setdefault(key, {})
                    counters[c.counter] = counters.get(c.counter, 0) + c.amount
    assert role == {k: v for k, v in got.items() if k.startswith("workload/")}


def test_the_last_record_written_wins_and_a_definition_hash_does_not_split_a_window() -> None:
    """As compaction keeps it: a record of a higher revision written earlier (forged, or
    a publisher's bug) is not what a monitoring system reads once the next one is in."""

    def record(revision: int, resolved: int, definition: str) -> bytes:
        return orjson.dumps(
            {
                "metric": "fcr",
                "window": {"start": "2026-11-24T10:00:00Z", "end": "2026-11-24T10:01:00Z"},
                "dimensions": {"queue": "q", "channel": "chat", "agent": "a",
                               "definition_hash": definition},
                "counters": {"resolved": resolved},
                "values": {"fcr_rate": 0.0},
                "revision": revision,
            }
        )  # fmt: skip

    published = Published()
    published.add_record(b"k1", record(2, 5, "d1"))
    published.add_record(b"k1", record(1, 9, "d1"))  # a lower revision, written later
    published.add_record(b"k2", record(1, 1, "d2"))
    published.add_record(b"k3", record(1, 7, "d3"))
    published.add_record(b"k3", None)  # a tombstone
    [(window, counters, values)] = list(published.windows())
    assert window.key == "fcr/2026-11-24T10:00:00Z/agent=a,channel=chat,queue=q"
    assert counters == {"resolved": 10}
    assert values == {}  # merged: the values of one record are not the window's
