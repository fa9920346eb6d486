"""``switchboard dev`` from its first line to its last: a Ctrl-C or SIGTERM at any moment
of start-up stops it as one after start-up does, an embedded server that exits under it
stops it with one line naming that server, and either way nothing it started is left."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from router.app.embedded import free_port
from tests.component.cli.test_processes import ROOT, alive, children_of, clean_env

pytestmark = pytest.mark.component

MARK = "DEV_TEST_MARK"  # inherited by every process dev starts
SIGTERM_BIT = 1 << (signal.SIGTERM - 1)


def marked(mark: str) -> list[int]:
    """Every process whose environment holds ``mark``: dev and whatever it started, even
    once they are orphans that no parent pid leads to."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if f"{MARK}={mark}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
    return [pid for pid in found if alive(pid)]


def catches_sigterm(pid: int) -> bool:
    """Whether ``pid`` has a handler for SIGTERM (``SigCgt`` in its status): Python has
    none of its own, so dev has begun to run its command."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) & SIGTERM_BIT)
    return False


def workdirs(pids: list[int]) -> set[Path]:
    """The directories of the logs that ``pids`` write (their stdout): dev's temporary
    directory. (valkey rewrites its command line, so its --dir cannot be read there.)"""
    dirs = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/1")
            if target.startswith("/"):  # not a child caught between fork and its log file
                dirs.add(Path(target).parent)  # (its stdout still dev's pipe: "pipe:[...]")
    return dirs


@contextlib.contextmanager
def dev(*, sigint_ignored: bool = False) -> Iterator[tuple[subprocess.Popen[str], str, str]]:
    """``switchboard dev`` in a process group of its own, as a shell runs it; with
    ``sigint_ignored``, started ignoring SIGINT as a shell starts a background job
    (``setsid make dev &``). Whatever is left of it at the end is killed."""
    mark, port = uuid.uuid4().hex, free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "router.app", "dev", "--port", str(port)],
        env=clean_env(SWITCHBOARD_LOG_LEVEL="warning", **{MARK: mark}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
        start_new_session=True,
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))  # noqa: PLW1509
        if sigint_ignored
        else None,
    )
    try:
        yield proc, f"http://127.0.0.1:{port}", mark
    finally:
        for pid in [proc.pid, *marked(mark)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.communicate(timeout=10)


def wait_until(what: Callable[[], bool], proc: subprocess.Popen[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        if proc.poll() is not None:
            pytest.fail(f"dev exited ({proc.returncode}): {proc.communicate()[1][-2000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"dev did not get there within {timeout}s")
        time.sleep(0.02)


def ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize("sigint_ignored", [False, True], ids=["foreground", "background job"])
@pytest.mark.parametrize(
    ("moment", "how"),
    [
        pytest.param(moment, how, id=f"{how.name} as {moment}")
        for moment, how in [
            ("its command begins", signal.SIGINT),
            ("the broker starts", signal.SIGINT),
            ("the broker starts", signal.SIGTERM),
            ("a second later", signal.SIGINT),
        ]
    ],
)
def test_a_signal_during_start_up_stops_dev_as_after_it(
    moment: str, how: signal.Signals, sigint_ignored: bool
) -> None:
    """At each moment, about 0.5 s and 1.5 s after the process starts. A signal while
    Python itself starts (its imports) is Python's to handle: not tested here."""
    with dev(sigint_ignored=sigint_ignored) as (proc, _, mark):
        wait_until(lambda: catches_sigterm(proc.pid), proc, timeout=30)
        if moment == "the broker starts":
            wait_until(lambda: bool(children_of(proc.pid)), proc, timeout=30)
        elif moment == "a second later":
            time.sleep(1.0)
        started = children_of(proc.pid)
        dirs = workdirs(started)
        assert all(d.name.startswith("switchboard-") for d in dirs), dirs
        os.killpg(proc.pid, how)
        stdout, stderr = proc.communicate(timeout=15)
        assert proc.returncode == 0, stderr
        assert stdout.rstrip().endswith("stopped")
        if moment != "a second later":  # by then the roles may have served already
            assert stdout.strip().splitlines() == ["stopped"], "no banner of a dev that stops"
        assert "Traceback" not in stderr
        deadline = time.monotonic() + 5
        while marked(mark) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marked(mark) == [], "a broker or valkey outlived dev"
        assert not [c for c in started if alive(c)]
        assert not [d for d in dirs if d.exists()], "the embedded servers' directory is left"


@pytest.mark.parametrize(
    ("server", "named"),
    [("valkey", "Redis server (valkey)"), ("broker", "Kafka broker (Tansu)")],
)
def test_dev_stops_when_an_embedded_server_dies_under_it(server: str, named: str) -> None:
    with dev() as (proc, url, mark):
        wait_until(lambda: ready(url), proc, timeout=60)
        dirs = workdirs(children_of(proc.pid))
        assert len(dirs) == 1, dirs
        victims = [
            pid
            for pid in children_of(proc.pid)
            if server in Path(f"/proc/{pid}/cmdline").read_bytes().decode()
        ]
        assert len(victims) == 1, children_of(proc.pid)
        os.kill(victims[0], signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=10)
        assert proc.returncode == 1, stderr
        stopped = [orjson.loads(line) for line in stderr.splitlines() if '"role_stopped"' in line]
        assert [line["reason"] for line in stopped] == [
            f"the embedded {named} exited (killed by SIGKILL)"
        ]
        assert "start switchboard dev again" in stopped[0]["repair"]
        assert "Traceback" not in stderr
        assert not stdout.rstrip().endswith("stopped")
        deadline = time.monotonic() + 5
        while marked(mark) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marked(mark) == [], "a broker or valkey outlived dev"
        assert not [d for d in dirs if d.exists()], "the embedded servers' directory is left"


@pytest.mark.parametrize("from_option", [True, False], ids=["--rules", "setting"])
def test_broken_dev_rules_name_where_the_path_came_from(tmp_path: Path, from_option: bool) -> None:
    rules = tmp_path / "bad.yaml"
    rules.write_text(
        "version: 1\nqueues: {general: {}}\ndefaults: {queue: general}\n"
        "rules:\n  - {name: r, if: {subjet: x}, then: {queue: general}}\n",
        encoding="utf-8",
    )
    args, env = ["--rules", str(rules)], clean_env()
    if not from_option:
        args, env = [], clean_env(SWITCHBOARD_RULES_PATH=str(rules))
    result = subprocess.run(
        [sys.executable, "-m", "router.app", "dev", "--port", str(free_port()), *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    named = "--rules" if from_option else "SWITCHBOARD_RULES_PATH"
    assert result.stderr.strip().splitlines() == [
        f"{rules}:5:20: unknown field 'subjet' (hint: did you mean 'subject'?)",
        f"error: {named}: {rules}: 1 rule error",
    ]
