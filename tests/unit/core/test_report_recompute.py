"""``report --recompute`` replays the ``tickets`` topic into the metric windows: the
backlog gauges it measures at each window's end, as the metrics role keeps them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from aiokafka import ConsumerRecord

from router.app.report.windows import Period, recompute
from router.events import Ticket

pytestmark = pytest.mark.unit

DAY, NEXT = datetime(2026, 12, 7, tzinfo=UTC), datetime(2026, 12, 8, tzinfo=UTC)


def test_a_queue_a_ticket_left_reports_an_empty_backlog_when_recomputed() -> None:
    """``report --recompute``: a ticket escalated from tech to tech-t2 had left tech's
    last row (open 1, waiting 1) standing for every later window, counted twice."""

    def record(n: int, at: datetime, queue: str) -> ConsumerRecord[bytes, bytes]:
        ticket = Ticket(
            id="T-1", status="open", channel="email", customer_id="C-1", queue=queue,
            created_at=DAY, updated_at=at,
        )  # fmt: skip
        value = orjson.dumps(
            {
                "specversion": "1.0", "id": f"e-{n}", "source": "/switchboard/router",
                "type": "switchboard.ticket.routed", "time": at.isoformat(),
                "data": {"ticket": ticket.model_dump(mode="json")},
            }
        )  # fmt: skip
        return ConsumerRecord("t", 0, n, 0, 0, b"T-1", value, None, 1, len(value), ())

    moved = DAY + timedelta(minutes=1)
    later = DAY + timedelta(minutes=2)
    rows = recompute(
        [record(0, DAY, "tech"), record(1, moved, "tech-t2"), record(2, later, "tech-t2")],
        60,
        Period(DAY, NEXT),
    )
    backlog = {
        (row.start, row.dimensions["queue"]): row.counters["open"]
        for row in rows
        if "open" in row.counters
    }
    assert backlog[(DAY, "tech")] == 1
    assert backlog[(moved, "tech")] == 0
    assert backlog[(moved, "tech-t2")] == 1
