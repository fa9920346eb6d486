"""The retry schedule's indexes on valkey: each branch of ``notify_hurry.lua``,
``drop_tickets`` (what ``forget`` calls) and a settle cleaning up after itself; and the
ledger keeping a provider's answer without the recipient's address."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from consumers.state.notifications import NotificationLedger, RetrySchedule
from router.app.embedded import EmbeddedServices
from router.keys import Keys
from router.redis import RedisClient, make_client, text
from tests.conftest import make_settings

pytestmark = pytest.mark.component

NOW = 1_000_000.0


@pytest.fixture
async def client(services: EmbeddedServices) -> AsyncIterator[tuple[RedisClient, str]]:
    prefix = f"retries-{uuid.uuid4().hex[:8]}"
    redis = make_client(make_settings(services, prefix))
    try:
        yield redis, prefix
    finally:
        await redis.aclose()


async def test_hurry_makes_a_mediums_backlog_due_in_parking_order(
    client: tuple[RedisClient, str],
) -> None:
    redis, prefix = client
    schedule = RetrySchedule(redis, prefix=prefix)
    # parked at 10, 20, 30 with backoffs that put the newest first
    await schedule.park("old", NOW + 300, b"{}", ticket_id="T-1", medium="email", parked_at=10)
    await schedule.park("mid", NOW + 200, b"{}", ticket_id="T-2", medium="email", parked_at=20)
    await schedule.park("new", NOW + 5, b"{}", ticket_id="T-3", medium="email", parked_at=30)
    await schedule.park("sms", NOW + 300, b"{}", ticket_id="T-4", medium="sms", parked_at=15)
    # parked again: keeps its first parking time
    await schedule.park("old", NOW + 400, b"{}", ticket_id="T-1", medium="email", parked_at=99)
    assert await schedule.hurry("email", NOW) == 3
    claimed = await schedule.due(NOW, 10)
    assert [member for member, _, _ in claimed] == ["old", "mid", "new"]  # not the SMS
    # claimed ones are left alone; one gone from the schedule leaves the index
    await redis.zrem(Keys(prefix).notify_retries(), "mid")
    assert await schedule.hurry("email", NOW) == 0
    medium = Keys(prefix).notify_retry_medium("email")
    assert {text(m) for m in await redis.zrange(medium, 0, -1)} == {"old", "new"}


async def test_a_settled_delivery_leaves_data_and_indexes(
    client: tuple[RedisClient, str],
) -> None:
    redis, prefix = client
    keys = Keys(prefix)
    schedule = RetrySchedule(redis, prefix=prefix)
    await schedule.park("d1", NOW, b"{}", ticket_id="T-1", medium="sms", parked_at=NOW)
    [(member, due, _)] = await schedule.due(NOW, 10)
    await schedule.settle(member, due, later=None, ticket_id="T-1", medium="sms")
    assert await schedule.waiting() == 0
    assert (
        await redis.exists(
            keys.notify_retries("data"),
            keys.notify_retry_ticket("T-1"),
            keys.notify_retry_medium("sms"),
        )
        == 0
    )


async def test_drop_tickets_removes_their_parked_deliveries_whole(
    client: tuple[RedisClient, str],
) -> None:
    redis, prefix = client
    keys = Keys(prefix)
    schedule = RetrySchedule(redis, prefix=prefix)
    await schedule.park("a", NOW, b"to-a", ticket_id="T-1", medium="email", parked_at=1)
    await schedule.park("b", NOW + 9, b"to-b", ticket_id="T-1", medium="sms", parked_at=2)
    await schedule.park("c", NOW, b"to-c", ticket_id="T-2", medium="email", parked_at=3)
    await schedule.due(NOW, 1)  # "a" is being sent right now
    assert await schedule.drop_tickets(["T-1", "T-9"]) == 2
    assert await schedule.drop_tickets([]) == 0
    assert await schedule.waiting() == 1
    assert await redis.hkeys(keys.notify_retries("data")) == [b"c"]
    assert await redis.zrange(keys.notify_retries("claims"), 0, -1) == []
    assert await redis.exists(keys.notify_retry_ticket("T-1")) == 0
    assert await redis.zrange(keys.notify_retry_medium("email"), 0, -1) == [b"c"]
    assert await redis.exists(keys.notify_retry_medium("sms")) == 0


async def test_the_ledger_keeps_the_answer_without_address_or_phone(
    client: tuple[RedisClient, str],
) -> None:
    redis, prefix = client
    ledger = NotificationLedger(redis, prefix=prefix, ttl_s=600)
    await ledger.begin("d1", max_attempts=3)
    await ledger.finish("d1", "sent", '{"sid": "SM1", "to": "+15550001111", "code": 21610}')
    await ledger.begin("d2", max_attempts=3)
    await ledger.finish("d2", "parked", "451 4.2.1 <ada@example.com>: busy")
    assert (await ledger.state("d1"))["answer"] == (
        '{"sid": "SM1", "to": "<redacted-phone>", "code": 21610}'
    )
    assert (await ledger.state("d2"))["answer"] == "451 4.2.1 <<redacted-email>>: busy"
