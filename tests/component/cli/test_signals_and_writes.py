"""The CLI's promises on signals and on output, met by every command: the first Ctrl-C
or SIGTERM stops a tool at once ("interrupted", exit 130) whenever it comes, its first
half second included, also in the middle of a CPU-bound ``simulate``; ``dev`` run in a
terminal stops on SIGHUP (the terminal closed) and reloads its rules on it otherwise;
and a full disk under ``--out`` or standard output is one line, exit 2."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pty
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from router.app.embedded import free_port
from router.settings import Settings
from tests.component.cli.test_export import a_day as inbound_day
from tests.component.cli.test_export import produce
from tests.component.cli.test_processes import alive, children_of, clean_env
from tests.component.cli.test_report import produce_day
from tests.conftest import settings_env

pytestmark = pytest.mark.component

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "examples" / "staffing"
RULES = ROOT / "rules" / "examples"
DAY = ("--from", "2026-11-24", "--to", "2026-11-24")


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "router.app", *args]


@contextlib.contextmanager
def started(
    args: list[str], env: dict[str, str], *, stdin: int | IO[Any] = subprocess.DEVNULL
) -> Iterator[subprocess.Popen[str]]:
    """The command in a session of its own, as a shell runs it; killed by PID at the end
    if it is still there."""
    proc = subprocess.Popen(
        args,
        env=env,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            for pid in [*children_of(proc.pid), proc.pid]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        proc.communicate(timeout=10)


def wait_for(what: Callable[[], bool], proc: subprocess.Popen[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert proc.poll() is None, f"exited ({proc.returncode}): {proc.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, "not there in time"
        time.sleep(0.01)


# ------------------------------------------------------------------------------ simulate


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_simulate_stops_at_the_first_signal_and_writes_no_page(
    how: signal.Signals, tmp_path: Path
) -> None:
    """The run is CPU-bound (some 4 s here): the signal used to wait for its end (SIGINT:
    the page written, exit 130 without a word) or kill it (SIGTERM: no word at all)."""
    out = tmp_path / "sim.html"
    args = command(
        "simulate", "--roster", str(SAMPLE / "roster.yaml"), "--events",
        str(SAMPLE / "day.jsonl"), "--rules", str(RULES),
        "--against", str(SAMPLE / "roster.yaml"), "--out", str(out),
    )  # fmt: skip
    with started(args, clean_env()) as proc:
        assert proc.stderr is not None
        while "events from" not in (line := proc.stderr.readline()):  # it simulates now
            assert line, proc.communicate()[1]
        time.sleep(0.3)
        proc.send_signal(how)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "interrupted"
    assert "Traceback" not in stderr
    # stopped where it was: a run that went on to its end would have written the page
    assert list(tmp_path.iterdir()) == []  # no page, half or whole


# ------------------------------------------------------------- a signal early in a tool


def has_mapped(pid: int, name: str) -> bool:
    """Whether ``pid`` has loaded a library whose path holds ``name``."""
    with contextlib.suppress(OSError):
        return name in Path(f"/proc/{pid}/maps").read_text()
    return False


@pytest.mark.parametrize("later", [0.0, 0.2, 0.5], ids=["importing", "+0.2s", "+0.5s"])
@pytest.mark.parametrize(
    ("tool", "how"),
    [
        ("report", signal.SIGINT),
        ("report", signal.SIGTERM),
        ("export", signal.SIGINT),
        ("tail", signal.SIGINT),
    ],
    ids=["report-SIGINT", "report-SIGTERM", "export-SIGINT", "tail-SIGINT"],
)
async def test_a_signal_early_in_a_tool_is_one_line(
    settings: Settings, tmp_path: Path, tool: str, how: signal.Signals, later: float
) -> None:
    """From the moment the command imports its modules (orjson is among the first):
    a KeyboardInterrupt traceback (SIGTERM: death without a word) before the fix."""
    args = {
        "report": command("report", *DAY, "--out", str(tmp_path / "r.html")),
        "export": command("export", "inbound", *DAY, "--out", str(tmp_path / "d.jsonl")),
        "tail": command("tail", "tickets", "--follow"),
    }[tool]

    def run() -> tuple[int, str, list[Path]]:
        with started(args, settings_env(settings)) as proc:
            wait_for(lambda: has_mapped(proc.pid, "orjson"), proc, timeout=30)
            time.sleep(later)
            proc.send_signal(how)
            _, stderr = proc.communicate(timeout=30)
        return proc.returncode, stderr, list(tmp_path.iterdir())

    returncode, stderr, files = await asyncio.to_thread(run)
    assert "Traceback" not in stderr
    assert returncode in {0, 130}, stderr  # 0: done, or tail stopped as asked
    if returncode == 130:
        assert stderr.strip().splitlines()[-1] == "interrupted"
        assert files == []


# ------------------------------------------------------------------------------ dev SIGHUP


@contextlib.contextmanager
def ready_dev(stdin: int | IO[Any]) -> Iterator[tuple[subprocess.Popen[str], str]]:
    port = free_port()
    args = command("dev", "--port", str(port))
    with started(args, clean_env(SWITCHBOARD_LOG_LEVEL="info"), stdin=stdin) as proc:
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            try:
                return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, proc, timeout=60)
        yield proc, url


def test_sighup_stops_dev_in_a_terminal() -> None:
    """Closing the terminal sends SIGHUP: dev used to reload its rules and run on,
    holding its port, so the next ``dev`` on it failed."""
    leader, follower = pty.openpty()
    try:
        with ready_dev(stdin=follower) as (proc, _):
            children = children_of(proc.pid)
            proc.send_signal(signal.SIGHUP)
            stdout, stderr = proc.communicate(timeout=30)
    finally:
        os.close(leader)
        os.close(follower)
    assert proc.returncode == 0, stderr
    assert stdout.rstrip().endswith("stopped")
    deadline = time.monotonic() + 10
    while any(alive(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [c for c in children if alive(c)]


def test_sighup_reloads_the_rules_of_dev_without_a_terminal() -> None:
    """``nohup``, a service manager, CI: SIGHUP is the "reload" of every role."""
    with ready_dev(stdin=subprocess.DEVNULL) as (proc, url):
        proc.send_signal(signal.SIGHUP)
        time.sleep(1)
        assert proc.poll() is None
        assert httpx.get(f"{url}/readyz", timeout=5).status_code == 200
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert stdout.rstrip().endswith("stopped")
    assert "rules.unchanged" in stderr  # the reload SIGHUP asked for, nothing to change


# ---------------------------------------------------------------------------- a full disk


FULL = "No space left on device"


@pytest.mark.parametrize(
    ("args", "to_stdout", "said"),
    [
        (["asyncapi", "--out", "/dev/full"], False, f"--out /dev/full: {FULL}"),
        (["asyncapi"], True, f"to standard output: {FULL}"),
        (["rules", "check", str(RULES)], True, f"to standard output: {FULL}"),
        (["report", *DAY, "--out", "/dev/full"], False, f"--out /dev/full: {FULL}"),
        (["export", "inbound", *DAY, "--out", "/dev/full"], False, f"--out /dev/full: {FULL}"),
        (["tail", "tickets"], True, f"to standard output: {FULL}"),
    ],
    ids=["asyncapi --out", "asyncapi >", "rules check >", "report", "export", "tail >"],
)
async def test_a_full_disk_is_one_line_and_exit_2(
    settings: Settings, args: list[str], to_stdout: bool, said: str
) -> None:
    """``/dev/full`` answers every write with ENOSPC: a 40-line traceback before."""
    await produce(settings, inbound_day())
    await produce_day(settings)

    def run() -> subprocess.CompletedProcess[str]:
        with Path("/dev/full").open("w") as full:
            return subprocess.run(
                command(*args),
                env=settings_env(settings),
                stdout=full if to_stdout else subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=ROOT,
                timeout=120,
                check=False,
            )

    done = await asyncio.to_thread(run)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "error" in line.lower()]
    assert errors == [f"error: cannot write {said}"], done.stderr
