"""Ctrl-C and SIGTERM on the CLI: a report, a check or an export stops at the first
signal (exit 130); a role shuts down gracefully at the first and stops at the second.
And a whole-topic read that the broker never lets finish ends with a warning."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import pytest
from structlog.testing import capture_logs

from router.app import reading
from router.settings import Settings
from router.topics import Topic

pytestmark = pytest.mark.unit

PROGRAM = """
import asyncio, os, signal
import typer
from router.app.console import run_until_signal

async def main(stop):
    loop = asyncio.get_running_loop()
    for delay in (0.2, 0.6):
        loop.call_later(delay, os.kill, os.getpid(), signal.SIGINT)
    {body}

try:
    run_until_signal(main, interruptible={interruptible})
except typer.Exit as exc:  # what the CLI turns into the exit code
    raise SystemExit(exc.exit_code) from None
"""


def run(body: str, *, interruptible: bool) -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(PROGRAM).format(body=body, interruptible=interruptible)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=20, check=False
    )


def test_an_interruptible_command_stops_at_the_first_signal() -> None:
    done = run("await asyncio.sleep(30)", interruptible=True)
    assert done.returncode == 130, done.stderr
    assert done.stderr.strip() == "interrupted"


def test_a_role_stops_gracefully_at_the_first_signal() -> None:
    done = run("await stop.wait()", interruptible=False)
    assert (done.returncode, done.stderr) == (0, "")


def test_a_command_that_does_not_stop_is_stopped_by_the_second_signal() -> None:
    done = run("await asyncio.sleep(30)", interruptible=False)
    assert done.returncode == 130, done.stderr


START_UP = """
import os, signal, sys, time
import typer
from router.app.console import EarlySignals, StartupInterrupted, run_until_signal

if {ignored}:  # as a shell starts a background job
    signal.signal(signal.SIGINT, signal.SIG_IGN)

async def main(stop):
    print("stop set before main:", stop.is_set())

with EarlySignals() as early:
    try:
        with early.raising():
            os.kill(os.getpid(), signal.{signal})
            time.sleep(5)  # a start-up step the signal must cut short
            print("start-up went on")
    except StartupInterrupted:
        print("start-up interrupted")
    finally:
        print("cleaned up")
    os.kill(os.getpid(), signal.{signal})  # kept: the loop acts on it at once
    try:
        run_until_signal(main, early=early)
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
"""


@pytest.mark.parametrize(
    ("sig", "ignored"), [("SIGINT", False), ("SIGINT", True), ("SIGTERM", False)]
)
def test_a_signal_before_the_event_loop_is_not_lost(sig: str, ignored: bool) -> None:
    """During start-up it unwinds the start-up through its ``finally``; between the
    start-up and the loop it is kept, and the loop's ``stop`` is set from the start."""
    code = textwrap.dedent(START_UP).format(signal=sig, ignored=ignored)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=20, check=False
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == [
        "start-up interrupted",
        "cleaned up",
        "stop set before main: True",
    ]


class PhantomEnd:
    """A consumer whose partition 0 reports an end offset of 3 but hands out 2 records."""

    def __init__(self, *_: Any, **__: Any) -> None:
        self.served = False
        self.position_of = 0

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def topics(self) -> set[str]:
        return {"sb.tickets"}

    def partitions_for_topic(self, _: str) -> set[int]:
        return {0}

    def assign(self, _: Any) -> None: ...

    async def seek_to_beginning(self, *_: Any) -> None: ...

    async def end_offsets(self, tps: list[Any]) -> dict[Any, int]:
        return dict.fromkeys(tps, 3)

    async def getmany(self, **_: Any) -> dict[Any, list[str]]:
        if self.served:
            return {}
        self.served, self.position_of = True, 2
        return {0: ["r0", "r1"]}

    async def position(self, _: Any) -> int:
        return self.position_of


async def test_a_read_the_broker_never_lets_finish_ends_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reading, "AIOKafkaConsumer", PhantomEnd)
    settings = Settings(kafka={"bootstrap_servers": "unused:9092"}, topic_prefix="sb")
    with capture_logs() as logs:
        batches = [b async for b in reading.read_through(settings, Topic.TICKETS, stall_s=0.1)]
    assert batches == [["r0", "r1"]]
    [warning] = [e for e in logs if e["event"] == "topic_read_incomplete"]
    assert warning["partitions"] == {0: "2 of 3"}
