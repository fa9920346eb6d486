"""The reply header patterns share one time budget per message: a text that drives each
search to its own limit costs the budget once, not the limit times the searches."""

from __future__ import annotations

import re
import time

import pytest

from channels.regex_guard import TimeBounded, time_budget

pytestmark = pytest.mark.unit

RUNAWAY = TimeBounded(re.compile(r"(a|aa)+$"), 1.0, "runaway")
TEXT = "a" * 60 + "b"  # no match, found only after trying every way to split the a's


def test_searches_in_one_budget_share_it() -> None:
    """Two searches of 1 s each had held the ingress's event loop 2 s on one email."""
    began = time.perf_counter()
    with time_budget(0.1):
        assert RUNAWAY.search(TEXT) is None
        assert RUNAWAY.findall(TEXT) == []
        assert RUNAWAY.search(TEXT) is None  # spent: at once
    assert time.perf_counter() - began < 0.6


def test_a_budget_spent_leaves_later_messages_their_own() -> None:
    with time_budget(0.05):
        RUNAWAY.search(TEXT)
    with time_budget(1.0):
        assert RUNAWAY.search("aaaa") is not None  # a fresh budget: found
