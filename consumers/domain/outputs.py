"""The records one cause (a message, an action, a timer) publishes: lifecycle events on
``tickets`` and the snapshot on ``ticket-state``, each with a deterministic id."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from router.codec import CONTENT_TYPE_HEADER, encode_event
from router.events import CloudEvent, Ticket
from router.ids import derived_id
from router.limits import Limits
from router.topics import OutRecord, Topic
from router.vocabulary import EventType

SOURCE = "/switchboard/router"


@dataclass(frozen=True, slots=True)
class Change:
    ticket: Ticket
    events: list[tuple[EventType, dict[str, Any]]] = field(default_factory=list)


class LifecycleOutputs:
    """Builds the lifecycle records of one input event, each with a deterministic id."""

    def __init__(
        self, cause_id: str, ticket: Ticket, at: datetime, limits: Limits | None = None
    ) -> None:
        self.limits = limits or Limits()
        self.cause_id = cause_id
        self.ticket = ticket
        self.at = at
        self.records: list[OutRecord] = []
        self._snapshot = ticket.model_dump(mode="json")

    def add(self, etype: EventType, **data: Any) -> None:
        seq = str(len(self.records))
        event = CloudEvent(
            id=derived_id(self.cause_id, etype.value, seq),
            source=SOURCE,
            type=etype,
            subject=self.ticket.id,
            time=self.at,
            data={"ticket": self._snapshot, **data},
        )
        value = encode_event(event)
        self.limits.check_record(value)  # TooLarge: the cause is dead-lettered, not retried
        self.records.append(OutRecord(Topic.TICKETS, self.ticket.id, value, (CONTENT_TYPE_HEADER,)))

    def snapshot(self) -> None:
        event = CloudEvent(
            id=derived_id(self.cause_id, EventType.TICKET_SNAPSHOT.value),
            source=SOURCE,
            type=EventType.TICKET_SNAPSHOT,
            subject=self.ticket.id,
            time=self.at,
            data={"ticket": self._snapshot},
        )
        value = encode_event(event)
        self.limits.check_record(value)
        self.records.append(
            OutRecord(Topic.TICKET_STATE, self.ticket.id, value, (CONTENT_TYPE_HEADER,))
        )
