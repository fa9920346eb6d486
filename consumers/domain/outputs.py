"""The records one cause (a message, an action, a timer) publishes: lifecycle events on
``tickets`` and the snapshot on ``ticket-state``, each with a deterministic id.

The ticket snapshot is encoded once per cause and spliced into each of its records; each
``tickets`` record also names its CloudEvents type in a ``switchboard_type`` header
(``router.codec.TYPE_HEADER``), so a reader that wants only some types (the timers role)
can pass the others without parsing them. The header has no ``ce_`` prefix: the record is
in structured mode, and a ``ce_*`` header would make CloudEvents SDKs read it as binary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from router.codec import CONTENT_TYPE_HEADER, TYPE_HEADER, encode_envelope
from router.events import Ticket
from router.ids import derived_id
from router.limits import Limits
from router.topics import OutRecord, Topic
from router.vocabulary import EventType

SOURCE = "/switchboard/router"
TIMERS_SOURCE = "/switchboard/timers"  # what the timers role publishes (``outbox.commit_for``)
_TYPE_HEADERS = {t: (TYPE_HEADER, t.value.encode()) for t in EventType}


@dataclass(frozen=True, slots=True)
class Change:
    ticket: Ticket
    events: list[tuple[EventType, dict[str, Any]]] = field(default_factory=list)


class LifecycleOutputs:
    """Builds the lifecycle records of one input event, each with a deterministic id."""

    def __init__(
        self,
        cause_id: str,
        ticket: Ticket,
        at: datetime,
        limits: Limits | None = None,
        *,
        source: str = SOURCE,
    ) -> None:
        self.limits = limits or Limits()
        self.source = source
        self.cause_id = cause_id
        self.ticket = ticket
        self.at = at
        self.records: list[OutRecord] = []
        self.ticket_json = ticket.__pydantic_serializer__.to_json(ticket)
        """The ticket encoded once: spliced into every record, and stored by the commit."""

    def add(self, etype: EventType, **data: Any) -> None:
        value = self._encode(
            etype, derived_id(self.cause_id, etype.value, str(len(self.records))), data
        )
        headers = (CONTENT_TYPE_HEADER, _TYPE_HEADERS[etype])
        self.records.append(OutRecord(Topic.TICKETS, self.ticket.id, value, headers))

    def snapshot(self) -> None:
        etype = EventType.TICKET_SNAPSHOT
        value = self._encode(etype, derived_id(self.cause_id, etype.value), {})
        self.records.append(
            OutRecord(Topic.TICKET_STATE, self.ticket.id, value, (CONTENT_TYPE_HEADER,))
        )

    def _encode(self, etype: EventType, event_id: str, data: dict[str, Any]) -> bytes:
        value = encode_envelope(
            event_id,
            self.source,
            etype.value,
            subject=self.ticket.id,
            time=self.at,
            data=data,
            ticket_json=self.ticket_json,
        )
        self.limits.check_record(value)  # TooLarge: the cause is dead-lettered, not retried
        return value
