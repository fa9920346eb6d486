"""A ticket's timers fire in due order across processes: a later timer of a ticket waits
while an earlier one is claimed by another process, so a process that died between
committing a warning and publishing it cannot have its breach published first."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from consumers.state.schedule import CLAIM_S, TimerSchedule
from router.redis import make_redis
from router.settings import Settings

pytestmark = pytest.mark.component

NOW = 1_000_000.0


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    redis = make_redis(settings)
    yield redis
    await redis.aclose()


async def test_a_later_timer_waits_while_an_earlier_one_is_claimed_elsewhere(
    client: aioredis.Redis, settings: Settings
) -> None:
    one = TimerSchedule(client, prefix=settings.topic_prefix, shards=1)
    two = TimerSchedule(client, prefix=settings.topic_prefix, shards=1)
    warning, breach = "T-1|first_response|warned", "T-1|first_response|breached"
    await one.add({warning: NOW - 10, "T-2|first_response|warned": NOW + 5})
    assert [m for m, _ in await one.due(NOW, 10)] == [warning]  # then one dies

    await two.add({breach: NOW + 10})
    # the breach is due, but T-1's warning is still claimed: only T-2's timer goes
    assert [m for m, _ in await two.due(NOW + 10, 10)] == ["T-2|first_response|warned"]
    # the dead process's claim lapses: the warning comes first, the breach after it
    later = NOW + CLAIM_S + 1
    assert [m for m, _ in await two.due(later, 10)] == [warning, breach]


async def test_one_process_claims_a_tickets_timers_together_in_due_order(
    client: aioredis.Redis, settings: Settings
) -> None:
    schedule = TimerSchedule(client, prefix=settings.topic_prefix, shards=1)
    await schedule.add({"T-1|a|breached": NOW - 1, "T-1|a|warned": NOW - 5, "T-3|a|warned": NOW})
    claimed = [m for m, _ in await schedule.due(NOW, 10)]
    assert claimed == ["T-1|a|warned", "T-1|a|breached", "T-3|a|warned"]
