"""Writing what a command was asked for (its ``--out`` file, its standard output) so that
a failure is one line, not a traceback, and no half-written file is left behind.

``staged`` writes a regular file under a temporary name beside it and puts it in place
only once it is complete: a full disk, an error or Ctrl-C part-way leaves the file as it
was (or absent). ``CannotWrite`` is what the CLI turns into ``error: cannot write ...``,
exit 2 (``router.app.cli.main``)."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO


class CannotWrite(Exception):
    """Writing ``what`` (``--out FILE``, ``to standard output``) failed for ``reason``."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"cannot write {what}: {reason}")
        self.what, self.reason = what, reason


def reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _regular_or_absent(path: Path) -> bool:
    """A file that a rename can replace: not there yet, or a regular file. A device
    (``/dev/full``, ``/dev/stdout``) or a pipe is written to as it is."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:  # not there (or not to be looked at: creating it will say why)
        return True


@contextlib.contextmanager
def staged(path: Path, option: str = "--out", *, private: bool = False) -> Iterator[Path]:
    """The path to write ``path`` through: for a regular file (or none yet), a new file
    beside it that replaces it (keeping an existing file's mode) once the block ends
    without error; whatever ends the block otherwise (a full disk, Ctrl-C) removes it,
    and ``path`` is left as it was. A device or a pipe is yielded itself. An OSError
    writing the yielded path (or putting it in place) raises CannotWrite naming
    ``option``; any other error passes through. ``private``: the file is its owner's
    alone (a new one 0600 whatever the umask, one replaced keeps only its owner's
    bits): it holds customers' data."""
    what = f"{option} {path}"
    final = path.resolve()  # a symbolic link's target is replaced, not the link
    part = final.with_name(f".{final.name}.{secrets.token_hex(4)}.part")
    in_place = not _regular_or_absent(final)
    if not in_place:
        try:
            mode = 0o600 if private else 0o666  # and the umask
            os.close(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))
        except OSError as exc:
            if not final.exists():
                raise CannotWrite(what, reason(exc)) from None
            in_place = True  # a writable file in a directory that takes no new files
    if in_place:
        try:
            yield path
        except OSError as exc:
            if exc.filename not in (None, str(path)):
                raise
            raise CannotWrite(what, reason(exc)) from None
        return
    try:
        yield part
        if final.exists():
            shutil.copymode(final, part)
            if private:  # an earlier export's mode, without the group's and others' bits
                os.chmod(part, stat.S_IMODE(part.stat().st_mode) & 0o700)
        os.replace(part, final)
    except OSError as exc:
        if exc.filename not in (None, str(part), str(final)):
            raise
        raise CannotWrite(what, reason(exc)) from None
    finally:
        part.unlink(missing_ok=True)


@contextlib.contextmanager
def guarded(path: Path, option: str = "--out") -> Iterator[None]:
    """For a writer that writes ``path`` itself (``simulate``'s page): whatever ends the
    block but success (a full disk, Ctrl-C) puts back the file that was there (a copy is
    kept aside meanwhile) or removes what was written, so no half-written file is left.
    An OSError writing ``path`` raises CannotWrite naming ``option``."""
    final = path.resolve()
    regular = _regular_or_absent(final)
    existed = final.exists()
    kept: Path | None = None
    if regular and existed:
        kept = final.with_name(f".{final.name}.{secrets.token_hex(4)}.orig")
        try:
            shutil.copy2(final, kept)
        except OSError:  # a directory that takes no new files: nothing to put back
            kept.unlink(missing_ok=True)
            kept = None
    try:
        yield
    except BaseException as exc:
        if regular:
            with contextlib.suppress(OSError):
                if kept is not None:
                    os.replace(kept, final)
                elif not existed:
                    final.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename in (None, str(path), str(final)):
            raise CannotWrite(f"{option} {path}", reason(exc)) from None
        raise
    finally:
        if kept is not None:
            kept.unlink(missing_ok=True)


def write_file(path: Path, data: bytes, option: str = "--out") -> int:
    """``data`` to ``path`` as ``staged`` writes it; the bytes written."""
    with staged(path, option) as part:
        part.write_bytes(data)
    return len(data)


class GuardedStdout:
    """Standard output whose write errors (a full disk, an I/O error) raise CannotWrite
    naming it, where Python's would be a traceback out of whatever line printed. A closed
    pipe (``| head``) stays a BrokenPipeError, which click ends quietly."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise CannotWrite("to standard output", reason(exc)) from None

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise CannotWrite("to standard output", reason(exc)) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def drop_stdout() -> None:
    """After a failed write to standard output: what is still buffered goes nowhere, so
    the interpreter's final flush cannot fail a second time."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
