"""``switchboard report``: a small day of lifecycle events on the real broker, the metric
windows from the metrics role's own handler (and recomputed from ``tickets``), the HTML
checked for its figures, then opened in headless Chromium to see the charts render."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from router.app import roles
from router.app.embedded import free_port
from router.app.rebuild import read_all
from router.observability import Telemetry
from router.redis import make_redis
from router.settings import Settings
from router.topics import Topic, TopicNames
from rules import loads_ruleset
from rules.model import FcrDefinition
from tests.conftest import settings_env

pytestmark = pytest.mark.component

DAY = "2026-11-22"
_ids = iter(range(1, 10_000))


def at(hhmm: str) -> str:
    return f"{DAY}T{hhmm}:00Z"


def event(name: str, when: str, ticket: dict[str, Any], **data: Any) -> dict[str, Any]:
    snapshot = {**ticket, "updated_at": when}
    return {
        "specversion": "1.0",
        "id": f"ev-{next(_ids)}",
        "source": "switchboard/test",
        "type": f"switchboard.ticket.{name}",
        "subject": ticket["id"],
        "time": when,
        "data": {"ticket": snapshot, **data},
    }


def ticket(tid: str, queue: str, channel: str, created: str, **more: Any) -> dict[str, Any]:
    return {
        "id": tid,
        "channel": channel,
        "customer_id": f"C-{tid}",
        "queue": queue,
        "status": "new",
        "created_at": created,
        "updated_at": created,
        "last_customer_at": created,
        **more,
    }


def a_day() -> list[dict[str, Any]]:
    """Four tickets in two queues: met and breached SLAs, first-contact and not, a
    reopen, CSAT/NPS/CES answers, and one ticket still waiting at the end of the day."""
    t1 = ticket("T-1", "billing", "email", at("09:05"), assignee="a-1")
    t2 = ticket("T-2", "billing", "email", at("09:30"), assignee="a-2")
    t3 = ticket("T-3", "support", "chat", at("12:00"), assignee="a-3")
    t4 = ticket("T-4", "support", "chat", at("16:00"))
    opened, resolved = {"status": "open"}, {"status": "resolved"}
    answered = {"status": "pending"}  # waiting on the customer, not on us
    return [
        event("created", at("09:05"), t1),
        event("responded", at("09:20"), {**t1, **answered}, response="first", within_sla=True,
              handle_seconds=300, agent_id="a-1"),
        event("resolved", at("10:10"), {**t1, **resolved}, first_contact=True, within_sla=True),
        event("feedback_received", at("11:00"), {**t1, **resolved}, kind="csat", score=5),
        event("feedback_received", at("11:01"), {**t1, **resolved}, kind="nps", score=10),
        event("created", at("09:30"), t2),
        event("sla_breached", at("13:30"), t2, target="first_response"),
        event("responded", at("14:00"), {**t2, **answered}, response="first", within_sla=False,
              handle_seconds=600, agent_id="a-2"),
        event("resolved", at("15:00"), {**t2, **resolved}, first_contact=False),
        event("feedback_received", at("15:30"), {**t2, **resolved}, kind="csat", score=2),
        event("feedback_received", at("15:31"), {**t2, **resolved}, kind="ces", score=3),
        event("created", at("12:00"), t3),
        event("responded", at("12:02"), {**t3, **answered}, response="first", within_sla=True,
              handle_seconds=120, agent_id="a-3"),
        event("resolved", at("12:30"), {**t3, **resolved}, first_contact=True, within_sla=True),
        event("feedback_received", at("12:40"), {**t3, **resolved}, kind="nps", score=3),
        event("feedback_received", at("12:41"), {**t3, **resolved}, kind="ces", score=5),
        event("reopened", at("13:00"), {**t3, **opened, "last_customer_at": at("13:00")},
              was_first_contact=True),
        event("created", at("16:00"), t4),
    ]  # fmt: skip


async def produce_day(
    settings: Settings, events: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    events = a_day() if events is None else events
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        name = TopicNames(settings.topic_prefix)(Topic.TICKETS)
        for ev in [*events, events[0]]:  # the first one redelivered: counted once
            await producer.send_and_wait(
                name, orjson.dumps(ev), key=ev["data"]["ticket"]["id"].encode()
            )
    finally:
        await producer.stop()
    return events


async def run_metrics_role(settings: Settings) -> None:
    """The metrics role's own handler over the tickets topic, as `state rebuild` runs it."""
    records = await read_all(settings, Topic.TICKETS)
    redis = make_redis(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        handler = roles.metrics_handler(settings, redis, producer, Telemetry())
        await handler.handle(records)
    finally:
        await producer.stop()
        await redis.aclose()


def report(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "router.app", "report", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def summary_rows(page: str) -> dict[tuple[str, str], list[str]]:
    table = re.search(r'<table id="summary">(.*?)</table>', page, re.S)
    assert table, "no summary table"
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S):
        cells = [html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        if cells:
            rows[(cells[0], cells[1])] = cells[2:]
    return rows


# SLA first/next/resolution, breaches, FCR, AHT, CSAT, NPS, CES, created, resolved
EXPECTED = {
    ("billing", "email"): ["50.0%", "–", "100.0%", "1", "50.0%", "7m 30s", "50.0%", "100", "3.00",
                           "2", "2"],
    ("support", "chat"): ["100.0%", "–", "100.0%", "0", "0.0%", "2m 00s", "–", "-100", "5.00",
                          "2", "1"],
}  # fmt: skip


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def browser() -> str:
    binary = chromium()
    if binary is None:
        pytest.skip("no chromium/chromium-browser on PATH (.ci/run installs Debian's chromium)")
    return binary


def open_in_chromium(binary: str, page: Path, shot: Path) -> str:
    """The DOM after Chromium rendered the file, and a screenshot of it at ``shot``."""
    common = [binary, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars"]
    common += [f"--user-data-dir={shot.parent / 'chromium-profile'}"]
    url = page.resolve().as_uri()
    subprocess.run(
        [*common, f"--screenshot={shot}", "--window-size=1400,3000", url],
        capture_output=True,
        timeout=90,
        check=True,
    )
    dom = subprocess.run(
        [*common, "--dump-dom", url], capture_output=True, text=True, timeout=90, check=True
    )
    return dom.stdout


async def test_report_from_metric_topics_renders_every_chart_in_chromium(
    settings: Settings, browser: str, tmp_path: Path
) -> None:
    await produce_day(settings)
    await run_metrics_role(settings)
    out = tmp_path / "report.html"
    result = report(settings_env(settings), "--from", DAY, "--to", DAY, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "reading" in result.stderr or "read " in result.stderr
    for metric in ("sla", "fcr", "satisfaction", "workload"):
        assert f"read metrics.{metric}:" in result.stderr, result.stderr

    page = out.read_text()
    assert summary_rows(page) == EXPECTED
    assert '<dl id="definitions">' in page
    assert "http://" not in page.replace("http://www.w3.org/", "")  # nothing to fetch
    assert "https://" not in page
    assert "<script" not in page

    shot = tmp_path / "report.png"
    dom = open_in_chromium(browser, out, shot)
    print(f"report screenshot: {shot}  ({out.stat().st_size / 1024:.0f} KiB report)")
    assert shot.stat().st_size > 20_000
    charts = dict(
        re.findall(r'<section class="chart" id="chart-([a-z_]+)">(.*?)</section>', dom, re.S)
    )
    backlog_charts = {"backlog", "oldest_waiting"}  # gauges: only a running role snapshots
    for key, body in charts.items():
        if key in backlog_charts:
            continue
        svg = re.search(r"<svg[^>]*>(.*)</svg>", body, re.S)
        assert svg, f"chart {key} did not render"
        assert svg.group(1).count("<path") >= 3, f"chart {key} is empty"
    assert set(charts) - backlog_charts == {
        "sla_compliance", "sla_breaches", "fcr_rate", "aht", "csat", "nps", "ces_avg",
        "created_resolved",
    }  # fmt: skip


async def test_recompute_from_tickets_gives_the_same_figures_and_the_backlog(
    settings: Settings, tmp_path: Path
) -> None:
    await produce_day(settings)
    out = tmp_path / "recomputed.html"
    result = report(
        settings_env(settings), "--from", DAY, "--to", DAY, "--out", str(out), "--recompute"
    )
    assert result.returncode == 0, result.stderr
    assert "read tickets: 19 records" in result.stderr, result.stderr
    page = out.read_text()
    assert summary_rows(page) == EXPECTED
    backlog = re.search(r'<table id="backlog">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert backlog
    support = re.search(r"<tr><td[^>]*>support</td>(.*?)</tr>", backlog.group(1), re.S)
    assert support
    # as of the 16:00 window: T-3 (reopened 13:00) and T-4 open and waiting
    assert re.findall(r"<td>(.*?)</td>", support.group(1)) == [
        "2026-11-22 16:00", "2", "2", "3h 01m", "3h 01m",
    ]  # fmt: skip
    for key in ("backlog", "oldest_waiting"):
        section = re.search(rf'id="chart-{key}">(.*?)</section>', page, re.S)
        assert section
        assert "<svg" in section.group(1)
    # another day: no windows, still a valid page
    other = tmp_path / "empty.html"
    result = report(settings_env(settings), "--from", "2026-11-23", "--to", "2026-11-23",
                    "--out", str(other), "--recompute")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "No metric windows in this period." in other.read_text()


def test_report_without_kafka_prints_one_line_naming_the_setting(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env.update(
        SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",
        SWITCHBOARD_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        SWITCHBOARD_KAFKA_CONNECT_TIMEOUT_S="2",
    )
    result = report(env, "--from", DAY, "--to", DAY, "--out", str(tmp_path / "r.html"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS" in lines[0]
    bad = report(env, "--from", "yesterday", "--to", DAY)
    assert bad.returncode == 2
    assert "--from" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_dates_are_utc_and_to_includes_its_day() -> None:
    from router.app.report import period_of

    period = period_of(DAY, DAY)
    assert period.start == datetime(2026, 11, 22, tzinfo=UTC)
    assert period.end == datetime(2026, 11, 23, tzinfo=UTC)


CUSTOM_FCR = "max_customer_contacts: 2, max_public_replies: 2, reopen_window: 1h"
CUSTOM_HASH = loads_ruleset(f"version: 1\nmetrics:\n  fcr: {{{CUSTOM_FCR}}}\n").metrics.fcr.hash


def counted_under(events: list[dict[str, Any]], hashes: dict[str, str]) -> list[dict[str, Any]]:
    """The day's events with each resolution and reopen naming the FCR definition the router
    judged it under, per ticket (``hashes``), as a router running those rules writes them."""
    for ev in events:
        tid = ev["data"]["ticket"]["id"]
        if ev["type"].endswith((".resolved", ".reopened")) and tid in hashes:
            ev["data"]["fcr_definition"] = hashes[tid]
    return events


def fcr_definition(page: str) -> str:
    found = re.search(r"<dt>FCR rate</dt><dd>(.*?)</dd>", page, re.S)
    assert found, "no FCR definition"
    return html.unescape(found.group(1))


@pytest.mark.parametrize("recompute", [False, True], ids=["metric-topics", "recompute"])
async def test_the_definitions_state_the_custom_fcr_definition_and_its_hash(
    settings: Settings, tmp_path: Path, recompute: bool
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"version: 1\nmetrics:\n  fcr: {{{CUSTOM_FCR}}}\nrules: []\n")
    await produce_day(
        settings, counted_under(a_day(), dict.fromkeys(("T-1", "T-2", "T-3"), CUSTOM_HASH))
    )
    if not recompute:
        await run_metrics_role(settings)
    out = tmp_path / "report.html"
    env = {**settings_env(settings), "SWITCHBOARD_RULES_PATH": str(rules)}
    args = ["--from", DAY, "--to", DAY, "--out", str(out)] + (["--recompute"] if recompute else [])
    result = report(env, *args)
    assert result.returncode == 0, result.stderr

    text = fcr_definition(out.read_text())
    assert f"counted under definition <code>{CUSTOM_HASH}</code>: at most 2" in text
    assert "at most 2 customer interactions, at most 2 public agent replies" in text
    assert "a reopen within 1h of the resolution" in text
    assert "one customer interaction" not in text
    assert "mix" not in text


async def test_a_period_counted_under_two_definitions_lists_both(
    settings: Settings, tmp_path: Path
) -> None:
    """Rules reloaded during the day: T-1 was resolved under the default definition, T-3
    under the rules file's new one. The report says the figures mix them, and how."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"version: 1\nmetrics:\n  fcr: {{{CUSTOM_FCR}}}\nrules: []\n")
    default = FcrDefinition().hash
    await produce_day(settings, counted_under(a_day(), {"T-1": default, "T-3": CUSTOM_HASH}))
    await run_metrics_role(settings)
    out = tmp_path / "report.html"
    env = {**settings_env(settings), "SWITCHBOARD_RULES_PATH": str(rules)}
    result = report(env, "--from", DAY, "--to", DAY, "--out", str(out))
    assert result.returncode == 0, result.stderr

    text = fcr_definition(out.read_text())
    assert "The figures mix 2 FCR definitions" in text
    items = re.findall(r"<li>(.*?)</li>", text, re.S)
    assert sorted(items) == sorted([
        f"<code>{default}</code>: at most 1 customer interaction, at most 1 public agent reply, "
        "never reopened; a reopen within 7d of the resolution is subtracted in the reopen's window",
        f"<code>{CUSTOM_HASH}</code>: at most 2 customer interactions, at most 2 public agent "
        "replies, never reopened; a reopen within 1h of the resolution is subtracted in the "
        "reopen's window",
    ])  # fmt: skip
    assert "Some windows name no definition" in text  # T-2 names none
