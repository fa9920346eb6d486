"""Reading thread state: the tickets, owners, merges and contacts the read API, the
notifier, ``forget`` and the router's lookups need. Each method is one round trip, or
one per step of a chain (merges), and writes nothing.

How stored values are read lives here too: the owner of a message id
(``customer<US>ticket``) and a stored ticket snapshot, which may be unreadable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from router.events import Ticket
from router.keys import Keys, ticket_field
from router.redis import Command, RedisClient, get_many, redis_errors, run_batch, text

OWNER_SEP = "\x1f"
MAX_MERGE_CHAIN = 16  # customers merged into one another in turn: a bound, not a limit


@dataclass(frozen=True, slots=True)
class MessageOwner:
    """Whose ticket a message id belongs to, whoever wrote the message."""

    customer_id: str
    ticket_id: str


class ThreadReads:
    """The read side of ``RedisThreadStore``, on its client and keys."""

    _r: RedisClient
    _keys: Keys

    async def message_tickets(self, message_ids: list[str]) -> list[MessageOwner | None]:
        """The customer and ticket each message id was indexed under (None: unknown), in
        the order asked: a reply's refs come parent first (``reply_refs``), so the first
        owner found is the one of the message it answers."""
        if not message_ids:
            return []
        with redis_errors():
            raw = await get_many(self._r, [self._keys.message_owner(m) for m in message_ids])
        return [parse_owner(text(v)) if v else None for v in raw]

    async def own_replies(self, asked: list[tuple[str, list[str]]]) -> list[bool]:
        """For each (customer, reply refs): whether the customer's own reply index files
        any of the refs, i.e. the customer answers a message of their own. One round
        trip, pipelined."""
        if not asked:
            return []
        commands: list[Command] = [
            ("HMGET", self._keys.message_index(customer), *refs) for customer, refs in asked
        ]
        with redis_errors():
            found = await run_batch(self._r, commands)
        return [any(v is not None for v in values) for values in found]

    async def known_customers(self, identity_lists: list[list[str]]) -> list[str | None]:
        """The customer behind each list of identities, linking nothing: the owner of its
        first known identity (as ``resolve_customers`` answers), None when none is known.
        For records that can open no ticket (auto-replies, bounces, call events that are
        no contact): they must not make their sender a stored customer. A merge rewrites
        the merged customer's identities, so they name the survivor. One round trip."""
        keys = [[self._keys.identity(i) for i in ids] for ids in identity_lists]
        with redis_errors():
            values = iter(await get_many(self._r, [key for group in keys for key in group]))
        found: list[str | None] = []
        for group in keys:
            owners = [text(v) for v in [next(values) for _ in group] if v is not None]
            found.append(owners[0] if owners else None)
        return found

    async def ticket_owners(self, ticket_ids: list[str]) -> list[str | None]:
        """The customer of each ticket (None: no such ticket)."""
        if not ticket_ids:
            return []
        with redis_errors():
            raw = await get_many(self._r, [self._keys.ticket_owner(t) for t in ticket_ids])
        return [text(v) if v else None for v in raw]

    async def survivor_of(self, customer_id: str) -> str:
        """The customer this one is now part of: itself, or the one it was merged into
        (and that one's, in turn)."""
        current = customer_id
        with redis_errors():
            for _ in range(MAX_MERGE_CHAIN):
                into = await self._r.get(self._keys.merged_into(current))
                if into is None or text(into) in (current, customer_id):
                    break
                current = text(into)
        return current

    async def merged_customers(self, customer_id: str) -> list[str]:
        """The customers merged into this one, and into those, in the order found."""
        found: list[str] = []
        todo = [customer_id]
        with redis_errors():
            while todo:
                for member in sorted(await self._r.smembers(self._keys.merged(todo.pop()))):
                    other = text(member)
                    if other != customer_id and other not in found:
                        found.append(other)
                        todo.append(other)
        return found

    async def tickets(self, ticket_ids: list[str]) -> list[Ticket | None]:
        """The current snapshot of each ticket (None: no such ticket): its owner, then
        its snapshot field, one round trip each."""
        owners = await self.ticket_owners(ticket_ids)
        found = [(t, c) for t, c in zip(ticket_ids, owners, strict=True) if c is not None]
        with redis_errors():
            async with self._r.pipeline(transaction=False) as pipe:
                for ticket_id, customer in found:
                    pipe.hget(self._keys.ticket_data(customer), ticket_field(ticket_id, "json"))
                raw = await pipe.execute() if found else []
        snapshots = {
            t: Ticket.model_validate_json(v) for (t, _), v in zip(found, raw, strict=True) if v
        }
        return [snapshots.get(t) for t in ticket_ids]

    async def customer_tickets(self, customer_id: str) -> list[Ticket]:
        """Every ticket of a customer, oldest first: the snapshot fields of its hash, by
        name, not the whole hash, whose kept last messages may be 64 KiB each."""
        key = self._keys.ticket_data(customer_id)
        with redis_errors():
            names = [text(n) for n in await self._r.hkeys(key)]
            wanted = [n for n in names if n.endswith(":json")]
            raw: list[Any] = []
            for start in range(0, len(wanted), 500):
                raw += await self._r.hmget(key, wanted[start : start + 500])
        tickets = [Ticket.model_validate_json(value) for value in raw if value]
        return sorted(tickets, key=lambda t: (t.created_at, t.id))

    async def participated_tickets(self, customer_id: str) -> list[Ticket]:
        """The tickets of other customers this one wrote on, oldest first; a ticket erased
        since (its customer forgotten) is left out."""
        k = self._keys
        with redis_errors():
            members = await self._r.smembers(k.participations(customer_id))
            where = [o for m in sorted(members) if (o := parse_owner(text(m))) is not None]
            async with self._r.pipeline(transaction=False) as pipe:
                for owner in where:
                    pipe.hget(
                        k.ticket_data(owner.customer_id), ticket_field(owner.ticket_id, "json")
                    )
                raw = await pipe.execute() if where else []
        tickets = [Ticket.model_validate_json(value) for value in raw if value]
        return sorted(tickets, key=lambda t: (t.created_at, t.id))

    async def contacts(
        self,
        tickets: list[tuple[str, str]],
        senders: Sequence[Mapping[str, Any] | None] = (),
        strangers: Sequence[bool] = (),
    ) -> list[dict[str, Any]]:
        """For (customer, ticket) pairs: how to reach the customer, from the sender given
        for it (``senders``: the message an auto-reply answers) or else the ticket's last
        customer message, over the CRM profile (``email``, ``phone``, ``handles``,
        ``name``); a sender who is not the ticket's customer (``strangers``: a reply
        joining another's thread) as they are, without that customer's profile. A ticket
        a merge carried over to the customer who absorbed its own
        (``RedisThreadStore._carry_current_ticket``) is read where it is now: its
        snapshot still names the absorbed customer. One round trip, two more then."""
        raw = await self._contact_fields(tickets)
        gone = [i for i in range(len(tickets)) if raw[i][0] is None]
        owners = await self.ticket_owners([tickets[i][1] for i in gone])
        moved = {
            i: (owner, tickets[i][1])
            for i, owner in zip(gone, owners, strict=True)
            if owner is not None and owner != tickets[i][0]
        }
        for i, found in zip(moved, await self._contact_fields(list(moved.values())), strict=True):
            raw[i] = found
        out = []
        senders = senders or [None] * len(raw)
        strangers = strangers or [False] * len(raw)
        for (message, profile), sender, stranger in zip(raw, senders, strangers, strict=True):
            if stranger and sender is not None:
                out.append(dict(sender))
                continue
            known = orjson.loads(profile) if profile else {}
            out.append({**known, **(sender if sender is not None else _last_sender(message))})
        return out

    async def _contact_fields(self, tickets: list[tuple[str, str]]) -> list[tuple[Any, Any]]:
        """Each ticket's kept last message and its customer's profile, as stored."""
        k = self._keys
        with redis_errors():
            async with self._r.pipeline(transaction=False) as pipe:
                for customer, ticket_id in tickets:
                    pipe.hget(k.ticket_data(customer), ticket_field(ticket_id, "message"))
                    pipe.get(k.profile(customer))
                raw = await pipe.execute() if tickets else []
        return [(raw[2 * i], raw[2 * i + 1]) for i in range(len(tickets))]

    async def customer_known(self, customer_id: str) -> bool:
        """Whether Redis knows this customer: an identity, a ticket, a merge into another
        or a message on another's ticket (one slot: every key of a customer shares its
        hash tag)."""
        k = self._keys
        with redis_errors():
            found = await self._r.exists(
                k.customer_identities(customer_id),
                k.ticket_data(customer_id),
                k.merged_into(customer_id),
                k.participations(customer_id),
            )
        return bool(found)

    async def customer_ticket_ids(self, customer_id: str) -> list[str]:
        """The ids of a customer's tickets, sorted, readable snapshot or not, and of those
        archived out of Redis (``forget`` tombstones them all on ``ticket-state``)."""
        with redis_errors():
            fields = await self._r.hkeys(self._keys.ticket_data(customer_id))
            archived = await self._r.smembers(self._keys.archived(customer_id))
        tickets = {tid for tid, name in (text(f).rsplit(":", 1) for f in fields) if name == "v"}
        return sorted(tickets | {text(t) for t in archived})

    async def customer_of(self, identity: str) -> str | None:
        with redis_errors():
            raw = await self._r.get(self._keys.identity(identity))
        return text(raw) if raw else None


def stored_ticket(raw: bytes) -> tuple[Ticket | None, str | None]:
    """A stored ticket, or why it cannot be read: one bad value must park the messages
    that need that ticket, not stop the router for every customer."""
    try:
        return Ticket.model_validate_json(raw), None
    except ValidationError as exc:
        where = ", ".join("/".join(map(str, e["loc"])) for e in exc.errors()[:3])
        return None, f"the stored ticket cannot be read ({where})"


def as_bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


def parse_owner(value: str) -> MessageOwner | None:
    customer, _, ticket = value.partition(OWNER_SEP)
    return MessageOwner(customer, ticket) if ticket else None


def _last_sender(message: Any) -> dict[str, Any]:
    """The sender of a ticket's kept last message, as stored (empty: none kept)."""
    customer = (orjson.loads(message) if message else {}).get("customer")
    return customer if isinstance(customer, dict) else {}
