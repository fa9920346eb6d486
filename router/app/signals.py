"""SIGINT and SIGTERM before a command's event loop takes them (``EarlySignals``).

Standard library only: the CLI's entry point takes the signals with it before importing
the rest of the command (some 0.4 s of imports)."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType
from typing import ClassVar, Self

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StartupInterrupted(BaseException):
    """SIGINT or SIGTERM came while a command was starting, before its event loop ran (or
    while a CPU-bound command ran, ``run_interrupting``). Raised at whatever line the main
    thread was on, so, like KeyboardInterrupt, no ``except Exception`` swallows it; unlike
    it, no library turns it into a message of its own (click's "Aborted!")."""


class EarlySignals:
    """SIGINT and SIGTERM from a command's first line until its event loop takes them.

    Left to Python, a Ctrl-C during start-up is a KeyboardInterrupt at whatever line it
    lands on, or nothing at all where the shell started us ignoring SIGINT (a background
    job: ``setsid make dev &``), and SIGTERM ends the process on the spot. Here the first
    signal inside ``raising()`` raises StartupInterrupted, so the start-up unwinds through
    its ``finally`` (what it started is stopped); outside it the signal is kept, and
    ``run_until_signal`` acts on it as soon as its loop runs (the innermost one entered
    is ``EarlySignals.current()``: the CLI's entry point enters one for every command)."""

    _entered: ClassVar[list[EarlySignals]] = []

    def __init__(self) -> None:
        self.received: int | None = None
        self._raising = False
        self._before = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}

    @classmethod
    def current(cls) -> EarlySignals | None:
        return cls._entered[-1] if cls._entered else None

    def __enter__(self) -> Self:
        self.install()
        if self not in self._entered:
            self._entered.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        if self in self._entered:
            self._entered.remove(self)
        for sig, handler in self._before.items():
            if handler is not None:  # None: set outside Python, cannot be put back
                signal.signal(sig, handler)

    def install(self) -> None:
        """Take the signals (again after an event loop, which leaves Python's defaults)."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        del frame
        if self.received is not None:
            return  # the first one is being acted on: the clean-up is not cut short
        self.received = signum
        if self._raising:
            self._raising = False
            raise StartupInterrupted

    @contextlib.contextmanager
    def raising(self) -> Iterator[None]:
        if self.received is not None:
            raise StartupInterrupted
        self._raising = True
        try:
            yield
        finally:
            self._raising = False

    @contextlib.contextmanager
    def handed_over(self) -> Iterator[None]:
        """While an event loop holds the signals: one that comes before it takes them is
        kept (not raised inside the loop's machinery); after it, they are taken back."""
        raising, self._raising = self._raising, False
        try:
            yield
        finally:
            self.install()  # the loop left Python's defaults behind
            self._raising = raising
