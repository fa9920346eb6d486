"""The roles under test, each a ``switchboard run --role`` process as in production.

Each starts in a session of its own, so a terminal's Ctrl-C reaches the bench alone and
the bench stops the roles itself; each also dies with the bench if the bench is killed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from router.app.embedded import die_with_parent, free_port
from router.settings import Settings

STOP_TIMEOUT_S = 5.0


class RoleProcesses:
    """The role processes of one bench run. ``stop()`` may be called any number of times
    and returns within ``STOP_TIMEOUT_S`` plus a kill."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, settings: Settings, role: str, port: int | None = None) -> None:
        env = {
            **os.environ,
            "SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers or "",
            "SWITCHBOARD_REDIS_URL": settings.redis.url or "",
            "SWITCHBOARD_TOPIC_PREFIX": settings.topic_prefix,
            "SWITCHBOARD_CONSUMER_GROUP_PREFIX": settings.consumer_group_prefix,
            "SWITCHBOARD_HTTP_PORT": str(port or free_port()),
            "SWITCHBOARD_LOG_LEVEL": "warning",
            "SWITCHBOARD_OPEN_CHANNELS": "chat,voice",  # a loopback bench, open on purpose
            "SWITCHBOARD_RULES_PATH": str(settings.rules_path),
        }
        cmd = [sys.executable, "-m", "router.app", "run", "--role", role]
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

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

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
