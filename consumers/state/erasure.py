"""Erasing a customer (``switchboard forget``), archiving closed tickets out of Redis
(the timers role, ``SWITCHBOARD_CLOSED_RETENTION_S`` after their last change) and writing
thread state back from snapshots (``switchboard state rebuild``): the writes that are not
the router's.

``forget`` takes the customer out of the tickets of others they wrote on first
(``leave.lua``, retried while the router moves such a ticket), then deletes every key of
theirs: identity keys only while they still point at them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import orjson
from pydantic import ValidationError

from consumers.state.thread_reads import (
    OWNER_SEP,
    MessageOwner,
    as_bytes,
    parse_owner,
    stored_ticket,
)
from router.errors import BackendUnavailable
from router.events import Customer, Ticket
from router.keys import TICKET_FIELDS, Keys, ticket_field
from router.redis import (
    Command,
    RedisClient,
    Script,
    ScriptCall,
    delete_many,
    get_many,
    redis_errors,
    run_batch,
    scan_all,
    text,
)

MAX_LEAVE_TRIES = 8  # a ticket the router keeps moving while `forget` rewrites it


@dataclass(frozen=True, slots=True)
class Archived:
    """A ticket just archived: where it was stored, its last snapshot, and the message
    ids its owner's reply index held for it."""

    owner: str
    ticket: Ticket
    message_ids: list[str]


class ThreadErasure:
    """The erasing and restoring side of ``RedisThreadStore``, on its client and keys."""

    _r: RedisClient
    _keys: Keys
    _leave: Script
    _archive: Script
    _let_go: Script

    async def forget(self, customer_id: str) -> list[str]:
        """Erase everything stored about a customer; return the ids of their tickets.

        Identity keys are deleted only while they still point at this customer. The
        tickets of others they wrote on stay their owners', without them (``_leave``).
        """
        k = self._keys
        await self._leave_others_tickets(customer_id)
        with redis_errors():
            fields = await self._r.hkeys(k.ticket_data(customer_id))
            messages = [text(m) for m in await self._r.hkeys(k.message_index(customer_id))]
            tickets = sorted(
                tid for tid, name in (text(f).rsplit(":", 1) for f in fields) if name == "v"
            )
            identities = [
                text(i) for i in await self._r.smembers(k.customer_identities(customer_id))
            ]
            owned = await get_many(self._r, identities)
            linked = [
                i for i, v in zip(identities, owned, strict=True) if v and text(v) == customer_id
            ]
            doomed = [k.ticket_owner(t) for t in tickets]
            doomed += [k.message_owner(m) for m in messages]
            doomed += await scan_all(self._r, k.customer_pattern(customer_id))
            # the identities after the rest, and the set naming them last: on a cluster a
            # DEL of many keys is one per slot, and a run that fails part way must leave
            # the customer findable by their address, for the run that finishes it
            ids_key = k.customer_identities(customer_id)
            await delete_many(self._r, [key for key in doomed if key != ids_key])
            await delete_many(self._r, linked)
            await delete_many(self._r, [ids_key])
        return tickets

    async def _leave_others_tickets(self, customer_id: str) -> None:
        """Take a customer out of every ticket of others they wrote on (their
        participations): their id from its ``participants``, their message ids from its
        ``message_ids`` and from the reply indexes, and the ticket's kept last message
        when it is theirs (their address and words). Message ids written before this was
        recorded cannot be told from the owner's and stay."""
        k = self._keys
        with redis_errors():
            members = await self._r.smembers(k.participations(customer_id))
            places = {o for m in members if (o := parse_owner(text(m))) is not None}
            theirs: dict[MessageOwner, list[str]] = {}
            for member in await self._r.smembers(k.written(customer_id)):
                where, _, message_id = text(member).rpartition(OWNER_SEP)
                if (place := parse_owner(where)) is not None:
                    theirs.setdefault(place, []).append(message_id)
                    places.add(place)
            raw_ids = await self._r.smembers(k.customer_identities(customer_id))
        identities = {text(i) for i in raw_ids}
        for place in sorted(places, key=lambda p: (p.customer_id, p.ticket_id)):
            await self._leave_ticket(place, customer_id, sorted(theirs.get(place, [])), identities)
        written = [k.message_owner(m) for ids in theirs.values() for m in ids]
        if written:
            with redis_errors():
                await delete_many(self._r, written)

    async def _leave_ticket(
        self, place: MessageOwner, customer_id: str, message_ids: list[str], identities: set[str]
    ) -> None:
        """``leave.lua`` on one ticket, read again and retried while the router moves it."""
        k, tid = self._keys, place.ticket_id
        data = k.ticket_data(place.customer_id)
        names = [ticket_field(tid, f) for f in TICKET_FIELDS]
        for _ in range(MAX_LEAVE_TRIES):
            with redis_errors():
                version, raw, message = await self._r.hmget(data, names)
            ticket, _ = stored_ticket(as_bytes(raw)) if raw else (None, None)
            rewritten = ""
            if ticket is not None:
                gone = set(message_ids)
                rewritten = ticket.model_copy(
                    update={
                        "participants": [p for p in ticket.participants if p != customer_id],
                        "message_ids": [m for m in ticket.message_ids if m not in gone],
                    }
                ).model_dump_json()
            drop = "drop" if message and self._written_by(as_bytes(message), identities) else "keep"
            number = int(text(version)) if version else 0
            args: list[str | int] = [tid, number, rewritten, drop, *message_ids]
            call = ScriptCall(self._leave, [data, k.message_index(place.customer_id)], args)
            with redis_errors():
                [done] = await run_batch(self._r, [call])
            if done:
                return
        raise BackendUnavailable("redis", f"ticket {tid} kept changing; run forget again")

    def _written_by(self, message: bytes, identities: set[str]) -> bool:
        """Whether a kept message's sender is one of these identity keys."""
        try:
            sender = Customer.model_validate(orjson.loads(message).get("customer") or {})
        except (orjson.JSONDecodeError, AttributeError, ValidationError):
            return False
        return any(self._keys.identity(i) in identities for i in sender.identities())

    async def archive(self, tickets: list[tuple[str, Ticket, int]]) -> list[bool]:
        """Take closed tickets out of Redis, each (owner, snapshot, version) as read: the
        ticket's fields, owner, reply index entries and current-ticket pointer, and the
        participations of those who wrote on it. Its last snapshot stays on the compacted
        ``ticket-state`` topic; its id stays in the owner's archived set, for ``forget``
        to erase that snapshot. The owner is where the ticket is stored: a merge may have
        carried it to the customer who absorbed the one its snapshot names. Answers, per
        ticket, whether it went: one that changed since it was read stays
        (``archive.lua``).

        The ticket goes first, in one script on its owner's slot; the entries in other
        slots after it, each only while it still names the ticket (idempotent). A crash in
        between leaves entries that name no ticket, which every reader takes as unknown;
        the timer fires again and removes the owner entry."""
        k = self._keys
        with redis_errors():
            indexed = await asyncio.gather(*(self._indexed(owner, t) for owner, t, _ in tickets))
        calls = [
            ScriptCall(
                self._archive,
                [
                    k.ticket_data(owner),
                    k.message_index(owner),
                    k.open_ticket(owner),
                    k.archived(owner),
                ],
                [t.id, version, *messages],
            )
            for (owner, t, version), messages in zip(tickets, indexed, strict=True)
        ]
        with redis_errors():
            replies = await run_batch(self._r, calls) if calls else []
        gone = [
            Archived(owner, t, [text(m) for m in reply])
            for (owner, t, _), reply in zip(tickets, replies, strict=True)
            if reply is not None
        ]
        await self.archived([(a.owner, a.ticket.id) for a in gone], gone)
        return [reply is not None for reply in replies]

    async def _indexed(self, owner: str, ticket: Ticket) -> list[str]:
        """The message ids the owner's reply index files under ``ticket``: its snapshot's
        and any other (the notifier's auto-replies), found by HSCAN, a page at a time,
        so a customer with a long history holds Redis for no one."""
        found = set(ticket.message_ids)
        async for field, value in self._r.hscan_iter(self._keys.message_index(owner), count=1000):
            if text(value) == ticket.id:
                found.add(text(field))
        return sorted(found)

    async def archived(self, owners: list[tuple[str, str]], tickets: list[Archived]) -> None:
        """The entries in other slots that name archived tickets: each ticket's owner
        (``owners``: customer, ticket), and, for the ``tickets`` archived just now, their
        global reply index entries and their participants' records of them (under the
        customer its snapshot names, and under its owner when a merge carried it)."""
        k = self._keys
        commands: list[Command] = [
            ScriptCall(self._let_go, [k.ticket_owner(tid)], [customer, "resign"])
            for customer, tid in owners
        ]
        for a in tickets:
            t = a.ticket
            places = {f"{c}{OWNER_SEP}{t.id}" for c in (t.customer_id, a.owner)}
            messages = sorted({*t.message_ids, *a.message_ids})
            for place in sorted(places):
                commands += [
                    ScriptCall(self._let_go, [k.message_owner(m)], [place, "resign"])
                    for m in messages
                ]
                for participant in t.participants:
                    commands.append(("SREM", k.participations(participant), place))
                    if messages:
                        wrote = [f"{place}{OWNER_SEP}{m}" for m in messages]
                        commands.append(("SREM", k.written(participant), *wrote))
        if commands:
            with redis_errors():
                await run_batch(self._r, commands)

    async def restore(
        self,
        tickets: list[Ticket],
        identities: dict[str, str],
        open_tickets: dict[str, str],
        *,
        written: dict[tuple[str, str], list[str]] | None = None,
    ) -> None:
        """Write thread state back from snapshots (``switchboard state rebuild``): each
        ticket at version 1 with its owner, participants and message index, the identity
        links, and each customer's current ticket; and ``written``, (participant, ticket
        of ``tickets``) -> the message ids they wrote there, which ``forget`` takes out of
        that ticket. Existing keys are overwritten."""
        k = self._keys
        owners = {t.id: t.customer_id for t in tickets}
        with redis_errors():
            async with self._r.pipeline(transaction=False) as pipe:
                for (participant, ticket_id), message_ids in (written or {}).items():
                    place = f"{owners[ticket_id]}{OWNER_SEP}{ticket_id}"
                    if message_ids:
                        wrote = [f"{place}{OWNER_SEP}{m}" for m in message_ids]
                        pipe.sadd(k.written(participant), *wrote)
                for t in tickets:
                    c = t.customer_id
                    version, snapshot = ticket_field(t.id, "v"), ticket_field(t.id, "json")
                    pipe.hset(k.ticket_data(c), mapping={version: 1, snapshot: t.model_dump_json()})
                    pipe.set(k.ticket_owner(t.id), c)
                    for participant in t.participants:
                        pipe.sadd(k.participations(participant), f"{c}{OWNER_SEP}{t.id}")
                    for message_id in t.message_ids:
                        pipe.hset(k.message_index(c), message_id, t.id)
                        owner = f"{c}{OWNER_SEP}{t.id}"
                        pipe.set(k.message_owner(message_id), owner, nx=True)
                for identity, c in identities.items():
                    pipe.set(k.identity(identity), c)
                    pipe.sadd(k.customer_identities(c), k.identity(identity))
                for c, ticket_id in open_tickets.items():
                    pipe.set(k.open_ticket(c), ticket_id)
                await pipe.execute()
