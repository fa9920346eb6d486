"""The bench's load: inbound interaction events as the ingress would write them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from router.codec import encode_event
from router.events import CloudEvent, Customer, Interaction
from router.ids import event_id
from router.vocabulary import EventType

SUBJECTS = ["Refund for invoice 4411", "App is down", "Question about pricing", "Password reset"]
PAD = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 10


def inbound_events(n: int, customers: int, start: int = 0) -> list[tuple[bytes, bytes]]:
    """``n`` (key, value) records from ``customers`` senders, so that some events open a
    ticket and the others add a message to one; about 1 kB each, like a short email.
    Events ``start`` .. ``start + n`` of the series: later batches have ids of their own."""
    base = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    out = []
    for i in range(start, start + n):
        who = f"customer{i % customers}@example.com"
        data = Interaction(
            channel="email" if i % 3 else "chat",
            customer=Customer(email=who),
            inbox="support@example.com",
            subject=SUBJECTS[i % len(SUBJECTS)],
            text=f"message {i}. {PAD}",
        )
        event = CloudEvent(
            id=event_id("/bench", str(i)),
            source="/switchboard/bench",
            type=EventType.INTERACTION_RECEIVED,
            time=base + timedelta(seconds=i),
            data=data.model_dump(mode="json", exclude_none=True),
        )
        out.append((data.sender_key().encode(), encode_event(event)))
    return out
