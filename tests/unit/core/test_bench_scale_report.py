"""The bench's scale-out figures: the JSON object and the table rows built from them."""

from __future__ import annotations

import pytest
from rich.console import Console
from rich.table import Table

from router.app.bench.report import _scale, _scale_rows
from router.app.bench.scale import Audit, ScaleOut
from router.app.bench.solo import Solo

pytestmark = pytest.mark.unit


def scale(audit: Audit) -> ScaleOut:
    return ScaleOut(
        partitions=6,
        router={
            1: Solo("router", 5000, 5000, 2.0),
            2: Solo("router", 5000, 4000, 1.0, False, 2, 1000),
        },
        timers={1: Solo("timers", 7800, 7800, 4.0), 2: Solo("timers", 7800, 6000, 4.0, True, 2)},
        audit=audit,
    )


CLEAN = Audit(
    records=100,
    distinct_ids=100,
    inbound=40,
    answered=40,
    answered_twice=0,
    timers_fired=30,
    timers_fired_twice=0,
)


def test_the_json_object_has_events_per_s_per_process_count_and_the_audit() -> None:
    out = _scale(scale(CLEAN))
    assert out is not None
    assert out["partitions"] == 6
    assert out["router"] == {"1": 2500, "2": 4000}
    assert out["router_speedup"] == 1.6
    assert out["timers"] == {"1": 1950, "2": 1500}
    assert out["timers_speedup"] == 0.77  # honest: a second process may cost
    assert out["timers_timed_from_spawn"] == ["2"]
    assert out["router_before_all_joined"] == 1000
    assert out["duplicates"] == 0
    assert out["missing"] == 0
    assert _scale(None) is None


def test_every_kind_of_double_processing_counts_as_a_duplicate() -> None:
    twice = Audit(
        records=103,
        distinct_ids=101,
        inbound=40,
        answered=39,
        answered_twice=1,
        timers_fired=30,
        timers_fired_twice=1,
    )
    assert twice.duplicates == 2 + 1 + 1
    assert twice.missing == 1


def test_the_table_shows_both_roles_and_the_verdict() -> None:
    table = Table()
    for _ in range(4):
        table.add_column()
    _scale_rows(table, _scale(scale(CLEAN)))
    console = Console(width=400, record=True)
    console.print(table)
    text = console.export_text()
    assert "router, 2 processes" in text
    assert "timers, 2 processes" in text
    assert "none processed twice: 0 duplicates, 0 missing" in text
    assert "(includes start-up)" in text
