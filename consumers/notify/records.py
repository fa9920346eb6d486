"""The ``.notification`` events of a batch of ``tickets`` records: what the notifier reads.
Other types are passed over unparsed where the type header names them."""

from __future__ import annotations

import structlog
from pydantic import ValidationError

from consumers.deadletter import deadletter_record
from consumers.runner import Record
from router.codec import decode_event, type_from_headers
from router.errors import InvalidEvent
from router.events import CloudEvent, Ticket
from router.kafka import replay_header
from router.topics import OutRecord
from router.vocabulary import EventType

log = structlog.get_logger("switchboard.notifier")
NOTIFICATION = EventType.TICKET_NOTIFICATION.value


def is_notification(record: Record) -> bool | None:
    """From the type header Switchboard's writers set (this version's or an older one's
    name); None when there is none."""
    named = type_from_headers(record.headers)
    return None if named is None else named == NOTIFICATION


def fresh_notifications(
    records: list[Record], dead: list[OutRecord], consumer: str, *, max_age_s: int, now: float
) -> list[tuple[Record, CloudEvent, Ticket]]:
    """The ``.notification`` events of a batch, with their tickets, but those older than
    ``SWITCHBOARD_NOTIFY_MAX_AGE_S`` (``max_age_s``; 0: none is too old): a notifier
    deployed on a topic with days of history does not answer last week's messages. A
    dead letter an operator replayed for the notifier (``deadletter replay``) is sent
    whatever its age: they chose it. A notification whose ticket cannot be read goes
    to ``dead``."""
    events: list[tuple[Record, CloudEvent, Ticket]] = []
    for record in records:
        if is_notification(record) is False:
            continue
        try:
            event = decode_event(record.value)
        except InvalidEvent:
            continue  # not a CloudEvent: the timers and metrics roles dead-letter it
        if event.type != NOTIFICATION:
            continue
        stale = event.time is not None and event.time.timestamp() < now - max_age_s
        if max_age_s and stale and replay_header(record) is None:
            log.warning("notification_stale", event_id=event.id, time=str(event.time))
            continue
        try:
            ticket = Ticket.model_validate((event.data or {}).get("ticket"))
        except ValidationError as exc:
            dead.append(deadletter_record(record, consumer, exc))
            continue
        events.append((record, event, ticket))
    return events
