"""One small error tree. Callers decide to retry from ``retriable``, never from messages."""

from __future__ import annotations

from typing import TypeVar

E = TypeVar("E", bound=BaseException)


class SwitchboardError(Exception):
    """Base of every error Switchboard raises on purpose."""

    retriable: bool = False


class ConfigError(SwitchboardError):
    """A setting is missing or wrong; ``setting`` names the environment variable."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting
        self.message = message


class InvalidEvent(SwitchboardError):
    """Input that can never be processed: retrying it gives the same answer."""

    def __init__(self, message: str, errors: list[dict[str, object]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class BackendUnavailable(SwitchboardError):
    """Kafka or Redis did not answer in time. Retrying later may succeed."""

    retriable = True
    routine = False  # a retry that needs no operator's eye (``ScriptsReloaded``)

    def __init__(self, backend: str, message: str) -> None:
        super().__init__(f"{backend}: {message}")
        self.backend = backend


class ScriptsReloaded(BackendUnavailable):
    """A Redis node had lost its script cache (a restart, a failover's promoted replica):
    every script is loaded again, and the batch is retried at once. Routine, not a fault:
    whoever retries says so at info."""

    routine = True


class TooLarge(InvalidEvent):
    """Input that cannot fit in the records that would follow from it (HTTP 413)."""

    def __init__(self, message: str, *, pointer: str = "") -> None:
        super().__init__(message, [{"path": pointer, "message": message}])
        self.pointer = pointer


class OutcomeUnknown(BackendUnavailable):
    """The broker took the record but did not confirm it in time: it may have been written.

    A retry with the same idempotency key is safe (the event id is the same)."""


class Unrecoverable(SwitchboardError):
    """The role cannot go on safely (its state or its topics vanished); ``hint`` says how
    an operator repairs it. The process exits non-zero so the orchestrator notices."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(f"{message}; {hint}")
        self.message = message
        self.hint = hint


def cause_of(exc: BaseException, kind: type[E] | tuple[type[E], ...]) -> E | None:
    """``exc`` itself, or the first exception of the chain behind it (each one's
    ``__cause__``, else its ``__context__``) that is a ``kind``: what a client's own
    error wraps (a TLS alert as a connection's end, a refused connection as a timeout)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
