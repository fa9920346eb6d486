"""``switchboard simulate`` end to end through the CLI on the shipped sample day: the
``--json`` object, ``--against``, ``--out`` (HTML), ``--target`` (a roster that reads
back and meets the target) and roster errors as ``file:line:col`` with exit 2."""

from __future__ import annotations

import asyncio
import os
import random
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import SecretStr

from router.app import roles
from router.app.simulate.day import parse_line
from router.app.simulate.engine import simulate as run_simulation
from router.app.simulate.roster import dump_roster, load_roster, loads_roster
from router.app.simulate.target import Target
from router.ids import scoped_id, ticket_id
from router.settings import Settings
from router.topics import Topic, TopicNames
from rules import load_ruleset
from tests.component.pipeline.conftest import run_switchboard

pytestmark = pytest.mark.component

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "examples" / "staffing"
RULES = ROOT / "rules" / "examples"
AUTH = {"authorization": "Bearer tok"}
WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The command in its own process, as an operator runs it (it configures logging
    for the process, which must not leak into the other tests)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    return subprocess.run(
        [sys.executable, "-m", "router.app", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def simulate(*args: str, day: Path = SAMPLE / "day.jsonl") -> subprocess.CompletedProcess[str]:
    return cli("simulate", "--events", str(day), "--rules", str(RULES), *args)


@pytest.fixture
def third_of_the_day(tmp_path: Path) -> Path:
    """Every third event of the sample day, 500 of them from morning to night: the tests
    that run several simulated days each (``--against``, ``--target``) do not need all
    1,500 to show what they check, and a day costs some seconds of CPU."""
    lines = (SAMPLE / "day.jsonl").read_text().splitlines(keepends=True)
    path = tmp_path / "third.jsonl"
    path.write_text("".join(lines[::3]))
    return path


def lean_roster(tmp_path: Path) -> Path:
    """The sample roster with one agent fewer in each group."""
    roster = load_roster(SAMPLE / "roster.yaml")
    fewer = {s.name: max(0, s.count - 1) for s in roster.staff if s.group}
    path = tmp_path / "lean.yaml"
    path.write_text(dump_roster(roster.with_counts(fewer)))
    return path


def test_json_has_the_contract_shape_for_the_sample_day() -> None:
    done = simulate("--roster", str(SAMPLE / "roster.yaml"), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = orjson.loads(done.stdout)
    assert set(report) == {"overall", "queues"}
    keys = {"offered", "handled", "abandoned", "unserved", "p_wait", "wait_mean_s"}
    keys |= {"wait_p50_s"}
    keys |= {"wait_p90_s", "occupancy", "utilisation", "sla", "intervals"}
    for part in (report["overall"], *report["queues"].values()):
        assert set(part) == keys
        assert all(set(i) == (keys - {"intervals"}) | {"start"} for i in part["intervals"])
    assert set(report["queues"]) >= {"billing", "tech", "sales", "general"}
    overall = report["overall"]
    assert overall["offered"] == sum(q["offered"] for q in report["queues"].values())
    assert 1000 < overall["offered"] <= 1500  # replies join their tickets
    assert overall["handled"] + overall["abandoned"] <= overall["offered"]
    assert 0 < overall["occupancy"] < 1
    assert 0 < overall["utilisation"] < overall["occupancy"]  # agents hold several seats
    assert set(overall["sla"]) == {"first_response", "next_response", "resolution"}
    assert "simulating" in done.stderr or "events from" in done.stderr  # progress


def test_against_puts_two_rosters_side_by_side(tmp_path: Path, third_of_the_day: Path) -> None:
    lean = lean_roster(tmp_path)
    done = simulate(
        "--roster",
        str(SAMPLE / "roster.yaml"),
        "--against",
        str(lean),
        "--json",
        day=third_of_the_day,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    both = orjson.loads(done.stdout)
    full, fewer = both["roster"]["overall"], both["against"]["overall"]
    assert full["offered"] == fewer["offered"]  # the same day, the same tickets
    assert fewer["wait_mean_s"] > full["wait_mean_s"]
    assert fewer["occupancy"] > full["occupancy"]


def test_out_writes_a_self_contained_page_and_prints_the_table(
    tmp_path: Path, third_of_the_day: Path
) -> None:
    page = tmp_path / "what-if.html"
    lean = lean_roster(tmp_path)
    done = simulate(
        "--roster",
        str(SAMPLE / "roster.yaml"),
        "--against",
        str(lean),
        "--out",
        str(page),
        day=third_of_the_day,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert html.count("<svg") >= 5
    assert 'id="summary"' in html
    assert "lean.yaml" in html
    assert "http://" not in re.sub(r'xmlns(:\w+)?="[^"]+"', "", html)  # nothing to fetch
    # the two rosters side by side on stdout, as without --out
    assert "roster.yaml" in done.stdout
    assert "lean.yaml" in done.stdout


@pytest.mark.slow
@pytest.mark.timeout(360)  # about 10 s alone: a search of rosters, each a simulated day
def test_target_prints_a_roster_that_meets_it(tmp_path: Path, third_of_the_day: Path) -> None:
    done = simulate(
        "--roster",
        str(SAMPLE / "roster.yaml"),
        "--target",
        "first_response=95%",
        day=third_of_the_day,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("# roster meeting first_response=95%\n")  # a file as is
    text = done.stdout
    assert "{group: billing, count: " in text
    assert "skills: [billing]" in text  # printed as text, not as rich markup
    found = loads_roster(text, "found.yaml")
    path = tmp_path / "found.yaml"
    path.write_text(text)
    check = simulate("--roster", str(path), "--json", day=third_of_the_day)
    report = orjson.loads(check.stdout)
    assert Target("first_response", 0.95).met_by(report)
    assert "runs; head count" in done.stderr
    assert found.head_count() > 0


def test_roster_errors_are_file_line_col_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 1\ntimezone: UTC\nagents:\n  - {id: a, shifts: {mon: [09:00-10:00]}, skils: []}\n"
        "handling: [{exponential: {mean: soon}}]\n"
    )
    done = simulate("--roster", str(bad))
    assert done.returncode == 2
    assert f"{bad}:4:43: unknown key 'skils' in an agent" in done.stderr
    assert f"{bad}:5:33: bad duration for exponential mean" in done.stderr
    assert "--roster: 2 roster errors" in done.stderr


def test_a_bad_target_or_events_file_is_one_line(tmp_path: Path) -> None:
    done = simulate("--roster", str(SAMPLE / "roster.yaml"), "--target", "speed=9")
    assert done.returncode == 2
    assert "--target" in done.stderr
    broken = tmp_path / "day.jsonl"
    broken.write_text('{"specversion": "1.0"}\n')
    done = cli("simulate", "--roster", str(SAMPLE / "roster.yaml"), "--events", str(broken))
    assert done.returncode == 2
    assert f"{broken}:1: expected a CloudEvent with a 'time'" in done.stderr


def test_a_target_below_one_with_a_decimal_point_is_refused_as_ambiguous() -> None:
    done = simulate("--roster", str(SAMPLE / "roster.yaml"), "--target", "first_response=0.8")
    assert done.returncode == 2
    assert "write first_response=80 for 80%" in done.stderr
    assert done.stdout == ""


def invoices(tmp_path: Path, count: int = 3) -> Path:
    """``count`` emails about invoices on Monday morning (the billing queue)."""
    lines = []
    for i in range(count):
        envelope = {
            "specversion": "1.0",
            "id": f"inv-{i}",
            "source": "/x",
            "type": "switchboard.interaction.received",
            "subject": f"email:i{i}@ex.example",
            "time": f"2026-11-23T10:0{i}:00Z",
            "data": {
                "channel": "email",
                "customer": {"email": f"i{i}@ex.example"},
                "inbox": "billing@acme.example",
                "thread": {"message_id": f"<i{i}@ex>"},
                "subject": "Invoice",
                "text": "my invoice is wrong",
            },
        }
        lines.append(orjson.dumps(envelope).decode())
    path = tmp_path / "inv.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def small_roster(tmp_path: Path, name: str, skills: str, handling: str = "") -> Path:
    path = tmp_path / name
    path.write_text(
        "version: 1\ntimezone: Europe/Berlin\nagents:\n"
        f'  - {{id: a-1, skills: [{skills}], shifts: {{mon: ["08:00-17:00"]}}}}\n'
        f"handling:\n{handling}  - {{exponential: {{mean: 6m}}}}\n"
    )
    return path


def run_small(roster: Path, events: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return cli(
        "simulate", "--roster", str(roster), "--events", str(events), "--rules", str(RULES), *args
    )


def test_tickets_nobody_can_take_waited_and_are_warned_about_on_stderr(tmp_path: Path) -> None:
    done = run_small(small_roster(tmp_path, "tech.yaml", "tech"), invoices(tmp_path), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    billing = orjson.loads(done.stdout)["queues"]["billing"]  # one JSON object on stdout
    assert (billing["offered"], billing["handled"], billing["unserved"]) == (3, 0, 3)
    assert billing["p_wait"] == 1.0
    assert (
        "queue billing: 3 tickets never served: no agent on the roster has its skills (billing)"
        in done.stderr
    )


def test_the_table_counts_unserved_tickets_beside_abandoned(tmp_path: Path) -> None:
    """Audit: the table left out ``unserved``, so offered != handled + abandoned there
    while the JSON said why."""
    done = run_small(small_roster(tmp_path, "tech.yaml", "tech"), invoices(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    [head] = [line for line in done.stdout.splitlines() if "offered" in line]
    columns = [c.strip() for c in re.split(r"[┃│]", head) if c.strip()]
    assert columns[columns.index("abandoned") + 1] == "unserved"
    [billing] = [line for line in done.stdout.splitlines() if "│ billing" in line]
    cells = [c.strip() for c in re.split(r"[┃│]", billing) if c.strip()]
    assert cells[1:5] == ["3", "0", "0", "3"]  # offered, handled, abandoned, unserved
    page = tmp_path / "day.html"
    done = run_small(
        small_roster(tmp_path, "tech.yaml", "tech"), invoices(tmp_path), "--out", str(page)
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = page.read_text().split('id="summary"', 1)[1]
    assert "<th>abandoned</th><th>unserved</th>" in summary.replace("\n", "")


def test_an_events_file_without_events_is_an_error(tmp_path: Path) -> None:
    """Audit: an empty events file was a silent success with every figure 0 or null."""
    roster = small_roster(tmp_path, "good.yaml", "billing")
    for text in ("", "\n\n  \n"):
        empty = tmp_path / "empty.jsonl"
        empty.write_text(text)
        done = run_small(roster, empty, "--json")
        assert done.returncode == 2, done.stdout + done.stderr
        assert f"error: --events: {empty}: no events" in done.stderr
        assert done.stdout == ""


def test_roster_names_are_checked_against_the_rules(tmp_path: Path) -> None:
    events = invoices(tmp_path)
    typo = small_roster(tmp_path, "typo.yaml", "biling", "  - {queue: biling, fixed: 1h}\n")
    done = run_small(typo, events)
    assert done.returncode == 2
    assert f"{typo}:6:13: unknown queue 'biling' in handling (hint: did you mean 'billing'?)" in (
        done.stderr
    )
    assert "--roster: 1 roster error\n" in done.stderr
    good = small_roster(tmp_path, "good.yaml", "billing")
    done = run_small(good, events, "--against", str(typo))
    assert done.returncode == 2
    assert "--against: 1 roster error\n" in done.stderr
    skill = small_roster(tmp_path, "skill.yaml", "biling")
    done = run_small(skill, events, "--json")
    assert done.returncode == 0, done.stderr
    assert f"{skill}:4:24: warning: skill 'biling' is required by no queue" in done.stderr
    orjson.loads(done.stdout)


def test_skipped_event_lines_are_named_by_line_and_counted(tmp_path: Path) -> None:
    events = invoices(tmp_path, 2)
    bad = '{"specversion":"1.0","id":"x","source":"/x","type":"switchboard.interaction.received",'
    bad += '"time":"2026-11-23T10:05:00Z","data":{"channel":"fax"}}\n'
    events.write_text(events.read_text() + bad)
    done = run_small(small_roster(tmp_path, "good.yaml", "billing"), events, "--json")
    assert done.returncode == 0, done.stderr
    assert f"{events}:3: skipped: " in done.stderr
    assert "1 line skipped" in done.stderr
    assert "simulate.inbound" not in done.stderr  # no internal topic offset
    orjson.loads(done.stdout)


# --- replay equivalence: the real pipeline against the simulation, ticket by ticket ----

BASIC_RULES = ROOT / "tests" / "fixtures" / "rules" / "basic.yaml"
AGENTS = {"a-1": ["billing"], "a-2": ["billing"], "a-3": []}
ALWAYS = "{" + ", ".join(f'{d}: ["00:00-24:00"]' for d in WEEK) + "}"


class TicketWatch:
    """The ``tickets`` topic read as it grows (one consumer for the whole test)."""

    def __init__(self, settings: Settings) -> None:
        self.name = TopicNames(settings.topic_prefix)(Topic.TICKETS)
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka.bootstrap_servers,
            enable_auto_commit=False,
            fetch_max_wait_ms=20,
        )
        self.events: list[dict[str, Any]] = []

    async def start(self) -> None:
        await self.consumer.start()
        partitions = self.consumer.partitions_for_topic(self.name) or set()
        if not partitions:
            await self.consumer._client.force_metadata_update()  # noqa: SLF001 - no public refresh
            partitions = self.consumer.partitions_for_topic(self.name) or set()
        tps = [TopicPartition(self.name, p) for p in sorted(partitions)]
        self.consumer.assign(tps)
        await self.consumer.seek_to_beginning(*tps)

    async def until(self, done: Callable[[], bool], what: str, timeout: float = 30) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not done():
            assert loop.time() < deadline, f"timed out waiting for {what}"
            batch = await self.consumer.getmany(timeout_ms=100)
            for records in batch.values():
                self.events += [orjson.loads(r.value) for r in records if r.value]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == f"switchboard.ticket.{kind}"]


def replay_day(start: datetime) -> list[bytes]:
    """Fourteen emails from different customers, half about invoices (billing queue),
    close enough together that some wait for an agent."""
    rng = random.Random(4)
    lines, at = [], start
    for i in range(14):
        at += timedelta(seconds=rng.uniform(20, 160))
        envelope = {
            "specversion": "1.0",
            "id": f"replay-{i}",
            "source": "/v1/channels/email",
            "type": "switchboard.interaction.received",
            "subject": f"email:r{i}@replay.example",
            "time": at.isoformat().replace("+00:00", "Z"),
            "data": {
                "channel": "email",
                "customer": {"email": f"r{i}@replay.example"},
                "thread": {"message_id": f"<replay-{i}@replay.example>"},
                "text": "my invoice is wrong" if i % 2 else "hello",
            },
        }
        lines.append(orjson.dumps(envelope))
    return lines


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


async def test_the_real_pipeline_assigns_and_answers_like_the_simulation(
    settings: Settings,
) -> None:
    """A small day through the embedded Kafka + valkey pipeline (every role), driven by a
    scripted helpdesk client that accepts each offer, answers at once and resolves after
    the handling time the simulation drew, step by step in the simulation's order.
    Every ticket goes to the same agent, in the same queue, with the same SLA verdict."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
    lines = replay_day(start)
    roster_text = (
        "version: 1\ntimezone: UTC\nseed: 9\nagents:\n"
        + "".join(
            f"  - {{id: {a}, skills: [{', '.join(s)}], capacity: {{email: 1}}, shifts: {ALWAYS}}}\n"
            for a, s in AGENTS.items()
        )
        + "handling: [{exponential: {mean: 4m}}]\n"
    )
    rules = load_ruleset(BASIC_RULES)
    day = [parse_line(line, "replay") for line in lines]
    sim = await run_simulation(rules, loads_roster(roster_text, "replay.yaml"), day)
    assert {o.agent for o in sim.outcomes} == set(AGENTS)  # everyone worked
    assert any((o.wait_s or 0) > 0 for o in sim.outcomes)  # and some waited

    # the simulation's steps: arrivals, and the end of each piece of work
    steps: list[tuple[float, str, Any]] = [(e.at, "arrive", e) for e in day]
    steps += [(o.done_at or 0.0, "done", o) for o in sim.outcomes]
    steps.sort(key=lambda s: s[0])
    expected = {o.ticket_id: o.agent for o in sim.outcomes}

    update = {"rules_path": BASIC_RULES, "api_tokens": SecretStr("tok")}
    async with run_switchboard(settings.model_copy(update=update), frozenset(roles.ROLES)) as sb:
        watch = TicketWatch(sb.settings)
        await watch.start()
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
        await producer.start()
        try:
            presence = [
                {"type": "agent.presence", "data": {"agent_id": a, "status": "online",
                 "skills": s, "capacity": {"email": 1}}}
                for a, s in AGENTS.items()
            ]  # fmt: skip
            resp = await sb.http.post("/v1/actions", json=presence, headers=AUTH)
            assert resp.status_code == 202, resp.text
            answered: set[str] = set()
            outcome_of = {o.ticket_id: o for o in sim.outcomes}

            async def answer_new_assignments() -> None:
                """The scripted agents accept each offer and answer it at once."""
                for event in watch.of_type("assigned"):
                    ticket_id = event["data"]["ticket"]["id"]
                    if ticket_id in answered:
                        continue
                    answered.add(ticket_id)
                    agent = event["data"]["agent_id"]
                    at = iso(outcome_of[ticket_id].assigned_at or 0.0)
                    data = {"ticket_id": ticket_id, "agent_id": agent}
                    actions = [
                        {"type": "assignment.accepted", "time": at, "data": data},
                        {"type": "agent.replied", "time": at,
                         "data": {**data, "public": True}},
                    ]  # fmt: skip
                    reply = await sb.http.post("/v1/actions", json=actions, headers=AUTH)
                    assert reply.status_code == 202, reply.text

            topic = TopicNames(settings.topic_prefix)(Topic.INBOUND)
            for at, kind, item in steps:
                if kind == "arrive":
                    # written at its time in the virtual day, as a producer stamps its
                    # records: an event time far ahead of its record's would be replaced
                    stamp = int(at * 1000)
                    await producer.send_and_wait(
                        topic, item.value, key=item.key, timestamp_ms=stamp
                    )
                    arrived = ticket_id_of(item)

                    def placed(t: str = arrived) -> bool:
                        seen = watch.of_type("assigned") + watch.of_type("queued")
                        return any(e["data"]["ticket"]["id"] == t for e in seen)

                    await watch.until(placed, f"the offer or queueing of {arrived}")
                else:
                    data = {"ticket_id": item.ticket_id, "agent_id": item.agent}
                    done = [{"type": "ticket.resolved", "time": iso(at), "data": data}]
                    resp = await sb.http.post("/v1/actions", json=done, headers=AUTH)
                    assert resp.status_code == 202, resp.text
                    # the seat it frees goes to whom the simulation gave it
                    due = {t for t, o in outcome_of.items() if (o.assigned_at or 0) <= at}

                    def caught_up(due: set[str] = due) -> bool:
                        return due <= {e["data"]["ticket"]["id"] for e in watch.of_type("assigned")}

                    await watch.until(caught_up, f"the assignments due by step {iso(at)}")
                await answer_new_assignments()
            await watch.until(
                lambda: len(watch.of_type("resolved")) == len(expected), "every resolution"
            )
        finally:
            await producer.stop()
            await watch.consumer.stop()

    real = {e["data"]["ticket"]["id"]: e["data"]["agent_id"] for e in watch.of_type("assigned")}
    assert real == expected
    responded = {e["data"]["ticket"]["id"]: e["data"] for e in watch.of_type("responded")}
    for tid, outcome in outcome_of.items():
        clock = outcome.ticket.sla["first_response"]
        assert clock.met_at is not None
        assert clock.due is not None
        assert responded[tid]["within_sla"] == (clock.met_at <= clock.due), tid
    resolved = {e["data"]["ticket"]["id"]: e["data"]["ticket"] for e in watch.of_type("resolved")}
    assert {t: r["queue"] for t, r in resolved.items()} == {
        o.ticket_id: o.queue for o in sim.outcomes
    }


def ticket_id_of(event: Any) -> str:
    """The ticket an event opens: named after its id scoped by its source, as the router
    keys an event's effects."""
    envelope = orjson.loads(event.value)
    return ticket_id(scoped_id(envelope["source"], envelope["id"]))


def test_a_file_name_that_looks_like_markup_is_printed_as_it_is(tmp_path: Path) -> None:
    events = invoices(tmp_path).rename(tmp_path / "[bold]day.jsonl")
    done = run_small(small_roster(tmp_path, "good.yaml", "billing"), events, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"events from {events}" in done.stderr
