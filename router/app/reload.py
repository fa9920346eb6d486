"""Hot reload of the rules: on a saved file and on SIGHUP. A bad file keeps the last good
rules (``RuleSetHolder.reload``); a file still being written is not loaded until it has
settled (``SETTLE_S``). A process without rules answers SIGHUP too (``answer_sighup``);
``dev`` in a terminal stops on it instead (``hangup_stops``)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

import structlog

from router.observability import Telemetry
from rules import RuleSet, RuleSetHolder

log = structlog.get_logger("switchboard.reload")

SETTLE_S = 2.0
"""A change is applied once the rule files' bytes have not changed for this long. A file
rewritten in place in steps (a copy, an upload, an editor's partial write) can be valid
YAML when cut between two rules, and would otherwise route with half the rules; writes
0.2-1.5 s apart were seen. Only an atomic replace (write elsewhere, rename) is safe from
any writer; this covers the common slow ones at the cost of 2 s before a save applies."""


_sighup_taken = False


def hangup_stops(stdin: TextIO | None = None) -> bool:
    """Whether SIGHUP stops ``dev`` (as Ctrl-C does) instead of reloading its rules: when
    it runs in a terminal (its standard input is one), whose closing sends SIGHUP, and
    leaving it running would keep its port taken. Without a terminal (``nohup``, a
    service manager, a pipe) SIGHUP reloads, as in every role of ``run``."""
    stream = sys.stdin if stdin is None else stdin
    try:
        return stream is not None and stream.isatty()
    except (ValueError, OSError):  # closed or detached
        return False


@contextlib.contextmanager
def sighup_taken() -> Iterator[None]:
    """While the block runs, the process's SIGHUP is someone else's (``dev`` in a
    terminal: a stop): reloads and ``answer_sighup`` leave it alone."""
    global _sighup_taken  # noqa: PLW0603 - a signal's disposition is process-wide too
    _sighup_taken = True
    try:
        yield
    finally:
        _sighup_taken = False


def install_sighup(holder: RuleSetHolder, loop: asyncio.AbstractEventLoop | None = None) -> bool:
    """Reload on SIGHUP (Unix), the conventional "re-read your config" signal: at once, as
    the operator who sends it says the files are ready. False (nothing installed) where
    SIGHUP is taken (``sighup_taken``)."""
    if _sighup_taken:
        return False
    (loop or asyncio.get_running_loop()).add_signal_handler(signal.SIGHUP, holder.reload)
    return True


async def answer_sighup(stop: asyncio.Event, roles: Iterable[str]) -> None:
    """Until ``stop``, answer SIGHUP in a process whose roles hold no rules (ingress,
    metrics, notifier) with one line saying so. SIGHUP's default action is to terminate
    at once: no graceful stop, a notifier cut off mid-batch, for an operator who sent
    every process the documented "reload" signal. Only where this is the main thread's
    loop, as in ``watch_rules``."""
    if threading.current_thread() is not threading.main_thread() or _sighup_taken:
        await stop.wait()
        return
    loop = asyncio.get_running_loop()
    names = ",".join(sorted(roles))

    def nothing_to_reload() -> None:
        log.info("rules.nothing_to_reload", roles=names)

    loop.add_signal_handler(signal.SIGHUP, nothing_to_reload)
    try:
        await stop.wait()
    finally:
        loop.remove_signal_handler(signal.SIGHUP)


async def settled(holder: RuleSetHolder, stop: asyncio.Event, settle_s: float) -> str | None:
    """The rule files' fingerprint once it has stayed the same for ``settle_s``; None when
    ``stop`` is set first."""
    seen = await asyncio.to_thread(holder.fingerprint)
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settle_s)
            return None
        now = await asyncio.to_thread(holder.fingerprint)
        if now == seen:
            return now
        seen = now


async def watch_files(
    holder: RuleSetHolder,
    stop: asyncio.Event,
    *,
    settle_s: float = SETTLE_S,
    **watch_options: Any,
) -> None:
    """Reload whenever a rule file changes and has then settled, until ``stop`` is set.

    The content loaded is the settled content: the holder checks the files again right
    before the swap and defers if they moved (the watcher then sees that change too).
    The parent directory of a single file is watched (editors save by renaming a new file
    over the old one); ``watch_options`` pass through to ``watchfiles.awatch`` (tests use a
    short ``debounce``).
    """
    from watchfiles import Change, awatch

    target = holder.path.resolve()
    directory = target if target.is_dir() else target.parent

    def relevant(_change: Change, changed: str) -> bool:
        path = Path(changed)
        if target.is_dir():  # a Kubernetes ConfigMap swaps its files by renaming ``..data``
            return path.parent == target and (
                path.suffix in (".yaml", ".yml") or path.name == "..data"
            )
        return path == target

    loaded: str | None = None
    async for _ in awatch(
        directory,
        watch_filter=relevant,
        stop_event=stop,
        recursive=False,
        **watch_options,
    ):
        content = await settled(holder, stop, settle_s)
        if content is None:
            return
        if content != loaded:  # changes already applied (or refused) are seen again
            await asyncio.to_thread(holder.reload, content)
            deferred = await asyncio.to_thread(holder.fingerprint) != content
            loaded = None if deferred else content


def export_metrics(holder: RuleSetHolder, telemetry: Telemetry) -> None:
    """Keep ``switchboard_rules_*`` on ``telemetry`` up to date with ``holder``."""
    telemetry.rules_active(holder.current.version, holder.current.hash)

    def record(ok: bool, current: RuleSet) -> None:
        telemetry.rules_reloaded(ok=ok, version=current.version, content_hash=current.hash)

    holder.listeners.append(record)


async def watch_rules(
    holder: RuleSetHolder, stop: asyncio.Event, telemetry: Telemetry | None = None
) -> None:
    """Both triggers until ``stop``; SIGHUP only where this is the main thread's loop.
    With ``telemetry``, every reload is counted on ``/metrics``."""
    if telemetry is not None:
        export_metrics(holder, telemetry)
    on_main = threading.current_thread() is threading.main_thread()
    installed = on_main and install_sighup(holder)
    try:
        await watch_files(holder, stop)
    finally:
        if installed:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
