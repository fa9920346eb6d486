"""The active ruleset, swapped atomically, never replaced by a broken one.

What triggers a reload (a saved file, SIGHUP) is wired in ``router/app/reload.py``:
this package stays free of files watching and signals."""

from __future__ import annotations

import threading
from pathlib import Path

import structlog

from rules.engine import RuleSet
from rules.errors import RuleError, RuleSetInvalid
from rules.language import warm
from rules.loader import load_ruleset

_log = structlog.get_logger("rules")


class RuleSetHolder:
    """Holds the current RuleSet for ``path`` (a file or a directory).

    Readers take ``holder.current`` once per event and use that object throughout, so a
    reload mid-event cannot mix two rulesets; the swap is one reference assignment.
    The first load raises RuleSetInvalid: a router must not start without rules.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._current = load_ruleset(self.path)
        warm(self._current.languages)  # the detector's models, before the first message
        self._lock = threading.Lock()

    @property
    def current(self) -> RuleSet:
        return self._current

    def reload(self) -> list[RuleError]:
        """Load the path again; on errors log them, keep the last good rules, return them."""
        with self._lock:
            previous = self._current
            try:
                loaded = load_ruleset(self.path)
                warm(loaded.languages)
            except RuleSetInvalid as exc:
                _log.error(
                    "rules.reload_failed",
                    path=str(self.path),
                    kept_version=previous.version,
                    errors=[str(e) for e in exc.errors],
                )
                return exc.errors
            if loaded.hash == previous.hash:
                _log.info("rules.unchanged", path=str(self.path), version=previous.version)
                return []
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
            return []
