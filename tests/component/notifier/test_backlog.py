"""The retry loop against valkey, with a transport that records what it is asked to send:
a medium's parked backlog leaves one message at a time in the order it was parked (the
README's promise; it had been sent all at once, arriving in any order), a refusal ends
that medium's run only, and an auto-reply keeps the customer's thread in References
whether sent at once or parked first."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import ConsumerRecord

from consumers.notifier import NotifierHandler
from consumers.notify.records import NOTIFICATION
from consumers.notify.targets import NotifyTargets
from consumers.notify.templates import Templates
from consumers.notify.throttle import ReplyThrottle
from consumers.notify.transports import Outgoing, SendFailed, email_message
from consumers.state.notifications import NotificationLedger, RetrySchedule
from consumers.state.threads import RedisThreadStore
from router.app.embedded import EmbeddedServices
from router.codec import TYPE_HEADER, encode_envelope
from router.events import Ticket
from router.keys import Keys
from router.redis import RedisClient, make_client
from router.topics import OutRecord
from rules.analysis import templates_dir
from tests.conftest import make_settings

pytestmark = pytest.mark.component

TEMPLATES = templates_dir(Path(__file__).resolve().parents[3] / "rules" / "examples")
START = 1_000_000.0
Refusal = Callable[[Outgoing], SendFailed | None]


@dataclass
class Recorder:
    """A provider: refuses what ``refuse`` says, else takes the message; records who was
    asked and how many sends were under way at once. ``during`` runs inside each send."""

    refuse: Refusal = lambda _: None
    during: Callable[[], None] = lambda: None
    tried: list[str] = field(default_factory=list)
    sent: list[Outgoing] = field(default_factory=list)
    in_flight: int = 0
    most_at_once: int = 0

    async def send(self, out: Outgoing) -> str:
        self.tried.append(out.delivery.to)
        self.in_flight += 1
        self.most_at_once = max(self.most_at_once, self.in_flight)
        try:
            await asyncio.sleep(0.05)  # long enough for concurrent sends to overlap
            self.during()
            refused = self.refuse(out)
            if refused is not None:
                raise refused
            self.sent.append(out)
            return f"<{out.delivery.id}@provider.example>"
        finally:
            self.in_flight -= 1

    async def close(self) -> None:
        return None

    def to(self) -> list[str]:
        return [out.delivery.to for out in self.sent]


@dataclass
class Notifier:
    handler: NotifierHandler
    schedule: RetrySchedule
    transport: Recorder
    redis: RedisClient
    keys: Keys
    stop: asyncio.Event
    now: list[float]
    ids: itertools.count[int] = field(default_factory=itertools.count)

    def clock(self) -> float:
        return self.now[0]

    async def notify(self, to: str, *, channel: str = "email", **data: Any) -> None:
        """Hand the handler one auto-reply ``.notification`` for a new customer at ``to``
        (an email address, or a phone number on ``channel`` sms)."""
        await self.handler.handle([await self.record(to, channel=channel, **data)])

    async def record(
        self, to: str, *, channel: str = "email", **data: Any
    ) -> ConsumerRecord[bytes, bytes]:
        """The ``.notification`` record ``notify`` hands over (``data`` overrides its
        ``template`` and ``kind``)."""
        n = next(self.ids)
        customer, ticket_id = f"C-{n}", f"T-{n}"
        contact = {"email": to} if channel == "email" else {"phone": to}
        await self.redis.set(self.keys.profile(customer), orjson.dumps(contact))
        await self.redis.set(self.keys.ticket_owner(ticket_id), customer)
        at = datetime.fromtimestamp(self.clock(), UTC)
        thread = data.get("thread") or {}
        ticket = Ticket(
            id=ticket_id,
            channel=channel,
            customer_id=customer,
            message_ids=[thread["message_id"]] if "message_id" in thread else [],
            created_at=at,
            updated_at=at,
        )
        value = encode_envelope(
            f"e-{n}",
            "/test",
            NOTIFICATION,
            subject=ticket_id,
            time=at,  # the customer's message, as the router stamps it
            data={
                "template": "after-hours",
                "kind": "auto_reply",
                "ticket": ticket.model_dump(mode="json"),
                **data,
            },
        )
        return ConsumerRecord(
            topic="tickets",
            partition=0,
            offset=n,
            timestamp=0,
            timestamp_type=0,
            key=ticket_id.encode(),
            value=value,
            checksum=None,
            serialized_key_size=len(ticket_id),
            serialized_value_size=len(value),
            headers=[(TYPE_HEADER, NOTIFICATION.encode())],
        )

    async def park(self, to: str, retry_after: float, **kwargs: Any) -> None:
        """``to``'s auto-reply refused for now, and parked for ``retry_after`` seconds."""
        before = self.transport.refuse
        self.transport.refuse = lambda _: SendFailed(
            "451 4.3.0 try again later", retriable=True, retry_after=retry_after
        )
        try:
            await self.notify(to, **kwargs)
        finally:
            self.transport.refuse = before
        assert self.transport.sent == []


@contextlib.asynccontextmanager
async def notifier_on(
    services: EmbeddedServices, name: str, throttle_limit: int = 0
) -> AsyncIterator[Notifier]:
    """A notifier on a prefix of its own, with the recording provider for every medium
    and parking on; ``throttle_limit`` auto-replies per mailbox an hour (0: no cap)."""
    prefix = f"{name}-{uuid.uuid4().hex[:8]}"
    redis = make_client(make_settings(services, prefix))
    transport = Recorder()
    schedule = RetrySchedule(redis, prefix=prefix)
    stop = asyncio.Event()
    now = [START]

    async def dead_letters(records: list[OutRecord]) -> None:
        raise AssertionError(f"nothing should be dead-lettered: {records}")

    handler = NotifierHandler(
        RedisThreadStore(redis, ttl_s=600, prefix=prefix),
        NotificationLedger(redis, prefix=prefix, ttl_s=600),
        {"email": transport, "sms": transport, "whatsapp": transport},
        dead_letters,
        templates=Templates(TEMPLATES),
        targets=NotifyTargets(TEMPLATES),
        attempts=1,
        backoff_s=1.0,
        retries=schedule,
        retry_for_s=3600.0,
        retry_max_backoff_s=300.0,
        sender="Acme Support <support@acme.example>",
        stop=stop,
        clock=lambda: now[0],
        throttle=ReplyThrottle(redis, prefix=prefix, limit=throttle_limit, window_s=3600),
    )
    try:
        yield Notifier(handler, schedule, transport, redis, Keys(prefix), stop, now)
    finally:
        await redis.aclose()


@pytest.fixture
async def notifier(services: EmbeddedServices) -> AsyncIterator[Notifier]:
    async with notifier_on(services, "backlog") as made:
        yield made


async def park_three_newest_due_first(n: Notifier) -> None:
    """Three emails parked a second apart, each newer one due sooner (backoffs differ,
    as after an outage they do), then all due together."""
    for i, retry_after in enumerate((90.0, 80.0, 70.0), start=1):
        n.now[0] = START + i
        await n.park(f"order{i}@cust.example", retry_after)
    assert await n.schedule.waiting() == 3
    n.now[0] = START + 200


async def test_a_backlog_due_together_is_sent_in_parked_order_one_at_a_time(
    notifier: Notifier,
) -> None:
    await park_three_newest_due_first(notifier)
    await notifier.handler.retry_due()
    assert notifier.transport.to() == [
        "order1@cust.example",
        "order2@cust.example",
        "order3@cust.example",
    ]
    assert notifier.transport.most_at_once == 1
    assert await notifier.schedule.waiting() == 0


async def test_a_recovery_makes_the_rest_of_the_backlog_go_in_parked_order(
    notifier: Notifier,
) -> None:
    """The first email has backed off longest: the second and third come due first, the
    second is sent, and the provider is back. The rest then go first parked first: the
    first, then the third (the third, claimed with the second, waits its turn)."""
    for i, retry_after in enumerate((500.0, 80.0, 70.0), start=1):
        notifier.now[0] = START + i
        await notifier.park(f"order{i}@cust.example", retry_after)
    notifier.now[0] = START + 200
    while await notifier.handler.retry_due():
        pass
    assert notifier.transport.to() == [
        "order2@cust.example",
        "order1@cust.example",
        "order3@cust.example",
    ]


async def test_a_refusal_ends_its_mediums_run_and_no_other(notifier: Notifier) -> None:
    """The provider still refuses the oldest: the newer emails are not offered to it in
    the same run, but stay parked and go next time; an SMS due meanwhile is sent."""
    await park_three_newest_due_first(notifier)
    notifier.now[0] = START + 3
    await notifier.park("+15551230000", 60.0, channel="sms")
    notifier.now[0] = START + 200
    refused = {"order1@cust.example"}
    notifier.transport.refuse = lambda out: (
        SendFailed("451 4.3.0 still busy", retriable=True) if out.delivery.to in refused else None
    )
    notifier.transport.tried.clear()
    await notifier.handler.retry_due()
    assert sorted(notifier.transport.tried) == ["+15551230000", "order1@cust.example"]
    assert notifier.transport.to() == ["+15551230000"]
    assert await notifier.schedule.waiting() == 3
    refused.clear()
    while await notifier.handler.retry_due():
        pass
    assert notifier.transport.to() == [
        "+15551230000",
        "order2@cust.example",  # the provider is back: the rest go first parked first
        "order1@cust.example",
        "order3@cust.example",
    ]
    assert await notifier.schedule.waiting() == 0


@pytest.mark.parametrize("cut", ["role stops", "run out of time"])
async def test_a_run_cut_short_leaves_the_rest_parked_and_claimable(
    notifier: Notifier, cut: str
) -> None:
    """A run stops starting sends when the role stops, and before its claims could lapse
    under a send (another notifier would then send it too): the rest are let go at once,
    due as before, so the next claim (here or in another process) takes them in order."""
    await park_three_newest_due_first(notifier)

    def during() -> None:
        if cut == "role stops":
            notifier.stop.set()
        else:
            notifier.now[0] += 40.0  # a slow provider: the run's time is up after this send

    notifier.transport.during = during
    assert await notifier.handler.retry_due() is True
    assert notifier.transport.to() == ["order1@cust.example"]
    left = await notifier.schedule.due(notifier.clock(), 10)
    assert sorted(orjson.loads(blob or b"")["delivery"]["to"] for _, _, blob in left) == [
        "order2@cust.example",
        "order3@cust.example",
    ]


CUSTOMER_THREAD = {
    "message_id": "cust-msg-001@example.com",
    "references": ["older-001@example.com"],
}


@pytest.mark.parametrize("parked", [False, True], ids=["sent at once", "parked first"])
async def test_an_auto_reply_keeps_the_customers_thread_in_references(
    notifier: Notifier, parked: bool
) -> None:
    if parked:
        await notifier.park("ada@cust.example", 10.0, thread=CUSTOMER_THREAD)
        notifier.now[0] += 60
        await notifier.handler.retry_due()
    else:
        await notifier.notify("ada@cust.example", thread=CUSTOMER_THREAD)
    [out] = notifier.transport.sent
    msg = email_message(out, "Acme Support <support@acme.example>")
    assert msg["In-Reply-To"] == "<cust-msg-001@example.com>"
    assert msg["References"] == "<older-001@example.com> <cust-msg-001@example.com>"
