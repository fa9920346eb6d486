"""Thread state in Redis: customers, tickets, dedupe markers and the outbox.

Every key of one customer's threads carries the hash tag ``{c:<customer id>}``, so the
atomic commit (``commit.lua``) touches a single slot and works on Redis Cluster. The
commit writes the new ticket, the dedupe marker and the records still to be published
(the outbox) at once: a crash after it re-publishes the same records, never new ones.
A customer's tickets live in one hash (``ticket-data``, see ``router/keys.py``), so the
view (``view.lua``) can read a ticket it only finds while it runs from a declared key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson
import structlog
from pydantic import ValidationError

from router.errors import BackendUnavailable
from router.events import Customer, Ticket
from router.ids import new_customer_id
from router.keys import TICKET_FIELDS, Keys, ticket_field
from router.redis import (
    Command,
    RedisClient,
    ScriptCall,
    delete_many,
    get_many,
    load_script,
    redis_errors,
    run_batch,
    scan_all,
    text,
)
from router.topics import OutRecord, pack_records, unpack_records

HERE = Path(__file__).parent


log = structlog.get_logger("switchboard.threads")


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
    unreadable: str | None = None
    """Why the stored ticket cannot be read (None: it can, or there is none)."""


@dataclass(frozen=True, slots=True)
class MessageOwner:
    """Whose ticket a message id belongs to, whoever wrote the message."""

    customer_id: str
    ticket_id: str


@dataclass(frozen=True, slots=True)
class ViewRequest:
    customer_id: str
    event_id: str
    refs: list[str] = field(default_factory=list)
    ticket_id: str | None = None  # a known ticket (actions); else found by refs / open


@dataclass(slots=True)
class Commit:
    """One event's change to a customer's threads, applied whole or not at all.

    ``expected_version`` guards ``ticket``: the commit conflicts when the ticket moved
    since it was read. A commit without a ticket (a skipped message) has nothing to guard:
    it records the event as done, its outbox and the open pointer, and never conflicts."""

    customer_id: str
    event_id: str
    ticket: Ticket | None
    expected_version: int
    outbox: list[OutRecord] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)
    open_ticket: str | None = None  # None: unchanged; "": no open ticket any more
    message: dict[str, Any] | None = None  # the ticket's last customer message; None: keep
    ticket_json: bytes | None = None  # ``ticket`` encoded already (the outbox carries it)
    participant: str | None = None  # the sender, when not the ticket's customer (a reply)


class ThreadStore(Protocol):
    """Thread state, batched: every method takes the work of a whole round at once."""

    async def resolve_customers(self, identity_lists: list[list[str]]) -> list[str]: ...
    async def views(self, requests: list[ViewRequest]) -> list[ThreadView]: ...
    async def commit_many(self, commits: list[Commit]) -> list[str]: ...
    async def ticket_owners(self, ticket_ids: list[str]) -> list[str | None]: ...
    async def message_tickets(self, message_ids: list[str]) -> list[MessageOwner | None]: ...
    async def merge_profile(self, customer_id: str, fields: dict[str, Any]) -> None: ...
    async def clear_outboxes(self, done: list[tuple[str, str]]) -> None: ...


class RedisThreadStore:
    """``ThreadStore`` on Redis: each method is one or two pipelined round trips."""

    def __init__(self, client: RedisClient, *, ttl_s: int, prefix: str = "sb") -> None:
        self._r = client
        self._ttl = ttl_s
        self._keys = Keys(prefix)
        self._commit = load_script(client, HERE / "commit.lua")
        self._view = load_script(client, HERE / "view.lua")
        self._leave = load_script(client, HERE / "leave.lua")

    async def resolve_customers(self, identity_lists: list[list[str]]) -> list[str]:
        """The customer behind each list of identities; unknown identities are linked.

        Lists that share an identity are resolved one after the other (the later one
        sees what the earlier one linked), the others together: a poll holding two
        messages of one person under different first identities still finds one customer.
        """
        unique = list(dict.fromkeys(tuple(ids) for ids in identity_lists))
        owner_of: dict[tuple[str, ...], str] = {}
        for group in _disjoint(unique):
            owners = await self._resolve_disjoint([list(ids) for ids in group])
            owner_of.update(zip(group, owners, strict=True))
        return [owner_of[tuple(ids)] for ids in identity_lists]

    async def _resolve_disjoint(self, identity_lists: list[list[str]]) -> list[str]:
        """``resolve_customers`` for lists sharing no identity: two round trips, three when
        a list is a new customer.

        A new customer gets a random id (``new_customer_id``): its first identity is
        claimed with SET NX and its owner read back before the other identities are
        linked, so concurrent or repeated calls agree on one customer for all of them.
        """
        keys = [[self._keys.identity(i) for i in ids] for ids in identity_lists]
        with redis_errors():
            # one read for all (one MGET per slot on a cluster: identities are anywhere)
            flat = iter(await get_many(self._r, [key for group in keys for key in group]))
            found: list[list[Any]] = [[next(flat) for _ in group] for group in keys]
            claimed = await self._claim_new(keys, found)
            chosen = []
            commands: list[Command] = []
            for group, values, new in zip(keys, found, claimed, strict=True):
                existing = [text(v) for v in values if v is not None]
                chosen.append(existing[0] if existing else new)
                missing = [k for k, v in zip(group, values, strict=True) if v is None]
                commands += [("SET", key, chosen[-1], "NX") for key in missing]
                if missing:  # what `forget` erases: the customer's identities
                    commands.append(("SADD", self._keys.customer_identities(chosen[-1]), *missing))
                    commands.append(("GET", group[0]))  # who owns the first identity now (races)
            replies = await run_batch(self._r, commands)
        owners: list[str] = []
        at = 0
        for values, customer in zip(found, chosen, strict=True):
            unknown = sum(1 for v in values if v is None)
            if not unknown:
                owners.append(customer)
                continue
            owner = replies[at + unknown + 1]  # after the SET NX and SADD replies
            at += unknown + 2
            owners.append(text(owner) if owner else customer)
        for owner, values in zip(owners, found, strict=True):
            others = list(dict.fromkeys(text(v) for v in values if v is not None))
            if others and others != [owner]:  # one list names two customers: one person
                await self._absorb(owner, [c for c in others if c != owner])
        return owners

    async def _claim_new(self, keys: list[list[str]], found: list[list[Any]]) -> list[str]:
        """For each list none of whose identities is known: the customer that owns its
        first identity after a SET NX of a new random id (another process may have won);
        "" for the other lists. One round trip, none when no list is new."""
        new = [not any(v is not None for v in values) for values in found]
        if not any(new):
            return [""] * len(keys)
        tried = [new_customer_id() if fresh else "" for fresh in new]
        commands: list[Command] = []
        for group, customer in zip(keys, tried, strict=True):
            if customer:
                commands += [("SET", group[0], customer, "NX"), ("GET", group[0])]
        replies = iter(await run_batch(self._r, commands))
        claimed = []
        for customer in tried:
            owner = (next(replies), next(replies))[1] if customer else None
            claimed.append(text(owner) if owner else customer)
        return claimed

    async def _absorb(self, survivor: str, others: list[str]) -> None:
        """Merge customers into ``survivor``: a CRM update or a message that links, say,
        an email and a phone known as two customers says they are one person. Every
        identity of theirs names the survivor from now on, so later messages from any of
        them join the survivor's threads, and their CRM profile fills what the survivor's
        lacks. Their tickets stay theirs (an action names a ticket, not a customer) and
        are listed with the survivor's (``merged``). Idempotent."""
        k = self._keys
        with redis_errors():
            for other in others:
                ids = [text(i) for i in await self._r.smembers(k.customer_identities(other))]
                profiles = await get_many(self._r, [k.profile(other), k.profile(survivor)])
                commands: list[Command] = [("SET", key, survivor) for key in ids]
                if ids:
                    commands.append(("SADD", k.customer_identities(survivor), *ids))
                commands.append(("SADD", k.merged(survivor), other))
                commands.append(("SET", k.merged_into(other), survivor))
                theirs, ours = (orjson.loads(p) if p else {} for p in profiles)
                if theirs:
                    commands.append(("SET", k.profile(survivor), orjson.dumps({**theirs, **ours})))
                await run_batch(self._r, commands)
            log.info("customers_merged", customer_id=survivor, merged=others)

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

    async def views(self, requests: list[ViewRequest]) -> list[ThreadView]:
        """For each request: is the event done, its pending outbox, the customer's
        profile, and the ticket (the one named, else by reply headers, else the open
        ticket). One ``view.lua`` call per request, pipelined."""
        k = self._keys
        calls: list[Command] = [
            ScriptCall(
                self._view,
                [
                    k.done(r.customer_id, r.event_id),
                    k.outbox(r.customer_id, r.event_id),
                    k.open_ticket(r.customer_id),
                    k.message_index(r.customer_id),
                    k.profile(r.customer_id),
                    k.ticket_data(r.customer_id),
                ],
                ["named", r.ticket_id, *r.refs] if r.ticket_id else ["search", "", *r.refs],
            )
            for r in requests
        ]
        with redis_errors():
            replies = await run_batch(self._r, calls)
        views = []
        for r, (done, outbox, version, raw, by_reply, profile, message) in zip(
            requests, replies, strict=True
        ):
            pending = unpack_records(outbox) if outbox else None
            ticket, unreadable = _stored_ticket(raw) if raw else (None, None)
            number = int(text(version)) if raw and version else 0
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
                    unreadable,
                )
            )
        return views

    async def commit_many(self, commits: list[Commit]) -> list[str]:
        """Apply each event atomically (one ``commit.lua`` call each, pipelined): 'OK',
        'DUP' (already applied) or 'CONFLICT' (its ticket changed since it was read)."""
        k = self._keys
        scripts: list[int] = []  # where each commit's answer is among the replies
        commands: list[Command] = []
        for c in commits:
            scripts.append(len(commands))
            keys = [
                k.ticket_data(c.customer_id),
                k.done(c.customer_id, c.event_id),
                k.outbox(c.customer_id, c.event_id),
                k.open_ticket(c.customer_id),
                k.message_index(c.customer_id),
            ]
            commands.append(ScriptCall(self._commit, keys, [self._ttl, *_commit_args(c)]))
            if c.ticket and c.expected_version == 0:
                # A new ticket's owner, in the same round trip whatever the answer
                # (another slot: no script can hold both). Crash-safe, and never
                # wrong: a ticket id derives from the event that opens it, so if
                # that ticket exists it is this customer's.
                commands.append(("SET", k.ticket_owner(c.ticket.id), c.customer_id))
            owner = f"{c.customer_id}{OWNER_SEP}{c.ticket.id}" if c.ticket else ""
            if owner and c.participant:  # idempotent: set members
                commands.append(("SADD", k.participations(c.participant), owner))
                if c.message_ids:  # which message ids are theirs, for `forget`
                    wrote = [f"{owner}{OWNER_SEP}{m}" for m in c.message_ids]
                    commands.append(("SADD", k.written(c.participant), *wrote))
            for message_id in c.message_ids if owner else []:
                # The global reply index, for replies from other senders: first
                # writer wins, so a later message cannot claim someone's thread.
                commands.append(("SET", k.message_owner(message_id), owner, "NX"))
        with redis_errors():
            replies = await run_batch(self._r, commands)
        return [text(replies[i]) for i in scripts]

    async def message_tickets(self, message_ids: list[str]) -> list[MessageOwner | None]:
        """The customer and ticket each message id was indexed under (None: unknown)."""
        if not message_ids:
            return []
        with redis_errors():
            raw = await get_many(self._r, [self._keys.message_owner(m) for m in message_ids])
        return [_owner(text(v)) if v else None for v in raw]

    async def ticket_owners(self, ticket_ids: list[str]) -> list[str | None]:
        """The customer of each ticket (None: no such ticket)."""
        if not ticket_ids:
            return []
        with redis_errors():
            raw = await get_many(self._r, [self._keys.ticket_owner(t) for t in ticket_ids])
        return [text(v) if v else None for v in raw]

    async def merge_profile(self, customer_id: str, fields: dict[str, Any]) -> None:
        """CRM enrichment: the given fields replace the stored ones (one JSON value)."""
        key = self._keys.profile(customer_id)
        with redis_errors():
            current = await self._r.get(key)
            profile = {**(orjson.loads(current) if current else {}), **fields}
            await self._r.set(key, orjson.dumps(profile))

    async def clear_outboxes(self, done: list[tuple[str, str]]) -> None:
        """Forget the outboxes of (customer, event id) pairs whose records were acked."""
        if done:
            with redis_errors():
                await delete_many(self._r, [self._keys.outbox(c, e) for c, e in done])

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
            doomed = [
                i for i, v in zip(identities, owned, strict=True) if v and text(v) == customer_id
            ]
            doomed += [k.ticket_owner(t) for t in tickets]
            doomed += [k.message_owner(m) for m in messages]
            doomed += await scan_all(self._r, k.customer_pattern(customer_id))
            await delete_many(self._r, doomed)
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
            places = {o for m in members if (o := _owner(text(m))) is not None}
            theirs: dict[MessageOwner, list[str]] = {}
            for member in await self._r.smembers(k.written(customer_id)):
                where, _, message_id = text(member).rpartition(OWNER_SEP)
                if (place := _owner(where)) is not None:
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
            ticket, _ = _stored_ticket(_bytes(raw)) if raw else (None, None)
            rewritten = ""
            if ticket is not None:
                gone = set(message_ids)
                rewritten = ticket.model_copy(
                    update={
                        "participants": [p for p in ticket.participants if p != customer_id],
                        "message_ids": [m for m in ticket.message_ids if m not in gone],
                    }
                ).model_dump_json()
            drop = "drop" if message and self._written_by(_bytes(message), identities) else "keep"
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

    # --- read-only queries (the read API, the notifier) ------------------------------
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
        """Every ticket of a customer, oldest first (one hash: one round trip)."""
        with redis_errors():
            raw = await self._r.hgetall(self._keys.ticket_data(customer_id))
        tickets = [
            Ticket.model_validate_json(value)
            for name, value in raw.items()
            if text(name).endswith(":json")
        ]
        return sorted(tickets, key=lambda t: (t.created_at, t.id))

    async def participated_tickets(self, customer_id: str) -> list[Ticket]:
        """The tickets of other customers this one wrote on, oldest first; a ticket erased
        since (its customer forgotten) is left out."""
        k = self._keys
        with redis_errors():
            members = await self._r.smembers(k.participations(customer_id))
            where = [o for m in sorted(members) if (o := _owner(text(m))) is not None]
            async with self._r.pipeline(transaction=False) as pipe:
                for owner in where:
                    pipe.hget(
                        k.ticket_data(owner.customer_id), ticket_field(owner.ticket_id, "json")
                    )
                raw = await pipe.execute() if where else []
        tickets = [Ticket.model_validate_json(value) for value in raw if value]
        return sorted(tickets, key=lambda t: (t.created_at, t.id))

    async def contacts(self, tickets: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """For (customer, ticket) pairs: how to reach the customer, from the ticket's last
        customer message over the CRM profile (``email``, ``phone``, ``handles``,
        ``name``)."""
        k = self._keys
        with redis_errors():
            async with self._r.pipeline(transaction=False) as pipe:
                for customer, ticket_id in tickets:
                    pipe.hget(k.ticket_data(customer), ticket_field(ticket_id, "message"))
                    pipe.get(k.profile(customer))
                raw = await pipe.execute() if tickets else []
        out = []
        for i in range(len(tickets)):
            message, profile = raw[2 * i], raw[2 * i + 1]
            seen = orjson.loads(message) if message else {}
            known = orjson.loads(profile) if profile else {}
            out.append({**known, **(seen.get("customer") or {})})
        return out

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
        """The ids of a customer's tickets, sorted, readable snapshot or not (``forget``
        tombstones them all)."""
        with redis_errors():
            fields = await self._r.hkeys(self._keys.ticket_data(customer_id))
        return sorted(tid for tid, name in (text(f).rsplit(":", 1) for f in fields) if name == "v")

    async def customer_of(self, identity: str) -> str | None:
        with redis_errors():
            raw = await self._r.get(self._keys.identity(identity))
        return text(raw) if raw else None


OWNER_SEP = "\x1f"
MAX_LEAVE_TRIES = 8  # a ticket the router keeps moving while `forget` rewrites it
MAX_MERGE_CHAIN = 16  # customers merged into one another in turn: a bound, not a limit


def _stored_ticket(raw: bytes) -> tuple[Ticket | None, str | None]:
    """A stored ticket, or why it cannot be read: one bad value must park the messages
    that need that ticket, not stop the router for every customer."""
    try:
        return Ticket.model_validate_json(raw), None
    except ValidationError as exc:
        where = ", ".join("/".join(map(str, e["loc"])) for e in exc.errors()[:3])
        return None, f"the stored ticket cannot be read ({where})"


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


def _owner(value: str) -> MessageOwner | None:
    customer, _, ticket = value.partition(OWNER_SEP)
    return MessageOwner(customer, ticket) if ticket else None


def _commit_args(c: Commit) -> list[str | int | bytes]:
    """``commit.lua``'s ARGV after the TTL: an explicit mode word before every optional
    value, so no value has to mean "keep" or "clear" (see the script's header)."""
    if c.ticket is None:
        ticket: list[str | int | bytes] = ["none", "", 0, "", "keep", ""]
    else:
        message = ["replace", orjson.dumps(c.message)] if c.message else ["keep", ""]
        encoded = c.ticket_json or c.ticket.__pydantic_serializer__.to_json(c.ticket)
        ticket = ["write", c.ticket.id, c.expected_version, encoded, *message]
    if c.open_ticket is None:
        open_: list[str | int | bytes] = ["keep", ""]
    else:
        open_ = ["set", c.open_ticket] if c.open_ticket else ["clear", ""]
    outbox = ["set", pack_records(c.outbox)] if c.outbox else ["none", ""]
    indexed = c.message_ids if c.ticket else []
    return [*ticket, *open_, *outbox, *indexed]


def _disjoint(lists: list[tuple[str, ...]]) -> list[list[tuple[str, ...]]]:
    """Consecutive groups in which no two lists share an identity (order kept)."""
    groups: list[list[tuple[str, ...]]] = []
    seen: set[str] = set()
    for ids in lists:
        if not groups or seen.intersection(ids):
            groups.append([])
            seen = set()
        groups[-1].append(ids)
        seen.update(ids)
    return groups
