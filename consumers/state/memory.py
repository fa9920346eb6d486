"""Thread state in a Python dict: the ``ThreadStore`` contract without a Redis server.

It backs the fast handler tests and the staffing simulation, where a Redis per run would
cost more than the work itself. The contract suite
(``tests/component/state/test_thread_store_contract.py``) runs the same tests against
this store and ``RedisThreadStore``, which keeps the two answering alike.

Values are kept serialised exactly as Redis keeps them (ticket JSON, packed outbox,
profile and message JSON), so a caller can neither change stored state through an object
it still holds nor store something Redis could not. Each method runs without awaiting,
so each is atomic, as a Lua script is. Nothing expires: dedupe markers and outboxes stay
until ``clear_outboxes`` or ``forget``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from consumers.state.thread_reads import MessageOwner
from consumers.state.threads import Commit, ThreadView, ViewRequest, carries_over
from router.events import Customer, Ticket
from router.ids import new_customer_id
from router.topics import pack_records, unpack_records


@dataclass(slots=True)
class _StoredTicket:
    version: int
    json: str
    message: bytes | None = None  # the last customer message, as JSON


@dataclass(slots=True)
class _Thread:
    """Everything stored under one customer's hash tag in Redis."""

    tickets: dict[str, _StoredTicket] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)  # event ids applied
    outboxes: dict[str, bytes] = field(default_factory=dict)  # event id -> packed records
    open_ticket: str | None = None
    replies: dict[str, str] = field(default_factory=dict)  # message id -> ticket id
    profile: bytes | None = None
    identities: set[str] = field(default_factory=set)  # what ``forget`` unlinks
    merged: set[str] = field(default_factory=set)  # customers merged into this one
    wrote: dict[MessageOwner, set[str]] = field(default_factory=dict)  # others' tickets


class InMemoryThreadStore:
    """``ThreadStore`` in process memory, with the Redis store's answers."""

    def __init__(self) -> None:
        self._threads: dict[str, _Thread] = {}
        self._identities: dict[str, str] = {}  # identity -> customer
        self._owners: dict[str, str] = {}  # ticket id -> customer
        self._messages: dict[str, MessageOwner] = {}  # message id -> whose ticket

    def _thread(self, customer_id: str) -> _Thread:
        return self._threads.setdefault(customer_id, _Thread())

    async def resolve_customers(self, identity_lists: list[list[str]]) -> list[str]:
        """The customer behind each list: the owner of its first known identity, else a
        new customer with a random id (``new_customer_id``). Unknown identities are
        linked to it, list by list, so lists sharing an identity resolve to one customer."""
        owners = []
        for ids in identity_lists:
            known = [self._identities[i] for i in ids if i in self._identities]
            customer = known[0] if known else new_customer_id()
            for identity in ids:
                if identity not in self._identities:
                    self._identities[identity] = customer
                    self._thread(customer).identities.add(identity)
            for other in dict.fromkeys(known):
                if other != customer:  # one list names two customers: one person
                    self._absorb(customer, other)
            owners.append(self._identities[ids[0]])
        return owners

    async def known_customers(self, identity_lists: list[list[str]]) -> list[str | None]:
        """The owner of each list's first known identity (None: none is known), linking
        nothing: as the Redis store, for records that can open no ticket."""
        found: list[str | None] = []
        for ids in identity_lists:
            known = [self._identities[i] for i in ids if i in self._identities]
            found.append(known[0] if known else None)
        return found

    def _absorb(self, survivor: str, other: str) -> None:
        """As the Redis store: the other's identities name the survivor, its profile
        fills what the survivor's lacks, it is listed as merged, and its current ticket
        becomes the survivor's when ``carries_over`` says so (``_carry``)."""
        self._carry(survivor, other)
        theirs, ours = self._thread(other), self._thread(survivor)
        for identity in theirs.identities:
            self._identities[identity] = survivor
        ours.identities |= theirs.identities
        ours.merged.add(other)
        if theirs.profile:
            mine = orjson.loads(ours.profile) if ours.profile else {}
            ours.profile = orjson.dumps({**orjson.loads(theirs.profile), **mine})

    def _carry(self, survivor: str, other: str) -> None:
        """As the Redis store: the ticket, its reply index entries and the current-ticket
        pointer move to the survivor, its owner and the participations on it name them."""
        theirs, ours = self._thread(other), self._thread(survivor)
        tid = theirs.open_ticket
        stored = theirs.tickets.get(tid) if tid is not None else None
        if tid is None or stored is None:
            return
        mine = ours.tickets.get(ours.open_ticket) if ours.open_ticket is not None else None
        current = Ticket.model_validate_json(mine.json) if mine else None
        if not carries_over(current, Ticket.model_validate_json(stored.json)):
            return
        ours.tickets[tid] = theirs.tickets.pop(tid)
        ours.open_ticket, theirs.open_ticket = tid, None
        indexed = [m for m, t in theirs.replies.items() if t == tid]
        for message_id in indexed:
            ours.replies[message_id] = theirs.replies.pop(message_id)
        self._owners[tid] = survivor
        was, now = MessageOwner(other, tid), MessageOwner(survivor, tid)
        for message_id in indexed:
            if self._messages.get(message_id) == was:
                self._messages[message_id] = now
        for writer, thread in self._threads.items():
            if (wrote := thread.wrote.pop(was, None)) is not None and writer != survivor:
                thread.wrote[now] = wrote

    async def survivor_of(self, customer_id: str) -> str:
        """The customer this one is now part of: itself, or the one it was merged into."""
        for survivor, thread in self._threads.items():
            if customer_id in thread.merged:
                return await self.survivor_of(survivor)
        return customer_id

    async def merged_customers(self, customer_id: str) -> list[str]:
        found: list[str] = []
        todo = [customer_id]
        while todo:
            for other in sorted(self._thread(todo.pop()).merged):
                if other != customer_id and other not in found:
                    found.append(other)
                    todo.append(other)
        return found

    async def views(self, requests: list[ViewRequest]) -> list[ThreadView]:
        """The ticket named, else the one a reply ref points at, else the open ticket."""
        return [self._view(r) for r in requests]

    def _view(self, r: ViewRequest) -> ThreadView:
        thread = self._threads.get(r.customer_id) or _Thread()
        ticket_id, by_reply = r.ticket_id, False
        if ticket_id and r.refs:  # a colleague's reply routed as the owner's, as view.lua
            ticket_id = self._followed_up(thread, ticket_id)
        if not ticket_id:
            ref = next((ref for ref in r.refs if ref in thread.replies), None)
            if ref is not None:
                ticket_id, by_reply = thread.replies[ref], True
                ticket_id = self._followed_up(thread, ticket_id)
            else:
                ticket_id = thread.open_ticket
        stored = thread.tickets.get(ticket_id) if ticket_id is not None else None
        outbox = thread.outboxes.get(r.event_id)
        return ThreadView(
            r.customer_id,
            r.event_id in thread.done,
            unpack_records(outbox) if outbox else None,
            Ticket.model_validate_json(stored.json) if stored else None,
            stored.version if stored else 0,
            by_reply,
            orjson.loads(thread.profile) if thread.profile else {},
            orjson.loads(stored.message) if stored and stored.message else None,
            open_ticket=thread.open_ticket or "",
        )

    @staticmethod
    def _followed_up(thread: _Thread, ticket_id: str) -> str:
        """The customer's current ticket when it is the follow-up of ``ticket_id`` (the
        conversation went on there), as ``view.lua``; else ``ticket_id``."""
        current = thread.open_ticket
        stored = thread.tickets.get(current) if current and current != ticket_id else None
        if current is None or stored is None:
            return ticket_id
        try:
            follows = orjson.loads(stored.json).get("follow_up_of")
        except orjson.JSONDecodeError:
            return ticket_id
        return current if follows == ticket_id else ticket_id

    async def commit_many(self, commits: list[Commit], *, waits: bool = False) -> list[str]:
        """'DUP' when the event was applied before, 'CONFLICT' when the ticket's version is
        not the expected one, else 'OK' with every part of the commit applied. One
        process, one writer: never 'PENDING' (``waits`` changes nothing)."""
        del waits
        return [self._commit(c) for c in commits]

    def _commit(self, c: Commit) -> str:
        thread = self._thread(c.customer_id)
        if c.ticket is not None and c.expected_version == 0:
            # as in Redis: a new ticket's owner whatever the answer (its id derives from
            # the event that opens it, so if it exists it is this customer's)
            self._owners[c.ticket.id] = c.customer_id
        if c.ticket is not None and c.participant:  # as Redis: whatever the answer
            place = MessageOwner(c.customer_id, c.ticket.id)
            self._thread(c.participant).wrote.setdefault(place, set()).update(c.message_ids)
        if c.ticket is not None:  # the global reply index: first writer wins
            for message_id in c.message_ids:
                self._messages.setdefault(message_id, MessageOwner(c.customer_id, c.ticket.id))
        if c.event_id in thread.done:
            return "DUP"
        if c.open_seen is not None and (thread.open_ticket or "") != c.open_seen:
            self._take_back(c)  # as Redis: another process opened a ticket first
            return "CONFLICT"
        if c.ticket is not None:  # an event that changes no ticket has no version to check
            stored = thread.tickets.get(c.ticket.id)
            if (stored.version if stored else 0) != c.expected_version:
                return "CONFLICT"
            message = orjson.dumps(c.message) if c.message else None
            thread.tickets[c.ticket.id] = _StoredTicket(
                c.expected_version + 1,
                c.ticket.model_dump_json(),
                message or (stored.message if stored else None),
            )
            thread.replies.update(dict.fromkeys(c.message_ids, c.ticket.id))
        thread.done.add(c.event_id)
        if c.outbox:
            thread.outboxes[c.event_id] = pack_records(c.outbox)
        if c.open_ticket is not None:
            thread.open_ticket = c.open_ticket or None
        return "OK"

    def _take_back(self, c: Commit) -> None:
        """The global entries written for a new ticket that was not created, while they
        still name it (``RedisThreadStore._take_back``)."""
        if c.ticket is None:
            return
        if self._owners.get(c.ticket.id) == c.customer_id:
            del self._owners[c.ticket.id]
        mine = MessageOwner(c.customer_id, c.ticket.id)
        for message_id in c.message_ids:
            if self._messages.get(message_id) == mine:
                del self._messages[message_id]

    async def ticket_owners(self, ticket_ids: list[str]) -> list[str | None]:
        """The customer of each ticket (None: no such ticket)."""
        return [self._owners.get(t) for t in ticket_ids]

    async def own_replies(self, asked: list[tuple[str, list[str]]]) -> list[bool]:
        """Whether each customer's own reply index files any of the refs (as Redis)."""
        return [any(r in self._thread(c).replies for r in refs) for c, refs in asked]

    async def message_tickets(self, message_ids: list[str]) -> list[MessageOwner | None]:
        """The customer and ticket each message id was indexed under (None: unknown)."""
        return [self._messages.get(m) for m in message_ids]

    async def merge_profile(self, customer_id: str, fields: dict[str, Any]) -> None:
        """CRM enrichment: the given fields replace the stored ones, the others stay."""
        thread = self._thread(customer_id)
        current = orjson.loads(thread.profile) if thread.profile else {}
        thread.profile = orjson.dumps({**current, **fields})

    async def clear_outboxes(
        self, done: list[tuple[str, str]], published: Sequence[tuple[str, str]] = ()
    ) -> None:
        """Forget the outboxes of (customer, event id) pairs whose records were acked (one
        writer: no marks on ``published`` tickets to clear)."""
        del published
        for customer_id, event_id in done:
            if thread := self._threads.get(customer_id):
                thread.outboxes.pop(event_id, None)

    async def forget(self, customer_id: str) -> list[str]:
        """Erase everything stored about a customer; return the ids of their tickets.
        Identities are unlinked only while they still point at this customer; the tickets
        of others they wrote on stay their owners', without them (as the Redis store)."""
        thread = self._threads.pop(customer_id, None) or _Thread()
        for place, message_ids in thread.wrote.items():
            self._leave(place, customer_id, message_ids, thread.identities)
        for identity in thread.identities:
            if self._identities.get(identity) == customer_id:
                del self._identities[identity]
        tickets = sorted(thread.tickets)
        for ticket_id in tickets:
            self._owners.pop(ticket_id, None)
        for message_id in thread.replies:
            self._messages.pop(message_id, None)
        return tickets

    def _leave(
        self, place: MessageOwner, customer_id: str, message_ids: set[str], identities: set[str]
    ) -> None:
        """Their id, message ids and last message out of another's ticket."""
        owner = self._threads.get(place.customer_id) or _Thread()
        for message_id in message_ids:
            owner.replies.pop(message_id, None)
            self._messages.pop(message_id, None)
        stored = owner.tickets.get(place.ticket_id)
        if stored is None:
            return
        ticket = Ticket.model_validate_json(stored.json)
        stored.json = ticket.model_copy(
            update={
                "participants": [p for p in ticket.participants if p != customer_id],
                "message_ids": [m for m in ticket.message_ids if m not in message_ids],
            }
        ).model_dump_json()
        stored.version += 1
        said = orjson.loads(stored.message).get("customer") if stored.message else None
        if said and identities & set(Customer.model_validate(said).identities()):
            stored.message = None

    async def customer_of(self, identity: str) -> str | None:
        return self._identities.get(identity)
