"""The active ruleset, swapped atomically, never replaced by a broken one.

What triggers a reload (a saved file, SIGHUP) is wired in ``router/app/reload.py``:
this package stays free of files watching and signals."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import structlog

from rules.engine import RuleSet
from rules.errors import Mark, RuleError, RuleSetInvalid
from rules.language import warm
from rules.loader import load_ruleset, rule_files

_log = structlog.get_logger("rules")

ReloadListener = Callable[[bool, RuleSet], None]
"""Told after each reload attempt: whether it succeeded, and the ruleset now active."""


@dataclass(frozen=True, slots=True)
class ReloadFailure:
    """The last reload attempt failed: when, how many errors, which rules still serve."""

    at: datetime
    errors: int
    serving_version: str

    def __str__(self) -> str:
        return (
            f"last reload failed at {self.at.isoformat(timespec='seconds')}: "
            f"{self.errors} error{'s' if self.errors != 1 else ''}; "
            f"serving version {self.serving_version}"
        )


def fingerprint(path: Path) -> str:
    """A hash of the bytes of every rule file under ``path`` (names included), or of the
    reason they cannot be read: equal fingerprints mean the same content is on disk."""
    digest = hashlib.sha256()
    try:
        files = rule_files(path) if path.is_dir() else [path]
        for file in files:
            digest.update(f"{file.name}\0".encode())
            digest.update(file.read_bytes())
            digest.update(b"\0")
    except OSError as exc:
        digest.update(f"unreadable: {exc}".encode())
    return digest.hexdigest()


class RuleSetHolder:
    """Holds the current RuleSet for ``path`` (a file or a directory).

    Readers take ``holder.current`` once per event and use that object throughout, so a
    reload mid-event cannot mix two rulesets; the swap is one reference assignment.
    The first load raises RuleSetInvalid: a router must not start without rules.
    ``detects``: this process detects languages (the router role), so the detector's
    models are loaded with each ruleset, before its first message; the timers role reads
    the language off the ticket and leaves them out (a few hundred MB).
    """

    def __init__(self, path: str | Path, *, detects: bool = True) -> None:
        self.path = Path(path)
        self._detects = detects
        self._current = load_ruleset(self.path)
        self._warm(self._current)
        self._lock = threading.Lock()
        self.last_failure: ReloadFailure | None = None
        """Set when the last reload attempt failed, cleared by the next one that succeeds."""
        self.listeners: list[ReloadListener] = []

    def _warm(self, rules: RuleSet) -> None:
        if self._detects:
            warm(rules.languages)

    @property
    def current(self) -> RuleSet:
        return self._current

    def fingerprint(self) -> str:
        """The content of the rule files now (see ``fingerprint``)."""
        return fingerprint(self.path)

    def ready_note(self) -> str | None:
        """For ``/readyz``: None while the last reload succeeded, else what failed (the
        last good rules still serve, so the router stays ready)."""
        failure = self.last_failure
        return None if failure is None else str(failure)

    def reload(self, expected: str | None = None) -> list[RuleError]:
        """Load the path again; on errors log them, keep the last good rules, return them.

        With ``expected`` (a ``fingerprint``), the files are checked again right before
        the swap: if they changed while loading, nothing is swapped (``rules.reload_deferred``,
        no errors) and the caller's next reload picks up the newer content.
        """
        with self._lock:
            previous = self._current
            try:
                loaded = self._load()
            except RuleSetInvalid as exc:
                if expected is not None and self.fingerprint() != expected:
                    return self._deferred()
                return self._failed(exc.errors)
            if expected is not None and self.fingerprint() != expected:
                return self._deferred()
            self.last_failure = None
            if loaded.hash == previous.hash:
                _log.info("rules.unchanged", path=str(self.path), version=previous.version)
            else:
                self._current = loaded
                _log.info(
                    "rules.reloaded",
                    path=str(self.path),
                    version=loaded.version,
                    hash=loaded.hash,
                    previous_version=previous.version,
                    rules=len(loaded.rules),
                    escalations=len(loaded.escalations),
                )
            self._tell(ok=True)
            return []

    def _load(self) -> RuleSet:
        """The rules on disk, warmed. An exception the loader did not mean to raise (a
        defect: a problem in a file is a located error) is a RuleSetInvalid too, so the
        reload fails as for a bad file, and ``last_failure`` and ``/readyz`` say so: it
        had escaped ``reload`` while the last good rules served on unreported. A file
        that cannot be read is a located error of the loader's own already."""
        try:
            loaded = load_ruleset(self.path)
            self._warm(loaded)
        except RuleSetInvalid:
            raise
        except Exception as exc:
            _log.exception("rules.load_crashed", path=str(self.path))
            error = RuleError(
                Mark(str(self.path), 1, 1),
                f"the rules could not be loaded: {type(exc).__name__}: {exc}",
                "a defect in Switchboard, not a mistake in the file; the last good rules "
                "serve on: please report it with the rules.load_crashed log line",
            )
            raise RuleSetInvalid([error]) from exc
        return loaded

    def _failed(self, errors: list[RuleError]) -> list[RuleError]:
        kept = self._current
        _log.error(
            "rules.reload_failed",
            path=str(self.path),
            kept_version=kept.version,
            errors=[str(e) for e in errors],
        )
        self.last_failure = ReloadFailure(datetime.now(UTC), len(errors), kept.version)
        self._tell(ok=False)
        return errors

    def _deferred(self) -> list[RuleError]:
        _log.info(
            "rules.reload_deferred", path=str(self.path), reason="files changed while loading"
        )
        return []

    def _tell(self, *, ok: bool) -> None:
        for listener in self.listeners:
            listener(ok, self._current)
