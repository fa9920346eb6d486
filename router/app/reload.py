"""Hot reload of the rules: on a saved file and on SIGHUP. A bad file keeps the last good
rules (``RuleSetHolder.reload``)."""

from __future__ import annotations

import asyncio
import signal
import threading
from pathlib import Path
from typing import Any

from rules import RuleSetHolder


def install_sighup(holder: RuleSetHolder, loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Reload on SIGHUP (Unix), the conventional "re-read your config" signal."""
    (loop or asyncio.get_running_loop()).add_signal_handler(signal.SIGHUP, holder.reload)


async def watch_files(holder: RuleSetHolder, stop: asyncio.Event, **watch_options: Any) -> None:
    """Reload whenever a rule file changes, until ``stop`` is set.

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

    async for _ in awatch(
        directory,
        watch_filter=relevant,
        stop_event=stop,
        recursive=False,
        **watch_options,
    ):
        await asyncio.to_thread(holder.reload)


async def watch_rules(holder: RuleSetHolder, stop: asyncio.Event) -> None:
    """Both triggers until ``stop``; SIGHUP only where this is the main thread's loop."""
    on_main = threading.current_thread() is threading.main_thread()
    if on_main:
        install_sighup(holder)
    try:
        await watch_files(holder, stop)
    finally:
        if on_main:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
