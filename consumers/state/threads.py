"""Thread state in Redis: customers, tickets, dedupe markers and the outbox.

Every key of one customer's threads carries the hash tag ``{c:<customer id>}``, so the
atomic commit (one Lua script) touches a single slot and works on Redis Cluster. The
commit writes the new ticket, the dedupe marker and the records still to be published
(the outbox) at once: a crash after it re-publishes the same records, never new ones.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from router.errors import BackendUnavailable
from router.events import Ticket
from router.ids import NAMESPACE
from router.topics import OutRecord


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def customer_id_for(identity: str) -> str:
    """A customer is named after the first identity it was seen with."""
    return "C-" + uuid.uuid5(NAMESPACE, f"customer\x1f{identity}").hex[:16]


@dataclass(slots=True)
class ThreadView:
    """What the router needs to decide where a message goes, read in one round trip."""

    customer_id: str
    done: bool
    outbox: list[OutRecord] | None
    ticket: Ticket | None
    ticket_version: int
    by_reply: bool = False
    profile: dict[str, Any] = field(default_factory=dict)
    message: dict[str, Any] | None = None  # the ticket's last customer message (facts)


@dataclass(frozen=True, slots=True)
class ViewRequest:
    customer_id: str
    event_id: str
    refs: list[str] = field(default_factory=list)
    ticket_id: str | None = None  # a known ticket (actions); else found by refs / open


@dataclass(slots=True)
class Commit:
    customer_id: str
    event_id: str
    ticket: Ticket | None
    expected_version: int
    outbox: list[OutRecord] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)
    open_ticket: str | None = None  # None: unchanged; "": no open ticket any more
    message: dict[str, Any] | None = None  # the ticket's last customer message; None: keep


class ThreadStore(Protocol):
    """Thread state, batched: every method takes the work of a whole round at once."""

    async def resolve_customers(self, identity_lists: list[list[str]]) -> list[str]: ...
    async def views(self, requests: list[ViewRequest]) -> list[ThreadView]: ...
    async def commit_many(self, commits: list[Commit]) -> list[str]: ...
    async def ticket_owners(self, ticket_ids: list[str]) -> list[str | None]: ...
    async def merge_profile(self, customer_id: str, fields: dict[str, Any]) -> None: ...
    async def clear_outboxes(self, done: list[tuple[str, str]]) -> None: ...


COMMIT = """
-- KEYS: 1 ticket hash, 2 done marker, 3 outbox, 4 open-ticket pointer, 5 message index,
--       6 the customer's ticket ids
-- ARGV: 1 expected version, 2 ticket json ('' = none), 3 ticket id, 4 ttl,
--       5 outbox blob ('' = none), 6 open ticket ('' = clear, '-' = keep),
--       7 last customer message json ('' = keep), 8.. message ids
if redis.call('EXISTS', KEYS[2]) == 1 then return 'DUP' end
local current = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if current ~= tonumber(ARGV[1]) then return 'CONFLICT' end
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[1], 'v', current + 1, 'json', ARGV[2])
  if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'message', ARGV[7]) end
  redis.call('SADD', KEYS[6], ARGV[3])
end
redis.call('SET', KEYS[2], '1', 'EX', ARGV[4])
if ARGV[5] ~= '' then redis.call('SET', KEYS[3], ARGV[5], 'EX', ARGV[4]) end
if ARGV[6] == '' then redis.call('DEL', KEYS[4])
elseif ARGV[6] ~= '-' then redis.call('SET', KEYS[4], ARGV[6]) end
for i = 8, #ARGV do redis.call('HSET', KEYS[5], ARGV[i], ARGV[3]) end
return 'OK'
"""


VIEW = """
-- KEYS: 1 done marker, 2 outbox, 3 open-ticket pointer, 4 message index, 5 profile
-- ARGV: 1 ticket key prefix (same hash tag as the KEYS), 2 ticket id ('' = find it),
--       3.. reply refs
local tid, by_reply = false, 0
if ARGV[2] ~= '' then tid = ARGV[2] end
for i = 3, #ARGV do
  if tid then break end
  tid = redis.call('HGET', KEYS[4], ARGV[i])
  if tid then by_reply = 1 end
end
if not tid then tid = redis.call('GET', KEYS[3]) end
local ticket = {false, false, false}
if tid then ticket = redis.call('HMGET', ARGV[1] .. tid, 'v', 'json', 'message') end
return {redis.call('EXISTS', KEYS[1]), redis.call('GET', KEYS[2]), ticket[1], ticket[2],
        by_reply, redis.call('GET', KEYS[5]), ticket[3]}
"""


class RedisThreadStore:
    """``ThreadStore`` on Redis: each method is one or two pipelined round trips."""

    def __init__(self, client: aioredis.Redis, *, ttl_s: int, prefix: str = "sb") -> None:
        self._r = client
        self._ttl = ttl_s
        self._p = prefix
        self._commit = client.register_script(COMMIT)
        self._view = client.register_script(VIEW)

    def _k(self, customer_id: str, *parts: str) -> str:
        return ":".join((self._p, "{c:" + customer_id + "}", *parts))

    async def resolve_customers(self, identity_lists: list[list[str]]) -> list[str]:
        """The customer behind each list of identities; unknown identities are linked.

        Linking is SET NX per identity, then the owner of the first identity is read
        back, so concurrent or repeated calls agree on who owns an identity.
        """
        keys = [[f"{self._p}:id:{i}" for i in ids] for ids in identity_lists]
        try:
            async with self._r.pipeline(transaction=False) as pipe:
                for group in keys:
                    pipe.mget(group)
                found: list[list[Any]] = await pipe.execute()
            chosen = []
            async with self._r.pipeline(transaction=False) as pipe:
                for ids, group, values in zip(identity_lists, keys, found, strict=True):
                    existing = [_text(v) for v in values if v is not None]
                    chosen.append(existing[0] if existing else customer_id_for(ids[0]))
                    missing = [k for k, v in zip(group, values, strict=True) if v is None]
                    for key in missing:
                        pipe.set(key, chosen[-1], nx=True)
                    if missing:  # what `forget` erases: the customer's identities
                        pipe.sadd(self._k(chosen[-1], "ids"), *missing)
                    if missing:
                        pipe.get(group[0])  # who owns the first identity now (races)
                replies = await pipe.execute() if len(pipe) else []
        except (RedisError, OSError) as exc:
            raise BackendUnavailable("redis", type(exc).__name__) from exc
        owners: list[str] = []
        at = 0
        for values, customer in zip(found, chosen, strict=True):
            unknown = sum(1 for v in values if v is None)
            if not unknown:
                owners.append(customer)
                continue
            owner = replies[at + unknown + 1]  # after the SET NX and SADD replies
            at += unknown + 2
            owners.append(_text(owner) if owner else customer)
        return owners

    async def views(self, requests: list[ViewRequest]) -> list[ThreadView]:
        """For each request: is the event done, its pending outbox, the customer's
        profile, and the ticket (the one named, else by reply headers, else the open
        ticket). One Lua call per request, pipelined; its keys share the customer's tag."""
        try:
            async with self._r.pipeline(transaction=False) as pipe:
                for r in requests:
                    await self._view(
                        keys=[
                            self._k(r.customer_id, "done", r.event_id),
                            self._k(r.customer_id, "outbox", r.event_id),
                            self._k(r.customer_id, "open"),
                            self._k(r.customer_id, "msgs"),
                            self._k(r.customer_id, "profile"),
                        ],
                        args=[self._k(r.customer_id, "ticket", ""), r.ticket_id or "", *r.refs],
                        client=pipe,
                    )
                replies = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise BackendUnavailable("redis", type(exc).__name__) from exc
        views = []
        for r, (done, outbox, version, raw, by_reply, profile, message) in zip(
            requests, replies, strict=True
        ):
            pending = [OutRecord.unpack(o) for o in orjson.loads(outbox)] if outbox else None
            ticket = Ticket.model_validate_json(raw) if raw else None
            number = int(_text(version)) if raw and version else 0
            views.append(
                ThreadView(
                    r.customer_id,
                    bool(done),
                    pending,
                    ticket,
                    number,
                    bool(by_reply),
                    orjson.loads(profile) if profile else {},
                    orjson.loads(message) if message else None,
                )
            )
        return views

    async def commit_many(self, commits: list[Commit]) -> list[str]:
        """Apply each event atomically (one Lua call each, pipelined): 'OK', 'DUP'
        (already applied) or 'CONFLICT' (its ticket changed since it was read)."""
        try:
            async with self._r.pipeline(transaction=False) as pipe:
                for c in commits:
                    ticket_id = c.ticket.id if c.ticket else ""
                    await self._commit(
                        keys=[
                            self._k(c.customer_id, "ticket", ticket_id),
                            self._k(c.customer_id, "done", c.event_id),
                            self._k(c.customer_id, "outbox", c.event_id),
                            self._k(c.customer_id, "open"),
                            self._k(c.customer_id, "msgs"),
                            self._k(c.customer_id, "tickets"),
                        ],
                        args=[
                            c.expected_version,
                            c.ticket.model_dump_json() if c.ticket else "",
                            ticket_id,
                            self._ttl,
                            orjson.dumps([r.pack() for r in c.outbox]) if c.outbox else "",
                            "-" if c.open_ticket is None else c.open_ticket,
                            orjson.dumps(c.message) if c.message else "",
                            *c.message_ids,
                        ],
                        client=pipe,
                    )
                    if c.ticket and c.expected_version == 0:  # a new ticket's owner
                        pipe.set(f"{self._p}:ticket:{ticket_id}", c.customer_id)
                replies = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise BackendUnavailable("redis", type(exc).__name__) from exc
        return [_text(r) for r in replies if not isinstance(r, bool)]

    async def ticket_owners(self, ticket_ids: list[str]) -> list[str | None]:
        """The customer of each ticket (None: no such ticket)."""
        if not ticket_ids:
            return []
        try:
            raw = await self._r.mget([f"{self._p}:ticket:{t}" for t in ticket_ids])
        except (RedisError, OSError) as exc:
            raise BackendUnavailable("redis", type(exc).__name__) from exc
        return [_text(v) if v else None for v in raw]

    async def merge_profile(self, customer_id: str, fields: dict[str, Any]) -> None:
        """CRM enrichment: the given fields replace the stored ones (one JSON value)."""
        key = self._k(customer_id, "profile")
        try:
            current = await self._r.get(key)
            profile = {**(orjson.loads(current) if current else {}), **fields}
            await self._r.set(key, orjson.dumps(profile))
        except (RedisError, OSError) as exc:
            raise BackendUnavailable("redis", type(exc).__name__) from exc

    async def clear_outboxes(self, done: list[tuple[str, str]]) -> None:
        """Forget the outboxes of (customer, event id) pairs whose records were acked."""
        if done:
            try:
                await self._r.delete(*(self._k(c, "outbox", e) for c, e in done))
            except (RedisError, OSError) as exc:
                raise BackendUnavailable("redis", type(exc).__name__) from exc

    async def forget(self, customer_id: str) -> list[str]:
        """Erase everything stored about a customer; return the ids of their tickets.

        Identity keys are deleted only while they still point at this customer.
        """
        try:
            tickets = sorted(
                _text(t) for t in await self._r.smembers(self._k(customer_id, "tickets"))
            )
            identities = [_text(k) for k in await self._r.smembers(self._k(customer_id, "ids"))]
            owned = await self._r.mget(identities) if identities else []
            doomed = [
                k for k, v in zip(identities, owned, strict=True) if v and _text(v) == customer_id
            ]
            doomed += [f"{self._p}:ticket:{t}" for t in tickets]
            async for key in self._r.scan_iter(match=self._k(customer_id, "*"), count=500):
                doomed.append(_text(key))
            if doomed:
                await self._r.delete(*doomed)
        except (RedisError, OSError) as exc:
            raise BackendUnavailable("redis", type(exc).__name__) from exc
        return tickets

    async def restore(
        self,
        tickets: list[Ticket],
        identities: dict[str, str],
        open_tickets: dict[str, str],
    ) -> None:
        """Write thread state back from snapshots (``switchboard state rebuild``): each
        ticket at version 1 with its owner and message index, the identity links, and
        each customer's current ticket. Existing keys are overwritten."""
        try:
            async with self._r.pipeline(transaction=False) as pipe:
                for t in tickets:
                    c = t.customer_id
                    pipe.hset(
                        self._k(c, "ticket", t.id), mapping={"v": 1, "json": t.model_dump_json()}
                    )
                    pipe.set(f"{self._p}:ticket:{t.id}", c)
                    pipe.sadd(self._k(c, "tickets"), t.id)
                    for message_id in t.message_ids:
                        pipe.hset(self._k(c, "msgs"), message_id, t.id)
                for identity, c in identities.items():
                    pipe.set(f"{self._p}:id:{identity}", c)
                    pipe.sadd(self._k(c, "ids"), f"{self._p}:id:{identity}")
                for c, ticket_id in open_tickets.items():
                    pipe.set(self._k(c, "open"), ticket_id)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise BackendUnavailable("redis", type(exc).__name__) from exc

    async def customer_of(self, identity: str) -> str | None:
        raw = await self._r.get(f"{self._p}:id:{identity}")
        return _text(raw) if raw else None
