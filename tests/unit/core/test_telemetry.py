"""What ``/metrics`` shows a platform team, per role: handle times beyond an hour fall in
buckets of their own, and a process without rules shows no rules series at all."""

from __future__ import annotations

import pytest

from router.observability import Telemetry

pytestmark = pytest.mark.unit


def test_a_handle_time_of_five_hours_is_told_apart_from_one_of_two() -> None:
    telemetry = Telemetry()
    telemetry.handle_time.labels("general").observe(5 * 3600)
    scraped = telemetry.render().decode()
    assert 'switchboard_handle_seconds_bucket{le="14400.0",queue="general"} 0.0' in scraped
    assert 'switchboard_handle_seconds_bucket{le="28800.0",queue="general"} 1.0' in scraped


def test_chat_replies_within_seconds_are_told_apart_below_30_s() -> None:
    """A chat's first response target is 30 s to 2 min: answers after 8 s and after 25 s
    had both fallen in the first bucket (30 s), so no percentile could tell them apart."""
    telemetry = Telemetry()
    for seconds in (8, 25):
        telemetry.response_time.labels("first_response", "chat", "chat").observe(seconds)
        telemetry.handle_time.labels("chat").observe(seconds)
    scraped = telemetry.render().decode()
    response = 'switchboard_response_seconds_bucket{channel="chat",le="%s",queue="chat",'
    assert response % "5.0" + 'target="first_response"} 0.0' in scraped
    assert response % "10.0" + 'target="first_response"} 1.0' in scraped
    assert response % "30.0" + 'target="first_response"} 2.0' in scraped
    assert 'switchboard_handle_seconds_bucket{le="10.0",queue="chat"} 1.0' in scraped
    assert 'switchboard_handle_seconds_bucket{le="30.0",queue="chat"} 2.0' in scraped


def test_a_process_without_rules_exports_no_rules_series() -> None:
    telemetry = Telemetry()
    assert "switchboard_rules" not in telemetry.render().decode()
    telemetry.rules_active("1", "abc")
    scraped = telemetry.render().decode()
    assert 'switchboard_rules_info{hash="abc",version="1"} 1.0' in scraped
    assert 'switchboard_rules_reloads_total{outcome="failed"} 0.0' in scraped


def test_no_created_series_beside_the_counters_and_histograms() -> None:
    """A ``*_created`` series per labelled counter and histogram about doubles what a
    platform team stores, and says only when the process started."""
    telemetry = Telemetry()
    telemetry.records.labels("router", "routed").inc()
    telemetry.handle_time.labels("general").observe(60)
    scraped = telemetry.render().decode()
    assert 'switchboard_consumer_records_total{consumer="router",outcome="routed"} 1.0' in scraped
    assert "_created" not in scraped
