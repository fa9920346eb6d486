"""Hot reload: the active ruleset, swapped atomically, never replaced by a broken one."""

from __future__ import annotations

import asyncio
import signal
import threading
from pathlib import Path
from typing import Any

import structlog

from rules.engine import RuleSet
from rules.errors import RuleError, RuleSetInvalid
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

    def install_sighup(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Reload on SIGHUP (Unix), the conventional "re-read your config" signal."""
        (loop or asyncio.get_running_loop()).add_signal_handler(signal.SIGHUP, self.reload)

    async def watch(self, stop_event: asyncio.Event, **watch_options: Any) -> None:
        """Reload whenever a rule file changes, until ``stop_event`` is set.

        The parent directory of a single file is watched (editors save by renaming a
        new file over the old one); ``watch_options`` pass through to
        ``watchfiles.awatch`` (tests use a short ``debounce``).
        """
        from watchfiles import Change, awatch

        target = self.path.resolve()
        directory = target if target.is_dir() else target.parent

        def relevant(_change: Change, changed: str) -> bool:
            path = Path(changed)
            if target.is_dir():
                return path.parent == target and path.suffix in (".yaml", ".yml")
            return path == target

        async for _ in awatch(
            directory,
            watch_filter=relevant,
            stop_event=stop_event,
            recursive=False,
            **watch_options,
        ):
            await asyncio.to_thread(self.reload)
