"""Metric record keys (contract section 8, ``docs/metrics.md``): a dimension value can
never make two windows share a key, ordinary keys read as they always did, and
``metrics verify`` names a window by the key the metrics role gives it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from router.app.recount import WindowId
from router.events import metric_key

pytestmark = pytest.mark.unit

START = datetime(2026, 12, 5, 5, 3, tzinfo=UTC)


def test_separators_in_a_dimension_value_are_percent_encoded() -> None:
    dims = {"agent": "x/y,z=1", "channel": "webform", "queue": "general"}
    assert metric_key("fcr", START, dims) == (
        "fcr/2026-12-05T05:03:00Z/agent=x%2Fy%2Cz%3D1,channel=webform,queue=general"
    )
    assert metric_key("workload", START, {"queue": "100%"}) == (
        "workload/2026-12-05T05:03:00Z/queue=100%25"
    )


def test_two_windows_never_share_a_key() -> None:
    one = metric_key("fcr", START, {"agent": "a,queue=b"})
    two = metric_key("fcr", START, {"agent": "a", "queue": "b"})
    assert one != two
    assert metric_key("fcr", START, {"agent": "a%2Cb"}) != metric_key(
        "fcr", START, {"agent": "a,b"}
    )


def test_an_ordinary_key_is_unchanged() -> None:
    dims = {"queue": "vip-billing", "channel": "chat", "agent": "agent.7@example.com"}
    assert metric_key("fcr", START, dims) == (
        "fcr/2026-12-05T05:03:00Z/agent=agent.7@example.com,channel=chat,queue=vip-billing"
    )


def test_verify_names_a_window_by_its_published_key() -> None:
    dims = {"agent": "x/y,z=1", "channel": "webform", "queue": "general"}
    window = WindowId("fcr", START, tuple(sorted(dims.items())))
    assert window.key == metric_key("fcr", START, dims)
