"""The workload metric's backlog gauges on the real valkey: how long the oldest customer
has waited, and what a lifecycle record delivered again does (nothing)."""

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


async def gauges(backlog: Backlog, at: float, queue: str = "general") -> dict[str, int]:
    return (await backlog.gauges(minutes(at).timestamp()))[queue]


@pytest.mark.parametrize("resolved_at", [30, 0])  # 0: a resolve dated (clamped) as the opening
async def test_a_resolved_ticket_stays_out_when_its_first_record_comes_again(
    redis: RedisClient, settings: Settings, resolved_at: float
) -> None:
    backlog = Backlog(redis, prefix=settings.topic_prefix)
    opened = ("e-created", ticket("new", 0))
    await backlog.follow([opened])
    resolved = ticket("resolved", resolved_at, resolved_at=minutes(resolved_at))
    await backlog.follow([("e-resolved", resolved)])
    await backlog.follow([opened])  # a router's outbox published again after a crash
    assert await gauges(backlog, 60) == {"open": 0, "waiting": 0, "oldest_waiting_seconds": 0}
    # a later change is followed as ever: a reopening counts it again
    await backlog.follow([("e-reopened", ticket("open", 40, last_customer_at=minutes(40)))])
    assert await gauges(backlog, 60) == {"open": 1, "waiting": 1, "oldest_waiting_seconds": 1200}


@pytest.mark.parametrize("one_poll", [False, True])
async def test_a_customer_writing_again_has_not_waited_less(
    redis: RedisClient, settings: Settings, *, one_poll: bool
) -> None:
    backlog = Backlog(redis, prefix=settings.topic_prefix)
    first = ("e-1", ticket("new", 0))
    chaser = ("e-2", ticket("new", 50, last_customer_at=minutes(50)))  # "any news?"
    if one_poll:
        await backlog.follow([first, chaser])
    else:
        await backlog.follow([first])
        await backlog.follow([chaser])
    assert (await gauges(backlog, 60))["oldest_waiting_seconds"] == 3600
    # moved to another queue, the wait goes with it
    moved = ticket("new", 55, last_customer_at=minutes(50), queue="billing")
    await backlog.follow([("e-3", moved)])
    assert (await gauges(backlog, 60, "billing"))["oldest_waiting_seconds"] == 3600
    # answered, then written to again: the new wait starts at the new message
    answered = {"queue": "billing", "last_reply_at": minutes(70)}
    await backlog.follow([("e-4", ticket("pending", 70, **answered))])
    again = ticket("open", 80, last_customer_at=minutes(80), **answered)
    await backlog.follow([("e-5", again)])
    assert (await gauges(backlog, 90, "billing"))["oldest_waiting_seconds"] == 600
