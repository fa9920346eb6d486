"""The notifier role: delivers the ``.notification`` events of the tickets topic.

Each event becomes deliveries (``notify/plan.py``): an auto-reply to the ticket's
customer, or a message to every address of a notify target. Each delivery is sent at most
once in normal operation and across restarts: the ledger (``state/notifications.py``)
marks a send as begun before it and records the outcome after it, and the offsets are
committed only after every delivery of the batch is settled. A crash inside a send leaves
the mark: that one delivery is sent once more (an email under the same Message-ID), never
a third time. A provider that refuses is asked again with backoff; after the last attempt
the record is dead-lettered with the provider's answer. Deliveries go one after the
other, in the order of the topic.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog
from pydantic import ValidationError

from consumers.deadletter import deadletter_record, redacted
from consumers.notify.plan import Delivery, plan
from consumers.notify.targets import NotifyTargets
from consumers.notify.templates import Templates
from consumers.notify.transports import NOT_SENT, Outgoing, SendFailed, Transport
from consumers.outbox import Send
from consumers.runner import Record
from consumers.state.notifications import NotificationLedger, Outcome
from consumers.state.threads import RedisThreadStore
from router.codec import TYPE_HEADER, decode_event
from router.errors import InvalidEvent, SwitchboardError
from router.events import CloudEvent, Ticket
from router.observability import Telemetry
from router.topics import OutRecord
from router.vocabulary import EventType

log = structlog.get_logger("switchboard.notifier")
NOTIFICATION = EventType.TICKET_NOTIFICATION.value
MAX_BACKOFF_S = 60.0


class Stopping(SwitchboardError):
    """The role stops while a delivery waits for its next attempt: the batch is left
    uncommitted and redelivered at the next start, where the ledger takes it up."""

    retriable = True


class Undeliverable(SwitchboardError):
    """Why a record was dead-lettered: the delivery and the provider's last answer."""


def is_notification(record: Record) -> bool | None:
    """From the type header Switchboard's writers set; None when there is none."""
    for key, value in record.headers or ():
        if key == TYPE_HEADER:
            return bytes(value) == NOTIFICATION.encode()
    return None


class NotifierHandler:
    name = "notifier"

    def __init__(
        self,
        threads: RedisThreadStore,
        ledger: NotificationLedger,
        transports: Mapping[str, Transport],
        send: Send,
        *,
        templates: Templates,
        targets: NotifyTargets,
        attempts: int,
        backoff_s: float,
        max_age_s: int = 0,
        stop: asyncio.Event | None = None,
        clock: Callable[[], float] = time.time,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._telemetry = telemetry
        self._threads = threads
        self._ledger = ledger
        self._transports = transports
        self._templates = templates
        self._targets = targets
        self._send = send
        self._attempts = attempts
        self._backoff = backoff_s
        self._stop = stop or asyncio.Event()
        self._max_age = max_age_s
        self._unrecorded: dict[str, str] = {}  # delivery id -> answer, sent but not recorded
        self._clock = clock

    async def tick(self) -> None:
        return None

    def _count(self, outcome: str, n: int = 1) -> None:
        if self._telemetry is not None:
            self._telemetry.records.labels(self.name, outcome).inc(n)

    async def handle(self, records: list[Record]) -> None:
        dead: list[OutRecord] = []
        events = self._notifications(records, dead)
        contacts = await self._threads.contacts([(t.customer_id, t.id) for _, _, t in events])
        failed: list[tuple[str, str]] = []
        for (record, event, ticket), contact in zip(events, contacts, strict=True):
            try:
                deliveries = plan(
                    event.id, event.data or {}, ticket.channel, contact, self._targets.get
                )
            except InvalidEvent as exc:
                log.warning(
                    "notification_deadlettered", ticket=ticket.id, error=redacted(str(exc))[:200]
                )
                dead.append(deadletter_record(record, self.name, exc))
                continue
            if not deliveries:
                log.warning("notification_no_recipient", ticket=ticket.id, event_id=event.id)
            for delivery in deliveries:
                error = await self._deliver(delivery, ticket, contact)
                if error is not None:
                    log.warning(  # the address stays out of the log; the dead letter has it
                        "notification_deadlettered",
                        ticket=ticket.id,
                        delivery=delivery.id,
                        medium=delivery.medium,
                        template=delivery.template,
                        error=type(error).__name__,
                        why=redacted(str(error))[:200] if isinstance(error, InvalidEvent) else None,
                    )
                    reason = f"{delivery.medium} to {delivery.to}: {error}"
                    dead.append(deadletter_record(record, self.name, Undeliverable(reason)))
                    failed.append((delivery.id, str(error)))
        if dead:
            await self._send(dead)
            self._count("deadlettered", len(dead))
        for delivery_id, answer in failed:
            await self._ledger.finish(delivery_id, "failed", answer)

    def _notifications(
        self, records: list[Record], dead: list[OutRecord]
    ) -> list[tuple[Record, CloudEvent, Ticket]]:
        """The fresh ``.notification`` events of a batch, with their tickets. Other types
        are passed over unparsed where the type header names them."""
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
            if self._stale(event):
                log.warning("notification_stale", event_id=event.id, time=str(event.time))
                continue
            try:
                ticket = Ticket.model_validate((event.data or {}).get("ticket"))
            except ValidationError as exc:
                dead.append(deadletter_record(record, self.name, exc))
                continue
            events.append((record, event, ticket))
        return events

    def _stale(self, event: CloudEvent) -> bool:
        """Older than ``SWITCHBOARD_NOTIFY_MAX_AGE_S``: a notifier deployed on a topic with
        days of history does not answer last week's messages."""
        if not self._max_age or event.time is None:
            return False
        return event.time.timestamp() < self._clock() - self._max_age

    async def _deliver(
        self, d: Delivery, ticket: Ticket, contact: Mapping[str, Any]
    ) -> SwitchboardError | None:
        """Send ``d`` unless the ledger says it is settled; the error to dead-letter it
        with when it can never be sent."""
        try:
            out = self._render(d, ticket, contact)
        except InvalidEvent as exc:
            return exc
        if d.id in self._unrecorded:  # sent, but Redis failed us before it was recorded
            answer = self._unrecorded[d.id]
            await self._ledger.finish(d.id, recorded_as(answer), answer)
            del self._unrecorded[d.id]
        while True:
            begun = await self._ledger.begin(d.id, max_attempts=self._attempts)
            if begun.verdict == "done":
                return None
            if begun.verdict == "uncertain":
                log.warning(
                    "notification_not_resent",
                    delivery=d.id,
                    ticket=ticket.id,
                    why=(
                        "two sends ended without an answer; a third could deliver it a third time"
                    ),
                )
                return None
            if begun.verdict == "exhausted":
                return SendFailed(begun.answer or "no attempts left", retriable=False)
            if begun.unknown:
                log.warning(
                    "notification_resent",
                    delivery=d.id,
                    ticket=ticket.id,
                    attempt=begun.attempts,
                    medium=d.medium,
                )
            try:
                answer = await self._transports[d.medium].send(out)
            except SendFailed as exc:
                await self._ledger.finish(d.id, "retry", exc.answer, unknown=exc.unknown)
                log.warning(
                    "notification_send_failed",
                    delivery=d.id,
                    ticket=ticket.id,
                    attempt=begun.attempts,
                    answer=redacted(exc.answer),  # a provider's answer names the recipient
                    retriable=exc.retriable,
                )
                if not exc.retriable:
                    return exc
                if begun.attempts < self._attempts:
                    await self._wait(begun.attempts)
                continue
            self._unrecorded[d.id] = answer
            outcome = recorded_as(answer)
            await self._ledger.finish(d.id, outcome, answer)
            del self._unrecorded[d.id]
            if outcome == "sent":
                log.info("notification_sent", delivery=d.id, ticket=ticket.id, medium=d.medium)
            return None

    def _render(self, d: Delivery, ticket: Ticket, contact: Mapping[str, Any]) -> Outgoing:
        medium = "email" if d.medium == "email" else "sms"
        context = {
            "ticket": ticket.model_dump(mode="json"),
            "customer": dict(contact) if d.kind == "auto_reply" else {},
            "notification": {"kind": d.kind, "template": d.template},
            "to": d.to,
            "medium": d.medium,
        }
        rendered = self._templates.render(d.template, medium, context)
        return Outgoing(d, rendered.subject, rendered.body, ticket.id, in_reply_to(d, ticket))

    async def _wait(self, attempt: int) -> None:
        delay = min(self._backoff * 2 ** (attempt - 1), MAX_BACKOFF_S)
        try:
            await asyncio.wait_for(self._stop.wait(), delay)
        except TimeoutError:
            return
        raise Stopping("stopping while a notification waits to be retried")


def in_reply_to(d: Delivery, ticket: Ticket) -> str | None:
    """The Message-ID an auto-reply answers (``In-Reply-To``), so the customer's mail
    client threads it under their message: the ticket's last message id when it is an
    email's (``left@right``, as RFC 5322 has it; ids are kept without angle brackets),
    not an SMS's or a chat's."""
    last = ticket.message_ids[-1] if ticket.message_ids else None
    if d.kind != "auto_reply" or not last or "@" not in last:
        return None
    return last if last.startswith("<") else f"<{last}>"


def recorded_as(answer: str) -> Outcome:
    """How the ledger records a send the transport answered: a message no provider took
    (``run`` without one) is skipped, never counted as sent."""
    return "skipped" if answer == NOT_SENT else "sent"
