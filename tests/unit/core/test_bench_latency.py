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
