"""The sharded timer schedule and waiting line: tickets spread over the shards, two timers
processes split the due timers and never fire one twice, and a deployment upgraded in
place (the single keys of earlier versions, or another shard count) keeps every timer and
every waiting ticket. Run again on a three-node cluster by ``tests/component/cluster``."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord

from consumers import timers as timers_module
from consumers.outbox import Send
from consumers.state.agents import AgentStore
from consumers.state.schedule import TimerSchedule
from consumers.state.threads import Commit, RedisThreadStore
from consumers.state.waiting import WaitingLine
from consumers.timers import TimersHandler
from router.app import roles
from router.events import Customer, Interaction, SlaClock, Ticket
from router.keys import DEFAULT_SHARDS, Keys
from router.redis import RedisClient, make_redis
from router.settings import Settings
from router.topics import OutRecord, Topic
from rules import RuleSet, load_ruleset
from tests.component.pipeline.conftest import RULES, run_switchboard
from tests.component.pipeline.test_slice import _produce, interaction_event
from tests.component.pipeline.test_waiting_line import routed_record
from tests.conftest import read_topic, values

pytestmark = pytest.mark.component

BREACHED = "switchboard.ticket.sla_breached"
QUEUED = "switchboard.ticket.queued"
SLA_RULES = """\
version: 1
queues:
  general: {}
sla:
  standard: {first_response: 1h}
defaults: {queue: general, priority: normal, sla: standard}
rules: []
"""


@dataclass
class Desk:
    settings: Settings
    redis: RedisClient
    store: RedisThreadStore
    agents: AgentStore
    producer: AIOKafkaProducer
    rules: RuleSet

    @property
    def keys(self) -> Keys:
        return Keys(self.settings.topic_prefix)

    def handler(self, send: Send | None = None, shards: int = DEFAULT_SHARDS) -> TimersHandler:
        """A timers role as a process would start it (publishing with ``send``)."""
        return TimersHandler(
            self.redis,
            self.store,
            agents=self.agents,
            send=send or roles.sender(self.producer, self.settings, "timers"),
            rules=lambda: self.rules,
            prefix=self.settings.topic_prefix,
            shards=shards,
        )

    async def open_tickets(
        self, count: int, *, due: datetime | None = None
    ) -> list[ConsumerRecord[bytes, bytes]]:
        """``count`` waiting tickets in the thread store, each with a first-response clock
        due at ``due`` (an hour ago by default), and their ``ticket.routed`` records."""
        at = datetime.now(UTC) - timedelta(hours=2)
        due = due or datetime.now(UTC) - timedelta(hours=1)
        tickets = [
            Ticket(
                id=f"T-{n:05d}",
                channel="email",
                customer_id=f"C-{n:05d}",
                queue="general",
                sla_policy="standard",
                sla={"first_response": SlaClock(due=due)},
                created_at=at + timedelta(seconds=n),
                updated_at=at,
            )
            for n in range(count)
        ]
        commits = [Commit(t.customer_id, f"open-{t.id}", t, 0) for t in tickets]
        assert set(await self.store.commit_many(commits)) == {"OK"}
        return [routed_record(t) for t in tickets]


@pytest.fixture
async def desk(settings: Settings, tmp_path: Path) -> AsyncIterator[Desk]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(SLA_RULES)
    redis = make_redis(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    prefix = settings.topic_prefix
    yield Desk(
        settings,
        redis,
        RedisThreadStore(redis, ttl_s=3600, prefix=prefix),
        AgentStore(redis, prefix=prefix),
        producer,
        load_ruleset(rules),
    )
    await producer.stop()
    await redis.aclose()


async def zset(redis: RedisClient, key: str) -> dict[str, float]:
    raw: list[Any] = await redis.zrange(key, 0, -1, withscores=True)
    return {m.decode(): float(s) for m, s in raw}


async def every_shard(desk: Desk, key_of: Any, shards: int = DEFAULT_SHARDS) -> dict[int, Any]:
    """Each non-empty shard's sorted set (``key_of(shard)``)."""
    found = {shard: await zset(desk.redis, key_of(shard)) for shard in range(shards)}
    return {shard: members for shard, members in found.items() if members}


async def test_timers_and_waiting_tickets_are_spread_over_the_shards(desk: Desk) -> None:
    later = datetime.now(UTC) + timedelta(days=1)
    records = await desk.open_tickets(200, due=later)
    await desk.handler().handle(records)

    timers = await every_shard(desk, desk.keys.timers)
    line = await every_shard(desk, desk.keys.waiting)
    assert len(timers) == len(line) == DEFAULT_SHARDS  # 200 tickets reach every one of 16
    schedule = TimerSchedule(desk.redis, prefix=desk.settings.topic_prefix)
    for shard, members in timers.items():
        assert all(desk.keys.timers(shard) == schedule.key_of(m.split("|")[0]) for m in members)
    assert sum(len(m) for m in timers.values()) == sum(len(m) for m in line.values()) == 200
    waiting = WaitingLine(desk.redis, prefix=desk.settings.topic_prefix)
    assert await waiting.waiting() == {"email|general": 200}  # counts summed over shards
    whole, after = [], None
    while page := await waiting.page(after, size=37):
        whole += page
        after = page[-1]
    assert [e.member for e in whole] == [f"T-{n:05d}|0" for n in range(200)]  # oldest first


async def test_two_timers_processes_split_the_due_timers_and_fire_each_once(desk: Desk) -> None:
    count = 1_200  # more than one tick's batch: both processes find work in the first tick
    records = await desk.open_tickets(count)
    fired: Counter[str] = Counter()
    send = roles.sender(desk.producer, desk.settings, "timers")

    def counted(name: str) -> Send:
        async def publish(out: list[OutRecord]) -> None:
            fired[name] += sum(1 for r in out if r.value and b"sla_breached" in r.value)
            await send(out)

        return publish

    one, two = desk.handler(counted("one")), desk.handler(counted("two"))
    # each follows half the tickets topic (its partitions); both tick every shard
    await asyncio.gather(one.handle(records[: count // 2]), two.handle(records[count // 2 :]))
    for _ in range(20):
        if not await every_shard(desk, desk.keys.timers):
            break
        await asyncio.gather(one.tick(), two.tick())
    assert await every_shard(desk, desk.keys.timers) == {}

    events = values(await read_topic(desk.settings, Topic.TICKETS, expect=count * 2))
    breaches = Counter(e["data"]["ticket"]["id"] for e in events if e["type"] == BREACHED)
    assert breaches == {f"T-{n:05d}": 1 for n in range(count)}
    assert len(events) == len({e["id"] for e in events})  # no record published twice
    assert fired["one"] > 0, fired  # the work was split
    assert fired["two"] > 0, fired
    assert fired["one"] + fired["two"] == count
    queued = Counter(e["data"]["ticket"]["id"] for e in events if e["type"] == QUEUED)
    assert set(queued.values()) == {1}


async def test_two_timers_roles_fire_every_timer_once(settings: Settings) -> None:
    settings = settings.model_copy(update={"rules_path": RULES})
    customers = [f"c{n}@example.com" for n in range(12)]
    async with (
        run_switchboard(settings, frozenset({"ingress", "router", "timers"})) as running,
        run_switchboard(settings, frozenset({"timers"})),  # the second joins the same group
    ):
        for n, email in enumerate(customers):  # dated long ago: every SLA clock ran out
            interaction = Interaction(channel="chat", customer=Customer(email=email), text="?")
            await _produce(running, interaction_event(f"two-{n}", interaction))
        events: list[dict[str, Any]] = []
        for _ in range(100):
            events = values(await read_topic(settings, Topic.TICKETS, expect=1))
            if sum(e["type"] == BREACHED for e in events) >= 2 * len(customers):
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(2)  # two more ticks of both roles: anything fired twice shows
        events = values(await read_topic(settings, Topic.TICKETS, expect=len(events)))
    assert len(events) == len({e["id"] for e in events})
    fired = Counter(
        (e["data"]["ticket"]["id"], e["type"], e["data"].get("target"))
        for e in events
        if e["type"].rsplit(".", 1)[1] in {"sla_warning", "sla_breached", "escalated"}
    )
    assert len({ticket for ticket, _, _ in fired}) == len(customers)
    assert set(fired.values()) == {1}
    assert len(fired) == 5 * len(customers)  # two warnings, two breaches, one escalation


async def test_an_upgraded_deployment_moves_the_single_keys_into_the_shards(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the version before the shards left them: ``p:timers``, ``p:waiting`` and the
    line's ``{p:waiting}:needs|counts|recheck``."""
    monkeypatch.setattr(timers_module, "REHOME_EVERY_S", 0.0)  # see the rolling upgrade
    k = desk.keys
    now = datetime.now(UTC).timestamp()
    records = await desk.open_tickets(60)  # breach due an hour ago
    old_timers = {f"T-{n:05d}|first_response|breached": now - 3600 for n in range(60)}
    old_timers |= {f"T-{n:05d}|resolution|breached": now + 86_400 + n for n in range(60)}
    await desk.redis.zadd(k.legacy_timers, old_timers)
    line = {f"T-{n:05d}|0": 2e11 + n for n in range(60)}
    await desk.redis.zadd(k.legacy_waiting, line)
    known: dict[Any, Any] = dict.fromkeys(list(line)[:50], "email|general")
    await desk.redis.hset(k.legacy_waiting_part("needs"), mapping=known)  # ten: before needs
    await desk.redis.hset(k.legacy_waiting_part("counts"), mapping={"email|general": 50})
    await desk.redis.zadd(k.legacy_waiting_part("recheck"), dict(list(line.items())[:5]))

    handler = desk.handler()
    await handler.tick()  # the first tick of the upgraded role moves everything first

    legacy = [k.legacy_timers, k.legacy_waiting]
    legacy += [k.legacy_waiting_part(part) for part in ("needs", "counts", "recheck")]
    for key in legacy:
        assert not await desk.redis.exists(key), key
    assert await desk.redis.get(k.shards) == str(DEFAULT_SHARDS).encode()
    schedule = TimerSchedule(desk.redis, prefix=desk.settings.topic_prefix)
    moved: dict[str, float] = {}
    for members in (await every_shard(desk, k.timers)).values():
        moved |= members
    future = {m: s for m, s in old_timers.items() if "resolution" in m}
    assert moved == future  # the overdue ones fired: they left
    assert len(await every_shard(desk, k.timers)) > 1
    homes = {m: await zset(desk.redis, schedule.key_of(m.split("|")[0])) for m in future}
    assert all(m in home for m, home in homes.items())
    waiting = WaitingLine(desk.redis, prefix=desk.settings.topic_prefix)
    assert (await waiting.waiting())["email|general"] >= 50  # counted where they are now
    merged = []
    after = None
    while page := await waiting.page(after):
        merged += page
        after = page[-1]
    assert [e.member for e in merged] == list(line)  # every ticket, in the same order

    await handler.handle(records)  # the role catches up with the tickets topic
    events = values(await read_topic(desk.settings, Topic.TICKETS, expect=120))
    breaches = Counter(e["data"]["ticket"]["id"] for e in events if e["type"] == BREACHED)
    assert breaches == {f"T-{n:05d}": 1 for n in range(60)}  # each once, none lost
    queued = Counter(e["data"]["ticket"]["id"] for e in events if e["type"] == QUEUED)
    assert queued == {f"T-{n:05d}": 1 for n in range(60)}

    # an older process still running (a rolling upgrade) writes the old key again: moved
    late = {"T-00001|next_response|breached": now + 7200}
    await desk.redis.zadd(k.legacy_timers, late)
    await handler.tick()
    await handler.tick()
    assert not await desk.redis.exists(k.legacy_timers)
    shard = await zset(desk.redis, schedule.key_of("T-00001"))
    assert {m: s for m, s in shard.items() if m.startswith("T-00001|")} == {
        **{m: s for m, s in future.items() if m.startswith("T-00001|")},
        **late,
    }


async def test_a_new_shard_count_moves_every_member_home(desk: Desk) -> None:
    later = datetime.now(UTC) + timedelta(days=1)
    records = await desk.open_tickets(100, due=later)
    await desk.handler(shards=4).handle(records)
    four = await every_shard(desk, desk.keys.timers, 4)
    assert len(four) == 4

    await desk.handler(shards=7).tick()
    assert await desk.redis.get(desk.keys.shards) == b"7"
    seven = TimerSchedule(desk.redis, prefix=desk.settings.topic_prefix, shards=7)
    timers = await every_shard(desk, desk.keys.timers, 7)
    assert sum(len(m) for m in timers.values()) == 100
    for shard, members in timers.items():
        assert all(seven.key_of(m.split("|")[0]) == desk.keys.timers(shard) for m in members)
    line = WaitingLine(desk.redis, prefix=desk.settings.topic_prefix, shards=7)
    assert await line.waiting() == {"email|general": 100}
    assert len(await line.page(None)) == 100
    lost = [
        m
        for shard in range(4)
        for m in await zset(desk.redis, desk.keys.waiting(shard))
        if line.key_of(m.split("|")[0]) != desk.keys.waiting(shard)
    ]
    assert lost == []
