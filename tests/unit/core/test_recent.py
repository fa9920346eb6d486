"""The timers role's in-process memories stay bounded: the oldest entry goes first."""

from __future__ import annotations

import pytest

from consumers.recent import Recent

pytestmark = pytest.mark.unit


def test_the_oldest_entry_is_forgotten_past_the_bound() -> None:
    recent: Recent[int] = Recent(3)
    for i in range(5):
        recent.remember(f"m{i}", i)

    assert dict(recent) == {"m2": 2, "m3": 3, "m4": 4}
    assert "m0" not in recent


def test_setting_a_known_entry_again_keeps_its_place() -> None:
    recent: Recent[int] = Recent(2)
    recent.remember("a", 1)
    recent.remember("b", 2)
    recent.remember("a", 3)
    recent.remember("c", 4)

    assert dict(recent) == {"b": 2, "c": 4}
