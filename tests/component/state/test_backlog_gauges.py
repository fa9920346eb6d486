"""The workload metric's backlog gauges on the real valkey: how long the oldest customer
has waited, and what a snapshot delivered again out of order does (nothing)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from consumers.state.backlog import Backlog
from router.events import Ticket
from router.redis import RedisClient, make_redis
from router.settings import Settings

pytestmark = pytest.mark.component

T0 = datetime(2026, 11, 23, 10, 0, 5, tzinfo=UTC)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def ticket(status: str, at: float, **kw: object) -> Ticket:
    fields: dict[str, object] = {
        "id": "T-1",
        "status": status,
        "channel": "email",
        "customer_id": "c-1",
        "queue": "general",
        "created_at": T0,
        "updated_at": minutes(at),
        "last_customer_at": T0,
    }
    return Ticket.model_validate({**fields, **kw})


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[RedisClient]:
    client = make_redis(settings)
    yield client
    await client.aclose()


async def gauges(backlog: Backlog, at: float) -> dict[str, int]:
    return (await backlog.gauges(minutes(at).timestamp()))["general"]


async def test_a_resolved_ticket_stays_out_when_its_first_snapshot_comes_again(
    redis: RedisClient, settings: Settings
) -> None:
    backlog = Backlog(redis, prefix=settings.topic_prefix)
    opened = ticket("new", 0)
    await backlog.follow([opened])
    await backlog.follow([ticket("resolved", 30, resolved_at=minutes(30))])
    await backlog.follow([opened])  # a router's outbox published again after a crash
    assert await gauges(backlog, 60) == {"open": 0, "waiting": 0, "oldest_waiting_seconds": 0}
    # a later change is followed as ever: a reopening counts it again
    await backlog.follow([ticket("open", 40, last_customer_at=minutes(40))])
    assert await gauges(backlog, 60) == {"open": 1, "waiting": 1, "oldest_waiting_seconds": 1200}


async def test_a_customer_writing_again_has_not_waited_less(
    redis: RedisClient, settings: Settings
) -> None:
    backlog = Backlog(redis, prefix=settings.topic_prefix)
    await backlog.follow([ticket("new", 0)])
    await backlog.follow([ticket("new", 50, last_customer_at=minutes(50))])  # "any news?"
    assert (await gauges(backlog, 60))["oldest_waiting_seconds"] == 3600
    # moved to another queue, the wait goes with it
    await backlog.follow([ticket("new", 55, last_customer_at=minutes(50), queue="billing")])
    moved = (await backlog.gauges(minutes(60).timestamp()))["billing"]
    assert moved["oldest_waiting_seconds"] == 3600
    # answered, then written to again: the new wait starts at the new message
    answered = {"queue": "billing", "last_reply_at": minutes(70)}
    await backlog.follow([ticket("pending", 70, **answered)])
    await backlog.follow([ticket("open", 80, last_customer_at=minutes(80), **answered)])
    again = (await backlog.gauges(minutes(90).timestamp()))["billing"]
    assert again["oldest_waiting_seconds"] == 600
