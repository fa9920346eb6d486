"""One log line every few seconds for what repeats per request while a backend is down,
counting the lines held back."""

from __future__ import annotations

import pytest

from router.logs import Sampled

pytestmark = pytest.mark.unit


def test_one_line_per_key_every_few_seconds_counting_those_held_back() -> None:
    now = [100.0]
    sampled = Sampled(every_s=5.0, clock=lambda: now[0])
    assert sampled.take("redis") == 0
    assert [sampled.take("redis") for _ in range(3)] == [None, None, None]
    assert sampled.take("kafka") == 0  # another backend has its own line
    now[0] += 5.0
    assert sampled.take("redis") == 3
    assert sampled.take("redis") is None
