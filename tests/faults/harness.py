"""The fault harness: a broker and a valkey owned by one test, and role processes on them.

Unlike the session-wide ``services`` fixture, these children belong to a single test,
which may stop (SIGSTOP), kill (SIGKILL) or restart them empty. Role processes are real
``python -m router.app run`` processes with JSON logs on stderr, so a test sees exactly what
an operator would: exit codes, log lines and ``/readyz``.

Size: ``FAULTS_SCALE=small`` (the default, part of ``make test``) or ``large``
(``make faults``). Not a ``SWITCHBOARD_*`` variable: tests must not inherit those.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from router.app.embedded import (
    broker_command,
    die_with_parent,
    free_port,
    start_server,
    valkey_binary,
)
from router.codec import CONTENT_TYPE_HEADER, encode_event
from router.events import CloudEvent, Customer, Interaction, utcnow
from router.ids import event_id
from router.settings import KafkaSettings, RedisSettings, Settings
from router.topics import Topic, TopicNames
from router.vocabulary import EventType
from tests.conftest import TEST_SESSION_TIMEOUT_MS

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "tests" / "fixtures" / "rules" / "basic.yaml"
SCALE_VARIABLE = "FAULTS_SCALE"

T = TypeVar("T")


@dataclass(frozen=True)
class Scale:
    """How big a fault test runs: ``pick(small, large)`` gives the figure for this run."""

    name: str

    @property
    def large(self) -> bool:
        return self.name == "large"

    def pick(self, small: T, large: T) -> T:
        return large if self.large else small

    @classmethod
    def from_env(cls) -> Scale:
        name = os.environ.get(SCALE_VARIABLE, "small").strip().lower() or "small"
        if name not in ("small", "large"):
            raise ValueError(f"{SCALE_VARIABLE} must be small or large, not {name!r}")
        return cls(name)


# ---------------------------------------------------------------- child servers


@dataclass
class ChildServer:
    """A server process owned by one test, always on the same port.

    ``pause()``/``resume()`` freeze and thaw it (connections stay open, nothing answers);
    ``kill()`` is a crash; ``restart_empty()`` is a crash followed by a start with no data
    on the same port, as a broker or Redis without persistence comes back.
    """

    name: str
    command: Callable[[int, Path], list[str]]
    port: int = field(default_factory=free_port)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="faults-")))
    proc: subprocess.Popen[bytes] | None = None
    paused: bool = False
    starts: int = 0

    def start(self, timeout: float = 20.0) -> None:
        assert self.proc is None or self.proc.poll() is not None, f"{self.name} is running"
        self.starts += 1
        data = self.workdir / f"data-{self.starts}"
        data.mkdir()
        self.paused = False
        log = self.workdir / f"{self.name}.log"
        self.proc = start_server(self.command(self.port, data), log, self.name, self.port, timeout)

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} was never started"
        return self.proc.pid

    def pause(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)
        self.paused = False

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # SIGKILL works on a stopped process too
            self.proc.wait(10)
        self.paused = False

    def restart_empty(self, timeout: float = 20.0) -> None:
        self.kill()
        self.start(timeout)

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)


def tansu_broker() -> ChildServer:
    """The embedded Kafka-compatible broker (memory only: a restart loses everything)."""

    def command(port: int, data: Path) -> list[str]:
        del data
        return broker_command(f"tcp://127.0.0.1:{port}")

    return ChildServer("kafka", command)


def valkey_server() -> ChildServer:
    """valkey without persistence, in a fresh directory per start: a restart is empty."""
    binary = valkey_binary()

    def command(port: int, data: Path) -> list[str]:
        where = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(data)]
        return [binary, *where, "--save", "", "--appendonly", "no"]

    return ChildServer("redis", command)


# ---------------------------------------------------------------- role processes


@dataclass
class RoleProcess:
    """``python -m router.app run --role ...`` with JSON logs on stderr (kept in a file)."""

    roles: tuple[str, ...]
    proc: subprocess.Popen[bytes]
    http_port: int
    stderr_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    def stderr_text(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr_text().splitlines() if line.strip()]

    def non_json_lines(self) -> list[str]:
        bad = []
        for line in self.stderr_lines():
            try:
                if not isinstance(orjson.loads(line), dict):
                    bad.append(line)
            except orjson.JSONDecodeError:
                bad.append(line)
        return bad

    def log_lines(self) -> list[dict[str, Any]]:
        """Every stderr line as JSON; a line that is not JSON comes back as
        ``{"event": <line>, "level": "text", "not_json": True}``."""
        parsed: list[dict[str, Any]] = []
        for line in self.stderr_lines():
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError:
                value = None
            if isinstance(value, dict):
                parsed.append(value)
            else:
                parsed.append({"event": line, "level": "text", "not_json": True})
        return parsed

    def describe(self) -> str:
        """For assertion messages: the roles, the exit code and the log's tail."""
        tail = "\n".join(self.stderr_lines()[-15:])
        return f"{'+'.join(self.roles)} (exit {self.returncode}):\n{tail}"

    async def readyz(self, timeout: float = 5.0) -> httpx.Response:
        async with httpx.AsyncClient(timeout=timeout) as client:
            return await client.get(f"{self.url}/readyz")

    async def wait_ready(self, timeout: float = 30.0) -> None:
        """Until ``/readyz`` answers 200; fails at once if the process exits."""
        last = "no answer"
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.returncode is not None:
                    raise AssertionError(f"exited before it was ready: {self.describe()}")
                try:
                    resp = await client.get(f"{self.url}/readyz")
                    if resp.status_code == 200:
                        return
                    last = f"{resp.status_code} {resp.text}"
                except httpx.HTTPError as exc:
                    last = type(exc).__name__
                await asyncio.sleep(0.1)
        raise AssertionError(f"not ready within {timeout}s (last: {last}): {self.describe()}")

    async def wait_exit(self, timeout: float) -> int | None:
        """The exit code, or None if it is still running after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                return code
            await asyncio.sleep(0.05)
        return self.proc.poll()

    async def wait_log(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float
    ) -> dict[str, Any]:
        """The first log line matching ``predicate``, waiting for it up to ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log_lines():
                if predicate(line):
                    return line
            if time.monotonic() >= deadline:
                raise AssertionError(f"no such log line within {timeout}s: {self.describe()}")
            await asyncio.sleep(0.1)

    def kill9(self) -> None:
        """``kill -9``: a crash with no chance to flush, commit or say goodbye."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)

    def terminate(self, timeout: float = 10.0) -> int:
        """SIGTERM (a graceful stop), then SIGKILL if it does not end in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait(10)


def start_role(
    roles: Sequence[str],
    env: dict[str, str],
    http_port: int,
    stderr_path: Path,
    args: Sequence[str] = (),
) -> RoleProcess:
    """``python -m router.app run --role R... ARGS`` with ``env`` (which must set
    ``SWITCHBOARD_HTTP_PORT`` to ``http_port``); stderr goes to ``stderr_path``. The child
    dies with the test process."""
    assert env.get("SWITCHBOARD_HTTP_PORT") == str(http_port)
    cmd = [sys.executable, "-m", "router.app", "run"]
    for role in roles:
        cmd += ["--role", role]
    cmd += list(args)
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            cwd=ROOT,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - only prctl, no locks
        )
    return RoleProcess(tuple(roles), proc, http_port, stderr_path)


def line_text(line: dict[str, Any]) -> str:
    """The words of a log line (every string field but the traceback), for matching."""
    return " ".join(str(v) for k, v in line.items() if k != "exception" and isinstance(v, str))


def error_lines(lines: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lines at error or critical level (and any line that is not JSON: a traceback)."""
    return [line for line in lines if line.get("level") in ("error", "critical", "text")]


# ---------------------------------------------------------------- a deployment


@dataclass
class Deployment:
    """One test's broker, valkey and topic prefix, and the role processes started on them."""

    broker: ChildServer
    redis: ChildServer
    prefix: str
    logs: Path
    processes: list[RoleProcess] = field(default_factory=list)
    partitions: int = 2

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.broker.port}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis.port}/0"

    @property
    def names(self) -> TopicNames:
        return TopicNames(self.prefix)

    def settings(self, **overrides: Any) -> Settings:
        """Settings for the test's own clients (admin, producers, readers)."""
        return Settings(
            kafka=KafkaSettings(
                bootstrap_servers=self.bootstrap_servers,
                partitions=self.partitions,
                session_timeout_ms=TEST_SESSION_TIMEOUT_MS,
            ),
            redis=RedisSettings(url=self.redis_url),
            topic_prefix=self.prefix,
            consumer_group_prefix=self.prefix,
            log_format="console",
            **overrides,
        )

    def env(self, **extra: str) -> dict[str, str]:
        """A role's environment: nothing inherited from ``SWITCHBOARD_*``, JSON logs."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
        env.update(
            SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS=self.bootstrap_servers,
            SWITCHBOARD_KAFKA_PARTITIONS=str(self.partitions),
            SWITCHBOARD_KAFKA_SESSION_TIMEOUT_MS=str(TEST_SESSION_TIMEOUT_MS),
            SWITCHBOARD_REDIS_URL=self.redis_url,
            SWITCHBOARD_TOPIC_PREFIX=self.prefix,
            SWITCHBOARD_CONSUMER_GROUP_PREFIX=self.prefix,
            SWITCHBOARD_RULES_PATH=str(RULES),
            SWITCHBOARD_LOG_FORMAT="json",
            SWITCHBOARD_LOG_LEVEL="info",
        )
        env.update(extra)
        return env

    def spawn(
        self, *roles: str, args: Sequence[str] = (), env: dict[str, str] | None = None
    ) -> RoleProcess:
        """Start ``switchboard run --role R...`` on a free HTTP port; stopped at teardown."""
        port = free_port()
        process = start_role(
            roles,
            self.env(SWITCHBOARD_HTTP_PORT=str(port), **(env or {})),
            port,
            self.logs / f"{'+'.join(roles)}-{len(self.processes)}.stderr",
            args,
        )
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            if process.returncode is None:
                process.proc.send_signal(signal.SIGTERM)
        for process in self.processes:
            process.terminate(timeout=5.0)


# ---------------------------------------------------------------- helpers


async def wait_until(
    condition: Callable[[], Awaitable[T | None]], timeout: float, what: str, every: float = 0.2
) -> T:
    """Poll ``condition`` until it returns something truthy (returned); fail naming
    ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout}s (last: {value!r})")
        await asyncio.sleep(every)


def chat_event(n: str, email: str, text: str = "hello") -> tuple[str, bytes]:
    """An inbound ``interaction.received`` record (key, value) from a chat customer."""
    data = Interaction(channel="chat", customer=Customer(email=email), text=text)
    event = CloudEvent(
        id=event_id("/faults", n),
        source="/faults",
        type=EventType.INTERACTION_RECEIVED,
        time=utcnow(),
        data=data.model_dump(mode="json", exclude_none=True),
    )
    return data.sender_key(), encode_event(event)


async def produce(settings: Settings, topic: Topic, records: Sequence[tuple[str, bytes]]) -> None:
    """Write records and wait for every ack."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers, max_batch_size=1 << 20
    )
    await producer.start()
    try:
        name = TopicNames(settings.topic_prefix)(topic)
        futures = [
            await producer.send(name, value, key=key.encode(), headers=[CONTENT_TYPE_HEADER])
            for key, value in records
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def committed(settings: Settings, group: str, topic: Topic) -> dict[int, int]:
    """A role's consumer group's committed offset per partition of ``topic`` (-1: none)."""
    name = TopicNames(settings.topic_prefix)(topic)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(
            f"{settings.consumer_group_prefix}.{group}",
            partitions=[TopicPartition(name, p) for p in range(settings.kafka.partitions)],
        )
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items()}


async def wait_consumed(
    settings: Settings, group: str, topic: Topic, ends: dict[int, int], timeout: float
) -> None:
    """Until ``group`` committed up to ``ends`` (partition -> end offset, which the test
    knows from what it read or wrote: the embedded broker may report ends early)."""

    async def done() -> bool:
        offsets = await committed(settings, group, topic)
        return all(offsets.get(p, -1) >= end for p, end in ends.items())

    await wait_until(done, timeout, f"{group} consumed {topic.value} to {ends}", every=0.5)


def end_offsets(records: Iterable[Any]) -> dict[int, int]:
    """The end offset of every partition, from records read (aiokafka ConsumerRecords)."""
    ends: dict[int, int] = {}
    for record in records:
        ends[record.partition] = max(ends.get(record.partition, 0), record.offset + 1)
    return ends


@dataclass(frozen=True)
class Effects:
    """What the lifecycle records say about the inbound events a test sent."""

    lost: set[str]  # acknowledged, without a lifecycle effect
    stray: set[str]  # an effect of an event nobody was told about
    doubled: dict[str, int]  # events with effects under more than one record id
    tickets_per_customer: dict[str, int]
    republished: int  # copies of a record under its own id (harmless: dropped by id)


def effects(records: Sequence[dict[str, Any]], accepted: set[str]) -> Effects:
    """Each inbound event's ``.created``/``.message_added`` effects, by distinct record id."""
    kinds = (EventType.TICKET_CREATED, EventType.TICKET_MESSAGE_ADDED)
    unique = {r["id"]: r for r in records}
    per_event: dict[str, int] = {}
    tickets: dict[str, int] = {}
    for record in unique.values():
        if record["type"] in kinds:
            event = record["data"]["interaction"]["event_id"]
            per_event[event] = per_event.get(event, 0) + 1
        if record["type"] == EventType.TICKET_CREATED:
            customer = record["data"]["ticket"]["customer_id"]
            tickets[customer] = tickets.get(customer, 0) + 1
    return Effects(
        lost=accepted - set(per_event),
        stray=set(per_event) - accepted,
        doubled={e: n for e, n in per_event.items() if n > 1},
        tickets_per_customer=tickets,
        republished=len(records) - len(unique),
    )
