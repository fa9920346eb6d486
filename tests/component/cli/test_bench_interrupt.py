"""Ctrl-C during ``switchboard bench``: it stops within seconds, says so in one line,
exits 130, and leaves none of the processes it started (roles, broker, valkey) behind."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.component.cli.test_processes import ROOT, alive, children_of, clean_env
from tests.conftest import TEST_SESSION_TIMEOUT_MS

pytestmark = pytest.mark.component

ROLES = ("router", "metrics", "ingress")


def descendants(pid: int) -> list[int]:
    found = []
    for child in children_of(pid):
        found += [child, *descendants(child)]
    return found


def cmdline(pid: int) -> list[str]:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    return []


def http_port(pid: int) -> int | None:
    with contextlib.suppress(OSError):
        for item in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
            if item.startswith(b"SWITCHBOARD_HTTP_PORT="):
                return int(item.split(b"=", 1)[1])
    return None


def ready(pid: int) -> bool:
    port = http_port(pid)
    if port is None:
        return False
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for_running_roles(bench: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Until the bench measures the pipeline and every role it started answers ``/readyz``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if bench.poll() is not None:
            pytest.fail(f"bench exited early ({bench.returncode}): {log.read_text()}")
        roles = [pid for pid in children_of(bench.pid) if "--role" in cmdline(pid)]
        if (
            re.search(r"\d+/\d+ pipeline", log.read_text())
            and len(roles) == len(ROLES)
            and all(ready(pid) for pid in roles)
        ):
            return
        time.sleep(0.2)
    pytest.fail(f"the bench's roles did not get ready within {timeout}s: {log.read_text()}")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("to_group", "as_json"),
    [(False, False), (True, True)],
    ids=[
        "SIGINT to the bench",
        "SIGINT to its process group, as a terminal sends it, with --json",
    ],
)
def test_ctrl_c_stops_the_bench_and_everything_it_started(
    tmp_path: Path, to_group: bool, as_json: bool
) -> None:
    stdout, stderr = tmp_path / "stdout", tmp_path / "stderr"
    json_args = ["--json"] if as_json else []
    with stdout.open("wb") as out, stderr.open("wb") as err:
        bench = subprocess.Popen(
            [sys.executable, "-m", "router.app", "bench", "--events", "4000", *json_args],
            env=clean_env(SWITCHBOARD_KAFKA_SESSION_TIMEOUT_MS=str(TEST_SESSION_TIMEOUT_MS)),
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
            start_new_session=True,  # its own process group, as a shell gives a command
        )
    started: list[int] = []
    try:
        wait_for_running_roles(bench, stderr if as_json else stdout, timeout=90)
        started = descendants(bench.pid)
        assert len(started) >= len(ROLES) + 2, "three roles, a broker and a valkey"
        if to_group:
            os.killpg(bench.pid, signal.SIGINT)
        else:
            bench.send_signal(signal.SIGINT)
        assert bench.wait(timeout=20) == 130
    finally:
        for pid in [bench.pid, *started]:
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        bench.wait(5)

    errors = stderr.read_text()
    assert errors.strip().splitlines()[-1] == "bench interrupted", errors
    assert "Traceback" not in errors + stdout.read_text()
    if as_json:  # stdout is for the report alone, and there is none
        assert stdout.read_text() == ""
        assert re.search(r"^\s+[\d.]+ s  1/\d+ raw produce \.\.\.$", errors, re.MULTILINE)
    assert [pid for pid in started if alive(pid)] == []
