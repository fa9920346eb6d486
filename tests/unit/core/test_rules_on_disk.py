"""The ingress's view of the rules (``RulesOnDisk``): a change is loaded in a worker
thread while the previous rules serve (a thousand rules take a second to load, which
every request in flight would otherwise wait for), and unreadable rules keep the last
readable ones."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from router.app import rules_on_disk
from router.app.rules_on_disk import RulesOnDisk

pytestmark = pytest.mark.unit

RULES = "version: {v}\nqueues: {{general: {{}}, {q}: {{}}}}\ndefaults: {{queue: general}}\n"


def write(path: Path, text: str, stamp: float) -> None:
    path.write_text(text, encoding="utf-8")
    os.utime(path, (stamp, stamp))


async def test_a_change_is_loaded_off_the_loop_while_the_last_rules_serve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "rules.yaml"
    write(path, RULES.format(v=1, q="billing"), 1_000)
    view = RulesOnDisk(path)
    first = view.current()
    assert first is not None
    assert "billing" in first.queues

    loaders: list[threading.Thread] = []
    real = rules_on_disk.load_ruleset

    def load(p: Path) -> object:
        loaders.append(threading.current_thread())
        return real(p)

    monkeypatch.setattr(rules_on_disk, "load_ruleset", load)
    monkeypatch.setattr(rules_on_disk, "LOOK_EVERY_S", 0.0)
    write(path, RULES.format(v=1, q="refunds"), 2_000)
    assert view.current() is first  # the change is being loaded; the last rules serve
    for _ in range(200):
        await asyncio.sleep(0.01)
        rules = view.current()
        if rules is not first:
            break
    assert rules is not None
    assert "refunds" in rules.queues
    assert loaders
    assert threading.main_thread() not in loaders

    write(path, "version: 1\nqueues: [", 3_000)  # unreadable: the last readable serve on
    for _ in range(50):
        await asyncio.sleep(0.01)
        assert view.current() is rules


async def test_the_files_are_looked_at_once_a_second_at_most(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    write(path, RULES.format(v=1, q="billing"), 1_000)
    view = RulesOnDisk(path)
    first = view.current()
    write(path, RULES.format(v=1, q="refunds"), 2_000)
    assert all(view.current() is first for _ in range(100))  # not looked at yet
