"""CPU-time bounds for the tests that guard parsers against super-linear input.

A hostile input's cost is asserted in CPU seconds of this process
(``time.process_time``), not in wall-clock time: the suite runs several tests side
by side on few cores, where a wall-clock bound fails on a busy machine while the code
is fine. Each bound sits well below what its input cost before the parser was bounded,
so a quadratic path coming back still fails the test.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cpu_budget(seconds: float) -> Iterator[None]:
    """Assert that the block uses under ``seconds`` of this process's CPU time."""
    started = time.process_time()
    yield
    took = time.process_time() - started
    assert took < seconds, f"{took:.2f} s of CPU, over the budget of {seconds} s"
