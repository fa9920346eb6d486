"""Every branch of the Lua scripts, called as their headers document them, on the real
embedded valkey, asserting what each leaves in Redis.

The stores' own behaviour is the contract suite's (``test_thread_store_contract.py``);
here each script is held to its header: which KEYS it touches, what each ARGV mode word
does, and what it answers. The waiting line's placing script is covered branch by branch
in ``tests/component/pipeline/test_waiting_line.py``.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import ResponseError

import consumers.state
from consumers.metrics import MetricsHandler
from consumers.state.counters import Increment, WindowCounters
from consumers.state.threads import RedisThreadStore
from router.app.embedded import free_port
from router.errors import BackendUnavailable
from router.events import Ticket
from router.keys import Keys
from router.redis import Command, load_script, make_redis, run_batch
from router.settings import Settings
from router.topics import OutRecord

pytestmark = pytest.mark.component

STATE = Path(consumers.state.__file__).parent
SCRIPTS = ("commit.lua", "view.lua", "leave.lua", "increment.lua", "bump.lua", "waiting.lua")
C = "C-1"
TTL = 600


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    client = make_redis(settings)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def keys(settings: Settings) -> Keys:
    return Keys(settings.topic_prefix)


def script(redis: aioredis.Redis, name: str) -> AsyncScript:
    return load_script(redis, STATE / name)


def as_text(raw: Any) -> Any:
    """A reply with its bytes decoded, for plain comparisons."""
    if isinstance(raw, bytes):
        return raw.decode()
    if isinstance(raw, list):
        return [as_text(r) for r in raw]
    if isinstance(raw, dict):
        return {as_text(k): as_text(v) for k, v in raw.items()}
    return raw


# --- what every script promises -----------------------------------------------------


@pytest.mark.parametrize("name", SCRIPTS)
def test_a_script_opens_with_a_header_naming_its_keys_and_arguments(name: str) -> None:
    lines = (STATE / name).read_text().splitlines()
    header = list(itertools.takewhile(lambda line: line.startswith("--"), lines))
    body = "\n".join(lines[len(header) :])
    keys_at = header.index("-- KEYS")
    argv_at = next(i for i, line in enumerate(header) if line.startswith("-- ARGV"))
    named = {m[1] for line in header[keys_at:argv_at] if (m := re.match(r"--\s+(\d+) ", line))}
    assert named == set(re.findall(r"KEYS\[(\d+)\]", body)), name  # each key used is named


@pytest.mark.parametrize("name", SCRIPTS)
def test_a_script_touches_only_keys_it_was_given(name: str) -> None:
    """Redis Cluster routes a script by its KEYS: a key built inside it may be elsewhere."""
    calls = re.findall(r"redis\.call\('(\w+)',\s*([^,)]+)", (STATE / name).read_text())
    assert calls, name
    assert [c for c in calls if not re.fullmatch(r"KEYS\[\d+\]", c[1])] == []


# --- commit.lua -----------------------------------------------------------------------


class Thread:
    """One customer's keys and the two thread scripts, called by their headers."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, customer_id: str = C) -> None:
        self.r = redis
        self.k = keys
        self.c = customer_id
        self._commit = script(redis, "commit.lua")
        self._view = script(redis, "view.lua")

    async def commit(
        self,
        event: str,
        ticket: tuple[str, int, str] | None = None,  # id, expected version, json
        *,
        message: tuple[str, str] = ("keep", ""),
        open_: tuple[str, str] = ("keep", ""),
        outbox: tuple[str, str] = ("none", ""),
        seen: tuple[str, str] = ("any", ""),
        index: tuple[str, ...] = (),
        writer: str = "router-1",
        lease_ms: int = 60_000,
        marks: str = "wait",
    ) -> str:
        k, c = self.k, self.c
        written: list[str | int] = ["write", *ticket] if ticket else ["none", "", 0, ""]
        answer = await self._commit(
            keys=[
                k.ticket_data(c),
                k.done(c, event),
                k.outbox(c, event),
                k.open_ticket(c),
                k.message_index(c),
                k.publishing(c, ticket[0] if ticket else ""),
            ],
            args=[
                *(TTL, *written, *message, *open_, *outbox, *seen),
                *(writer, lease_ms, marks, *index),
            ],
        )
        return str(as_text(answer))

    async def view(self, event: str, find: tuple[str, str] = ("search", ""), *refs: str) -> Any:
        k, c = self.k, self.c
        keys = [
            k.done(c, event),
            k.outbox(c, event),
            k.open_ticket(c),
            k.message_index(c),
            k.profile(c),
            k.ticket_data(c),
        ]
        return as_text(await self._view(keys=keys, args=[*find, *refs]))

    async def tickets(self) -> dict[str, str]:
        return as_text(await self.r.hgetall(self.k.ticket_data(self.c)))  # type: ignore[no-any-return]


@pytest.fixture
def thread(redis: aioredis.Redis, keys: Keys) -> Thread:
    return Thread(redis, keys)


async def test_commit_ok_writes_the_ticket_marker_and_outbox_at_once(thread: Thread) -> None:
    answer = await thread.commit("e1", ("T-1", 0, '{"n":1}'), outbox=("set", "[1,2]"))
    assert answer == "OK"
    assert await thread.tickets() == {"T-1:v": "1", "T-1:json": '{"n":1}'}
    k, r = thread.k, thread.r
    assert await r.get(k.done(C, "e1")) == b"1"
    assert 0 < await r.ttl(k.done(C, "e1")) <= TTL
    assert await r.get(k.outbox(C, "e1")) == b"[1,2]"
    assert 0 < await r.ttl(k.outbox(C, "e1")) <= TTL
    assert await thread.commit("e2", ("T-1", 1, '{"n":2}')) == "OK"
    assert await thread.tickets() == {"T-1:v": "2", "T-1:json": '{"n":2}'}
    assert await r.exists(k.outbox(C, "e2")) == 0  # outbox 'none': nothing to publish


async def test_commit_with_an_outbox_holds_the_tickets_other_writers_until_cleared(
    thread: Thread, keys: Keys
) -> None:
    """'PENDING': another writer committed a change of the ticket and has not published
    it yet (its mark is there until it clears it, or its lease lapses); nothing changes.
    The writer itself, a writer that does not wait, a commit of another ticket and a
    redelivered event are not held; a commit without an outbox leaves no mark."""
    await thread.commit("e1", ("T-1", 0, '{"n":1}'), outbox=("set", "[1]"), writer="router-1")
    mark = keys.publishing(C, "T-1")
    assert await thread.r.get(mark) == b"router-1"
    assert 59_000 < await thread.r.pttl(mark) <= 60_000
    assert await thread.commit("t1", ("T-1", 1, '{"n":2}'), writer="timers-1") == "PENDING"
    assert (await thread.tickets())["T-1:v"] == "1"
    assert await thread.commit("e1", ("T-1", 1, "{}"), writer="timers-1") == "DUP"
    assert await thread.commit("t2", ("T-2", 0, "{}"), writer="timers-1") == "OK"  # another
    assert await thread.commit("e2", ("T-1", 1, '{"n":2}'), writer="router-1") == "OK"
    over = await thread.commit("x1", ("T-1", 2, "{}"), writer="router-2", marks="over")
    assert over == "OK"  # a writer that does not wait (the router) goes over the mark
    await thread.r.delete(mark)  # the router's records are out
    assert await thread.commit("t1", ("T-1", 3, '{"n":3}'), writer="timers-1") == "OK"
    assert await thread.r.exists(mark) == 0  # no outbox: nothing to hold others for
    await thread.commit(
        "t3", ("T-1", 4, "{}"), outbox=("set", "[2]"), writer="timers-1", lease_ms=50
    )
    await asyncio.sleep(0.1)  # the lease lapsed: the writer died unpublished
    assert await thread.commit("e3", ("T-1", 5, "{}"), writer="router-1") == "OK"


async def test_commit_dup_changes_nothing(thread: Thread) -> None:
    await thread.commit("e1", ("T-1", 0, '{"n":1}'), open_=("set", "T-1"))
    again = await thread.commit(
        "e1",
        ("T-1", 1, '{"n":2}'),
        message=("replace", "{}"),
        open_=("clear", ""),
        outbox=("set", "[9]"),
        index=("<m@x>",),
    )
    assert again == "DUP"
    assert await thread.tickets() == {"T-1:v": "1", "T-1:json": '{"n":1}'}
    k, r = thread.k, thread.r
    assert await r.get(k.open_ticket(C)) == b"T-1"
    assert await r.exists(k.outbox(C, "e1"), k.message_index(C)) == 0


async def test_commit_conflict_on_a_version_not_the_expected_one(thread: Thread) -> None:
    await thread.commit("e1", ("T-1", 0, '{"n":1}'))
    for stale in (0, 2):
        answer = await thread.commit(
            "e2", ("T-1", stale, '{"n":2}'), open_=("set", "T-1"), outbox=("set", "[1]")
        )
        assert answer == "CONFLICT"
    assert await thread.tickets() == {"T-1:v": "1", "T-1:json": '{"n":1}'}
    k, r = thread.k, thread.r
    assert await r.exists(k.done(C, "e2"), k.outbox(C, "e2"), k.open_ticket(C)) == 0
    assert await thread.commit("e3", ("T-2", 1, "{}")) == "CONFLICT"  # no T-2 yet: version 0


async def test_commit_of_a_new_ticket_is_moved_when_the_open_ticket_is_not_the_one_seen(
    thread: Thread,
) -> None:
    """Two routers both read "no open ticket" for one customer (an email and an SMS of
    the same person, on two partitions): the second new ticket must not be written."""
    first = await thread.commit("e1", ("T-1", 0, "{}"), open_=("set", "T-1"), seen=("is", ""))
    assert first == "OK"
    late = await thread.commit(
        "e2", ("T-2", 0, "{}"), open_=("set", "T-2"), outbox=("set", "[1]"), seen=("is", "")
    )
    assert late == "MOVED"
    assert await thread.tickets() == {"T-1:v": "1", "T-1:json": "{}"}
    k, r = thread.k, thread.r
    assert await r.get(k.open_ticket(C)) == b"T-1"
    assert await r.exists(k.done(C, "e2"), k.outbox(C, "e2")) == 0
    seen_now = ("is", "T-1")
    assert await thread.commit("e2", ("T-2", 0, "{}"), open_=("set", "T-2"), seen=seen_now) == "OK"


async def test_commit_without_a_ticket_records_the_event_and_checks_no_version(
    thread: Thread,
) -> None:
    await thread.commit("e1", ("T-1", 0, '{"n":1}'), open_=("set", "T-1"))
    answer = await thread.commit(
        "auto",
        None,
        message=("replace", '{"text":"ignored"}'),
        outbox=("set", "[1]"),
        index=("<auto@x>",),
    )
    assert answer == "OK"
    assert await thread.tickets() == {"T-1:v": "1", "T-1:json": '{"n":1}'}
    k, r = thread.k, thread.r
    assert await r.get(k.done(C, "auto")) == b"1"
    assert await r.get(k.outbox(C, "auto")) == b"[1]"
    assert await r.exists(k.message_index(C)) == 0  # an id pointing at no ticket: not kept
    assert await thread.commit("auto", None) == "DUP"


async def test_commit_keeps_clears_and_sets_the_open_pointer(thread: Thread) -> None:
    pointer = thread.k.open_ticket(C)
    await thread.commit("e1", ("T-1", 0, "{}"), open_=("set", "T-1"))
    assert await thread.r.get(pointer) == b"T-1"
    await thread.commit("e2", ("T-1", 1, "{}"), open_=("keep", ""))
    assert await thread.r.get(pointer) == b"T-1"
    await thread.commit("e3", None, open_=("keep", "T-9"))  # 'keep' reads no value
    assert await thread.r.get(pointer) == b"T-1"
    await thread.commit("e4", ("T-1", 2, "{}"), open_=("clear", "T-1"))
    assert await thread.r.exists(pointer) == 0
    await thread.commit("e5", None, open_=("set", "T-2"))
    assert await thread.r.get(pointer) == b"T-2"


async def test_commit_keeps_or_replaces_the_last_message(thread: Thread) -> None:
    await thread.commit("e1", ("T-1", 0, "{}"), message=("replace", '{"text":"a"}'))
    assert (await thread.tickets())["T-1:message"] == '{"text":"a"}'
    await thread.commit("e2", ("T-1", 1, "{}"), message=("keep", '{"text":"b"}'))
    assert (await thread.tickets())["T-1:message"] == '{"text":"a"}'
    await thread.commit("e3", ("T-1", 2, "{}"), message=("replace", '{"text":"c"}'))
    assert (await thread.tickets())["T-1:message"] == '{"text":"c"}'
    await thread.commit("e4", ("T-2", 0, "{}"))
    assert "T-2:message" not in await thread.tickets()


async def test_commit_indexes_message_ids_to_its_ticket(thread: Thread) -> None:
    await thread.commit("e1", ("T-1", 0, "{}"), index=("<a@x>", "<b@x>"))
    await thread.commit("e2", ("T-2", 0, "{}"), index=("<c@x>",))
    await thread.commit("e3", ("T-2", 1, "{}"), index=("<a@x>",))  # a later answer moves it
    index = as_text(await thread.r.hgetall(thread.k.message_index(C)))
    assert index == {"<a@x>": "T-2", "<b@x>": "T-1", "<c@x>": "T-2"}


# --- view.lua -------------------------------------------------------------------------


async def two_tickets(thread: Thread) -> None:
    """T-1 answered by message <m1@x>; T-2 the open ticket, with a profile."""
    await thread.commit(
        "e1", ("T-1", 0, '{"id":"T-1"}'), message=("replace", '"m1"'), index=("<m1@x>",)
    )
    await thread.commit("e2", ("T-2", 0, '{"id":"T-2"}'), open_=("set", "T-2"))
    await thread.commit("e3", ("T-2", 1, '{"id":"T-2"}'), message=("replace", '"m2"'))
    await thread.r.set(thread.k.profile(C), b'{"tier":"gold"}')


async def test_view_finds_a_named_ticket_whatever_the_refs_and_pointer(thread: Thread) -> None:
    await two_tickets(thread)
    named = await thread.view("next", ("named", "T-1"), "<m1@x>")
    assert named == [0, None, "1", '{"id":"T-1"}', 0, '{"tier":"gold"}', '"m1"', "T-2"]
    assert (await thread.view("next", ("named", "T-404")))[2:5] == [None, None, 0]


async def test_view_finds_a_ticket_by_the_first_known_reply_ref(thread: Thread) -> None:
    await two_tickets(thread)
    replied = await thread.view("next", ("search", ""), "<unknown@x>", "<m1@x>")
    assert replied == [0, None, "1", '{"id":"T-1"}', 1, '{"tier":"gold"}', '"m1"', "T-2"]


async def test_view_falls_back_to_the_open_ticket(thread: Thread) -> None:
    await two_tickets(thread)
    opened = await thread.view("next", ("search", ""), "<unknown@x>")
    assert opened == [0, None, "2", '{"id":"T-2"}', 0, '{"tier":"gold"}', '"m2"', "T-2"]


async def test_view_finds_nothing_for_a_customer_without_threads(thread: Thread) -> None:
    assert await thread.view("next", ("search", ""), "<m1@x>") == [
        0,
        None,
        None,
        None,
        0,
        None,
        None,
        None,
    ]


async def test_view_tells_a_done_event_and_its_pending_outbox(thread: Thread) -> None:
    await thread.commit("e1", ("T-1", 0, "{}"), open_=("set", "T-1"), outbox=("set", "[7]"))
    assert (await thread.view("e1"))[:2] == [1, "[7]"]
    await thread.r.delete(thread.k.outbox(C, "e1"))  # published and acked
    assert (await thread.view("e1"))[:2] == [1, None]


async def test_restored_tickets_are_what_the_view_reads(
    redis: aioredis.Redis, keys: Keys, thread: Thread, settings: Settings
) -> None:
    """``state rebuild`` writes the layout the scripts read (router/keys.py)."""
    at = "2026-11-23T10:00:00Z"
    t = Ticket.model_validate(
        {
            "id": "T-1",
            "channel": "email",
            "customer_id": C,
            "created_at": at,
            "updated_at": at,
            "message_ids": ["<m1@x>"],
        }
    )
    store = RedisThreadStore(redis, ttl_s=TTL, prefix=settings.topic_prefix)
    await store.restore([t], {"email:a@example.com": C}, {C: "T-1"})
    by_ref = await thread.view("next", ("search", ""), "<m1@x>")
    assert (by_ref[2], by_ref[4]) == ("1", 1)
    assert Ticket.model_validate_json(by_ref[3]) == t
    assert await thread.commit("e1", ("T-1", 1, "{}")) == "OK"  # versions go on from 1
    assert await store.forget(C) == ["T-1"]
    assert [k async for k in redis.scan_iter(match=keys.customer_pattern(C))] == []


# --- leave.lua --------------------------------------------------------------------------


async def test_leave_changes_nothing_when_the_ticket_moved_since_it_was_read(
    redis: aioredis.Redis, keys: Keys, thread: Thread
) -> None:
    """``forget`` read the ticket at version 1; the router wrote version 2 since: 0, and
    neither the snapshot, the kept message nor the reply index change (it reads again)."""
    leave = script(redis, "leave.lua")
    assert await thread.commit("e1", ("T-1", 0, '{"v":1}'), index=("<a@x>",)) == "OK"
    assert await thread.commit("e2", ("T-1", 1, '{"v":2}')) == "OK"
    data, index = keys.ticket_data(C), keys.message_index(C)
    before = as_text(await redis.hgetall(data))
    assert await leave(keys=[data, index], args=["T-1", 1, '{"v":"x"}', "drop", "<a@x>"]) == 0
    assert as_text(await redis.hgetall(data)) == before
    assert as_text(await redis.hget(index, "<a@x>")) == "T-1"
    assert await leave(keys=[data, index], args=["T-1", 2, '{"v":"x"}', "drop", "<a@x>"]) == 1
    assert as_text(await redis.hmget(data, ["T-1:v", "T-1:json"])) == ["3", '{"v":"x"}']
    assert await redis.hget(index, "<a@x>") is None


async def test_leave_on_a_ticket_gone_only_clears_the_reply_index(
    redis: aioredis.Redis, keys: Keys
) -> None:
    """The owner was forgotten first: no snapshot to rewrite (version 0, no json)."""
    leave = script(redis, "leave.lua")
    data, index = keys.ticket_data(C), keys.message_index(C)
    await redis.hset(index, "<a@x>", "T-1")
    assert await leave(keys=[data, index], args=["T-1", 0, "", "keep", "<a@x>"]) == 1
    assert await redis.exists(data, index) == 0


# --- increment.lua and bump.lua -------------------------------------------------------


WINDOW = "handled/2026-11-23T10:00:00Z/queue=general"
META = {"metric": "handled", "dimensions": {"queue": "general"}, "start": "2026-11-23T10:00:00Z"}


def increment(event: str, amount: int = 1, counter: str = "created") -> Increment:
    return Increment(WINDOW, event, counter, amount, META, end=1.0)


async def test_increment_adds_once_and_marks_the_event(
    redis: aioredis.Redis, keys: Keys, settings: Settings
) -> None:
    counters = WindowCounters(redis, prefix=settings.topic_prefix, ttl_s=TTL)
    assert await counters.add([increment("e1", 2), increment("e1", 5, "handled")]) == [True, True]
    window = as_text(await redis.hgetall(keys.metric_window(WINDOW)))
    assert window == {
        "c:created": "2",
        "c:handled": "5",
        "meta": orjson.dumps(META).decode(),
        "changes": "2",
    }
    assert 0 < await redis.ttl(keys.metric_window(WINDOW)) <= TTL
    assert await redis.get(keys.metric_done(WINDOW, "e1", "created")) == b"1"
    assert await counters.dirty() == {WINDOW: "1"}
    assert await counters.due(1.0) == [WINDOW]


async def test_a_window_changed_while_published_stays_dirty(
    redis: aioredis.Redis, settings: Settings
) -> None:
    """dirty.lua: the flush clears only what did not change since it read it."""
    counters = WindowCounters(redis, prefix=settings.topic_prefix, ttl_s=TTL)
    await counters.add([increment("e1")])
    read = await counters.dirty()
    await counters.add([increment("e2")])  # another process, while this one publishes
    await counters.published(read)
    assert await counters.dirty() == {WINDOW: "2"}
    await counters.published(await counters.dirty())
    assert await counters.dirty() == {}


async def test_the_dirty_set_of_an_earlier_version_is_kept(
    redis: aioredis.Redis, keys: Keys, settings: Settings
) -> None:
    """dirty.lua: a set left by an earlier version becomes the hash, its windows dirty."""
    await redis.sadd(keys.metric_dirty, WINDOW, "other")
    counters = WindowCounters(redis, prefix=settings.topic_prefix, ttl_s=TTL)
    assert await counters.dirty() == {"other": "1", WINDOW: "1"}
    await redis.delete(keys.metric_dirty)
    await redis.sadd(keys.metric_dirty, "other")
    await counters.add([increment("e1")])
    assert await counters.dirty() == {"other": "1", WINDOW: "1"}


async def test_increment_of_a_duplicate_adds_nothing(
    redis: aioredis.Redis, keys: Keys, settings: Settings
) -> None:
    counters = WindowCounters(redis, prefix=settings.topic_prefix, ttl_s=TTL)
    await counters.add([increment("e1", 2)])
    assert await counters.add([increment("e1", 2), increment("e2", 3)]) == [False, True]
    assert await redis.hget(keys.metric_window(WINDOW), "c:created") == b"5"


async def test_bump_revises_and_finalizes_a_window(
    redis: aioredis.Redis, settings: Settings
) -> None:
    counters = WindowCounters(redis, prefix=settings.topic_prefix, ttl_s=TTL)
    await counters.seed_revisions({WINDOW: 4})  # published before a rebuild
    await counters.add([increment("e1", 2)])
    [revised] = await counters.revise([WINDOW], final=False)
    assert revised is not None
    assert (revised.revision, revised.final, revised.counters, revised.meta) == (
        5,
        False,
        {"created": 2},
        META,
    )
    [final] = await counters.revise([WINDOW], final=True)
    assert final is not None
    assert (final.revision, final.final) == (6, True)


async def test_bump_skips_a_window_its_last_sent_record_already_shows(
    redis: aioredis.Redis, settings: Settings
) -> None:
    """A duplicate changes no count: no new revision, and no second final. A record not
    acknowledged (``sent`` never called) is revised again: a crash before the ack."""
    counters = WindowCounters(redis, prefix=settings.topic_prefix, ttl_s=TTL)
    await counters.add([increment("e1", 2)])
    [unsent] = await counters.revise([WINDOW], final=False)
    [first] = await counters.revise([WINDOW], final=False)
    assert unsent is not None
    assert first is not None
    assert (unsent.revision, first.revision) == (1, 2)
    await counters.sent({WINDOW: first})
    assert await counters.add([increment("e1", 2)]) == [False]
    assert await counters.revise([WINDOW], final=False) == [None]
    [final] = await counters.revise([WINDOW], final=True)  # final once, unchanged or not
    assert final is not None
    assert (final.revision, final.final, final.counters) == (3, True, {"created": 2})
    await counters.sent({WINDOW: final})
    assert await counters.revise([WINDOW], final=True) == [None]
    await counters.add([increment("e2", 1)])  # a late event: news
    [late] = await counters.revise([WINDOW], final=True)
    assert late is not None
    assert (late.revision, late.final, late.counters) == (4, True, {"created": 3})


FCR_WINDOW = "fcr/2026-11-23T10:00:00Z/agent=a-1,channel=email,queue=general"


def fcr_increment(event: str, definition: str) -> Increment:
    dims = {"queue": "general", "channel": "email", "agent": "a-1"}
    meta = {"metric": "fcr", "dimensions": dims, "start": "2026-11-23T10:00:00Z"}
    return Increment(FCR_WINDOW, event, "resolved", 1, {**meta, "definition_hash": definition}, 1.0)


async def test_a_window_counted_across_a_definition_change_names_the_latest_and_every_one(
    redis: aioredis.Redis, settings: Settings
) -> None:
    """Rules reloaded mid-window: the window's meta carries the hash of the last counted
    event (not the first one's), and the window lists every hash it was counted under; a
    duplicate under another hash changes neither."""
    counters = WindowCounters(redis, prefix=settings.topic_prefix, ttl_s=TTL)
    await counters.add([fcr_increment("e1", "aaaaaaaaaaaa")])
    [first] = await counters.revise([FCR_WINDOW], final=False)
    assert first is not None
    assert (first.meta["definition_hash"], first.definitions) == ("aaaaaaaaaaaa", ("aaaaaaaaaaaa",))
    added = await counters.add([fcr_increment("e2", "bbbbbbbbbbbb"), fcr_increment("e1", "cccc")])
    assert added == [True, False]
    [mixed] = await counters.revise([FCR_WINDOW], final=False)
    assert mixed is not None
    assert mixed.meta["definition_hash"] == "bbbbbbbbbbbb"
    assert mixed.definitions == ("aaaaaaaaaaaa", "bbbbbbbbbbbb")
    assert mixed.counters == {"resolved": 2}

    sent: list[OutRecord] = []

    async def send(records: list[OutRecord]) -> None:
        sent.extend(records)

    handler = MetricsHandler(
        redis, send, [], window_s=60, lateness_s=3600, ttl_s=TTL, prefix=settings.topic_prefix
    )
    await handler._publish([FCR_WINDOW], final=False)  # noqa: SLF001 - the record it writes
    [record] = [orjson.loads(r.value or b"") for r in sent]
    assert record["definition_hash"] == "bbbbbbbbbbbb"
    assert record["definition_hashes"] == ["aaaaaaaaaaaa", "bbbbbbbbbbbb"]


async def test_bump_of_an_expired_window_creates_nothing(
    redis: aioredis.Redis, keys: Keys, settings: Settings
) -> None:
    counters = WindowCounters(redis, prefix=settings.topic_prefix, ttl_s=TTL)
    assert await counters.revise([WINDOW], final=True) == [None]
    assert await redis.exists(keys.metric_window(WINDOW)) == 0


# --- one batch, one round trip (run_batch) ----------------------------------------------


async def test_a_server_that_forgot_the_scripts_fails_one_batch_then_loads_them(
    redis: aioredis.Redis, settings: Settings
) -> None:
    """After a restart or a SCRIPT FLUSH the server answers NOSCRIPT: the batch fails as on
    any Redis fault (the consumer retries it) and the next one loads the scripts again."""
    counters = WindowCounters(redis, prefix=settings.topic_prefix, ttl_s=TTL)
    assert await counters.add([increment("e1")]) == [True]
    await redis.script_flush()
    with pytest.raises(BackendUnavailable):
        await counters.add([increment("e2")])
    assert await counters.add([increment("e2")]) == [True]
    assert await counters.add([increment("e2")]) == [False]


async def test_an_error_reply_is_raised_after_every_reply_was_read(
    redis: aioredis.Redis, keys: Keys
) -> None:
    """A command the server refuses does not leave the connection out of step: the batch's
    other commands ran, and the error comes back in its place when asked so."""
    text_key, list_key = keys.identity("batch-text"), keys.identity("batch-list")
    await redis.set(text_key, "x")
    batch: list[Command] = [("SET", list_key, "1"), ("LPUSH", text_key, "y"), ("GET", list_key)]
    with pytest.raises(ResponseError):
        await run_batch(redis, batch)
    ok, refused, read = await run_batch(redis, batch, raise_on_error=False)
    assert (ok, isinstance(refused, ResponseError), read) == (b"OK", True, b"1")
    assert await run_batch(redis, [("GET", text_key)]) == [b"x"]


async def test_replies_come_back_as_the_server_sent_them(redis: aioredis.Redis, keys: Keys) -> None:
    """What the ingress's content ids rely on: ``SET NX GET`` answers the value already
    there, on one server and on a cluster alike (no client-side reading of the reply)."""
    key = keys.identity("batch-set-get")
    first = [("SET", key, "first", "NX", "GET", "EX", 60)]
    second = [("SET", key, "second", "NX", "GET", "EX", 60)]
    assert await run_batch(redis, first) == [None]
    assert await run_batch(redis, second) == [b"first"]
    assert await run_batch(redis, [("SET", key, "third"), ("EXISTS", key)]) == [b"OK", 1]


# --- Redis away -----------------------------------------------------------------------


@pytest.mark.slow
async def test_redis_away_is_backend_unavailable(settings: Settings) -> None:
    client = aioredis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=1)
    try:
        store = RedisThreadStore(client, ttl_s=TTL, prefix=settings.topic_prefix)
        with pytest.raises(BackendUnavailable) as raised:
            await store.ticket_owners(["T-1"])
        assert raised.value.backend == "redis"
        assert raised.value.retriable is True
        counters = WindowCounters(client, prefix=settings.topic_prefix, ttl_s=TTL)
        with pytest.raises(BackendUnavailable):  # a pipelined script call too
            await counters.add([increment("e1")])
    finally:
        await client.aclose()
