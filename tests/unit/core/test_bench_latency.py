"""The latency loads send events as the ingress would: stamped with the moment they leave."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from router.app.bench.events import inbound_events
from router.app.bench.latency import stamped
from router.codec import decode_event

pytestmark = pytest.mark.unit


def test_a_sent_event_carries_its_send_time_and_keeps_everything_else() -> None:
    (_, value), *_ = inbound_events(1, customers=1)
    sent_ms = datetime(2026, 12, 4, 21, 30, 5, 250_000, tzinfo=UTC).timestamp() * 1000

    before, after = decode_event(value), decode_event(stamped(value, sent_ms))

    assert after.time == datetime(2026, 12, 4, 21, 30, 5, 250_000, tzinfo=UTC)
    assert before.time != after.time
    assert after.model_dump(exclude={"time"}) == before.model_dump(exclude={"time"})
    assert orjson.loads(stamped(value, sent_ms))["time"].endswith("Z")


def test_each_load_row_sets_the_router_alone_next_to_the_pipeline_and_the_passthrough() -> None:
    from router.app.bench.latency import LoadLatency
    from router.app.bench.pipeline import PipelineRun
    from router.app.bench.report import Measured, build_report

    def load(rate: int, ms: float) -> LoadLatency:
        return LoadLatency(rate, 100, [ms] * 100)

    run = PipelineRun(0, 1000, [5.0] * 10, {"accepted": [1.0], "e2e": [2.0]}, [load(500, 60)])
    report = build_report(
        Measured(
            10,
            1000,
            1.0,
            1.0,
            run,
            passthrough_loads=[load(500, 20)],
            router_loads=[load(500, 25)],
            load_seconds=2,
        )
    )
    (row,) = report["latency"]
    assert (row["p99_ms"], row["p99_vs_passthrough"]) == (60, 3.0)
    assert (row["router_alone_p99_ms"], row["router_alone_p99_vs_passthrough"]) == (25, 1.25)
    assert row["router_alone_completed"] == 100
