"""Tumbling event-time windows and the contributions a lifecycle event makes. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from router.events import EventType

WORKLOAD_COUNTS = {
    EventType.TICKET_CREATED: "created",
    EventType.TICKET_RESOLVED: "resolved",
    EventType.TICKET_REOPENED: "reopened",
    EventType.TICKET_ESCALATED: "escalated",
}


def window_of(at: datetime, size_s: int) -> tuple[datetime, datetime]:
    """The window ``[start, end)`` holding ``at``; windows align to the Unix epoch."""
    ts = int(at.timestamp())
    start = datetime.fromtimestamp(ts - ts % size_s, UTC)
    return start, start + timedelta(seconds=size_s)


@dataclass(frozen=True, slots=True)
class Contribution:
    metric: str
    dimensions: dict[str, str]
    counter: str
    amount: int = 1


def workload(event_type: str, data: dict[str, Any]) -> list[Contribution]:
    counter = WORKLOAD_COUNTS.get(EventType(event_type)) if _known(event_type) else None
    if counter is None:
        return []
    ticket = data.get("ticket") or {}
    dims = {"queue": str(ticket.get("queue") or "none"), "channel": str(ticket.get("channel"))}
    return [Contribution("workload", dims, counter)]


def _known(event_type: str) -> bool:
    return event_type in EventType._value2member_map_
