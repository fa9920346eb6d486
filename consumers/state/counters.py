"""Metric windows in Redis: exact counters per window, and which windows to publish next.

A window is one hash (``p:m:{<metric key>}``, see ``router/keys.py``) holding its counters
(``c:<counter>``), its ``meta`` (metric, dimensions, start, and for ``fcr`` the hash of the
definition the last counted event was counted under), a ``d:<hash>`` field for every
definition it was counted under (more than one when the rules were reloaded within the
window), its ``revision`` and whether it is ``final``. Every increment is guarded by a
marker for (window, event, counter) in the same script (``increment.lua``), so a
redelivered event adds nothing. Windows that changed are remembered in a *dirty* hash,
each with a change mark, until published: the flush clears a window only if its mark did
not move meanwhile (``dirty.lua``), so a change another process made while it published
goes out at the next flush. Every window is also in a sorted set by its end, until its
allowed lateness has passed and it is published as final.

Every metrics process counts, but one at a time publishes: the holder of the publisher's
lease (``lead.lua``, as the waiting line's sweeper), renewed at every flush. Two
publishers would each bump a window's revision and send it, and nothing orders their
sends: the compacted topic could keep a lower revision than the one before it.

The backlog gauges are a snapshot taken once per window by whichever metrics process
claims it first: the claim is a dedupe marker (``SET NX``) of the window's workload key
without dimensions, so a process that joins mid-window (a rebalance, a restart) finds it
taken and does not publish a second snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from router.keys import Keys
from router.redis import (
    Command,
    RedisClient,
    ScriptCall,
    load_script,
    redis_errors,
    run_batch,
    text,
)

HERE = Path(__file__).parent
COUNTER = "c:"
"""The prefix of a counter's field in a window."""
DEFINITION = "d:"
"""The prefix of the field naming a definition a window was counted under."""


@dataclass(frozen=True, slots=True)
class Increment:
    """Add ``amount`` to one counter of a window, once for ``event_id``."""

    window: str  # the metric key (``router.events.metric_key``)
    event_id: str
    counter: str
    amount: int
    meta: dict[str, Any]
    end: float  # when the window ends (epoch seconds)


@dataclass(frozen=True, slots=True)
class Gauges:
    """Counters set (not added) on a window: the backlog measured now."""

    window: str
    meta: dict[str, Any]
    values: dict[str, int]
    end: float


@dataclass(frozen=True, slots=True)
class WindowState:
    """A window as published: what it counts, after its latest revision."""

    meta: dict[str, Any]
    counters: dict[str, int]
    revision: int
    final: bool
    definitions: tuple[str, ...] = ()  # every definition hash counted under, sorted
    changes: str = "0"  # how many changes it shows (``sent`` once it is acknowledged)


class WindowCounters:
    def __init__(self, client: RedisClient, *, prefix: str, ttl_s: int) -> None:
        self._r = client
        self._keys = Keys(prefix)
        self._ttl = ttl_s
        self._increment = load_script(client, HERE / "increment.lua")
        self._bump = load_script(client, HERE / "bump.lua")
        self._dirty = load_script(client, HERE / "dirty.lua")
        self._lead = load_script(client, HERE / "lead.lua")
        self._publisher = self._keys.metric_publisher

    async def add(self, increments: list[Increment]) -> list[bool]:
        """Apply each increment once; True where it was new (False: a duplicate).

        Every window touched is marked dirty and scheduled to close, duplicates too, so
        a crash between an increment and its publication is repaired by the next flush.
        Scheduled first: a flush that sees the mark sees when the window ends, so one
        reopened by a late event after it went final goes out final again."""
        if not increments:
            return []
        k = self._keys
        commands: list[Command] = [
            ScriptCall(
                self._increment,
                [k.metric_window(i.window), k.metric_done(i.window, i.event_id, i.counter)],
                [
                    COUNTER + i.counter,
                    i.amount,
                    self._ttl,
                    orjson.dumps(i.meta),
                    i.meta.get("definition_hash") or "",
                ],
            )
            for i in increments
        ]
        ends = {i.window: i.end for i in increments}
        commands.append(("ZADD", k.metric_windows, "NX", *_scored(ends)))
        commands.append(ScriptCall(self._dirty, [k.metric_dirty], ["mark", *ends]))
        with redis_errors():
            replies = await run_batch(self._r, commands)
        return [bool(r) for r in replies[: len(increments)]]

    async def set_gauges(self, windows: list[Gauges]) -> None:
        """Set each window's counters to the values given and schedule it to close."""
        k = self._keys
        with redis_errors():
            async with self._r.pipeline(transaction=False) as pipe:
                for w in windows:
                    key = k.metric_window(w.window)
                    pipe.hset(key, "meta", orjson.dumps(w.meta))
                    for name, value in w.values.items():
                        pipe.hset(key, COUNTER + name, value)
                    pipe.hincrby(key, "changes", 1)
                    pipe.expire(key, self._ttl)
                    pipe.zadd(k.metric_windows, {w.window: w.end}, nx=True)
                await pipe.execute()

    async def claim_snapshot(self, window: str) -> bool:
        """True for the one caller, of every metrics process, that takes the backlog
        snapshot of ``window`` (``metric_key("workload", start, {})``); False once taken."""
        marker = self._keys.metric_done(window, "backlog", "snapshot")
        with redis_errors():
            return bool(await self._r.set(marker, "1", nx=True, ex=self._ttl))

    async def first(self, markers: list[tuple[str, str]], what: str) -> list[bool]:
        """True for each (window, event id) seen here for the first time, with ``what``
        (a dedupe marker, as an increment's): for what is observed once, not counted."""
        commands: list[Command] = [
            ("SET", self._keys.metric_done(window, event_id, what), "1", "NX", "EX", self._ttl)
            for window, event_id in markers
        ]
        with redis_errors():
            replies = await run_batch(self._r, commands)
        return [bool(reply) for reply in replies]

    async def dirty(self) -> dict[str, str]:
        """The windows changed since they were last published, sorted, each with its
        change mark (for ``published``)."""
        with redis_errors():
            flat: list[bytes] = await self._dirty(keys=[self._keys.metric_dirty], args=["read"])
        return dict(sorted((text(flat[i]), text(flat[i + 1])) for i in range(0, len(flat), 2)))

    async def published(self, marks: dict[str, str]) -> None:
        """These windows' state as of ``marks`` (from ``dirty``) is out: no longer dirty,
        unless one changed since (its mark moved), which the next flush publishes."""
        if marks:
            args = [word for window, mark in marks.items() for word in (window, mark)]
            with redis_errors():
                await self._dirty(keys=[self._keys.metric_dirty], args=["clear", *args])

    async def lead(self, owner: str, hold_s: float) -> bool:
        """Take or renew the publisher's lease for ``hold_s``: True when ``owner`` may
        publish now (``lead.lua``)."""
        with redis_errors():
            held = await self._lead(
                keys=[self._publisher], args=[owner, "hold", int(hold_s * 1000)]
            )
        return bool(held)

    async def resign(self, owner: str) -> None:
        """Let go of the lease, if ``owner`` has it: another process publishes at once."""
        with redis_errors():
            await self._lead(keys=[self._publisher], args=[owner, "resign", 0])

    async def ends(self, windows: list[str]) -> dict[str, float]:
        """When each of ``windows`` ends (epoch seconds), for those still to close."""
        if not windows:
            return {}
        with redis_errors():
            scores: list[float | None] = await self._r.zmscore(self._keys.metric_windows, windows)
        return {w: s for w, s in zip(windows, scores, strict=True) if s is not None}

    async def due(self, horizon: float) -> list[str]:
        """The windows that ended at or before ``horizon``: to publish as final."""
        with redis_errors():
            found: list[Any] = await self._r.zrangebyscore(
                self._keys.metric_windows, "-inf", horizon
            )
        return [text(w) for w in found]

    async def closed(self, windows: list[str]) -> None:
        """These windows were published as final: never again."""
        if windows:
            with redis_errors():
                await self._r.zrem(self._keys.metric_windows, *windows)

    async def revise(self, windows: list[str], *, final: bool) -> list[WindowState | None]:
        """Give each window its next revision (``bump.lua``) and return it as it is now;
        None where it expired, or where the record last sent (``sent``) already shows it
        (and as final, with ``final``): a redelivered event marks its windows to publish
        but changes no count, and a second record saying the same, or a second final,
        would be news to nobody."""
        mode = "finalize" if final else "revise"
        bumps: list[Command] = [
            ScriptCall(self._bump, [self._keys.metric_window(window)], [mode]) for window in windows
        ]
        with redis_errors():
            replies: list[list[bytes]] = await run_batch(self._r, bumps)
        return [_state(flat) for flat in replies]

    async def sent(self, states: dict[str, WindowState]) -> None:
        """These windows' records were acknowledged: each shows its ``changes``."""
        commands: list[Command] = [
            ScriptCall(self._bump, [self._keys.metric_window(window)], ["sent", state.changes])
            for window, state in states.items()
        ]
        if commands:
            with redis_errors():
                await run_batch(self._r, commands)

    async def seed_revisions(self, revisions: dict[str, int]) -> None:
        """Start windows at the revisions already published (``switchboard state
        rebuild``), so the windows recomputed next keep growing revisions."""
        with redis_errors():
            async with self._r.pipeline(transaction=False) as pipe:
                for window, revision in revisions.items():
                    key = self._keys.metric_window(window)
                    pipe.hset(key, "revision", revision)
                    pipe.expire(key, self._ttl)
                await pipe.execute()


def _scored(scores: dict[str, float]) -> list[float | str]:
    """``ZADD``'s words for members and their scores: score, member, score, member..."""
    return [word for member, score in scores.items() for word in (score, member)]


def _state(flat: list[bytes]) -> WindowState | None:
    if len(flat) % 2:  # {'unchanged'}
        return None
    fields = {text(flat[i]): text(flat[i + 1]) for i in range(0, len(flat), 2)}
    if "meta" not in fields:
        return None  # expired, or unchanged since it was last sent: nothing to report
    return WindowState(
        meta=orjson.loads(fields["meta"]),
        counters={k[len(COUNTER) :]: int(v) for k, v in fields.items() if k.startswith(COUNTER)},
        revision=int(fields["revision"]),
        final=fields.get("final") == "1",
        definitions=tuple(sorted(k[len(DEFINITION) :] for k in fields if k.startswith(DEFINITION))),
        changes=fields.get("changes", "0"),
    )
