"""The rules as a process without a rules role reads them (the ingress: the queues its
actions may name, its readiness, the read API's queues): no watcher, a look at the files'
modification times at most once a second, and a changed ruleset loaded in a worker
thread. A ruleset of a thousand rules takes about a second to load; on the event loop,
every request in flight would wait for it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import structlog

from rules import RuleSet
from rules.errors import RuleSetInvalid
from rules.loader import load_ruleset, rule_files

log = structlog.get_logger("switchboard.read_api")

LOOK_EVERY_S = 1.0


class RulesOnDisk:
    """The rules at ``path`` as last readable. The first read is made at once (nothing
    to serve meanwhile); a later change is loaded off the loop, the previous rules
    serving until it is in. Unreadable rules keep the last readable ones (logged)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._rules: RuleSet | None = None
        self._stamp: tuple[float, ...] | None = None
        self._looked = -LOOK_EVERY_S
        self._loading: asyncio.Task[None] | None = None

    def current(self) -> RuleSet | None:
        now = time.monotonic()
        if now - self._looked < LOOK_EVERY_S or (self._loading and not self._loading.done()):
            return self._rules
        self._looked = now
        stamp = _stamp(self.path)
        if stamp == self._stamp:
            return self._rules
        first = self._stamp is None
        self._stamp = stamp
        if first:
            self._load(stamp)
        else:
            self._loading = asyncio.get_running_loop().create_task(
                asyncio.to_thread(self._load, stamp)
            )
        return self._rules

    def _load(self, stamp: tuple[float, ...]) -> None:
        try:
            self._rules = load_ruleset(self.path) if stamp else None
        except RuleSetInvalid as exc:
            log.warning("read_api_rules_unreadable", path=str(self.path), error=str(exc))


def _stamp(path: Path) -> tuple[float, ...]:
    """The modification times of the files a load reads (``rule_files``)."""
    try:
        files = rule_files(path) if path.is_dir() else [path]
        return tuple(f.stat().st_mtime for f in files if f.suffix in (".yaml", ".yml"))
    except OSError:
        return ()
