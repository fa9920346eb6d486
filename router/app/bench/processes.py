"""The roles under test, each a ``switchboard run --role`` process as in production.

Each starts in a session of its own, so a terminal's Ctrl-C reaches the bench alone and
the bench stops the roles itself; each also dies with the bench if the bench is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from router.app.embedded import die_with_parent, free_port
from router.settings import Settings

STOP_TIMEOUT_S = 5.0
READY_TIMEOUT_S = 60.0


class RoleExited(Exception):
    """A role process ended on its own while the bench relied on it."""


class RoleProcesses:
    """The role processes of one bench run. ``stop()`` may be called any number of times
    and returns within ``STOP_TIMEOUT_S`` plus a kill."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[bytes]] = []
        self._names: list[str] = []
        self._ports: list[int] = []

    def spawn(
        self, settings: Settings, role: str, port: int | None = None, *, module: str | None = None
    ) -> None:
        """``switchboard run --role ROLE``, or ``python -m MODULE`` (named ``role``) with
        the same environment."""
        port = port or free_port()
        env = {
            **os.environ,
            "SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers or "",
            "SWITCHBOARD_KAFKA_SESSION_TIMEOUT_MS": str(settings.kafka.session_timeout_ms),
            "SWITCHBOARD_REDIS_URL": settings.redis.url or "",
            "SWITCHBOARD_TOPIC_PREFIX": settings.topic_prefix,
            "SWITCHBOARD_CONSUMER_GROUP_PREFIX": settings.consumer_group_prefix,
            "SWITCHBOARD_HTTP_PORT": str(port),
            "SWITCHBOARD_LOG_LEVEL": "warning",
            "SWITCHBOARD_OPEN_CHANNELS": "chat,voice,email,sms,whatsapp,messenger",  # loopback
            "SWITCHBOARD_RULES_PATH": str(settings.rules_path),
        }
        cmd = [sys.executable, "-m", "router.app", "run", "--role", role]
        if module is not None:
            cmd = [sys.executable, "-m", module]
        linux = sys.platform == "linux"
        self._procs.append(
            subprocess.Popen(
                cmd,
                env=env,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=die_with_parent if linux else None,  # noqa: PLW1509
            )
        )
        self._names.append(role)
        self._ports.append(port)

    async def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Until every role answers ``/readyz`` with 200 (a consumer has joined its group)."""
        deadline = time.monotonic() + timeout_s
        waiting = list(self._ports)
        async with httpx.AsyncClient(timeout=1.0) as http:
            while waiting:
                self.check_alive()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"roles not ready within {timeout_s:.0f}s")
                for port in list(waiting):
                    with contextlib.suppress(httpx.HTTPError):
                        if (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                            waiting.remove(port)
                if waiting:
                    await asyncio.sleep(0.1)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def check_alive(self) -> None:
        """Raise RoleExited if any role has ended: the bench would otherwise wait in vain."""
        for name, proc in zip(self._names, self._procs, strict=True):
            if proc.poll() is not None:
                raise RoleExited(f"the {name} process exited with {proc.returncode}")

    def rss_mb(self) -> dict[str, float]:
        """Resident memory of each live role (VmRSS), MB."""
        out = {}
        for name, proc in zip(self._names, self._procs, strict=True):
            kb = vm_rss_kb(proc.pid)
            if kb is not None:
                out[name] = round(kb / 1024, 1)
        return out

    def cpu_seconds(self, name: str) -> float | None:
        """The CPU time (user and system) the live role ``name`` has used so far; None
        where the process table cannot tell (not Linux)."""
        for role, proc in zip(self._names, self._procs, strict=True):
            if role == name and proc.poll() is None:
                return cpu_seconds(proc.pid)
        return None

    def stop(self) -> None:
        """SIGTERM to every role at once (each stops gracefully), SIGKILL to the late."""
        for proc in self._procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for proc in self._procs:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._procs.clear()
        self._names.clear()
        self._ports.clear()


def cpu_seconds(pid: int) -> float | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def vm_rss_kb(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None
