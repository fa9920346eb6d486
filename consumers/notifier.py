"""The notifier role: delivers the ``.notification`` events of the tickets topic.

Each event becomes deliveries (``notify/plan.py``): an auto-reply to the ticket's
customer, or a message to every address of a notify target. Each delivery is sent at most
once in normal operation and across restarts: the ledger (``state/notifications.py``)
marks a send as begun before it and records the outcome after it, and the offsets are
committed only after every delivery of the batch is settled. A crash inside a send leaves
the mark: that one delivery is sent once more (an email under the same Message-ID), never
a third time. Deliveries go one after the other, in the order of the topic; the
Message-ID of an emailed auto-reply is filed under its ticket before the send, so a
reply that names only it joins the ticket; its ``In-Reply-To`` and ``References`` place it
in the customer's thread (``notify/replies.py``).

A temporary refusal (SMTP 4xx, no connection, Twilio 429 or 5xx) is retried in line
``SWITCHBOARD_NOTIFY_ATTEMPTS`` times at most, only while the wait is short; then the
delivery is parked (``RetrySchedule``, durable before the batch is committed) and the
batch goes on, so an outage of one provider holds up nothing else. The retry loop
(``retry_loop``, a task beside the consumer) sends parked deliveries when due, with
backoff doubling up to ``SWITCHBOARD_NOTIFY_RETRY_MAX_BACKOFF_S`` (or as long as the
provider's ``Retry-After`` asks), until ``SWITCHBOARD_NOTIFY_RETRY_FOR_S`` after parking;
a permanent refusal or the end of that time dead-letters it. A medium's due deliveries
go one after the other, first parked first, and a refusal for now ends that medium's
run; a parked delivery sent makes the rest of its medium's backlog due at once, in the
order it was parked (the provider is back). One whose ticket is gone (``switchboard
forget``, which removes those it finds) is dropped unsent. A delivery sent twice without
an answer is never sent a third time, and dead-lettered as maybe delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, replace
from typing import Any, Literal

import orjson
import structlog

from consumers.deadletter import deadletter_record, parked, redacted
from consumers.notify.parked import (
    parked_at,
    record_from_json,
    record_json,
    recorded_as,
    settled_as,
)
from consumers.notify.plan import Delivery, no_reply, plan
from consumers.notify.records import fresh_notifications
from consumers.notify.replies import reply_headers
from consumers.notify.targets import NotifyTargets
from consumers.notify.templates import Templates
from consumers.notify.throttle import ReplyThrottle
from consumers.notify.transports import (
    Outgoing,
    SendFailed,
    Transport,
    message_id,
)
from consumers.outbox import Send
from consumers.runner import Record
from consumers.state.notifications import CLAIM_S, NotificationLedger, Outcome, RetrySchedule
from consumers.state.threads import RedisThreadStore
from router.codec import decode_event
from router.errors import InvalidEvent, SwitchboardError
from router.events import Ticket
from router.kafka import REPLAY_DELIVERY, replay_header
from router.observability import Telemetry
from router.topics import OutRecord

log = structlog.get_logger("switchboard.notifier")
MAX_BACKOFF_S = 60.0
OPTED_OUT = "not sent: the recipient opted out (sent STOP)"
WHATSAPP_WINDOW_S = 86_400
PAST_WINDOW = "not sent: past WhatsApp's 24-hour customer service window"
INLINE_WAIT_S = 5.0
"""Longest wait in line while parking is on: a longer one parks the delivery instead."""
MAX_SENDS = 10_000
"""The ledger's cap on sends of one delivery; the retry deadline ends them long before."""
RETRY_BATCH = 20
RETRY_RUN_S = CLAIM_S / 4
"""How long one medium's run of parked deliveries goes on starting sends: the schedule's
claims hold at least ``CLAIM_S``, so the last send ends before its claim lapses."""
Failure = tuple[Literal["failed", "uncertain"], SwitchboardError]
Claimed = tuple[str, float, dict[str, Any]]
"""A parked delivery claimed: its id, the due time it was claimed with, its data."""
Retried = Literal["hurried", "refused", "done"]
RunEnd = Literal["more", "refused", "done"]


class Stopping(SwitchboardError):
    """The role stops while a delivery waits for its next attempt: the batch is left
    uncommitted and redelivered at the next start, where the ledger takes it up."""

    retriable = True


class Undeliverable(SwitchboardError):
    """Why a record was dead-lettered: the delivery and the provider's last answer."""


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
        retries: RetrySchedule | None = None,
        retry_for_s: float = 0.0,
        retry_max_backoff_s: float = 300.0,
        retry_poll_s: float = 1.0,
        sender: str = "",
        max_age_s: int = 0,
        stop: asyncio.Event | None = None,
        clock: Callable[[], float] = time.time,
        telemetry: Telemetry | None = None,
        throttle: ReplyThrottle | None = None,
    ) -> None:
        self._telemetry = telemetry
        self._throttle = throttle
        self._threads = threads
        self._ledger = ledger
        self._transports = transports
        self._templates = templates
        self._targets = targets
        self._send = send
        self._attempts = attempts
        self._backoff = backoff_s
        self._retries = retries if retry_for_s > 0 else None
        self._retry_for = retry_for_s
        self._retry_max_backoff = retry_max_backoff_s
        self._retry_poll = retry_poll_s
        self._sender = sender
        self._stop = stop or asyncio.Event()
        self._max_age = max_age_s
        self._unrecorded: dict[str, str] = {}  # delivery id -> answer, sent but not recorded
        self._clock = clock

    async def park(self, record: Record, error: Exception) -> None:
        """Dead-letter a record whose handling failed for good (``run_consumer``)."""
        await self._send([parked(record, self.name, error, None, self._telemetry)])

    async def tick(self) -> None:
        return None

    def _count(self, outcome: str, n: int = 1) -> None:
        if self._telemetry is not None:
            self._telemetry.records.labels(self.name, outcome).inc(n)

    def _tally(self, medium: str, outcome: str) -> None:
        """``switchboard_notifications_total{medium, outcome}``."""
        if self._telemetry is not None:
            self._telemetry.notifications.labels(medium, outcome).inc()

    async def handle(self, records: list[Record]) -> None:
        dead: list[OutRecord] = []
        events = fresh_notifications(
            records, dead, self.name, max_age_s=self._max_age, now=self._clock()
        )
        strangers = [answers_participant(event.data or {}) for _, event, _ in events]
        contacts = await self._threads.contacts(
            [(t.customer_id, t.id) for _, _, t in events],
            [answered_customer(event.data or {}) for _, event, _ in events],
            strangers,
        )
        settled: list[tuple[str, Outcome, str]] = []  # written once the dead letters are out
        planned: list[tuple[Delivery, Ticket, Mapping[str, Any], Record, Any]] = []
        for (record, event, ticket), contact, stranger in zip(
            events, contacts, strangers, strict=True
        ):
            try:
                deliveries = plan(
                    event.id, event.data or {}, ticket.channel, contact, self._targets.get
                )
            except InvalidEvent as exc:
                log.warning(
                    "notification_deadlettered", ticket_id=ticket.id, error=redacted(str(exc))[:200]
                )
                dead.append(deadletter_record(record, self.name, exc))
                continue
            target = _replayed(record)
            if target:  # a replayed dead letter: the one delivery that failed, no other
                deliveries = [d for d in deliveries if d.id == target]
            if not deliveries and not target:
                log.warning("notification_no_recipient", ticket_id=ticket.id, event_id=event.id)
                self._tally("none", "no_recipient")
            thread = answered_thread(event.data or {})
            # to a participant, not the customer's subject either
            shown = ticket.model_copy(update={"subject": None}) if stranger else ticket
            planned += [(d, shown, contact, record, thread) for d in deliveries]
        # a batch's pages first: a burst of auto-replies (anyone can post to a web form)
        # must not hold up the notify targets' messages behind it on a slow provider
        planned.sort(key=lambda p: p[0].kind != "notify")
        for delivery, ticket, reach, record, thread in planned:
            failure = await self._deliver(delivery, ticket, reach, record, thread)
            if failure is None:
                continue
            verdict, error = failure
            _log_dead_letter(ticket.id, delivery, verdict, error)
            dead.append(self._dead_letter(record, delivery, verdict, error))
            settled.append((delivery.id, settled_as(verdict), str(error)))
        if dead:
            await self._send(dead)
            self._count("deadlettered", len(dead))
        for delivery_id, outcome, answer in settled:
            await self._ledger.finish(delivery_id, outcome, answer)

    def _dead_letter(
        self, record: Record, d: Delivery, verdict: str, error: SwitchboardError
    ) -> OutRecord:
        if verdict == "uncertain":
            reason = (
                f"{d.medium} to {d.to}: two sends ended without the provider's answer, so "
                f"the message may have been delivered; not sent again ({error})"
            )
        else:
            reason = f"{d.medium} to {d.to}: {error}"
        dead = deadletter_record(record, self.name, Undeliverable(reason))
        # which delivery of the record failed: a replay tries that one again, no other
        return replace(dead, headers=(*dead.headers, ("dlq.delivery", d.id.encode())))

    async def _deliver(
        self,
        d: Delivery,
        ticket: Ticket,
        contact: Mapping[str, Any],
        record: Record,
        thread: Mapping[str, Any] | None = None,
    ) -> Failure | None:
        """Send ``d`` unless the ledger says it is settled or parked; park it when the
        provider refuses for now; the verdict and error to dead-letter it with when it
        can never be sent (or may have been, unanswered, twice)."""
        try:
            out = self._render(d, ticket, contact, thread)
        except InvalidEvent as exc:
            self._tally(d.medium, "failed")
            return "failed", exc
        await self._record_unrecorded(d.id)
        if await self._held_back(d, ticket.id, record.value):
            return None
        if d.medium == "email" and d.kind == "auto_reply" and self._sender:
            # before the send: a reply can come back as soon as the message is out
            await self._ledger.own_message(
                message_id(d.id, self._sender), ticket.customer_id, ticket.id
            )
        tries = 0
        replay = _replayed(record) in (d.id, "")
        while True:
            begun = await self._ledger.begin(
                d.id, max_attempts=MAX_SENDS, replay=replay and tries == 0
            )
            if begun.verdict != "send":
                return self._not_sent(d, begun.verdict, begun.answer)
            self._log_resend(d, ticket.id, begun.attempts, begun.unknown)
            tries += 1
            try:
                answer = await self._transports[d.medium].send(out)
            except SendFailed as exc:
                failure = await self._refused(d, ticket.id, exc, begun.attempts, tries)
                if failure == "again":
                    continue
                if failure == "park":
                    await self._park(
                        d, out=out, ticket=ticket, record=record, exc=exc, attempt=begun.attempts
                    )
                    return None
                return failure
            await self._record(d, answer, ticket.id)
            return None

    async def _held_back(self, d: Delivery, ticket_id: str, value: bytes | None) -> bool:
        """Whether auto-reply ``d`` is not to be sent (recorded as skipped): to a no-reply
        address, which no one reads, to a mailbox that had its share
        (``SWITCHBOARD_AUTO_REPLY_LIMIT``), or by WhatsApp past the customer service
        window (``value``: the notification record's, read late: a dead letter
        replayed, a notifier that takes records of any age)."""
        if d.kind != "auto_reply":
            return False
        if self._outside_window(d, value):
            await self._expired(d)
            return True
        if d.medium == "email" and no_reply(d.to):
            await self._ledger.finish(d.id, "skipped", "not sent: a no-reply address")
            self._tally(d.medium, "no_reply")
            log.info("auto_reply_no_reply", delivery=d.id, medium=d.medium, ticket_id=ticket_id)
            return True
        if self._throttle and not await self._throttle.allow(d):
            await self._ledger.finish(d.id, "skipped", "not sent: the mailbox had its share")
            self._tally(d.medium, "throttled")
            log.info("auto_reply_throttled", delivery=d.id, medium=d.medium, ticket_id=ticket_id)
            return True
        return False

    def _not_sent(self, d: Delivery, verdict: str, answer: str) -> Failure | None:
        """What a ledger verdict other than ``send`` comes to."""
        if verdict == "uncertain":
            self._tally(d.medium, "uncertain")
            return "uncertain", SendFailed(answer or "no answer", retriable=False)
        if verdict == "exhausted":
            self._tally(d.medium, "failed")
            return "failed", SendFailed(answer or "no attempts left", retriable=False)
        return None  # done, or parked: the retry loop has it

    async def _refused(
        self, d: Delivery, ticket_id: str, exc: SendFailed, attempt: int, tries: int
    ) -> Failure | Literal["again", "park"] | None:
        """After a refusal in line: try again (after a short wait), park, or fail; None
        when the recipient opted out (settled unsent)."""
        if exc.unsubscribed:
            await self._opted_out(d, ticket_id, exc)
            return None
        self._log_failure(d, ticket_id, attempt, exc)
        await self._ledger.finish(d.id, "retry", exc.answer, unknown=exc.unknown)
        if not exc.retriable:
            self._tally(d.medium, "failed")
            return "failed", exc
        wait = max(self._delay(attempt, MAX_BACKOFF_S), exc.retry_after or 0.0)
        parking = self._retries is not None
        if tries < self._attempts and (not parking or wait <= INLINE_WAIT_S):
            await self._wait(min(wait, MAX_BACKOFF_S))
            return "again"
        if not parking:
            self._tally(d.medium, "failed")
            return "failed", exc
        return "park"

    async def _record_unrecorded(self, delivery_id: str) -> None:
        if delivery_id in self._unrecorded:  # sent, but Redis failed us before it was recorded
            answer = self._unrecorded[delivery_id]
            await self._ledger.finish(delivery_id, recorded_as(answer), answer)
            del self._unrecorded[delivery_id]

    async def _record(self, d: Delivery, answer: str, ticket_id: str) -> None:
        self._unrecorded[d.id] = answer
        outcome = recorded_as(answer)
        await self._ledger.finish(d.id, outcome, answer)
        del self._unrecorded[d.id]
        self._tally(d.medium, outcome)
        if outcome == "sent":  # a message out of the helpdesk: what on-call follows a ticket by
            log.info("notification_sent", delivery=d.id, medium=d.medium, ticket_id=ticket_id)

    async def _opted_out(self, d: Delivery, ticket_id: str, exc: SendFailed) -> None:
        """The recipient opted out (Twilio 21610: the number sent STOP): the delivery is
        settled unsent, as their choice, not dead-lettered. A warning, not an error:
        nobody has to act, but a page to an on-call number that opted out is worth
        seeing."""
        await self._ledger.finish(d.id, "skipped", f"{OPTED_OUT} ({exc.answer})")
        self._tally(d.medium, "opted_out")
        log.warning(
            "notification_opted_out",
            delivery=d.id,
            medium=d.medium,
            kind=d.kind,
            ticket_id=ticket_id,
            answer=redacted(exc.answer)[:200],
        )

    def _log_resend(self, d: Delivery, ticket_id: str, attempt: int, unknown: int) -> None:
        if unknown:
            log.warning(
                "notification_resent",
                delivery=d.id,
                ticket_id=ticket_id,
                attempt=attempt,
                medium=d.medium,
            )

    def _log_failure(self, d: Delivery, ticket_id: str, attempt: int, exc: SendFailed) -> None:
        log.warning(
            "notification_send_failed",
            delivery=d.id,
            ticket_id=ticket_id,
            attempt=attempt,
            answer=redacted(exc.answer),  # a provider's answer names the recipient
            retriable=exc.retriable,
        )

    def _delay(self, attempt: int, cap: float) -> float:
        return float(min(self._backoff * 2 ** (attempt - 1), cap))

    async def _park(
        self,
        d: Delivery,
        *,
        out: Outgoing,
        ticket: Ticket,
        record: Record,
        exc: SendFailed,
        attempt: int,
    ) -> None:
        """Into the retry schedule first, then the ledger's ``parked``: a crash between
        the two leaves a delivery the redelivered batch sends or parks again, and the
        retry loop finds settled."""
        assert self._retries is not None
        now = self._clock()
        delay = max(self._delay(attempt + 1, self._retry_max_backoff), exc.retry_after or 0.0)
        data = {
            "delivery": asdict(d),
            "subject": out.subject,
            "body": out.body,
            "ticket_id": out.ticket_id,
            "in_reply_to": out.in_reply_to,
            "references": out.references,
            "parked_at": now,
            "deadline": now + self._retry_for,
            "record": record_json(record),
        }
        await self._retries.park(
            d.id,
            now + delay,
            orjson.dumps(data),
            ticket_id=ticket.id,
            medium=d.medium,
            parked_at=now,
        )
        await self._ledger.finish(d.id, "parked", exc.answer)
        self._tally(d.medium, "parked")
        log.warning(
            "notification_parked", delivery=d.id, ticket_id=ticket.id, medium=d.medium, in_s=delay
        )

    async def retry_loop(self) -> None:
        """Send parked deliveries when due, until the role stops. Runs beside the
        consumer (``router/app/notifier.py``), so a slow provider holds up neither."""
        if self._retries is None:
            return
        while not self._stop.is_set():
            busy = False
            try:
                busy = await self.retry_due()
                await self._gauge_parked()
            except SwitchboardError as exc:
                log.warning("notification_retry_failed", error=f"{type(exc).__name__}: {exc}")
            except Exception:
                log.exception("notification_retry_failed")
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self._retry_poll)

    async def _gauge_parked(self) -> None:
        """``switchboard_notifications_parked`` and ``..._oldest_parked_seconds``."""
        if self._telemetry is None or self._retries is None:
            return
        for medium, (count, age) in (await self._retries.parked(self._clock())).items():
            self._telemetry.notifications_parked.labels(medium).set(count)
            self._telemetry.notifications_oldest_parked.labels(medium).set(round(age, 3))

    async def retry_due(self) -> bool:
        """Claim the parked deliveries due now and send them: each medium's one after the
        other, first parked first (the order the README promises a backlog in), the
        media side by side. Whether there may be more due now (a full batch, a provider
        back whose backlog was made due, a run cut short)."""
        if self._retries is None:
            return False
        claimed = await self._retries.due(self._clock(), RETRY_BATCH)
        runs: dict[str, list[Claimed]] = {}
        for delivery_id, due, blob in claimed:
            if blob is None:  # removed meanwhile (`forget`): nothing left to send
                await self._retries.settle(delivery_id, due, later=None)
                continue
            p = orjson.loads(blob)
            runs.setdefault(p["delivery"]["medium"], []).append((delivery_id, due, p))
        ends = await asyncio.gather(
            *(self._retry_run(run) for run in runs.values()), return_exceptions=True
        )
        for end in ends:
            if isinstance(end, BaseException):  # its claims lapse: tried again then, in order
                log.warning("notification_retry_failed", error=type(end).__name__)
        full = len(claimed) >= RETRY_BATCH and "refused" not in ends
        return full or "more" in ends

    async def _retry_run(self, run: list[Claimed]) -> RunEnd:
        """Send one medium's claimed deliveries in the order they were parked, one at a
        time. A temporary refusal ends the run (the provider is likely still down: the
        rest wait for the next poll, as they were), as do the role stopping and
        ``RETRY_RUN_S`` (so no claim lapses under a send and another notifier sends it
        too). A send that brings the provider back ends it too: every parked delivery of
        the medium is then due by when it was parked, the rest of this run included, so
        the next claim takes the whole backlog in that order."""
        assert self._retries is not None
        run.sort(key=lambda claimed: parked_at(claimed[2], self._retry_for))
        started = self._clock()
        for i, (_, due, p) in enumerate(run):
            if self._stop.is_set() or self._clock() - started > RETRY_RUN_S:
                await self._release(run[i:], as_parked=False)
                return "more"
            result = await self._retry(due, p)
            if result != "done":
                await self._release(run[i + 1 :], as_parked=result == "hurried")
                return "more" if result == "hurried" else "refused"
        return "done"

    async def _release(self, rest: list[Claimed], *, as_parked: bool) -> None:
        """Let go of claimed deliveries unsent: due as they were, or (``as_parked``) by
        when they were parked, as ``hurry`` makes the rest of a medium's backlog."""
        assert self._retries is not None
        for delivery_id, due, p in rest:
            later = min(due, parked_at(p, self._retry_for)) if as_parked else due
            await self._retries.settle(delivery_id, due, later=later)

    async def _retry(self, claimed: float, p: Mapping[str, Any]) -> Retried:
        """Send one parked delivery, or settle it: ``hurried`` when it was sent and made
        others of its medium due, ``refused`` when refused for now and parked again."""
        assert self._retries is not None
        d = Delivery(**p["delivery"])
        out = Outgoing(
            d, p["subject"], p["body"], p["ticket_id"], p["in_reply_to"], p.get("references")
        )

        async def settle(later: float | None) -> None:
            assert self._retries is not None
            await self._retries.settle(
                d.id, claimed, later=later, ticket_id=out.ticket_id, medium=d.medium
            )

        await self._record_unrecorded(d.id)
        if await self._dropped(d, p):
            await settle(None)
            return "done"
        begun = await self._ledger.begin(d.id, max_attempts=MAX_SENDS, retrying=True)
        if begun.verdict in ("uncertain", "exhausted"):
            verdict: Literal["failed", "uncertain"] = (
                "uncertain" if begun.verdict == "uncertain" else "failed"
            )
            await self._give_up(p, d, verdict, SendFailed(begun.answer, retriable=False))
        if begun.verdict != "send":
            await settle(None)
            return "done"
        self._log_resend(d, out.ticket_id, begun.attempts, begun.unknown)
        try:
            answer = await self._transports[d.medium].send(out)
        except SendFailed as exc:
            later = await self._refused_again(p, d, exc, begun.attempts)
            await settle(later)
            return "done" if later is None else "refused"
        await self._record(d, answer, out.ticket_id)
        await settle(None)
        if recorded_as(answer) != "sent":
            return "done"
        # the provider is back: the rest of its backlog goes now, first parked first
        moved = await self._retries.hurry(d.medium, self._clock())
        if moved:
            log.info("notification_backlog_due", medium=d.medium, deliveries=moved)
        return "hurried" if moved else "done"

    async def _refused_again(
        self, p: Mapping[str, Any], d: Delivery, exc: SendFailed, attempt: int
    ) -> float | None:
        """After a parked delivery was refused again: when to try next, or None when it
        was dead-lettered (a permanent refusal, or its retry time is over) or the
        recipient opted out."""
        if exc.unsubscribed:
            await self._opted_out(d, p["ticket_id"], exc)
            return None
        self._log_failure(d, p["ticket_id"], attempt, exc)
        now = self._clock()
        deadline = float(p["deadline"])
        if not exc.retriable or now >= deadline:
            await self._ledger.finish(d.id, "retry", exc.answer, unknown=exc.unknown)
            why = exc if not exc.retriable else self._out_of_time(p, now, exc)
            await self._give_up(p, d, "failed", why)
            return None
        await self._ledger.finish(d.id, "parked", exc.answer, unknown=exc.unknown)
        delay = max(self._delay(attempt, self._retry_max_backoff), exc.retry_after or 0)
        self._tally(d.medium, "retried")
        return min(now + delay, deadline)

    async def _dropped(self, d: Delivery, p: Mapping[str, Any]) -> bool:
        """Whether a parked delivery is not to be sent after all (recorded as skipped):
        its ticket was erased meanwhile (`forget` removes what it finds, and erasure
        wins), or it is a WhatsApp auto-reply past the customer service window."""
        if await self._erased(p["ticket_id"]):
            await self._ledger.finish(
                d.id, "skipped", "not sent: its ticket was erased or archived"
            )
            self._tally(d.medium, "erased")
            log.info(
                "notification_dropped",
                delivery=d.id,
                medium=d.medium,
                why="ticket erased or archived",
            )
            return True
        if self._outside_window(d, record_from_json(p["record"]).value):
            await self._expired(d)
            return True
        return False

    async def _expired(self, d: Delivery) -> None:
        await self._ledger.finish(d.id, "skipped", PAST_WINDOW)
        self._tally(d.medium, "expired")
        log.warning("notification_expired", delivery=d.id, medium=d.medium, why=PAST_WINDOW)

    def _outside_window(self, d: Delivery, value: bytes | None) -> bool:
        """Whether a WhatsApp auto-reply (its notification record's ``value``) is past the
        customer service window: 24 hours from the customer's message (the
        notification's time), or ``SWITCHBOARD_NOTIFY_MAX_AGE_S`` when shorter. Twilio
        would take it and fail it later (63016), unseen. A notify target's message is a
        template's business."""
        if d.medium != "whatsapp" or d.kind != "auto_reply" or value is None:
            return False
        try:
            event = decode_event(value)
        except InvalidEvent:
            return False
        window = min(self._max_age or WHATSAPP_WINDOW_S, WHATSAPP_WINDOW_S)
        return event.time is not None and self._clock() - event.time.timestamp() > window

    async def _erased(self, ticket_id: str) -> bool:
        """Whether the ticket is gone (``forget`` deletes its owner key)."""
        [owner] = await self._threads.ticket_owners([ticket_id])
        return owner is None

    def _out_of_time(self, p: Mapping[str, Any], now: float, exc: SendFailed) -> SendFailed:
        """The error a delivery whose retry time ran out is dead-lettered with."""
        since = parked_at(p, self._retry_for)
        return SendFailed(
            f"gave up after {max(now - since, 0.0):.0f} s of retries: {exc.answer}",
            retriable=False,
        )

    async def _give_up(
        self,
        p: Mapping[str, Any],
        d: Delivery,
        verdict: Literal["failed", "uncertain"],
        error: SwitchboardError,
    ) -> None:
        """Dead-letter a parked delivery's record, then settle its ledger entry."""
        _log_dead_letter(p["ticket_id"], d, verdict, error)
        record = record_from_json(p["record"])
        await self._send([self._dead_letter(record, d, verdict, error)])
        self._count("deadlettered")
        self._tally(d.medium, verdict)
        await self._ledger.finish(d.id, settled_as(verdict), str(error))

    def _render(
        self,
        d: Delivery,
        ticket: Ticket,
        contact: Mapping[str, Any],
        thread: Mapping[str, Any] | None = None,
    ) -> Outgoing:
        medium = "email" if d.medium == "email" else "sms"
        context = {
            "ticket": ticket.model_dump(mode="json"),
            "customer": dict(contact) if d.kind == "auto_reply" else {},
            "notification": {"kind": d.kind, "template": d.template},
            # the email it answers, for the default subject
            "message": {"subject": thread.get("subject")} if thread else {},
            "to": d.to,
            "medium": d.medium,
        }
        rendered = self._templates.render(d.template, medium, context)
        reply = reply_headers(d, ticket, thread)
        return Outgoing(
            d, rendered.subject, rendered.body, ticket.id, reply.in_reply_to, reply.references
        )

    async def _wait(self, delay: float) -> None:
        try:
            await asyncio.wait_for(self._stop.wait(), delay)
        except TimeoutError:
            return
        raise Stopping("stopping while a notification waits to be retried")


def _log_dead_letter(ticket_id: str, d: Delivery, verdict: str, error: BaseException) -> None:
    """``notification_deadlettered``, the provider's answer redacted: the address stays out
    of the log; the dead letter has it. An error: a message (an on-call page, an
    auto-reply) that will not go out unless someone acts."""
    log.error(
        "notification_deadlettered",
        ticket_id=ticket_id,
        delivery=d.id,
        medium=d.medium,
        template=d.template,
        error=type(error).__name__,
        answer=redacted(str(error))[:200],
        maybe_delivered=verdict == "uncertain",
    )


def answered_customer(data: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The sender of the message an auto-reply answers, where the event names them
    (``reply_to.customer``); None for a page, or an event of an earlier version."""
    reply_to = data.get("reply_to")
    customer = reply_to.get("customer") if isinstance(reply_to, Mapping) else None
    return customer if isinstance(customer, Mapping) and customer else None


def answers_participant(data: Mapping[str, Any]) -> bool:
    """Whether an auto-reply answers a sender who is not the ticket's customer (a reply
    joining another customer's thread): they get nothing of that customer's, not their
    CRM profile (a template's ``customer.name``), nor the ticket's subject."""
    reply_to = data.get("reply_to")
    return isinstance(reply_to, Mapping) and reply_to.get("participant") is True


def answered_thread(data: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ``thread`` of the customer message a ``.notification`` answers, where the event
    carries it (``message_id``, ``in_reply_to``, ``references``, as the interaction has
    them); None where it does not, and the ticket's last message id is all there is."""
    thread = data.get("thread")
    return thread if isinstance(thread, Mapping) else None


def _replayed(record: Record) -> str | None:
    """For a dead letter ``deadletter replay`` sent back to this role, the delivery to
    try again ("": every one that failed, from a dead letter of an earlier version that
    did not say which); None for any other record."""
    if replay_header(record) is None:
        return None
    return (replay_header(record, REPLAY_DELIVERY) or b"").decode()
