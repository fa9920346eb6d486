"""The waiting line at length: every waiting ticket is announced once however long the
line, agents take it in priority-then-age order, and an idle sweep costs the same few
Redis commands whether ten or a thousand tickets wait."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer, ConsumerRecord
from pydantic import SecretStr

from consumers.outbox import Send
from consumers.state.agents import AgentStore
from consumers.state.threads import Commit, RedisThreadStore
from consumers.state.waiting import Entry, WaitingLine
from consumers.timers import TimersHandler
from router.app import roles
from router.codec import CONTENT_TYPE_HEADER, encode_event
from router.events import CloudEvent, Customer, Interaction, Ticket
from router.ids import event_id
from router.keys import DEFAULT_SHARDS
from router.redis import RedisClient, make_redis
from router.settings import Settings
from router.topics import OutRecord, Topic, TopicNames
from router.vocabulary import EventType
from rules import RuleSet, load_ruleset
from tests.component.pipeline.conftest import RULES as BASIC_RULES
from tests.component.pipeline.conftest import run_switchboard
from tests.conftest import read_topic, values

pytestmark = pytest.mark.component

AUTH = {"authorization": "Bearer tok"}
QUEUED = "switchboard.ticket.queued"
ASSIGNED = "switchboard.ticket.assigned"
RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
RANGES = ("zrange", "zrangebyscore")
RULES = """\
version: 1
queues:
  general: {}
  billing: {skills: [billing]}
sla:
  relaxed: {first_response: 1d, resolution: 7d}
defaults: {queue: general, priority: normal, sla: relaxed}
rules:
  - name: outage
    if: {text: {contains: [outage]}}
    then: {priority: urgent}
  - name: whenever
    if: {text: {contains: [whenever]}}
    then: {priority: low}
"""


async def tickets_until(
    settings: Settings, done: Callable[[list[dict[str, Any]]], bool], *, within: float
) -> list[dict[str, Any]]:
    """The tickets topic, read again until ``done`` holds (or the time is up)."""
    deadline = time.monotonic() + within
    events: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        events = values(await read_topic(settings, Topic.TICKETS, expect=1, settle=0.1))
        if done(events):
            break
        await asyncio.sleep(0.2)
    return events


def of_type(events: list[dict[str, Any]], etype: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == etype]


async def test_every_waiting_ticket_is_queued_once_and_served_by_priority_then_age(
    settings: Settings, tmp_path: Path
) -> None:
    count, seats = 1_200, 25
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    update = {"rules_path": rules, "api_tokens": SecretStr("tok")}
    run = frozenset({"ingress", "router", "timers"})
    # created at shuffled times, so that the line's order is not the order of arrival
    base = datetime.now(UTC) - timedelta(hours=1)
    ages = random.Random(7).sample(range(count), count)
    texts = ["outage", "whenever", "hello", "hello"]
    async with run_switchboard(settings.model_copy(update=update), run) as desk:
        await produce_interactions(
            desk.settings,
            [
                (f"c{i}@example.com", texts[i % 4], base + timedelta(seconds=ages[i]))
                for i in range(count)
            ],
        )
        events = await tickets_until(
            settings, lambda ev: len(of_type(ev, QUEUED)) >= count, within=120
        )
        queued = Counter(e["data"]["ticket"]["id"] for e in of_type(events, QUEUED))
        created = {
            e["data"]["ticket"]["id"]: e["data"]["ticket"]
            for e in events
            if e["type"] == "switchboard.ticket.routed"
        }
        assert len(created) == count
        assert queued == dict.fromkeys(created, 1), f"queued {len(queued)} of {count}"
        assert of_type(events, ASSIGNED) == []

        presence = {
            "type": "agent.presence",
            "data": {"agent_id": "a1", "status": "online", "capacity": {"email": seats}},
        }
        assert (await desk.http.post("/v1/actions", json=presence, headers=AUTH)).status_code == 202
        events = await tickets_until(
            settings, lambda ev: len(of_type(ev, ASSIGNED)) >= seats, within=10
        )
        line = sorted(
            created.values(), key=lambda t: (RANK[t["priority"]], t["created_at"], t["id"])
        )
        first = {t["id"] for t in line[:seats]}
        served = {e["data"]["ticket"]["id"] for e in of_type(events, ASSIGNED)}
        assert served == first
        assert Counter(line[i]["priority"] for i in range(seats)) == {"urgent": seats}

        done = {"type": "ticket.resolved", "data": {"ticket_id": line[0]["id"]}}
        assert (await desk.http.post("/v1/actions", json=done, headers=AUTH)).status_code == 202
        events = await tickets_until(
            settings, lambda ev: len(of_type(ev, ASSIGNED)) > seats, within=10
        )
        # free one more seat: once the next in line has it, the sweeps that followed the
        # first release are past, and none of them may have given that seat twice
        done = {"type": "ticket.resolved", "data": {"ticket_id": line[1]["id"]}}
        assert (await desk.http.post("/v1/actions", json=done, headers=AUTH)).status_code == 202
        events = await tickets_until(
            settings, lambda ev: len(of_type(ev, ASSIGNED)) > seats + 1, within=10
        )
    served = {e["data"]["ticket"]["id"] for e in of_type(events, ASSIGNED)}
    assert served == first | {line[seats]["id"], line[seats + 1]["id"]}
    assert len(of_type(events, ASSIGNED)) == seats + 2
    assert len(of_type(events, QUEUED)) == count  # nothing announced twice


async def produce_interactions(settings: Settings, mails: list[tuple[str, str, datetime]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, linger_ms=5)
    await producer.start()
    try:
        topic = TopicNames(settings.topic_prefix)(Topic.INBOUND)
        sent = []
        for address, text, at in mails:
            data = Interaction(channel="email", customer=Customer(email=address), text=text)
            event = CloudEvent(
                id=event_id("/test", address),
                source="/test",
                type=EventType.INTERACTION_RECEIVED,
                time=at,
                data=data.model_dump(mode="json", exclude_none=True),
            )
            value = encode_event(event)
            sent.append(
                await producer.send(
                    topic, value, key=data.sender_key().encode(), headers=[CONTENT_TYPE_HEADER]
                )
            )
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


# --- the timers role on its own, its Redis commands counted -------------------------------


@dataclass
class Desk:
    settings: Settings
    redis: aioredis.Redis
    store: RedisThreadStore
    agents: AgentStore
    producer: AIOKafkaProducer
    rules: RuleSet

    def handler(self, send: Send | None = None) -> TimersHandler:
        """A timers role as a fresh process would start it (publishing with ``send``)."""
        return TimersHandler(
            self.redis,
            self.store,
            agents=self.agents,
            send=send or roles.sender(self.producer, self.settings, "timers"),
            rules=lambda: self.rules,
            prefix=self.settings.topic_prefix,
        )

    async def commands(self, *only: str) -> int:
        """Commands valkey ran so far (scripts' inner calls included), INFO excluded;
        ``only`` these when given."""
        stats = await self.redis.info("commandstats")
        names = {f"cmdstat_{c}" for c in only}
        return sum(
            s["calls"]
            for name, s in stats.items()
            if name != "cmdstat_info" and (not names or name in names)
        )

    async def open_tickets(self, first: int, count: int) -> list[ConsumerRecord[bytes, bytes]]:
        """``count`` new tickets in the thread store, and their ``ticket.routed`` records as
        the timers role reads them."""
        at = datetime.now(UTC) - timedelta(hours=1)
        tickets = [
            Ticket(
                id=f"T-{n:06d}",
                channel="email",
                customer_id=f"C-{n:06d}",
                queue="general",
                created_at=at + timedelta(seconds=n),
                updated_at=at,
            )
            for n in range(first, first + count)
        ]
        commits = [Commit(t.customer_id, f"open-{t.id}", t, 0) for t in tickets]
        assert set(await self.store.commit_many(commits)) == {"OK"}
        return [routed_record(t) for t in tickets]


def routed_record(ticket: Ticket) -> ConsumerRecord[bytes, bytes]:
    event = CloudEvent(
        id=f"routed-{ticket.id}",
        source="/test",
        type=EventType.TICKET_ROUTED,
        data={"ticket": ticket.model_dump(mode="json")},
    )
    value = encode_event(event)
    return ConsumerRecord("tickets", 0, 0, 0, 0, None, value, None, 0, len(value), ())


@pytest.fixture
async def desk(settings: Settings) -> AsyncIterator[Desk]:
    redis = make_redis(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    rules = load_ruleset(BASIC_RULES)
    prefix = settings.topic_prefix
    yield Desk(
        settings,
        redis,
        RedisThreadStore(redis, ttl_s=3600, prefix=prefix),
        AgentStore(redis, prefix=prefix),
        producer,
        rules,
    )
    await producer.stop()
    await redis.aclose()


async def test_an_idle_sweep_costs_the_same_few_commands_however_long_the_line(
    desk: Desk,
) -> None:
    handler = desk.handler()
    idle: dict[int, int] = {}
    for first, count in ((0, 10), (10, 1_190)):
        records = await desk.open_tickets(first, count)
        for at in range(0, len(records), 500):
            await handler.handle(records[at : at + 500])
        await handler.tick()
        before = await desk.commands()
        await handler.tick()
        idle[first + count] = await desk.commands() - before
    shards = DEFAULT_SHARDS
    # per shard the due timers and the rechecks (one round trip each); the hold on the line
    # (a script, a GET and a SET) and the agents' counter
    assert idle[10] == idle[1_200] == 2 * shards + 4

    await handler.close()  # the first process stops
    restarted = desk.handler()  # a fresh process walks the whole line once, by pages
    before = await desk.commands()
    await restarted.tick()
    fresh = await desk.commands() - before
    assert fresh <= 12 * shards  # pages of every shard: not a read of 1,200 tickets

    await desk.agents.presence("a1", "online", [], {"email": 2})  # and chat, sms... seats
    before, ranges_before = await desk.commands(), await desk.commands(*RANGES)
    await restarted.tick()
    walk = await desk.commands() - before
    holders = await desk.agents.holders([f"T-{n:06d}" for n in range(4)])
    assert holders == ["a1", "a1", None, None]  # the two oldest
    # the seats, one page, two offers, and per shard five reads (the due timers, the
    # counts, the page, its needs, the rechecks): not a read of 1,200 tickets
    assert walk <= 110 + 5 * shards
    # the due timers, the line's first page, the rechecks, of each shard: the walk stopped
    # as soon as no free seat (a1 still has chat ones) fitted any ticket still ahead
    assert await desk.commands(*RANGES) - ranges_before == 3 * shards

    arrival = await desk.open_tickets(1_200, 1)
    before = await desk.commands()
    await restarted.handle(arrival)
    # one ticket's worth, and of each shard the due timers and two pages of rechecks (the
    # arrival, then past it): not the line's
    assert await desk.commands() - before <= 60 + 3 * shards

    queued = values(await read_topic(desk.settings, Topic.TICKETS, expect=1_201))
    assert Counter(e["data"]["ticket"]["id"] for e in queued if e["type"] == QUEUED) == {
        f"T-{n:06d}": 1 for n in range(1_201)
    }


async def test_an_interrupted_sweep_is_finished_by_the_next_without_doubles(desk: Desk) -> None:
    records = await desk.open_tickets(0, 40)
    failed = False

    send = roles.sender(desk.producer, desk.settings, "timers")

    async def broker_down_once(out: list[OutRecord]) -> None:
        nonlocal failed
        if out and not failed:  # the offers were committed; their records are not out
            failed = True
            raise OSError("broker gone")
        await send(out)

    with pytest.raises(OSError, match="broker gone"):
        await desk.handler(broker_down_once).handle(records)
    assert read_ids(await read_topic(desk.settings, Topic.TICKETS, expect=0, timeout=1)) == []

    await desk.handler().handle(records)  # redelivered to a restarted role
    events = await read_topic(desk.settings, Topic.TICKETS, expect=40)
    assert Counter(read_ids(events)) == {f"T-{n:06d}": 1 for n in range(40)}


def read_ids(records: list[ConsumerRecord[bytes, bytes]]) -> list[str]:
    return [e["data"]["ticket"]["id"] for e in values(records) if e["type"] == QUEUED]


async def test_the_line_is_read_past_equal_scores_while_it_changes(settings: Settings) -> None:
    redis = make_redis(settings)
    try:
        line = WaitingLine(redis, prefix=settings.topic_prefix)
        original = {f"T-{n:02d}|0": 5.0 for n in range(10)} | {"T-early|0": 1.0, "T-late|0": 9.0}
        assert len({line.shard(m) for m in original}) > 3  # the merge of several shards' heads
        await line_add(redis, line, original)
        seen: list[Entry] = []
        after: Entry | None = None
        cursor: Entry | None = None
        while page := await line.page(after, size=3):
            seen.extend(page)
            after = page[-1]
            if cursor is None and after.member >= "T-03|0":  # the line moves meanwhile
                cursor = after
                await line_remove(redis, line, ["T-01|0", "T-02|0", "T-06|0"])
                await line_add(redis, line, {"T-00b|0": 5.0, "T-07b|0": 5.0})
        assert cursor is not None
        final = await whole(redis, line, "line")
        key = (cursor.score, cursor.member)
        read_before = [Entry(m, s) for m, s in in_order(original) if (s, m) <= key]
        read_after = [e for e in final if (e.score, e.member) > key]
        assert seen == read_before + read_after  # in line order, each once, none skipped
        assert "T-06|0" not in {e.member for e in seen}
        assert "T-07b|0" in {e.member for e in seen}
    finally:
        await redis.aclose()


async def line_add(redis: RedisClient, line: WaitingLine, members: dict[str, float]) -> None:
    """Members put straight into their shards of the line, as an older entry would be."""
    for member, score in members.items():
        await redis.zadd(line.key_of(member.partition("|")[0]), {member: score})


async def line_remove(redis: RedisClient, line: WaitingLine, members: list[str]) -> None:
    for member in members:
        await redis.zrem(line.key_of(member.partition("|")[0]), member)


async def whole(redis: RedisClient, line: WaitingLine, part: str) -> list[Entry]:
    """Every shard's ``part`` (``line`` or ``recheck``) together, in line order."""
    keys = line.keys
    out: list[Entry] = []
    for shard in range(line.shards):
        key = keys.waiting(shard) if part == "line" else keys.waiting_recheck(shard)
        raw: list[Any] = await redis.zrange(key, 0, -1, withscores=True)
        out += [Entry(m.decode(), s) for m, s in raw]
    return sorted(out, key=lambda e: (e.score, e.member))


async def all_needs(redis: RedisClient, line: WaitingLine) -> dict[str, str]:
    keys = line.keys
    out: dict[str, str] = {}
    for shard in range(line.shards):
        raw: dict[Any, Any] = await redis.hgetall(keys.waiting_needs(shard))
        out |= {k.decode(): v.decode() for k, v in raw.items()}
    return out


async def clear_rechecks(redis: RedisClient, line: WaitingLine) -> None:
    keys = line.keys
    await redis.delete(*(keys.waiting_recheck(shard) for shard in range(line.shards)))


def in_order(members: dict[str, float]) -> list[tuple[str, float]]:
    return sorted(members.items(), key=lambda kv: (kv[1], kv[0]))


async def test_placing_keeps_needs_counts_and_rechecks_in_step(settings: Settings) -> None:
    redis = make_redis(settings)
    line = WaitingLine(redis, prefix=settings.topic_prefix)
    at = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

    def ticket(n: int, **kw: Any) -> Ticket:
        base: dict[str, Any] = {"channel": "email", "queue": "general", "queued_at": at}
        return Ticket(
            id=f"T-{n}", customer_id="C-1", created_at=at, updated_at=at, **{**base, **kw}
        )

    async def state() -> tuple[list[str], dict[str, str], dict[str, int], list[str]]:
        return (
            [e.member for e in await whole(redis, line, "line")],
            await all_needs(redis, line),
            await line.waiting(),
            [e.member for e in await whole(redis, line, "recheck")],
        )

    try:
        await line.follow([ticket(1), ticket(2, queued_at=None), ticket(3, queue="billing")])
        assert await state() == (
            ["T-1|0", "T-2|0", "T-3|0"],
            {"T-1|0": "email|general", "T-2|0": "email|general", "T-3|0": "email|billing"},
            {"email|general": 2, "email|billing": 1},
            ["T-1|0", "T-2|0", "T-3|0"],  # all new in line
        )
        await clear_rechecks(redis, line)
        urgent = ticket(3, queue="billing", priority="urgent")
        await line.follow([ticket(1), ticket(2, queued_at=None), urgent])
        members, _, counts, rechecks = await state()
        assert members == ["T-3|0", "T-1|0", "T-2|0"]  # urgent first
        assert counts == {"email|general": 2, "email|billing": 1}  # nothing counted twice
        assert rechecks == ["T-2|0"]  # only the one never announced

        await clear_rechecks(redis, line)
        moved = ticket(3, queue="general", channel="chat", priority="urgent")
        await line.follow([moved, ticket(1, assignee="a1")])
        members, needs, counts, rechecks = await state()
        assert members == ["T-3|0", "T-2|0"]
        assert needs == {"T-2|0": "email|general", "T-3|0": "chat|general"}
        assert counts == {"email|general": 1, "chat|general": 1}  # billing gone at zero
        assert rechecks == ["T-3|0"]  # moved: another queue's agents may take it

        await line.follow([ticket(9, status="resolved")])  # never in line: nothing to undo
        await line.settle(left=["T-3|0"], waiting=[ticket(2)], done=["T-3|0"])
        assert await state() == (["T-2|0"], {"T-2|0": "email|general"}, {"email|general": 1}, [])
    finally:
        await redis.aclose()


async def test_a_ticket_in_a_new_round_has_one_place_in_line(settings: Settings) -> None:
    """An offer timed out or a skip ended: the ticket comes back in round n+1, and its
    place of round n goes, or the line's views would list one ticket twice."""
    redis = make_redis(settings)
    line = WaitingLine(redis, prefix=settings.topic_prefix)
    at = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    first = Ticket(
        id="T-1",
        customer_id="C-1",
        created_at=at,
        updated_at=at,
        channel="email",
        queue="billing",
        queued_at=at,
    )
    try:
        await line.follow([first])
        await line.follow([first.model_copy(update={"assignment_round": 1})])
        assert [e.member for e in await whole(redis, line, "line")] == ["T-1|1"]
        assert await line.waiting() == {"email|billing": 1}
        taken = first.model_copy(update={"assignment_round": 2, "assignee": "a-1"})
        await line.follow([first.model_copy(update={"assignment_round": 1}), taken])
        assert await whole(redis, line, "line") == []  # assigned: no place left at all
    finally:
        await redis.aclose()


async def test_a_ticket_that_skipped_rounds_has_one_place_in_line(settings: Settings) -> None:
    """Two transfers in one poll, or all that happened while the timers role was down:
    the line sees round 0, then round 2. The place of round 0 goes too, or the waiting
    list shows the ticket twice and ``unassigned`` counts it twice."""
    redis = make_redis(settings)
    line = WaitingLine(redis, prefix=settings.topic_prefix)
    at = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    first = Ticket(
        id="T-7",
        customer_id="C-1",
        created_at=at,
        updated_at=at,
        channel="webform",
        queue="general",
        queued_at=at,
    )
    try:
        await line.follow([first])
        await line.follow([first.model_copy(update={"assignment_round": 2, "queued_at": None})])
        assert [e.member for e in await whole(redis, line, "line")] == ["T-7|2"]
        assert await line.waiting() == {"webform|general": 1}
    finally:
        await redis.aclose()


async def test_a_sweeper_whose_hold_lapsed_stops_and_the_next_finishes(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page of offers took longer than the hold on the line: another process may sweep
    now, so this one offers no further page (two sweepers would both offer the head of
    the line). What it left, the next sweep offers, each ticket announced once."""
    records = await desk.open_tickets(0, 700)  # two pages of rechecks
    handler = desk.handler()
    sweep = handler._sweep  # noqa: SLF001 - the hold is taken away after its first offer
    line, lead, offer = sweep._line, sweep._line.lead, sweep._offer  # noqa: SLF001
    offered = 0

    async def counted(*args: Any) -> Any:
        nonlocal offered
        offered += 1
        return await offer(*args)

    async def taken_after_an_offer(owner: str, hold_s: float) -> bool:
        return not offered and await lead(owner, hold_s)

    monkeypatch.setattr(sweep, "_offer", counted)
    monkeypatch.setattr(line, "lead", taken_after_an_offer)
    await handler.handle(records)
    first = read_ids(await read_topic(desk.settings, Topic.TICKETS, expect=500, settle=0.5))
    assert len(first) == 500  # one page, then the hold was found lapsed
    monkeypatch.undo()
    await handler.tick()  # the hold is free again: the rest is offered
    events = await read_topic(desk.settings, Topic.TICKETS, expect=700)
    assert Counter(read_ids(events)) == {f"T-{n:06d}": 1 for n in range(700)}
