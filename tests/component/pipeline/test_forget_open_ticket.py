"""``switchboard forget`` on customers whose tickets are still open: the seat, the waiting
line, the backlog gauges and the SLA timers let go of them (an erased ticket can no
longer be acted on, so nothing else would ever free them)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from consumers.state.agents import AgentStore
from consumers.state.backlog import ERASED, Backlog
from consumers.state.threads import Commit, RedisThreadStore
from consumers.state.waiting import WaitingLine
from consumers.timers import TimersHandler
from router.app import roles
from router.app.forget import forget
from router.events import SlaClock, Ticket
from router.keys import Keys
from router.redis import RedisClient, make_redis, text
from router.settings import Settings
from rules import load_ruleset
from tests.component.pipeline.conftest import RULES, run_switchboard
from tests.component.pipeline.test_assignment import AUTH, open_ticket, until_online
from tests.component.pipeline.test_waiting_line import routed_record

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
            ERASED.encode(),
            ERASED.encode(),
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


async def test_a_snapshot_in_flight_when_its_customer_was_erased_takes_nothing_back(
    settings: Settings,
) -> None:
    """The timers and metrics roles read a ticket's last snapshot after ``forget`` ran (it
    was in flight): no seat, place in line, timer or backlog entry comes back."""
    redis = make_redis(settings)
    prefix = settings.topic_prefix
    store = RedisThreadStore(redis, ttl_s=3600, prefix=prefix)
    agents = AgentStore(redis, prefix=prefix)
    backlog = Backlog(redis, prefix=prefix)
    sent: list[Any] = []

    async def send(records: list[Any]) -> None:
        sent.extend(records)

    def timers() -> TimersHandler:
        return TimersHandler(
            redis,
            store,
            agents=agents,
            send=send,
            rules=lambda: load_ruleset(RULES),
            prefix=prefix,
        )

    now = datetime.now(UTC)
    ticket = Ticket(
        id="T-in-flight",
        status="open",
        channel="email",
        customer_id="C-0000000000f11e47",
        queue="billing",
        assignee="a1",
        sla_policy="standard",
        sla={"first_response": SlaClock(due=now + timedelta(hours=4))},
        created_at=now,
        updated_at=now,
    )
    try:
        await agents.presence("a1", "online", ["billing"], {"email": 5})
        assert await store.commit_many([Commit(ticket.customer_id, "e-1", ticket, 0)]) == ["OK"]
        record = routed_record(ticket)
        await timers().handle([record])
        await backlog.follow([("e-routed", ticket)])
        assert await agents.holders([ticket.id]) == ["a1"]
        assert ticket.id in await timers_of(redis, settings)

        await forget(settings, ticket.customer_id)
        # the same snapshot, delivered again after the erasure (a process that read it
        # before, or a redelivery): what forget released stays released
        await timers().handle([record])
        await backlog.follow([("e-in-flight", ticket)])  # one the backlog had not followed
        assert await agents.holders([ticket.id]) == [None]
        assert await agents.load("a1", "email") == 0
        assert ticket.id not in await timers_of(redis, settings)
        assert (await backlog.gauges(now.timestamp())).get("billing", {}).get("open", 0) == 0
    finally:
        await redis.aclose()
