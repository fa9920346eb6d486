"""Closed tickets leave Redis ``SWITCHBOARD_CLOSED_RETENTION_S`` after their last change:
end to end on the real broker and valkey, every key that named the ticket goes, its last
snapshot stays on ``ticket-state``, the read API answers 404, and a reply to it opens a
new ticket, and ``forget`` still erases its snapshot there. A change after the close
moves the archive on; a ticket that changed while it
was being archived stays; an archive a crash cut short is finished when its timer fires
again."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import ConsumerRecord
from pydantic import SecretStr

from consumers.archive import archive_timers
from consumers.domain.outputs import LifecycleOutputs
from consumers.state.thread_reads import OWNER_SEP
from consumers.state.threads import Commit, ViewRequest
from consumers.timers import TimersHandler
from router.app import roles
from router.app.backfill import schedule_archives
from router.app.forget import forget
from router.events import Ticket
from router.keys import DEFAULT_SHARDS, Keys, shard_of, ticket_field
from router.redis import RedisClient, make_redis, text
from router.settings import Settings
from router.topics import Topic
from router.vocabulary import EventType
from tests.component.cli.test_processes import ROOT
from tests.component.pipeline.conftest import RULES, Running, run_switchboard
from tests.component.pipeline.test_reply_parent import AUTH, mail, send
from tests.component.pipeline.test_timers_rounds import Timers
from tests.component.pipeline.test_waiting_line import routed_record
from tests.conftest import read_topic, settings_env, values

pytestmark = pytest.mark.component


async def until(check: Callable[[], Awaitable[bool]], what: str, tries: int = 200) -> None:
    for _ in range(tries):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never: {what}")


async def keys_naming(redis: RedisClient, settings: Settings, ticket_id: str) -> list[str]:
    """Every key of this deployment whose name or value names the ticket."""
    found = []
    async for raw in redis.scan_iter(match=f"{settings.topic_prefix}*", count=1000):
        key = text(raw)
        if ticket_id in key or ticket_id in await contents(redis, key):
            found.append(key)
    return found


async def contents(redis: RedisClient, key: str) -> str:
    """A string, hash or set key's contents as one text (other types: none)."""
    kind = text(await redis.type(key))
    if kind == "string":
        return text((await redis.get(key)) or b"")
    if kind == "hash":
        return " ".join(f"{text(k)} {text(v)}" for k, v in (await redis.hgetall(key)).items())
    if kind == "set":
        return " ".join(text(m) for m in await redis.smembers(key))
    return ""


async def close(running: Running, ticket_id: str) -> None:
    action = {"type": "ticket.closed", "data": {"ticket_id": ticket_id}}
    resp = await running.http.post("/v1/actions", json=action, headers=AUTH)
    assert resp.status_code == 202, resp.text


async def test_a_closed_ticket_leaves_redis_after_its_retention_and_a_reply_opens_a_new_one(
    settings: Settings,
) -> None:
    update = {"rules_path": RULES, "api_tokens": SecretStr("tok"), "closed_retention_s": 2}
    redis = make_redis(settings)
    try:
        async with run_switchboard(
            settings.model_copy(update=update), frozenset(roles.ROLES)
        ) as desk:
            first = await send(desk, mail("<m1@example.com>", "Der Drucker druckt nicht."))
            ticket_id = first["id"]
            await close(desk, ticket_id)

            async def closed() -> bool:
                resp = await desk.http.get(f"/v1/tickets/{ticket_id}", headers=AUTH)
                return resp.status_code == 200 and resp.json()["status"] == "closed"

            await until(closed, "the ticket closed")
            assert await keys_naming(redis, settings, ticket_id)  # still there, at first

            async def archived() -> bool:
                resp = await desk.http.get(f"/v1/tickets/{ticket_id}", headers=AUTH)
                return resp.status_code == 404

            await until(archived, "the ticket archived")
            customer = first["customer_id"]
            kept = Keys(settings.topic_prefix).archived(customer)  # its id, for `forget`
            assert await keys_naming(redis, settings, ticket_id) == [kept]
            state = values(await read_topic(desk.settings, Topic.TICKET_STATE, expect=1))
            last = [e["data"]["ticket"] for e in state if e["data"]["ticket"]["id"] == ticket_id]
            assert last[-1]["status"] == "closed"  # the archive: the compacted topic

            listed = await desk.http.get(f"/v1/customers/{customer}/tickets", headers=AUTH)
            assert listed.status_code == 200
            assert ticket_id not in [t["id"] for t in listed.json()["tickets"]]

            reply = mail("<m2@example.com>", "Immer noch.", in_reply_to="<m1@example.com>")
            second = await send(desk, reply)
            assert second["id"] != ticket_id
            assert second["customer_id"] == customer  # the person is still known
            assert second["follow_up_of"] is None  # nothing left to follow up on

        # the archive is on ticket-state: erasing the person erases it there too
        gone = await forget(desk.settings, customer)
        assert ticket_id in gone.tickets
        records = await read_topic(desk.settings, Topic.TICKET_STATE, expect=1)
        latest = {r.key: r.value for r in records}
        assert latest[ticket_id.encode()] is None  # a tombstone: compaction removes it
    finally:
        await redis.aclose()


def closed_ticket(n: int, *, closed_ago: timedelta) -> Ticket:
    at = datetime.now(UTC) - closed_ago
    return Ticket(
        id=f"T-archive-{n}",
        channel="email",
        customer_id=f"C-archive-{n}",
        status="closed",
        queue="general",
        message_ids=[f"<a{n}@example.com>"],
        participants=[f"C-other-{n}"],
        created_at=at - timedelta(hours=1),
        updated_at=at,
    )


async def stored(timers: Timers, ticket: Ticket) -> Ticket | None:
    [view] = await timers.store.views([ViewRequest(ticket.customer_id, "", ticket_id=ticket.id)])
    return view.ticket


def with_retention(timers: Timers, retention_s: int) -> TimersHandler:
    return timers.handler(closed_retention_s=retention_s)


async def test_feedback_after_the_close_moves_the_archive_on(timers: Timers) -> None:
    ticket = closed_ticket(1, closed_ago=timedelta(hours=2))
    record = await timers.open(ticket)
    handler = with_retention(timers, 3600)
    later = ticket.model_copy(update={"updated_at": datetime.now(UTC) - timedelta(minutes=5)})
    commit = Commit(ticket.customer_id, "feedback-1", later, 1)
    assert await timers.store.commit_many([commit]) == ["OK"]  # a change the timer has not seen
    await handler.handle([record])  # schedules the old time (closed 2 h ago), and fires it
    assert await stored(timers, ticket) == later
    scheduled = await timers.scheduled()
    member = f"{ticket.id}|ticket|archive"
    assert scheduled[member] == pytest.approx(later.updated_at.timestamp() + 3600)


async def test_an_archive_timer_fires_once_and_leaves_nothing_of_the_ticket(
    timers: Timers,
) -> None:
    ticket = closed_ticket(2, closed_ago=timedelta(hours=2))
    record = await timers.open(ticket)
    keys, place = timers.keys, f"{ticket.customer_id}{OWNER_SEP}{ticket.id}"
    await timers.redis.set(keys.message_owner("<a2@example.com>"), place)
    await timers.redis.sadd(keys.participations("C-other-2"), place)
    await with_retention(timers, 3600).handle([record])
    assert await stored(timers, ticket) is None
    assert await timers.store.ticket_owners([ticket.id]) == [None]
    assert await timers.redis.get(keys.message_owner("<a2@example.com>")) is None
    assert await timers.redis.smembers(keys.participations("C-other-2")) == set()
    assert f"{ticket.id}|ticket|archive" not in await timers.scheduled()
    assert timers.outbox.records == []  # archiving publishes nothing


async def test_an_archive_cut_short_by_a_crash_is_finished_by_the_next_firing(
    timers: Timers,
) -> None:
    """The ticket's fields went, the process died before the owner entry: the timer,
    not settled, fires again and removes it."""
    ticket = closed_ticket(3, closed_ago=timedelta(hours=2))
    record = await timers.open(ticket)
    data = timers.keys.ticket_data(ticket.customer_id)
    await timers.redis.hdel(data, *(ticket_field(ticket.id, f) for f in ("v", "json")))
    member = f"{ticket.id}|ticket|archive"
    shard = timers.keys.timers(shard_of(ticket.id, DEFAULT_SHARDS))
    await timers.redis.zadd(shard, {member: 1.0})  # due long ago
    handler = with_retention(timers, 3600)
    await handler.handle([])  # a tick: the claimed timers of every shard
    assert await timers.store.ticket_owners([ticket.id]) == [None]
    assert member not in await timers.scheduled()
    del record


def resolved_ticket(n: int, *, resolved_ago: timedelta) -> Ticket:
    ticket = closed_ticket(n, closed_ago=resolved_ago)
    return ticket.model_copy(update={"status": "resolved", "resolved_at": ticket.updated_at})


async def test_a_ticket_resolved_and_never_closed_leaves_redis_after_its_retention(
    timers: Timers,
) -> None:
    """Many helpdesks only resolve: such a ticket had stayed in Redis for good (about
    2.3 KB each). It goes as a closed one does, once its reopen window is over too."""
    ticket = resolved_ticket(20, resolved_ago=timedelta(hours=2))
    record = await timers.open(ticket)
    handler = timers.handler(closed_retention_s=3600, reopen_window_s=3600)
    await handler.handle([record])
    assert await stored(timers, ticket) is None
    assert await timers.store.ticket_owners([ticket.id]) == [None]


async def test_a_resolved_ticket_stays_while_a_reply_could_still_reopen_it(
    timers: Timers,
) -> None:
    ticket = resolved_ticket(21, resolved_ago=timedelta(hours=2))
    record = await timers.open(ticket)
    handler = timers.handler(closed_retention_s=3600, reopen_window_s=4 * 3600)
    await handler.handle([record])
    assert await stored(timers, ticket) == ticket
    scheduled = await timers.scheduled()
    member = f"{ticket.id}|ticket|archive"
    assert scheduled[member] == pytest.approx(ticket.updated_at.timestamp() + 4 * 3600)


async def test_no_archive_timers_when_closed_tickets_are_kept_for_good(timers: Timers) -> None:
    ticket = closed_ticket(4, closed_ago=timedelta(days=400))
    assert archive_timers([ticket], 0) == {}
    record = await timers.open(ticket)
    await with_retention(timers, 0).handle([record])
    assert await stored(timers, ticket) is not None
    assert not [m for m in await timers.scheduled() if m.endswith("|archive")]


async def test_a_ticket_changed_while_it_is_archived_stays(timers: Timers) -> None:
    """The archive is a compare-and-set on the version read: a change in between wins."""
    ticket = closed_ticket(5, closed_ago=timedelta(hours=2))
    await timers.open(ticket)
    assert await timers.store.archive([(ticket.customer_id, ticket, 0)]) == [
        False
    ]  # read at an older version
    assert await stored(timers, ticket) == ticket
    assert await timers.store.ticket_owners([ticket.id]) == [ticket.customer_id]
    assert await timers.store.archive([(ticket.customer_id, ticket, 1)]) == [True]
    assert await stored(timers, ticket) is None


def lifecycle_record(ticket: Ticket, etype: EventType, offset: int) -> ConsumerRecord[bytes, bytes]:
    """A record of ``tickets`` as the router writes it (type header, keyed by ticket)."""
    out = LifecycleOutputs(f"cause-{offset}", ticket, ticket.updated_at)
    out.add(etype)
    r = out.records[0]
    key = str(r.key).encode()
    headers = tuple(r.headers)
    value = r.value or b""
    return ConsumerRecord(
        "tickets", 0, offset, 0, 0, key, value, None, len(key), len(value), headers
    )


async def test_a_snapshot_older_than_the_close_read_after_it_still_leaves_the_archive_timer(
    timers: Timers,
) -> None:
    """The line's offer (committed first, published last) reaches the topic after the
    router's ``.closed``: the poll's last snapshot is the older one, and the close must
    still set the archive timer."""
    ticket = closed_ticket(6, closed_ago=timedelta(minutes=5))
    await timers.open(ticket)
    offered = ticket.model_copy(
        update={
            "status": "open",
            "assignee": "a1",
            "updated_at": ticket.updated_at - timedelta(seconds=1),
        }
    )
    poll = [
        lifecycle_record(ticket, EventType.TICKET_CLOSED, 1),
        lifecycle_record(offered, EventType.TICKET_ASSIGNED, 2),
    ]
    await with_retention(timers, 3600).handle(poll)
    scheduled = await timers.scheduled()
    member = f"{ticket.id}|ticket|archive"
    assert scheduled[member] == pytest.approx(ticket.updated_at.timestamp() + 3600)


async def test_a_ticket_a_merge_carried_to_another_customer_is_archived_where_it_is(
    timers: Timers,
) -> None:
    """Its snapshot names the absorbed customer; it is stored under the survivor, whose
    keys the archive must use (else its compare-and-set fails at every tick, for good)."""
    ticket = closed_ticket(7, closed_ago=timedelta(hours=2))
    survivor = "C-survivor-7"
    commit = Commit(survivor, "carried-7", ticket, 0, message_ids=ticket.message_ids)
    assert await timers.store.commit_many([commit]) == ["OK"]
    assert await timers.store.ticket_owners([ticket.id]) == [survivor]
    await with_retention(timers, 3600).handle([routed_record(ticket)])
    [view] = await timers.store.views([ViewRequest(survivor, "", ticket_id=ticket.id)])
    assert view.ticket is None
    assert await timers.store.ticket_owners([ticket.id]) == [None]
    assert await timers.redis.hgetall(timers.keys.message_index(survivor)) == {}


async def test_every_reply_index_entry_of_the_ticket_goes_not_only_those_its_snapshot_keeps(
    timers: Timers,
) -> None:
    """The snapshot names the latest message ids only, and the notifier files the ids
    of its own auto-replies in the index: all of them name the ticket, all go."""
    ticket = closed_ticket(8, closed_ago=timedelta(hours=2))
    record = await timers.open(ticket)
    keys, place = timers.keys, f"{ticket.customer_id}{OWNER_SEP}{ticket.id}"
    extra = ["old-1@example.com", "auto-reply-1@switchboard.invalid"]
    index = keys.message_index(ticket.customer_id)
    for m in extra:
        await timers.redis.hset(index, m, ticket.id)
        await timers.redis.set(keys.message_owner(m), place)
    await timers.redis.hset(index, "other@example.com", "T-another")  # another ticket's
    await with_retention(timers, 3600).handle([record])
    assert await stored(timers, ticket) is None
    assert await timers.redis.hgetall(index) == {b"other@example.com": b"T-another"}
    assert [await timers.redis.get(keys.message_owner(m)) for m in extra] == [None, None]


async def test_state_archive_gives_tickets_closed_before_archiving_their_timers(
    timers: Timers, settings: Settings
) -> None:
    """Tickets closed before archiving existed (or while the retention was 0) have no
    archive timer: ``switchboard state archive`` sets one for each, from the retention
    configured now; the timers role then archives those past it."""
    old = closed_ticket(9, closed_ago=timedelta(hours=2))
    recent = closed_ticket(10, closed_ago=timedelta(minutes=5))
    working = closed_ticket(11, closed_ago=timedelta(hours=2)).model_copy(update={"status": "open"})
    resolved = closed_ticket(13, closed_ago=timedelta(hours=2)).model_copy(
        update={"status": "resolved"}
    )
    for ticket in (old, recent, working, resolved):
        await timers.open(ticket)
    configured = settings.model_copy(
        update={"closed_retention_s": 3600, "reopen_window_s": 3 * 3600}
    )
    done = await schedule_archives(configured, datetime.now(UTC).timestamp())
    assert (done.customers, done.settled, done.due) == (4, 3, 1)
    kept_for_its_window = resolved.updated_at.timestamp() + 3 * 3600
    assert (await timers.scheduled())[f"{resolved.id}|ticket|archive"] == pytest.approx(
        kept_for_its_window
    )
    scheduled = await timers.scheduled()
    assert scheduled[f"{old.id}|ticket|archive"] == pytest.approx(old.updated_at.timestamp() + 3600)
    assert f"{working.id}|ticket|archive" not in scheduled
    await with_retention(timers, 3600).handle([])  # a tick
    assert await stored(timers, old) is None
    assert await stored(timers, recent) is not None
    assert await stored(timers, working) is not None


async def test_the_state_archive_command_says_what_it_found(
    timers: Timers, settings: Settings
) -> None:
    await timers.open(closed_ticket(12, closed_ago=timedelta(hours=2)))
    env = settings_env(settings, SWITCHBOARD_CLOSED_RETENTION_S="3600")
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "router.app", "state", "archive"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    said = " ".join(done.stdout.split())
    assert "customers read: 1; settled tickets given their archive timer: 1," in said
    assert "past the retention (3,600 s): 1," in said
