"""A periodic tick (timers firing, metric windows made final) that fails while a backend
is down: counted on /metrics for an alert, and logged once every few seconds with how
many were held back, not once a second."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from consumers import runner
from router.errors import BackendUnavailable
from router.logs import Sampled
from router.observability import Telemetry

pytestmark = pytest.mark.unit


def test_a_failing_tick_is_counted_each_time_and_logged_sampled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runner, "TICK_FAILURES", Sampled())
    telemetry = Telemetry()
    with capture_logs() as logs:
        for _ in range(30):  # thirty seconds of Redis away
            runner.tick_failed("timers", BackendUnavailable("redis", "refused"), telemetry)
    counted = telemetry.registry.get_sample_value(
        "switchboard_consumer_tick_failures_total", {"consumer": "timers"}
    )
    assert counted == 30
    assert [e["event"] for e in logs] == ["tick_failed"]
