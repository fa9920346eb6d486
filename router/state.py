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
from router.topics import Topic


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def customer_id_for(identity: str) -> str:
    """A customer is named after the first identity it was seen with."""
    return "C-" + uuid.uuid5(NAMESPACE, f"customer\x1f{identity}").hex[:16]


@dataclass(frozen=True, slots=True)
class OutRecord:
    topic: Topic
    key: str
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()

    def pack(self) -> list[Any]:
        value = None if self.value is None else self.value.decode()
        return [self.topic.value, self.key, value, [[k, v.decode()] for k, v in self.headers]]

    @classmethod
    def unpack(cls, raw: list[Any]) -> OutRecord:
        topic, key, value, headers = raw
        return cls(
            Topic(topic),
            key,
            None if value is None else value.encode(),
            tuple((k, v.encode()) for k, v in headers),
        )


@dataclass(slots=True)
class ThreadView:
    """What the router needs to decide where a message goes, read in one round trip."""

    customer_id: str
    done: bool
    outbox: list[OutRecord] | None
    ticket: Ticket | None
    ticket_version: int
    by_reply: bool = False


@dataclass(slots=True)
class Commit:
    customer_id: str
    event_id: str
    ticket: Ticket | None
    expected_version: int
    outbox: list[OutRecord] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)
    open_ticket: str | None = None  # None: unchanged; "": no open ticket any more


class ThreadStore(Protocol):
    async def resolve_customer(self, identities: list[str]) -> str: ...
    async def view(self, customer_id: str, event_id: str, refs: list[str]) -> ThreadView: ...
    async def commit(self, commit: Commit) -> str: ...
    async def clear_outbox(self, customer_id: str, event_ids: list[str]) -> None: ...


COMMIT = """
-- KEYS: 1 ticket hash, 2 done marker, 3 outbox, 4 open-ticket pointer, 5 message index
-- ARGV: 1 expected version, 2 ticket json ('' = none), 3 ticket id, 4 ttl,
--       5 outbox blob ('' = none), 6 open ticket ('' = clear, '-' = keep), 7.. message ids
if redis.call('EXISTS', KEYS[2]) == 1 then return 'DUP' end
local current = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if current ~= tonumber(ARGV[1]) then return 'CONFLICT' end
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[1], 'v', current + 1, 'json', ARGV[2])
end
redis.call('SET', KEYS[2], '1', 'EX', ARGV[4])
if ARGV[5] ~= '' then redis.call('SET', KEYS[3], ARGV[5], 'EX', ARGV[4]) end
if ARGV[6] == '' then redis.call('DEL', KEYS[4])
elseif ARGV[6] ~= '-' then redis.call('SET', KEYS[4], ARGV[6]) end
for i = 7, #ARGV do redis.call('HSET', KEYS[5], ARGV[i], ARGV[3]) end
return 'OK'
"""


class RedisThreadStore:
    def __init__(self, client: aioredis.Redis, *, ttl_s: int, prefix: str = "sb") -> None:
        self._r = client
        self._ttl = ttl_s
        self._p = prefix
        self._commit = client.register_script(COMMIT)

    def _k(self, customer_id: str, *parts: str) -> str:
        return ":".join((self._p, "{c:" + customer_id + "}", *parts))

    async def resolve_customer(self, identities: list[str]) -> str:
        """The customer behind these identities; unknown identities are linked to it.

        Linking is SET NX per identity, so concurrent or repeated calls agree.
        """
        keys = [f"{self._p}:id:{i}" for i in identities]
        try:
            found = await self._r.mget(keys)
            existing = [_text(v) for v in found if v is not None]
            customer = existing[0] if existing else customer_id_for(identities[0])
            async with self._r.pipeline(transaction=False) as pipe:
                for key, value in zip(keys, found, strict=True):
                    if value is None:
                        pipe.set(key, customer, nx=True)
                if len(pipe):
                    await pipe.execute()
            if not existing:  # lost a race? read back who won
                winner = await self._r.get(keys[0])
                customer = _text(winner) if winner else customer
        except (RedisError, OSError) as exc:
            raise BackendUnavailable("redis", type(exc).__name__) from exc
        return customer

    async def ticket_owner(self, ticket_id: str) -> str | None:
        raw = await self._r.get(f"{self._p}:ticket:{ticket_id}")
        return _text(raw) if raw else None

    async def view(self, customer_id: str, event_id: str, refs: list[str]) -> ThreadView:
        try:
            async with self._r.pipeline(transaction=False) as pipe:
                pipe.exists(self._k(customer_id, "done", event_id))
                pipe.get(self._k(customer_id, "outbox", event_id))
                pipe.get(self._k(customer_id, "open"))
                if refs:
                    pipe.hmget(self._k(customer_id, "msgs"), refs)
                done, outbox, open_ticket, *rest = await pipe.execute()
            replied = next((_text(r) for r in (rest[0] if rest else []) if r), None)
            ticket_id = replied or (_text(open_ticket) if open_ticket else None)
            ticket, version = None, 0
            if ticket_id:
                version_raw, json_raw = await self._r.hmget(
                    self._k(customer_id, "ticket", ticket_id), ["v", "json"]
                )
                if json_raw:
                    ticket = Ticket.model_validate_json(json_raw)
                    version = int(_text(version_raw or b"0"))
        except (RedisError, OSError) as exc:
            raise BackendUnavailable("redis", type(exc).__name__) from exc
        pending = [OutRecord.unpack(r) for r in orjson.loads(outbox)] if outbox else None
        return ThreadView(customer_id, bool(done), pending, ticket, version, replied is not None)

    async def commit(self, commit: Commit) -> str:
        """Atomically apply one event: 'OK', 'DUP' (already applied) or 'CONFLICT'."""
        c = commit
        ticket_id = c.ticket.id if c.ticket else ""
        try:
            if c.ticket:
                await self._r.set(f"{self._p}:ticket:{ticket_id}", c.customer_id)
            result = await self._commit(
                keys=[
                    self._k(c.customer_id, "ticket", ticket_id),
                    self._k(c.customer_id, "done", c.event_id),
                    self._k(c.customer_id, "outbox", c.event_id),
                    self._k(c.customer_id, "open"),
                    self._k(c.customer_id, "msgs"),
                ],
                args=[
                    c.expected_version,
                    c.ticket.model_dump_json() if c.ticket else "",
                    ticket_id,
                    self._ttl,
                    orjson.dumps([r.pack() for r in c.outbox]) if c.outbox else "",
                    "-" if c.open_ticket is None else c.open_ticket,
                    *c.message_ids,
                ],
            )
        except (RedisError, OSError) as exc:
            raise BackendUnavailable("redis", type(exc).__name__) from exc
        return _text(result)

    async def clear_outbox(self, customer_id: str, event_ids: list[str]) -> None:
        if event_ids:
            keys = [self._k(customer_id, "outbox", e) for e in event_ids]
            try:
                await self._r.delete(*keys)
            except (RedisError, OSError) as exc:
                raise BackendUnavailable("redis", type(exc).__name__) from exc
