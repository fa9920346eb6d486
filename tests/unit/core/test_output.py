"""Writing ``--out`` and standard output: a failure part-way (a full disk, Ctrl-C) is one
line naming what could not be written, and leaves no half-written file."""

from __future__ import annotations

import errno
import io
import os
import pty
from pathlib import Path

import pytest

from router.app.output import CannotWrite, GuardedStdout, guarded, staged, write_file
from router.app.reload import hangup_stops
from router.app.signals import StartupInterrupted

pytestmark = pytest.mark.unit

FULL = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def half_staged(out: Path, error: BaseException) -> None:
    """Write half of ``out`` through ``staged``, then fail with ``error``."""
    with staged(out) as part, part.open("wb") as file:
        file.write(b"half a page")
        raise error


def half_guarded(out: Path, error: BaseException) -> None:
    """Write half of ``out`` itself under ``guarded``, then fail with ``error``."""
    with guarded(out):
        out.write_text("half")
        raise error


def test_a_full_disk_part_way_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    with pytest.raises(CannotWrite) as caught:
        half_staged(out, FULL)
    assert str(caught.value) == f"cannot write --out {out}: No space left on device"
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_part_way_keeps_the_file_that_was_there(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    out.write_text("last month's")
    with pytest.raises(CannotWrite):
        half_staged(out, FULL)
    assert out.read_text() == "last month's"
    assert list(tmp_path.iterdir()) == [out]


def test_an_interrupt_part_way_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "day.jsonl"
    with pytest.raises(StartupInterrupted):
        half_staged(out, StartupInterrupted())
    assert list(tmp_path.iterdir()) == []


def test_a_complete_write_replaces_the_file_keeping_its_mode(tmp_path: Path) -> None:
    out = tmp_path / "page.html"
    out.write_text("old")
    out.chmod(0o640)
    assert write_file(out, b"new") == 3
    assert out.read_text() == "new"
    assert out.stat().st_mode & 0o777 == 0o640
    assert list(tmp_path.iterdir()) == [out]


def test_a_device_is_written_as_it_is() -> None:
    with pytest.raises(CannotWrite) as caught:
        write_file(Path("/dev/full"), b"x" * 10_000)
    assert str(caught.value) == "cannot write --out /dev/full: No space left on device"


def test_a_page_its_writer_names_is_put_back_or_removed(tmp_path: Path) -> None:
    """``simulate`` writes its page itself: guarded puts back what was there."""
    kept, new = tmp_path / "kept.html", tmp_path / "new.html"
    kept.write_text("before")
    for path in (kept, new):
        with pytest.raises(StartupInterrupted):
            half_guarded(path, StartupInterrupted())
    assert kept.read_text() == "before"
    assert sorted(tmp_path.iterdir()) == [kept]
    with guarded(new):
        new.write_text("whole")
    assert new.read_text() == "whole"


class Full(io.StringIO):
    def flush(self) -> None:
        raise FULL


def test_standard_output_that_cannot_be_written_is_named() -> None:
    stdout = GuardedStdout(Full())
    stdout.write("text")
    with pytest.raises(CannotWrite) as caught:
        stdout.flush()
    assert str(caught.value) == "cannot write to standard output: No space left on device"


def test_a_closed_pipe_stays_a_broken_pipe() -> None:
    class Closed(io.StringIO):
        def write(self, _: str) -> int:
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    with pytest.raises(BrokenPipeError):
        GuardedStdout(Closed()).write("x")


def test_sighup_stops_dev_in_a_terminal_only(tmp_path: Path) -> None:
    leader, follower = pty.openpty()
    try:
        with open(follower, closefd=False) as terminal:
            assert hangup_stops(terminal)
    finally:
        os.close(leader)
        os.close(follower)
    with (tmp_path / "input").open("w") as file:
        assert not hangup_stops(file)
    assert not hangup_stops(io.StringIO())
    closed = io.StringIO()
    closed.close()
    assert not hangup_stops(closed)
