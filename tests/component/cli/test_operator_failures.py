"""What an operator gets wrong is one line (or, with JSON logs, one record) and exit 2,
before any work: SASL without credentials, an output file that cannot be written, a port
out of range, an unknown role or broken rules; and the tools say what they did."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from router.app.embedded import free_port
from router.settings import Settings
from router.topics import Topic, TopicNames
from tests.component.cli.test_export import inbound
from tests.component.pipeline.test_forget_customers import write_state_marker
from tests.conftest import settings_env

pytestmark = pytest.mark.component

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "examples" / "staffing"
UNREACHABLE = {
    "SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
    "SWITCHBOARD_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
    "SWITCHBOARD_KAFKA_CONNECT_TIMEOUT_S": "2",
}


def env_with(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env.update(UNREACHABLE)
    env.update(extra)
    return env


def switchboard(*args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "router.app", *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    return line


@pytest.mark.parametrize("command", [("run", "--role", "router"), ("tail", "tickets")])
@pytest.mark.parametrize(
    ("sasl", "missing"),
    [
        ({"SWITCHBOARD_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}, "USERNAME"),
        (
            {
                "SWITCHBOARD_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "SWITCHBOARD_KAFKA_SASL_USERNAME": "svc",
            },
            "PASSWORD",
        ),
    ],
)
def test_sasl_without_credentials_is_one_line_naming_the_setting(
    command: tuple[str, ...], sasl: dict[str, str], missing: str
) -> None:
    line = one_error_line(switchboard(*command, env=env_with(**sasl)))
    assert line.startswith(f"error: SWITCHBOARD_KAFKA_SASL_{missing}: required with"), line


def out_commands(out: Path) -> list[list[str | Path]]:
    period = ["--from", "2026-11-24", "--to", "2026-11-24"]
    return [
        ["report", *period, "--out", out],
        ["export", "inbound", *period, "--out", out],
        ["asyncapi", "--out", out],
        ["simulate", "--roster", SAMPLE / "roster.yaml", "--events", SAMPLE / "day.jsonl",
         "--out", out],
    ]  # fmt: skip


@pytest.mark.parametrize("which", range(4), ids=["report", "export", "asyncapi", "simulate"])
def test_an_unwritable_out_is_refused_before_any_work(tmp_path: Path, which: int) -> None:
    env = env_with()
    started = time.monotonic()
    line = one_error_line(switchboard(*out_commands(Path("/proc/x.out"))[which], env=env))
    assert line == "error: cannot write --out /proc/x.out: cannot create a file in /proc"
    line = one_error_line(switchboard(*out_commands(tmp_path)[which], env=env))
    assert line == f"error: cannot write --out {tmp_path}: it is a directory"
    missing = tmp_path / "nowhere" / "deeper" / "x.out"
    line = one_error_line(switchboard(*out_commands(missing)[which], env=env))
    assert line == f"error: cannot write --out {missing}: {missing.parent} does not exist"
    assert not (tmp_path / "nowhere").exists()  # never created
    assert time.monotonic() - started < 60  # no broker was waited for


def test_dev_with_a_port_out_of_range_is_a_usage_error_before_anything_starts() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    result = switchboard("dev", "--port", "99999", env=env)
    assert result.returncode == 2
    assert "--port" in result.stderr
    assert "Traceback" not in result.stderr
    assert "Switchboard is running" not in result.stdout


def test_a_templates_path_that_does_not_exist_stops_the_start() -> None:
    env = env_with(SWITCHBOARD_TEMPLATES_PATH="/nonexistent/templates")
    line = one_error_line(switchboard("run", "--role", "notifier", env=env))
    assert line.startswith("error: SWITCHBOARD_TEMPLATES_PATH: /nonexistent/templates does not")


def json_record(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    line = one_error_line(result)
    record = orjson.loads(line)
    assert (record["event"], record["level"]) == ("startup_failed", "error")
    return dict(record)


def test_with_json_logs_an_unknown_role_is_one_json_record() -> None:
    env = env_with(SWITCHBOARD_LOG_FORMAT="json")
    record = json_record(switchboard("run", "--role", "foo", env=env))
    assert record["setting"] == "--role"
    assert "unknown role 'foo'" in str(record["error"])


def test_with_json_logs_broken_rules_are_one_record_with_every_located_error(
    tmp_path: Path,
) -> None:
    rules = tmp_path / "broken.yaml"
    rules.write_text("version: 1\nrules:\n  - name: x\n    when: {}\n    then: {queu: billing}\n")
    env = env_with(SWITCHBOARD_LOG_FORMAT="json", SWITCHBOARD_RULES_PATH=str(rules))
    record = json_record(switchboard("run", "--role", "router", env=env))
    assert record["setting"] == "SWITCHBOARD_RULES_PATH"
    errors = record["errors"]
    assert isinstance(errors, list)
    assert len(errors) == 2
    assert all(str(e).startswith(f"{rules}:") for e in errors)
    assert any("unknown action 'queu'" in str(e) for e in errors)


async def test_forget_of_an_unknown_customer_id_says_no_such_customer(
    settings: Settings,
) -> None:
    await write_state_marker(settings)  # a deployment's Redis: a role has started on it
    env = settings_env(settings)
    by_id = switchboard("forget", "--customer", "C-7b678e0a12c4d5f6", env=env)
    by_email = switchboard("forget", "--customer", "nobody@nowhere.example", env=env)
    by_handle = switchboard("forget", "--customer", "chat:v-nobody", env=env)
    assert by_id.returncode == by_email.returncode, by_id.stderr + by_email.stderr
    assert "no such customer" in by_id.stdout
    assert "forgot" not in by_id.stdout
    # erasing twice is no error (exit 0, said on stdout); an identity the read API
    # spells, such as a chat handle, is accepted as an email is
    assert (by_email.returncode, by_handle.returncode) == (0, 0), by_handle.stderr
    assert "no such customer" in by_handle.stdout
    wrong = switchboard("forget", "--customer", "not a customer", env=env)
    assert wrong.returncode == 2
    assert "--customer" in wrong.stderr
    # a C- id Switchboard never makes is a typo, as "not a customer" is
    malformed = switchboard("forget", "--customer", "C-7b678", env=env)
    assert "16 lowercase hex digits" in one_error_line(malformed)
    # another prefix than the deployment's finds no one: an error naming it, not "no one"
    elsewhere = {**env, "SWITCHBOARD_TOPIC_PREFIX": f"{settings.topic_prefix}-acme"}
    wrong_prefix = switchboard("forget", "--customer", "nobody@nowhere.example", env=elsewhere)
    assert wrong_prefix.returncode == 2
    assert "no such customer" not in wrong_prefix.stdout
    assert "SWITCHBOARD_TOPIC_PREFIX" in wrong_prefix.stderr


async def test_export_says_what_it_read_and_leaves_out_dead_lettered_records(
    settings: Settings, tmp_path: Path
) -> None:
    topic = TopicNames(settings.topic_prefix)(Topic.INBOUND)
    good = inbound(1, 600, "ada")
    bad = {**inbound(2, 610, "bob"), "type": "switchboard.something.else"}
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        for event in (good, bad):
            await producer.send_and_wait(topic, orjson.dumps(event), key=b"k")
        await producer.send_and_wait(topic, b"{not json", key=b"k")
    finally:
        await producer.stop()
    out = tmp_path / "day.jsonl"
    args = ["export", "inbound", "--from", "2000-01-01", "--to", "2099-12-31", "--out", out]
    result = await asyncio.to_thread(switchboard, *args, env=settings_env(settings))
    assert result.returncode == 0, result.stderr
    # read within a second: said once, by the summary, not by a progress line too
    assert f"reading {topic}:" not in result.stderr
    assert "read 3 inbound records, wrote 1 to" in result.stderr
    assert "2 in the period left out" in result.stderr
    assert [orjson.loads(line)["id"] for line in out.read_bytes().splitlines()] == [good["id"]]


def test_tail_with_a_negative_limit_is_a_usage_error() -> None:
    result = switchboard("tail", "tickets", "--limit", "-1", env=env_with())
    assert result.returncode == 2
    assert "--limit" in result.stderr


async def test_tail_of_the_dead_letter_topic_shows_why_with_full_and_json(
    settings: Settings,
) -> None:
    topic = TopicNames(settings.topic_prefix)(Topic.DEADLETTER)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        headers = [("dlq.error", b"InvalidEvent: no customer"), ("dlq.offset", b"7")]
        await producer.send_and_wait(topic, b"{}", key=b"k", headers=headers)
    finally:
        await producer.stop()
    env = settings_env(settings)
    as_json = await asyncio.to_thread(switchboard, "tail", "deadletter", "--json", env=env)
    assert as_json.returncode == 0, as_json.stderr
    line = orjson.loads(as_json.stdout.strip().splitlines()[-1])
    assert line["headers"] == {"dlq.error": "InvalidEvent: no customer", "dlq.offset": "7"}
    full = await asyncio.to_thread(switchboard, "tail", "deadletter", "--full", env=env)
    assert "dlq.error: InvalidEvent: no customer" in full.stdout


def test_a_misspelt_setting_is_warned_about_with_the_name_meant() -> None:
    """``SWITCHBOARD_KAFKA_REPLICATION`` sets nothing: a role says so as it starts, with
    the closest real name, and still fails only on what is really wrong (Kafka here)."""
    env = env_with(SWITCHBOARD_LOG_FORMAT="json", SWITCHBOARD_KAFKA_REPLICATION="3")
    result = switchboard("run", "--role", "router", env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    records = [orjson.loads(line) for line in result.stderr.strip().splitlines()]
    assert [r["event"] for r in records] == ["unknown_setting", "startup_failed"]
    assert (records[0]["variable"], records[0]["did_you_mean"]) == (
        "SWITCHBOARD_KAFKA_REPLICATION",
        "SWITCHBOARD_KAFKA_REPLICATION_FACTOR",
    )
