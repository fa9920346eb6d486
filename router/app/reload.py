"""Hot reload of the rules: on a saved file and on SIGHUP. A bad file keeps the last good
rules (``RuleSetHolder.reload``); a file still being written is not loaded until it has
settled (``SETTLE_S``). A process without rules answers SIGHUP too (``answer_sighup``);
``dev`` in a terminal stops on it instead (``hangup_stops``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

import structlog

from router.observability import Telemetry
from rules import RuleSet, RuleSetHolder
from rules.loader import rule_files

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


class ReloadInThread:
    """Reloads asked for on the event loop (SIGHUP), each run in a worker thread: a large
    ruleset takes seconds to load, and the loop must keep serving Kafka heartbeats and
    ``/healthz`` meanwhile. One runs at a time; asks during it queue one more reload
    (which reads the files as they are then), not one per ask."""

    def __init__(self, holder: RuleSetHolder) -> None:
        self._holder = holder
        self._running: asyncio.Task[None] | None = None
        self._again = False

    def request(self) -> None:
        """Start a reload, or queue one after the running one. On the loop's thread."""
        if self._running is not None and not self._running.done():
            self._again = True
            log.info("rules.reload_queued", path=str(self._holder.path))
            return
        self._running = asyncio.get_running_loop().create_task(self._reload_until_caught_up())

    async def _reload_until_caught_up(self) -> None:
        self._again = True
        while self._again:
            self._again = False
            try:
                await asyncio.to_thread(self._holder.reload)
            except Exception:  # the last good rules serve on; the log says why
                log.exception("rules.reload_crashed", path=str(self._holder.path))


def install_sighup(holder: RuleSetHolder, loop: asyncio.AbstractEventLoop | None = None) -> bool:
    """Reload on SIGHUP (Unix), the conventional "re-read your config" signal: at once, as
    the operator who sends it says the files are ready, off the loop (``ReloadInThread``).
    False (nothing installed) where SIGHUP is taken (``sighup_taken``)."""
    if _sighup_taken:
        return False
    reloads = ReloadInThread(holder)
    (loop or asyncio.get_running_loop()).add_signal_handler(signal.SIGHUP, reloads.request)
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


WATCH_RETRY_S = 1.0
"""How long after a failed watch (an error of the watcher's own, a signal in its thread)
the rules are watched again."""

RECHECK_MS = 5_000
"""With no file event for this long, the rules are read again anyway (and applied if they
differ): a safety net for a change no watch saw, such as one made while the watches were
being moved to a newly pointed-at directory."""

_MAX_SYMLINKS = 40
"""As the kernel's limit: a symlink loop ends the walk instead of spinning."""


def _symlink_directories(path: Path) -> tuple[set[Path], Path]:
    """Walk ``path`` one name at a time, as the kernel resolves it: the directories that
    hold a symlink on the way (where one is re-pointed, as the kubelet does with
    ``..data``), and where the walk ends (the file or directory finally read)."""
    holders: set[Path] = set()
    pending = list(reversed(path.absolute().parts))
    current = Path(pending.pop())
    hops = 0
    while pending:
        name = pending.pop()
        if name == "..":
            current = current.parent
            continue
        candidate = current / name
        if candidate.is_symlink() and hops < _MAX_SYMLINKS:
            hops += 1
            holders.add(current)
            target = Path(os.readlink(candidate))
            if target.is_absolute():
                current = Path(target.anchor)
            pending.extend(reversed(target.parts[1 if target.is_absolute() else 0 :]))
            continue
        current = candidate
    return holders, current


def watched_directories(path: Path) -> frozenset[Path]:
    """The directories whose entries decide what the rules at ``path`` read: the one that
    holds ``path`` as named (a symlink re-pointed there), every one holding a symlink on
    the way to the files, and the one holding each file read (a file edited in place);
    for a directory ruleset, the directory itself. Only those that exist."""
    holders, end = _symlink_directories(path)
    directories = {path.absolute().parent, *holders}
    if end.is_dir():
        directories.add(end)
        for file in rule_files(end):
            more, file_end = _symlink_directories(file)
            directories |= {*more, file_end.parent}
    else:
        directories.add(end.parent)
    return frozenset(d for d in directories if d.is_dir())


async def apply_if_changed(
    holder: RuleSetHolder, stop: asyncio.Event, settle_s: float, loaded: str | None
) -> str | None:
    """Reload when the rule files' content differs from ``loaded`` (the fingerprint last
    applied or refused), once it has settled; the fingerprint now applied or refused,
    None when the files moved during the load (the next check tries again). Content, not
    file names, decides: a symlink swap anywhere on the path changes what is read."""
    if loaded is not None and await asyncio.to_thread(holder.fingerprint) == loaded:
        return loaded
    content = await settled(holder, stop, settle_s)
    if content is None or content == loaded:
        return loaded
    await asyncio.to_thread(holder.reload, content)
    deferred = await asyncio.to_thread(holder.fingerprint) != content
    return None if deferred else content


async def watch_files(
    holder: RuleSetHolder,
    stop: asyncio.Event,
    *,
    settle_s: float = SETTLE_S,
    **watch_options: Any,
) -> None:
    """Reload whenever the rule files' content changes and has then settled, until
    ``stop`` is set.

    Every batch of events in the ``watched_directories`` (and every ``RECHECK_MS``
    without one) re-reads the rules through ``holder.path`` as named, so what counts is
    what a load would read now: editors renaming a new file over the old one, a
    re-pointed symlink, a ConfigMap's ``..data`` swap. When a swap moves where the links
    lead, the watches move with it (the kubelet deletes the old version's directory).
    The content loaded is the settled content: the holder checks the files again right
    before the swap and defers if they moved. ``watch_options`` pass through to
    ``watchfiles.awatch`` (tests use a short ``debounce``).
    """
    from watchfiles import awatch

    options: dict[str, Any] = {"rust_timeout": RECHECK_MS, **watch_options}
    loaded: str | None = await asyncio.to_thread(holder.fingerprint)
    while not stop.is_set():
        try:
            # the walk races the swaps it follows: a directory it lists can vanish
            directories = await asyncio.to_thread(watched_directories, holder.path)
            with contextlib.suppress(FileNotFoundError):  # one vanished before it was watched
                async for _ in armed_then_changes(
                    awatch(
                        *directories,
                        stop_event=WatchStop(stop),
                        recursive=False,
                        yield_on_timeout=True,
                        **options,
                    )
                ):
                    loaded = await apply_if_changed(holder, stop, settle_s, loaded)
                    if await asyncio.to_thread(watched_directories, holder.path) != directories:
                        break
        except Exception:  # the watch failed (watchfiles' own errors), or the walk did
            # the watch ended, not the rules: watched again, so later edits still apply
            log.warning("rules_watch_failed", path=str(holder.path), exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), WATCH_RETRY_S)


class WatchStop(asyncio.Event):
    """The stop event one watch is given: set when ``stop`` is, and settable by the watch
    alone. watchfiles sets its stop event when its step is cancelled (a watch left while
    its first step still waits, as on a ConfigMap swap or a failed walk): given the
    process's own, it had stopped every role of the process."""

    def __init__(self, stop: asyncio.Event) -> None:
        super().__init__()
        self._stop = stop

    def is_set(self) -> bool:
        return super().is_set() or self._stop.is_set()


async def armed_then_changes(batches: AsyncIterator[object]) -> AsyncIterator[None]:
    """Once as soon as ``batches`` (an ``awatch``) has armed its watch, then once per
    batch it yields. A change made before the watch was armed (at start, or while the
    watches moved after a swap: the next ConfigMap update can follow the last at once)
    makes no event; the first look finds it instead of the ``RECHECK_MS`` re-read.

    ``awatch`` arms in its first step, before it first waits for the watch thread, so
    one pass of the loop after starting that step the watch is in place."""
    first = asyncio.ensure_future(anext(batches))
    try:
        await asyncio.sleep(0)
        yield None
        try:
            await first
        except StopAsyncIteration:  # stopped before its first batch
            return
        yield None
        async for _ in batches:
            yield None
    finally:
        if not first.done():
            first.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await first
        aclose = getattr(batches, "aclose", None)
        if aclose is not None:
            await aclose()


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
