"""``switchboard forget`` on customers whose tickets are still open: the seat, the waiting
line, the backlog gauges and the SLA timers let go of them (an erased ticket can no
longer be acted on, so nothing else would ever free them)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pydantic import SecretStr

from consumers.state.agents import AgentStore
from consumers.state.backlog import Backlog
from consumers.state.waiting import WaitingLine
from router.app import roles
from router.app.forget import forget
from router.keys import Keys
from router.redis import RedisClient, make_redis, text
from router.settings import Settings
from tests.component.pipeline.conftest import RULES, run_switchboard
from tests.component.pipeline.test_assignment import AUTH, open_ticket, until_online

pytestmark = pytest.mark.component


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(150):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never: {what}")


async def timers_of(redis: RedisClient, settings: Settings) -> set[str]:
    """The tickets with a timer in the schedule (any shard)."""
    keys = Keys(settings.topic_prefix)
    found: set[str] = set()
    for shard in range(settings.timers_shards):
        members: list[Any] = await redis.zrange(keys.timers(shard), 0, -1)
        found |= {text(m).partition("|")[0] for m in members}
    return found


async def test_forget_frees_the_seat_and_drops_the_tickets_from_line_backlog_and_timers(
    settings: Settings,
) -> None:
    settings = settings.model_copy(update={"rules_path": RULES, "api_tokens": SecretStr("tok")})
    redis = make_redis(settings)
    agents = AgentStore(redis, prefix=settings.topic_prefix)
    line = WaitingLine(redis, prefix=settings.topic_prefix, shards=settings.timers_shards)
    backlog = Backlog(redis, prefix=settings.topic_prefix)
    try:
        async with run_switchboard(settings, frozenset(roles.ROLES)) as desk:
            presence = {
                "type": "agent.presence",
                "data": {
                    "agent_id": "a1",
                    "status": "online",
                    "skills": ["billing"],
                    "capacity": {"webform": 1},
                },
            }
            resp = await desk.http.post("/v1/actions", json=presence, headers=AUTH)
            assert resp.status_code == 202
            await until_online(desk, "a1")
            held = await open_ticket(desk, "held@example.com")
            waits = await open_ticket(desk, "waits@example.com")

            async def settled() -> bool:
                gauges = (await backlog.gauges(0)).get("billing", {})
                return (
                    await agents.holders([held, waits]) == ["a1", None]
                    and await line.waiting() == {"webform|billing": 1}
                    and gauges.get("open") == 2
                    and {held, waits} <= await timers_of(redis, settings)
                )

            await until(settled, "a1 holds one ticket, the other waits, both timed")
        # the roles are stopped: what they hold now stays put while we look

        gone = await forget(settings, "held@example.com")
        left = await forget(settings, "waits@example.com")
        assert (gone.tickets, left.tickets) == ([held], [waits])

        [a1] = await agents.records(["a1"])
        assert a1.tickets == {}
        assert await agents.load("a1", "webform") == 0
        assert await agents.holders([held, waits]) == [None, None]
        assert await line.waiting() == {}
        assert await line.page(None) == []
        assert await line.recheck_page(None) == []
        gauges = (await backlog.gauges(0)).get("billing", {})
        assert (gauges.get("open"), gauges.get("waiting")) == (0, 0)
        assert await redis.hmget(Keys(settings.topic_prefix).backlog_where, [held, waits]) == [
            None,
            None,
        ]
        assert await timers_of(redis, settings) == set()
        # what the CLI can report: whose seat was freed, how many timers went
        assert (gone.released, left.released) == ({held: "a1"}, {})
        assert gone.timers > 0
        assert left.timers > 0

        # idempotent: the customer is gone, a second run finds nothing and changes nothing
        assert (await forget(settings, "held@example.com")).customer_id is None

        async with run_switchboard(settings, frozenset({"ingress"})) as api:
            body = (await api.http.get("/v1/agents/a1", headers=AUTH)).json()
            assert (body["load"].get("webform", 0), body["tickets"]) == (0, {})
            assert body["free"]["webform"] == 1
            [billing] = [
                q
                for q in (await api.http.get("/v1/queues", headers=AUTH)).json()
                if q["name"] == "billing"
            ]
            assert (billing["open"], billing["waiting"], billing["unassigned"]) == (0, 0, 0)
    finally:
        await redis.aclose()
