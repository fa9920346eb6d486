"""Hot reload through symlinks: a re-pointed ``rules.yaml`` link and a Kubernetes ConfigMap
volume, whose kubelet swaps ``..data`` and deletes the old version's directory, are
applied every time, not just the first."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from router.app import reload
from router.app.reload import watch_files
from rules import RuleSetHolder

pytestmark = pytest.mark.unit

GOOD = "version: 1\nqueues: {general: {}, billing: {}}\ndefaults: {queue: general}\n"
BILLING = GOOD.replace("queue: general}", "queue: billing}")
ONE_RULE = GOOD + "rules:\n  - {name: r, if: {text: {contains: [w]}}, then: {queue: billing}}\n"

NO_SAFETY_NET = {"rust_timeout": 60_000}
"""The watcher also re-reads the rules when nothing happened for a while; these tests
prove the changes are seen as they happen, so that re-read never comes."""


async def _wait_for(predicate: Callable[[], bool], seconds: float = 30.0) -> bool:
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return False


@asynccontextmanager
async def watching(
    holder: RuleSetHolder, safety_net: dict[str, int] = NO_SAFETY_NET
) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    watcher = asyncio.create_task(
        watch_files(holder, stop, settle_s=0.1, debounce=50, step=10, **safety_net)
    )
    try:
        await asyncio.sleep(1.0)  # the watch is armed (a loaded machine takes its time)
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(watcher, timeout=5)


def repoint(link: Path, target: str) -> None:
    """``ln -sfn target link.tmp && mv -T link.tmp link``: an atomic symlink swap."""
    temporary = link.with_name(f".{link.name}.tmp")
    temporary.symlink_to(target)
    temporary.rename(link)


def configmap_update(mount: Path, version: str, text: str) -> None:
    """What the kubelet does: write the new version's directory, rename a new ``..data``
    symlink over the old one, delete the old version's directory."""
    old = (mount / "..data").resolve() if (mount / "..data").exists() else None
    new = mount / version
    new.mkdir()
    (new / "rules.yaml").write_text(text, encoding="utf-8")
    repoint(mount / "..data", version)
    if old is not None:
        shutil.rmtree(old)


def queue(holder: RuleSetHolder) -> str:
    return holder.current.defaults.queue


async def test_a_repointed_rules_symlink_is_applied_every_time(tmp_path: Path) -> None:
    releases = tmp_path / "releases"
    releases.mkdir()
    (releases / "a.yaml").write_text(GOOD, encoding="utf-8")
    (releases / "b.yaml").write_text(BILLING, encoding="utf-8")
    (releases / "c.yaml").write_text(ONE_RULE, encoding="utf-8")
    link = tmp_path / "rules.yaml"
    link.symlink_to("releases/a.yaml")
    holder = RuleSetHolder(link)

    async with watching(holder):
        await asyncio.to_thread(repoint, link, "releases/b.yaml")
        assert await _wait_for(lambda: queue(holder) == "billing")
        await asyncio.to_thread(repoint, link, "releases/c.yaml")
        assert await _wait_for(lambda: len(holder.current.rules) == 1)
        # the release now pointed at, edited in place, is applied too
        await asyncio.to_thread((releases / "c.yaml").write_text, GOOD, "utf-8")
        assert await _wait_for(lambda: len(holder.current.rules) == 0)
    assert holder.ready_note() is None


@pytest.mark.parametrize("rules_path", ["rules.yaml", "."], ids=["file", "directory"])
async def test_a_configmap_volume_updated_three_times_applies_each(
    tmp_path: Path, rules_path: str
) -> None:
    """``SWITCHBOARD_RULES_PATH`` is the mount's ``rules.yaml`` (``-> ..data/rules.yaml``)
    or the mount itself; the second and later updates used to be lost."""
    configmap_update(tmp_path, "..2026_12_04_10_00_00.1", GOOD)
    (tmp_path / "rules.yaml").symlink_to("..data/rules.yaml")
    holder = RuleSetHolder(tmp_path / rules_path)
    assert queue(holder) == "general"
    # A directory's watch moves with each swap, and a swap while it moves is seen by the
    # re-read (every 5 s in service; 1 s here); the file case is seen as it happens.
    net = NO_SAFETY_NET if rules_path == "rules.yaml" else {"rust_timeout": 1_000}

    async with watching(holder, net):
        await asyncio.to_thread(configmap_update, tmp_path, "..2026_12_04_10_05_00.2", BILLING)
        assert await _wait_for(lambda: queue(holder) == "billing")
        await asyncio.to_thread(configmap_update, tmp_path, "..2026_12_04_10_10_00.3", ONE_RULE)
        assert await _wait_for(lambda: len(holder.current.rules) == 1)
        await asyncio.to_thread(configmap_update, tmp_path, "..2026_12_04_10_15_00.4", GOOD)
        assert await _wait_for(lambda: len(holder.current.rules) == 0)
    assert queue(holder) == "general"
    assert holder.ready_note() is None


async def test_a_swap_made_while_the_watches_move_is_applied_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kubelet's next update can land between one watch closing and the next being
    armed (the watches move after every swap), where no event is made: it is applied
    when the new watch is in place, not at the next re-read (minutes away here)."""
    configmap_update(tmp_path, "..2026_12_04_10_00_00.1", GOOD)
    (tmp_path / "rules.yaml").symlink_to("..data/rules.yaml")
    holder = RuleSetHolder(tmp_path / "rules.yaml")
    real = reload.watched_directories
    swaps = iter([("..2026_12_04_10_05_00.2", BILLING)])

    def swap_then_look(path: Path) -> frozenset[Path]:
        directories = real(path)
        for version, text in swaps:  # once, while no watch is armed
            configmap_update(tmp_path, version, text)
        return directories

    monkeypatch.setattr(reload, "watched_directories", swap_then_look)
    async with watching(holder):
        assert await _wait_for(lambda: queue(holder) == "billing", seconds=10)


async def test_a_watch_that_fails_is_armed_again_and_later_edits_apply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """watchfiles raises its own errors (``WatchfilesRustInternalError``, a signal in its
    thread); the file watch had ended with the first, and no edit applied after it."""
    import watchfiles

    real = watchfiles.awatch
    calls = 0

    def failing_once(*paths: Path, **options: object) -> AsyncIterator[object]:
        nonlocal calls
        calls += 1
        if calls > 1:
            return real(*paths, **options)  # type: ignore[arg-type]

        async def broken() -> AsyncIterator[object]:
            raise watchfiles.WatchfilesRustInternalError("watch error")
            yield  # an async generator

        return broken()

    monkeypatch.setattr(watchfiles, "awatch", failing_once)
    rules = tmp_path / "rules.yaml"
    rules.write_text(GOOD)
    holder = RuleSetHolder(rules)
    async with watching(holder):
        rules.write_text(BILLING)
        assert await _wait_for(lambda: queue(holder) == "billing", seconds=15)
    assert calls >= 2


async def test_a_walk_that_races_a_swap_is_tried_again_and_later_edits_apply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The walk of the watched directories lists a ConfigMap's version directory the
    kubelet may be deleting: its FileNotFoundError had ended the watch for good, and
    leaving the watch then set the process's stop event (the cause of a ConfigMap test
    that failed on a loaded machine)."""
    real = reload.watched_directories
    calls = 0

    def racing(path: Path) -> frozenset[Path]:
        nonlocal calls
        calls += 1
        if calls == 2:  # the first walk of the loop: the one that had no try around it
            raise FileNotFoundError(2, "No such file or directory", str(path))
        return real(path)

    monkeypatch.setattr(reload, "watched_directories", racing)
    rules = tmp_path / "rules.yaml"
    rules.write_text(GOOD)
    holder = RuleSetHolder(rules)
    async with watching(holder, {"rust_timeout": 1_000}) as stop:
        rules.write_text(BILLING)
        assert await _wait_for(lambda: queue(holder) == "billing", seconds=15)
        # the watch left with its first step waiting: watchfiles sets the stop event it
        # was given, which had been the process's own, stopping every role
        assert not stop.is_set()
    assert calls >= 3
