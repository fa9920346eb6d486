"""What the timers role reads from ``tickets``: the latest snapshot of each ticket in a
poll, found cheaply. Records of Switchboard's own lifecycle outputs name their type in a
header, so a record superseded in the same poll is passed over unparsed."""

from __future__ import annotations

import orjson

from consumers.runner import Record
from router.codec import decode_event, type_from_headers
from router.errors import InvalidEvent
from router.events import Ticket
from router.limits import Limits
from router.vocabulary import LIFECYCLE_TYPES, EventType

CLOSED = EventType.TICKET_CLOSED.value


def typed(record: Record, limits: Limits) -> bool:
    """Written by Switchboard's lifecycle outputs (which name the type in a header): a
    well-formed CloudEvent keyed by its ticket's id, with a valid snapshot. A record over
    the size limit, or whose header names no lifecycle type, is not taken on trust."""
    if len(record.value or b"") > limits.record_bytes:
        return False
    declared = declared_type(record)
    return declared is not None and declared in LIFECYCLE_TYPES


def declared_type(record: Record) -> str | None:
    """The CloudEvents type the record's type header names, if it has one: the current
    ``switchboard_type`` or the ``ce_type`` of records written before it."""
    return type_from_headers(record.headers)


def superseded_dropped(records: list[Record], limits: Limits) -> list[Record]:
    """The records whose snapshot the handler needs. Only the latest snapshot of each
    ticket in a poll counts, whatever the event's type (every lifecycle record carries
    one, and any of them may move an SLA clock or the waiting line), so a record of ours
    followed in the same poll by another one of ours for the same ticket is passed over
    unparsed. Records of any other writer are all decoded: a malformed one is still
    dead-lettered. A ``.closed`` is kept too: a snapshot older than it can follow it on
    the topic (two writers commit, then publish), and its archive timer is set from it
    (``consumers.archive``)."""
    ours = [record.key is not None and typed(record, limits) for record in records]
    last = {r.key: i for i, (r, mine) in enumerate(zip(records, ours, strict=True)) if mine}
    return [
        r
        for i, (r, mine) in enumerate(zip(records, ours, strict=True))
        if not mine or last[r.key] == i or declared_type(r) == CLOSED
    ]


def ticket_of(record: Record, limits: Limits) -> Ticket:
    """The snapshot a record carries (``data.ticket``). One of ours is parsed with orjson
    and only its ticket validated; anything else goes through the CloudEvent model. A
    record over the size limit or of a type that is no lifecycle event is poison."""
    limits.check_record(record.value)
    declared = declared_type(record)
    if declared is not None and declared not in LIFECYCLE_TYPES:
        raise InvalidEvent(f"unknown lifecycle type {declared!r}")
    if record.value is not None and typed(record, limits):
        try:
            data = orjson.loads(record.value).get("data")
        except (orjson.JSONDecodeError, AttributeError):
            data = None
        if isinstance(data, dict):
            return Ticket.model_validate(data.get("ticket"))
    event = decode_event(record.value)
    if event.type not in LIFECYCLE_TYPES:
        raise InvalidEvent(f"unknown lifecycle type {event.type!r}")
    return Ticket.model_validate((event.data or {}).get("ticket"))
