"""The CLI as a platform team meets it: one-line failures, clean starts and clean stops."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest

from router.app.embedded import free_port
from tests.conftest import TEST_SESSION_TIMEOUT_MS

pytestmark = pytest.mark.component

ROOT = Path(__file__).resolve().parents[3]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env.update(extra)
    return env


def switchboard(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "router.app", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_router_without_reachable_kafka_prints_one_line_naming_the_setting() -> None:
    env = clean_env(
        SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",
        SWITCHBOARD_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        SWITCHBOARD_KAFKA_CONNECT_TIMEOUT_S="2",
    )
    result = switchboard("run", "--role", "router", env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS" in lines[0]
    assert "Traceback" not in result.stderr


def test_with_json_logs_asked_for_the_fatal_line_is_a_json_record() -> None:
    """The container image sets SWITCHBOARD_LOG_FORMAT=json: a crash-looping pod's one
    line must be shippable like every other."""
    env = clean_env(
        SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",
        SWITCHBOARD_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        SWITCHBOARD_KAFKA_CONNECT_TIMEOUT_S="2",
        SWITCHBOARD_LOG_FORMAT="json",
    )
    result = switchboard("run", "--role", "router", env=env)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    record = orjson.loads(line)
    assert record["level"] == "error"
    assert record["event"] == "startup_failed"
    assert record["setting"] == "SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS"
    assert "no Kafka broker answers" in record["error"]


def test_router_without_kafka_setting_says_so() -> None:
    result = switchboard("run", "--role", "router", env=clean_env())
    assert result.returncode == 2
    assert "SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unreachable_redis_names_its_setting(services: object) -> None:
    from router.app.embedded import EmbeddedServices

    assert isinstance(services, EmbeddedServices)
    env = clean_env(
        SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS=services.bootstrap_servers,
        SWITCHBOARD_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
    )
    result = switchboard("run", "--role", "metrics", env=env)
    assert result.returncode == 2
    assert "SWITCHBOARD_REDIS_URL" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_redis_settings_that_cannot_work_are_one_line_without_the_password(
    services: object,
) -> None:
    """A password in the URL is never printed; a cluster URL naming a server that is not
    a cluster is one line that says so, not a traceback."""
    from router.app.embedded import EmbeddedServices

    assert isinstance(services, EmbeddedServices)
    for url, says in (
        (f"redis://user:s3cretpw@127.0.0.1:{free_port()}/0", "redis://user:***@127.0.0.1"),
        (f"redis+cluster://127.0.0.1:{services.redis_port}", "luster"),
    ):
        env = clean_env(
            SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS=services.bootstrap_servers,
            SWITCHBOARD_REDIS_URL=url,
        )
        result = switchboard("run", "--role", "router", env=env)
        assert result.returncode == 2, result.stderr
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("error: SWITCHBOARD_REDIS_URL: ")
        assert says in line
        assert "s3cretpw" not in result.stderr + result.stdout


def unreachable_backends(**extra: str) -> dict[str, str]:
    return clean_env(
        SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",
        SWITCHBOARD_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        SWITCHBOARD_KAFKA_CONNECT_TIMEOUT_S="2",
        **extra,
    )


PROVIDERS_VERIFIED = {
    "SWITCHBOARD_TWILIO_AUTH_TOKEN": "twilio-token",
    "SWITCHBOARD_META_APP_SECRET": "meta-secret",
}


def test_public_ingress_without_chat_voice_and_email_secrets_refuses_to_start() -> None:
    env = unreachable_backends(SWITCHBOARD_HTTP_HOST="0.0.0.0", **PROVIDERS_VERIFIED)
    result = switchboard("run", "--role", "ingress", env=env)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(
        "error: SWITCHBOARD_CHAT_SECRET: chat and voice and email would accept anyone"
    )
    assert "SWITCHBOARD_VOICE_SECRET" in line
    assert "SWITCHBOARD_EMAIL_SECRET" in line
    assert "SWITCHBOARD_OPEN_CHANNELS" in line

    only_voice_open = switchboard(
        "run",
        "--role",
        "all",
        env={
            **env,
            "SWITCHBOARD_CHAT_SECRET": "chat-key-123",
            "SWITCHBOARD_EMAIL_SECRET": "mail-key-123",
        },
    )
    assert only_voice_open.returncode == 2
    assert only_voice_open.stderr.startswith("error: SWITCHBOARD_VOICE_SECRET: voice would")
    assert "chat-key-123" not in only_voice_open.stderr


def test_public_ingress_without_twilio_and_meta_secrets_refuses_to_start() -> None:
    """Unverified, Twilio's and Meta's webhooks take anyone's post as any phone number or
    page user: reachable from other hosts, that is refused as for chat, voice and email."""
    secrets = {
        "SWITCHBOARD_CHAT_SECRET": "c-key",
        "SWITCHBOARD_VOICE_SECRET": "v-key",
        "SWITCHBOARD_EMAIL_SECRET": "e-key",
    }
    env = unreachable_backends(SWITCHBOARD_HTTP_HOST="0.0.0.0", **secrets)
    result = switchboard("run", "--role", "ingress", env=env)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(
        "error: SWITCHBOARD_TWILIO_AUTH_TOKEN: sms and whatsapp and messenger would accept anyone"
    )
    assert "SWITCHBOARD_META_APP_SECRET" in line
    assert line.count("SWITCHBOARD_TWILIO_AUTH_TOKEN") == 2  # the setting, then once in the hint
    opened = {**env, "SWITCHBOARD_OPEN_CHANNELS": "sms,whatsapp,messenger"}
    past = switchboard("run", "--role", "ingress", env=opened)
    assert (
        past.stderr.strip()
        .splitlines()[-1]
        .startswith("error: SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS")
    ), past.stderr


@pytest.mark.parametrize(
    "extra",
    [
        {
            "SWITCHBOARD_CHAT_SECRET": "c-key",
            "SWITCHBOARD_VOICE_SECRET": "v-key",
            "SWITCHBOARD_EMAIL_SECRET": "e-key",
        },
        {"SWITCHBOARD_OPEN_CHANNELS": "chat,voice,email"},
        {"SWITCHBOARD_CHAT_SECRET": "c-key", "SWITCHBOARD_OPEN_CHANNELS": "voice,email"},
        {"SWITCHBOARD_HTTP_HOST": "127.0.0.1"},
    ],
    ids=["both secrets", "both open on purpose", "one of each", "loopback"],
)
def test_ingress_with_secrets_or_open_on_purpose_gets_past_the_guard(
    extra: dict[str, str],
) -> None:
    """It then stops at the next check, the unreachable Kafka, which proves it got there."""
    env = unreachable_backends(SWITCHBOARD_HTTP_HOST="0.0.0.0", **PROVIDERS_VERIFIED)
    result = switchboard("run", "--role", "ingress", env={**env, **extra})
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("error: SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS")
    ), result.stderr


def test_bad_setting_value_is_one_line() -> None:
    result = switchboard("run", "--role", "router", env=clean_env(SWITCHBOARD_HTTP_PORT="http"))
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: SWITCHBOARD_HTTP_PORT")
    assert len(result.stderr.strip().splitlines()) == 1


def test_topics_ensure_is_idempotent(services: object) -> None:
    from router.app.embedded import EmbeddedServices

    assert isinstance(services, EmbeddedServices)
    env = clean_env(
        SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS=services.bootstrap_servers,
        SWITCHBOARD_TOPIC_PREFIX=f"ensure{os.getpid()}",
    )
    first = switchboard("topics", "ensure", env=env)
    second = switchboard("topics", "ensure", env=env)
    assert first.returncode == second.returncode == 0, first.stderr
    assert first.stdout.count("created") == 9
    assert second.stdout.count("exists") == 9
    assert re.search(r"metrics\.workload compacted", first.stdout)


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def start_dev(*, session: bool = False) -> tuple[subprocess.Popen[str], str, list[int]]:
    """``session``: in a process group of its own, as a shell runs a foreground job."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "router.app", "dev", "--port", str(port)],
        env=clean_env(SWITCHBOARD_LOG_LEVEL="warning"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        start_new_session=session,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            pytest.fail(f"switchboard dev exited: {proc.communicate()[1]}")
        time.sleep(0.2)
    else:
        proc.kill()
        proc.communicate()
        pytest.fail("switchboard dev did not become ready")
    return proc, url, children_of(proc.pid)


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_dev_leaves_no_broker_or_valkey_behind(how: signal.Signals) -> None:
    proc, url, children = start_dev()
    assert len(children) == 2, "dev starts exactly one broker and one valkey"
    resp = httpx.post(
        f"{url}/v1/channels/webform",
        json={"email": "ada@example.com", "message": "hello"},
        timeout=10,
    )
    assert resp.status_code == 202
    proc.send_signal(how)
    stdout, stderr = proc.communicate(timeout=30)
    if how != signal.SIGKILL:
        assert proc.returncode == 0
        assert "Switchboard is running" in stdout
        assert stdout.rstrip().endswith("stopped")
        warned = [line for line in stderr.splitlines() if "unauthenticated_channels" in line]
        assert len(warned) == 1, stderr
        assert "SWITCHBOARD_CHAT_SECRET" in warned[0]
        assert "SWITCHBOARD_VOICE_SECRET" in warned[0]
    deadline = time.monotonic() + 10
    while any(alive(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [c for c in children if alive(c)]


def test_ctrl_c_in_a_terminal_stops_dev_quietly() -> None:
    """A terminal's Ctrl-C signals the whole foreground process group. The embedded
    servers must not die under the roles: dev stops them itself, after the roles let go."""
    proc, _, children = start_dev(session=True)
    os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert stdout.rstrip().endswith("stopped")
    errors = [line for line in stderr.splitlines() if '"level":"error"' in line]
    assert errors == [], errors[:3]
    deadline = time.monotonic() + 10
    while any(alive(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [c for c in children if alive(c)]


def test_tail_prints_lifecycle_records(services: object) -> None:
    import asyncio

    from router.app.embedded import EmbeddedServices
    from tests.component.pipeline.test_slice import interaction_event
    from tests.conftest import make_settings

    assert isinstance(services, EmbeddedServices)
    prefix = f"tail{os.getpid()}"
    env = clean_env(
        SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS=services.bootstrap_servers,
        SWITCHBOARD_TOPIC_PREFIX=prefix,
    )
    assert switchboard("topics", "ensure", env=env).returncode == 0
    settings = make_settings(services, prefix)

    async def produce() -> None:
        from aiokafka import AIOKafkaProducer

        from router.events import Customer, Interaction
        from router.topics import Topic, TopicNames

        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
        await producer.start()
        key, value = interaction_event(
            "tail", Interaction(channel="sms", customer=Customer(phone="+15551234567"))
        )
        await producer.send_and_wait(TopicNames(prefix)(Topic.INBOUND), value, key=key.encode())
        await producer.stop()

    asyncio.run(produce())
    result = switchboard("tail", "inbound", "--limit", "1", env=env, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "switchboard.interaction.received" in result.stdout
    assert "key=phone:+15551234567" in result.stdout


def test_tail_of_an_empty_topic_says_so_on_stderr(services: object) -> None:
    from router.app.embedded import EmbeddedServices

    assert isinstance(services, EmbeddedServices)
    env = clean_env(
        SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS=services.bootstrap_servers,
        SWITCHBOARD_TOPIC_PREFIX=f"empty{os.getpid()}",
    )
    assert switchboard("topics", "ensure", env=env).returncode == 0
    result = switchboard("tail", "tickets", env=env, timeout=30)
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr.strip()) == (
        "",
        "no records on tickets (the topic is empty)",
    )


def test_tail_of_a_topic_that_does_not_exist_is_one_line_and_exit_2(services: object) -> None:
    from router.app.embedded import EmbeddedServices

    assert isinstance(services, EmbeddedServices)
    env = clean_env(SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS=services.bootstrap_servers)
    result = switchboard("tail", "no-such-topic", env=env, timeout=30)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: no topic 'no-such-topic' (run `switchboard topics ensure`?)"
    ]
    assert result.stdout == ""


@pytest.mark.slow
@pytest.mark.timeout(300)  # about 60 s alone: ten role processes, each joining its group
def test_bench_reports_pipeline_next_to_the_passthrough_ceiling() -> None:
    # the tests' consumer session: each of its roles' first joins waits 1 s, not 2
    env = clean_env(SWITCHBOARD_KAFKA_SESSION_TIMEOUT_MS=str(TEST_SESSION_TIMEOUT_MS))
    result = switchboard("bench", "--events", "300", "--json", env=env, timeout=280)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["events"] == 300
    assert report["pipeline_completed"] == 300
    assert report["passthrough_per_s"] > 0
    assert report["pipeline_per_s"] > 0
    assert report["pipeline_vs_passthrough"] > 0
    assert report["http_webform_ms"]["samples"] == 30
    assert report["latency_ms"]["p50"] <= report["latency_ms"]["max"]
    assert report["pipeline_ratio"] == report["pipeline_vs_passthrough"]
    for key in ("router", "timers", "metrics"):
        assert report[f"{key}_per_s"] > 0, key
    assert report["alone_records"]["router"] == 300
    # metrics reads the tickets topic after timers, which adds its own records to it
    assert 300 < report["alone_records"]["timers"] <= report["alone_records"]["metrics"]
    assert report["router_ratio"] > 0
    staffed = report["timers_staffed"]  # every new ticket offered to an agent online
    assert (staffed["agents"], staffed["waiting"]) == (1000, 0)
    assert 0 < staffed["assigned"] <= 300
    assert report["timers_staffed_per_s"] > 0
    scale = report["scale_out"]  # 1 vs 2 processes on the same partitions, nothing twice
    for role in ("router", "timers"):
        assert scale[role]["1"] > 0, role
        assert scale[role]["2"] > 0, role
    assert (scale["duplicates"], scale["missing"]) == (0, 0)
    # routing a message costs Redis work: at least the view and the commit, per event
    assert report["redis_per_event"]["commands"] >= 2
    assert report["redis_per_event"]["bytes"] > 0
    ingress = report["ingress"]
    assert ingress["concurrency"] == 32
    for channel in ("webform", "email"):
        for server in (channel, f"{channel}_baseline"):
            assert ingress[server]["ok"] == ingress[server]["requests"] > 0, server
            assert ingress[server]["cpu_us_per_request"] > 0, server  # read from /proc
        assert ingress[f"{channel}_ratio"] > 0
    assert report["ingress_ratio"] == ingress["webform_ratio"]
    loads = report["latency"]
    assert [row["offered_per_s"] for row in loads] == sorted(row["offered_per_s"] for row in loads)
    assert len(loads) == 3
    for row in loads:
        assert row["completed"] == row["sent"] > 0
        assert row["passthrough_completed"] == row["sent"]
        assert row["p50_ms"] <= row["p99_ms"]
        assert row["passthrough_p99_ms"] > 0
    assert report["soak"] is None


@pytest.mark.parametrize("given_by", ["--port", "SWITCHBOARD_HTTP_PORT"])
def test_a_taken_http_port_is_one_line_and_nothing_is_left_running(given_by: str) -> None:
    """The line names where the port came from: the option, else the setting (it named
    the setting for ``--port`` too)."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        if given_by == "--port":
            result = switchboard("dev", "--port", str(port), env=clean_env(), timeout=60)
        else:
            env = clean_env(SWITCHBOARD_HTTP_PORT=str(port))
            result = switchboard("dev", env=env, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {given_by}: cannot listen on 127.0.0.1:{port} (Address already in use)"
    ]


def start_role(services: object, role: str) -> tuple[subprocess.Popen[str], str]:
    """``switchboard run --role <role>`` against the test broker and valkey, answering."""
    import asyncio

    from router.app.embedded import EmbeddedServices
    from router.topic_admin import ensure_topics
    from tests.conftest import make_settings

    assert isinstance(services, EmbeddedServices)
    prefix = f"hup{os.getpid()}{role}{free_port()}"
    asyncio.run(ensure_topics(make_settings(services, prefix)))
    port = free_port()
    env = clean_env(
        SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS=services.bootstrap_servers,
        SWITCHBOARD_REDIS_URL=services.redis_url,
        SWITCHBOARD_TOPIC_PREFIX=prefix,
        SWITCHBOARD_CONSUMER_GROUP_PREFIX=prefix,
        SWITCHBOARD_HTTP_PORT=str(port),
        SWITCHBOARD_LOG_FORMAT="json",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "router.app", "run", "--role", role],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            pytest.fail(f"switchboard run --role {role} exited: {proc.communicate()[1]}")
        time.sleep(0.2)
    proc.kill()
    proc.communicate()
    pytest.fail(f"switchboard run --role {role} did not answer")


@pytest.mark.parametrize("role", ["ingress", "metrics"])
def test_sighup_to_a_role_without_rules_is_said_and_does_not_stop_it(
    services: object, role: str
) -> None:
    """Operators send every process the documented "reload" signal; SIGHUP's default
    action would kill these roles at once, without a graceful stop."""
    proc, url = start_role(services, role)
    try:
        proc.send_signal(signal.SIGHUP)
        time.sleep(1)
        assert proc.poll() is None, proc.communicate()[1]
        assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    said = [orjson.loads(line) for line in stderr.splitlines() if "nothing_to_reload" in line]
    assert [(r["event"], r["level"], r["roles"]) for r in said] == [
        ("rules.nothing_to_reload", "info", role)
    ], stderr
