"""The timers role when it catches up: a ticket with several timers due fires them all in
one tick, each once under its own event id, and the snapshots older than a firing or an
announcement, read after it, schedule and offer nothing again. On a process that forgot
(a restart), the claim and the read still find every timer fired: nothing twice."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from structlog.testing import capture_logs

from consumers.state.agents import AgentStore
from consumers.state.threads import Commit, RedisThreadStore, ViewRequest
from consumers.state.waiting import WaitingLine
from consumers.timers import TimersHandler
from router.codec import TYPE_HEADER
from router.events import SlaClock, Ticket
from router.keys import DEFAULT_SHARDS, Keys
from router.observability import Telemetry
from router.redis import RedisClient
from router.topics import OutRecord, Topic
from rules import RuleSet
from tests.component.pipeline.test_waiting_line import routed_record

pytestmark = pytest.mark.component

WARNING = "switchboard.ticket.sla_warning"
BREACHED = "switchboard.ticket.sla_breached"
QUEUED = "switchboard.ticket.queued"


@dataclass
class Outbox:
    """What the handlers published, in order."""

    records: list[OutRecord] = field(default_factory=list)

    async def send(self, records: list[OutRecord]) -> None:
        self.records.extend(records)

    def types(self) -> list[str]:
        return [
            dict(r.headers)[TYPE_HEADER].decode()
            for r in self.records
            if r.topic == Topic.TICKETS and r.headers
        ]


@dataclass
class Timers:
    redis: RedisClient
    store: RedisThreadStore
    agents: AgentStore
    rules: RuleSet
    keys: Keys
    outbox: Outbox = field(default_factory=Outbox)
    lag: timedelta = timedelta(0)
    """How far behind the handlers' clock runs: set, it keeps their ticks from firing, so
    what a snapshot scheduled stays to be seen."""

    def handler(
        self,
        closed_retention_s: int = 0,
        reopen_window_s: int = 0,
        telemetry: Telemetry | None = None,
    ) -> TimersHandler:
        """A timers process as it starts: nothing remembered."""
        return TimersHandler(
            self.redis,
            self.store,
            agents=self.agents,
            send=self.outbox.send,
            rules=lambda: self.rules,
            prefix=self.keys.prefix,
            clock=self.now,
            closed_retention_s=closed_retention_s,
            reopen_window_s=reopen_window_s,
            telemetry=telemetry,
        )

    def now(self) -> float:
        return (datetime.now(UTC) - self.lag).timestamp()

    async def open(self, ticket: Ticket) -> ConsumerRecord[bytes, bytes]:
        """``ticket`` in the thread store, and a record of it as the router wrote it."""
        commit = Commit(ticket.customer_id, f"open-{ticket.id}", ticket, 0)
        assert await self.store.commit_many([commit]) == ["OK"]
        return routed_record(ticket)

    async def scheduled(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for shard in range(DEFAULT_SHARDS):
            raw: list[Any] = await self.redis.zrange(
                self.keys.timers(shard), 0, -1, withscores=True
            )
            out.update({m.decode(): float(s) for m, s in raw})
        return out

    async def rechecks(self) -> list[str]:
        out: list[str] = []
        for shard in range(DEFAULT_SHARDS):
            raw: list[Any] = await self.redis.zrange(self.keys.waiting_recheck(shard), 0, -1)
            out += [m.decode() for m in raw]
        return out


def overdue_ticket(n: int = 1, *, warn_at: datetime | None = None) -> Ticket:
    """A waiting ticket whose first-response warning and breach are both long past."""
    now = datetime.now(UTC)
    clock = SlaClock(due=now - timedelta(hours=1), warn_at=warn_at or now - timedelta(hours=2))
    return Ticket(
        id=f"T-round-{n}",
        channel="email",
        customer_id=f"C-round-{n}",
        queue="general",
        sla_policy="standard",
        sla={"first_response": clock},
        created_at=now - timedelta(hours=3),
        updated_at=now - timedelta(hours=3),
    )


async def test_a_warning_and_its_breach_due_together_fire_in_one_tick(timers: Timers) -> None:
    record = await timers.open(overdue_ticket())
    telemetry = Telemetry()
    with capture_logs() as logs:
        await timers.handler(telemetry=telemetry).handle([record])  # schedules, then ticks
    counted = telemetry.registry.get_sample_value
    assert counted("switchboard_timers_fired_total", {"kind": "warning"}) == 1
    assert counted("switchboard_timers_fired_total", {"kind": "breached"}) == 1

    assert await timers.scheduled() == {}
    # one info line for the tick, not one per timer (thousands may fire in a second)
    said = [(e["event"], e["log_level"]) for e in logs if "fired" in e["event"]]
    assert said == [("sla_timer_fired", "debug")] * 2 + [("timers_fired", "info")]
    assert next(e for e in logs if e["event"] == "timers_fired")["warning"] == 1
    fired = [t for t in timers.outbox.types() if t in (WARNING, BREACHED)]
    assert fired == [WARNING, BREACHED]  # in due order, the breach on the warned ticket
    [ticket] = await timers.store.tickets(["T-round-1"])
    assert ticket is not None
    assert ticket.sla["first_response"].warned
    assert ticket.sla["first_response"].breached


async def test_an_older_snapshot_read_after_the_firing_schedules_nothing(timers: Timers) -> None:
    record = await timers.open(overdue_ticket())
    handler = timers.handler()
    await handler.handle([record])
    published = len(timers.outbox.records)

    timers.lag = timedelta(days=1)
    await handler.handle([record])  # the same snapshot, from before the firing, once more

    assert await timers.scheduled() == {}  # not even scheduled again
    assert len(timers.outbox.records) == published


async def test_a_process_that_forgot_reads_the_firing_and_fires_nothing_twice(
    timers: Timers,
) -> None:
    record = await timers.open(overdue_ticket())
    await timers.handler().handle([record])
    published = len(timers.outbox.types())

    await timers.handler().handle([record])  # a restarted process: schedules it all again

    assert await timers.scheduled() == {}  # claimed, read, found fired: dropped
    assert len(timers.outbox.types()) == published


async def test_a_timer_fired_on_a_newer_clock_is_not_scheduled_again_from_it(
    timers: Timers,
) -> None:
    """The snapshot that scheduled the warning is older than the ticket, whose clock moved
    (a priority changed): the warning fires on the ticket as it is, and the ticket's
    later snapshot, with the moved due time, schedules nothing."""
    now = datetime.now(UTC)
    current = overdue_ticket(warn_at=now - timedelta(minutes=90))
    older = current.model_copy(
        update={"sla": {"first_response": SlaClock(due=now - timedelta(minutes=30))}}
    )
    await timers.open(current)
    handler = timers.handler()
    await handler.handle([routed_record(older)])  # its breach is due 30 minutes ago
    assert [t for t in timers.outbox.types() if t in (WARNING, BREACHED)] == [BREACHED]

    timers.lag = timedelta(days=1)
    await handler.handle([routed_record(current)])  # the breach at its current due time
    assert list(await timers.scheduled()) == ["T-round-1|first_response|warning"]

    timers.lag = timedelta(0)
    await handler.tick()  # the warning is stale: the ticket breached
    assert await timers.scheduled() == {}
    assert [t for t in timers.outbox.types() if t in (WARNING, BREACHED)] == [BREACHED]


async def test_a_snapshot_from_before_the_announcement_asks_for_no_offer(
    timers: Timers,
) -> None:
    record = await timers.open(overdue_ticket())
    handler = timers.handler()
    await handler.handle([record])  # nobody online: the ticket is announced as waiting
    assert timers.outbox.types().count(QUEUED) == 1
    assert await timers.rechecks() == []

    await handler.close()
    line = WaitingLine(timers.redis, prefix=timers.keys.prefix)
    assert await line.lead("another process", 60)  # so that what is marked stays marked
    await handler.handle([record])  # not announced, says this older snapshot

    assert await timers.rechecks() == []
    assert timers.outbox.types().count(QUEUED) == 1


def waiting_ticket(n: int) -> Ticket:
    """A ticket whose first-response warning and breach are hours ahead."""
    now = datetime.now(UTC)
    clock = SlaClock(due=now + timedelta(hours=4), warn_at=now + timedelta(hours=3))
    return overdue_ticket(n).model_copy(update={"sla": {"first_response": clock}})


async def commit(timers: Timers, ticket: Ticket, event_id: str) -> None:
    """``ticket`` committed over the stored one, as the router commits a change."""
    [view] = await timers.store.views([ViewRequest(ticket.customer_id, "", ticket_id=ticket.id)])
    change = Commit(ticket.customer_id, event_id, ticket, view.ticket_version)
    assert await timers.store.commit_many([change]) == ["OK"]


async def settle(timers: Timers, ticket: Ticket, status: str) -> Ticket:
    """``ticket`` resolved or closed in Redis."""
    settled = ticket.model_copy(update={"status": status, "updated_at": datetime.now(UTC)})
    await commit(timers, settled, f"{status}-{ticket.id}")
    return settled


async def test_a_settled_tickets_timers_are_unscheduled_at_once(timers: Timers) -> None:
    """Left, they were claimed, read and dropped when due, days later for a resolution
    target: 48,000 such members of 12,000 settled tickets in an outside run."""
    ticket = waiting_ticket(30)
    handler = timers.handler()
    await handler.handle([await timers.open(ticket)])
    assert set(await timers.scheduled()) == {
        "T-round-30|first_response|warning",
        "T-round-30|first_response|breached",
    }
    resolved = await settle(timers, ticket, "resolved")
    await handler.handle([routed_record(resolved)])
    assert await timers.scheduled() == {}


async def test_an_older_resolution_read_after_a_reopen_leaves_the_timers(timers: Timers) -> None:
    ticket = waiting_ticket(31)
    handler = timers.handler()
    await handler.handle([await timers.open(ticket)])
    resolved = await settle(timers, ticket, "resolved")
    reopened = ticket.model_copy(update={"updated_at": datetime.now(UTC)})
    await commit(timers, reopened, "reopen-31")  # Redis: at work again
    await handler.handle([routed_record(resolved)])  # the older snapshot, read late
    assert len(await timers.scheduled()) == 2


async def test_timers_due_and_how_late_the_oldest_is_are_gauges(timers: Timers) -> None:
    """What an operator alerts on when the timers role falls behind: seen as each tick
    begins, so the first tick sees the two overdue timers (the warning two hours late),
    and the next one sees nothing left due."""
    record = await timers.open(overdue_ticket(7))
    await timers.redis.zadd(timers.keys.timers(0), {"T-later|first_response|warning": 4e9})
    telemetry = Telemetry()
    handler = timers.handler(telemetry=telemetry)
    gauge = telemetry.registry.get_sample_value
    await handler.handle([record])  # schedules, then ticks: fires both
    assert gauge("switchboard_timers_due") == 2
    assert gauge("switchboard_timers_oldest_due_seconds") == pytest.approx(7200, abs=60)
    await handler.tick()
    assert gauge("switchboard_timers_due") == 0  # the one due in 2096 is not due
    assert gauge("switchboard_timers_oldest_due_seconds") == 0
