"""Process-wide tuning shared by every role: the consumers and the HTTP ingress."""

from __future__ import annotations

import gc

GC_GEN0_THRESHOLD = 20_000


def tune_gc() -> None:
    """Collect garbage less often while serving. A poll (or a burst of requests)
    allocates hundreds of thousands of short-lived objects (decoded events, models,
    records) and none of them form cycles the next poll needs collected early; CPython's
    default (a collection every 700 allocations, each older one rescanning every
    long-lived client object) cost about a fifth of the router's CPU. The objects of
    start-up (modules, clients, rules) are moved out of the collector's view once
    (``gc.freeze``). Cycles are still collected."""
    gen0, gen1, gen2 = gc.get_threshold()
    if gen0 >= GC_GEN0_THRESHOLD:
        return  # done already (another consumer of this process), or tuned by the operator
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)
