"""Thread state in Redis: customers, tickets, dedupe markers and the outbox.

Every key of one customer's threads carries the hash tag ``{c:<customer id>}``, so the
atomic commit (``commit.lua``) touches a single slot and works on Redis Cluster. The
commit writes the new ticket, the dedupe marker and the records still to be published
(the outbox) at once: a crash after it re-publishes the same records, never new ones.
A customer's tickets live in one hash (``ticket-data``, see ``router/keys.py``), so the
view (``view.lua``) can read a ticket it only finds while it runs from a declared key.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson
import structlog

from consumers.domain.threading import OPEN_STATUSES
from consumers.state.erasure import ThreadErasure
from consumers.state.thread_reads import (
    OWNER_SEP,
    MessageOwner,
    ThreadReads,
    as_bytes,
    stored_ticket,
)
from router.errors import BackendUnavailable
from router.events import Ticket
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
    text,
)
from router.topics import OutRecord, pack_records, unpack_records

HERE = Path(__file__).parent
CONFLICT = "CONFLICT"
MOVED = "MOVED"  # commit.lua: another process opened a ticket for the customer first
PENDING = "PENDING"  # commit.lua: another writer has not published its change of the ticket
PUBLISH_LEASE_MS = 10_000
"""How long a writer may take from committing a change of a ticket to having its records
acknowledged, while the ticket's other writers wait (``commit.lua``'s ``PENDING``); a
writer that died holds them up no longer than this."""
MAX_CARRY_TRIES = 8  # a merge reads again while the router moves the tickets it carries


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
    open_ticket: str = ""
    """The customer's open ticket as read ("" for none), whatever ticket was found."""


@dataclass(frozen=True, slots=True)
class ViewRequest:
    customer_id: str
    event_id: str
    refs: list[str] = field(default_factory=list)
    ticket_id: str | None = None  # a known ticket (actions); else found by refs / open
    # False: only whether the event is done and its outbox are wanted (the ticket is not
    # parsed: a second view of a ticket already read for another event id)
    wants_ticket: bool = True


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
    open_seen: str | None = None
    """The open ticket the router read before deciding ("" for none), checked when the
    commit is applied: a new ticket conflicts when another process has opened one for the
    customer meanwhile. None: not checked."""


class ThreadStore(Protocol):
    """Thread state, batched: every method takes the work of a whole round at once."""

    async def resolve_customers(self, identity_lists: list[list[str]]) -> list[str]: ...
    async def known_customers(self, identity_lists: list[list[str]]) -> list[str | None]: ...
    async def views(self, requests: list[ViewRequest]) -> list[ThreadView]: ...
    async def commit_many(self, commits: list[Commit], *, waits: bool = False) -> list[str]: ...
    async def ticket_owners(self, ticket_ids: list[str]) -> list[str | None]: ...
    async def message_tickets(self, message_ids: list[str]) -> list[MessageOwner | None]: ...
    async def own_replies(self, asked: list[tuple[str, list[str]]]) -> list[bool]: ...
    async def survivor_of(self, customer_id: str) -> str: ...
    async def merge_profile(self, customer_id: str, fields: dict[str, Any]) -> None: ...
    async def clear_outboxes(
        self, done: list[tuple[str, str]], published: Sequence[tuple[str, str]] = ()
    ) -> None: ...


class RedisThreadStore(ThreadReads, ThreadErasure):
    """``ThreadStore`` on Redis: each method is one or two pipelined round trips. The
    routing path is here; reading (``ThreadReads``) and erasing and restoring
    (``ThreadErasure``) are in modules of their own."""

    def __init__(
        self, client: RedisClient, *, ttl_s: int, prefix: str = "sb", defers: bool = True
    ) -> None:
        """``defers``: this writer's commits of a ticket another writer has changed and not
        published yet are held back ('PENDING'); the router's store does not defer (it
        publishes at the end of its poll, after any such records; waiting inside a poll
        that holds marks of its own could hold two routers up on each other)."""
        self._r = client
        self._ttl = ttl_s
        self._keys = Keys(prefix)
        self.writer = uuid.uuid4().hex[:16]  # one per role and process (commit.lua)
        self._marks = "wait" if defers else "over"
        self._commit = load_script(client, HERE / "commit.lua")
        self._view = load_script(client, HERE / "view.lua")
        self._leave = load_script(client, HERE / "leave.lua")
        self._carry = load_script(client, HERE / "carry.lua")
        self._archive = load_script(client, HERE / "archive.lua")
        # lead.lua's 'resign' deletes a key only while it holds the value given
        self._let_go = load_script(client, HERE / "lead.lua")

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
        """``resolve_customers`` for lists sharing no identity: one round trip for lists
        all known, three with a new identity, four with a new customer.

        A new customer gets a random id (``new_customer_id``): its first identity is
        claimed with SET NX and its owner read back before the other identities are
        linked, so concurrent or repeated calls agree on one customer for all of them.
        An identity is entered in its customer's set (what ``forget`` erases) before it
        is linked, in an earlier round trip: linked first, a crash (or on a cluster one
        node's failure) between the two left it out of the set for good, since the
        retry finds it known, and erasing the customer left their address behind.
        """
        keys = [[self._keys.identity(i) for i in ids] for ids in identity_lists]
        with redis_errors():
            # one read for all (one MGET per slot on a cluster: identities are anywhere)
            flat = iter(await get_many(self._r, [key for group in keys for key in group]))
            found: list[list[Any]] = [[next(flat) for _ in group] for group in keys]
            claimed = await self._claim_new(keys, found)
            chosen = []
            entered: list[Command] = []
            commands: list[Command] = []
            for group, values, new in zip(keys, found, claimed, strict=True):
                existing = [text(v) for v in values if v is not None]
                chosen.append(existing[0] if existing else new)
                missing = [k for k, v in zip(group, values, strict=True) if v is None]
                if missing:
                    entered.append(("SADD", self._keys.customer_identities(chosen[-1]), *missing))
                    commands += [("SET", key, chosen[-1], "NX") for key in missing]
                    commands.append(("GET", group[0]))  # who owns the first identity now (races)
            if entered:
                await run_batch(self._r, entered)
            replies = await run_batch(self._r, commands)
        owners: list[str] = []
        at = 0
        for values, customer in zip(found, chosen, strict=True):
            unknown = sum(1 for v in values if v is None)
            if not unknown:
                owners.append(customer)
                continue
            owner = replies[at + unknown]  # after the SET NX replies
            at += unknown + 1
            owners.append(text(owner) if owner else customer)
        for owner, values in zip(owners, found, strict=True):
            others = list(dict.fromkeys(text(v) for v in values if v is not None))
            if others and others != [owner]:  # one list names two customers: one person
                await self._absorb(owner, [c for c in others if c != owner])
        return owners

    async def _claim_new(self, keys: list[list[str]], found: list[list[Any]]) -> list[str]:
        """For each list none of whose identities is known: the customer that owns its
        first identity after a SET NX of a new random id (another process may have won);
        "" for the other lists. Two round trips, none when no list is new: the identity
        is entered in the new customer's set first (``_resolve_disjoint``), and taken out
        again when another process won it."""
        new = [not any(v is not None for v in values) for values in found]
        if not any(new):
            return [""] * len(keys)
        tried = [new_customer_id() if fresh else "" for fresh in new]
        ids = self._keys.customer_identities
        entered: list[Command] = [
            ("SADD", ids(customer), group[0])
            for group, customer in zip(keys, tried, strict=True)
            if customer
        ]
        await run_batch(self._r, entered)
        commands: list[Command] = []
        for group, customer in zip(keys, tried, strict=True):
            if customer:
                commands += [("SET", group[0], customer, "NX"), ("GET", group[0])]
        replies = iter(await run_batch(self._r, commands))
        claimed = []
        for customer in tried:
            owner = (next(replies), next(replies))[1] if customer else None
            claimed.append(text(owner) if owner else customer)
        lost = [ids(t) for t, c in zip(tried, claimed, strict=True) if t and c != t]
        if lost:  # a set of a customer that never was: nothing else names it
            await delete_many(self._r, lost)
        return claimed

    async def _absorb(self, survivor: str, others: list[str]) -> None:
        """Merge customers into ``survivor``: a CRM update or a message that links, say,
        an email and a phone known as two customers says they are one person. Every
        identity of theirs names the survivor from now on, so later messages from any of
        them join the survivor's threads, and their CRM profile fills what the survivor's
        lacks. Their tickets stay theirs (an action names a ticket) and are listed with
        the survivor's (``merged``), except their current ticket when it is the one a
        later message should join (``carries_over``): it becomes the survivor's
        (``_carry_current_ticket``). Idempotent.

        The carry runs first, and the identities are pointed at the survivor last, in a
        round trip of their own: a crash before they name the survivor leaves the merge
        to be done again by the redelivered record, carry included. In one round trip
        with the rest, a cluster (each node applying its part) could point them and lose
        the rest, and the retry, finding them naming the survivor, merged nothing: the
        absorbed customer's tickets were listed under neither, and ``forget`` missed
        them."""
        k = self._keys
        with redis_errors():
            for other in others:
                await self._carry_current_ticket(survivor, other)
                ids = [text(i) for i in await self._r.smembers(k.customer_identities(other))]
                profiles = await get_many(self._r, [k.profile(other), k.profile(survivor)])
                commands: list[Command] = []
                if ids:
                    commands.append(("SADD", k.customer_identities(survivor), *ids))
                commands.append(("SADD", k.merged(survivor), other))
                commands.append(("SET", k.merged_into(other), survivor))
                theirs, ours = (orjson.loads(p) if p else {} for p in profiles)
                if theirs:
                    commands.append(("SET", k.profile(survivor), orjson.dumps({**theirs, **ours})))
                await run_batch(self._r, commands)
                if ids:  # last, on their own: see the docstring
                    await run_batch(self._r, [("SET", key, survivor) for key in ids])
            log.info("customers_merged", customer_id=survivor, merged=others)

    async def _carry_current_ticket(self, survivor: str, other: str) -> None:
        """Make ``other``'s current ticket the survivor's when ``carries_over`` says so.

        The view and the commit of a message read and write the customer's own hash
        (one slot), so the ticket moves there whole: its version, snapshot and last
        message, its reply index entries, the current-ticket pointer, its owner, the
        global reply index and the participations of those who wrote on it. Its snapshot
        is left as it is (``customer_id`` still names the absorbed customer, as on the
        topics). ``carry.lua`` writes the survivor's side, then takes it out of the
        absorbed customer's, both guarded, so a router write in between is read again.
        """
        k = self._keys
        for _ in range(MAX_CARRY_TRIES):
            pointers = [("GET", k.open_ticket(survivor)), ("GET", k.open_ticket(other))]
            ours_id, theirs_id = (text(v) if v else "" for v in await run_batch(self._r, pointers))
            if not theirs_id:
                return
            names = [ticket_field(theirs_id, f) for f in TICKET_FIELDS]
            reads: list[Command] = [
                ("HMGET", k.ticket_data(other), *names),
                ("HGETALL", k.message_index(other)),
                ("HGET", k.ticket_data(survivor), ticket_field(ours_id, "json")),
            ]
            (version, raw, message), index, ours_raw = await run_batch(self._r, reads)
            if not version or not raw:  # not theirs (any more): nothing to carry
                return
            theirs, _ = stored_ticket(as_bytes(raw))
            ours, unreadable = stored_ticket(as_bytes(ours_raw)) if ours_raw else (None, None)
            finishing = ours_id == theirs_id  # a merge that stopped half way: finish it
            if theirs is None or unreadable or not (finishing or carries_over(ours, theirs)):
                return
            pairs = (
                index.items()
                if isinstance(index, dict)
                else zip(index[::2], index[1::2], strict=True)
            )
            indexed = [text(m) for m, t in pairs if text(t) == theirs_id]
            taken = ScriptCall(
                self._carry,
                [k.ticket_data(survivor), k.open_ticket(survivor), k.message_index(survivor)],
                ["in", theirs_id, int(text(version)), raw, message or "", ours_id, *indexed],
            )
            [moved_in] = await run_batch(self._r, [taken])
            if not moved_in:
                continue
            await self._repoint_ticket(theirs, other, survivor, indexed)
            given = ScriptCall(
                self._carry,
                [k.ticket_data(other), k.open_ticket(other), k.message_index(other)],
                ["out", theirs_id, int(text(version)), *indexed],
            )
            [moved_out] = await run_batch(self._r, [given])
            if moved_out:
                log.info("ticket_carried", ticket_id=theirs_id, customer_id=survivor, merged=other)
                return
        raise BackendUnavailable("redis", f"customer {other}'s ticket kept changing; merge again")

    async def _repoint_ticket(
        self, ticket: Ticket, other: str, survivor: str, message_ids: list[str]
    ) -> None:
        """The keys outside the two customers' slots that name a carried ticket's holder:
        its owner, the global reply index entries that are ``other``'s, and the
        participations (and what they wrote) of those who wrote on it. A survivor who
        wrote on it before the merge is no participant of their own ticket."""
        k = self._keys
        was, now = f"{other}{OWNER_SEP}{ticket.id}", f"{survivor}{OWNER_SEP}{ticket.id}"
        owners = await get_many(self._r, [k.message_owner(m) for m in message_ids])
        writers = list(dict.fromkeys(p for p in ticket.participants if p != other))
        reads: list[Command] = [("SMEMBERS", k.written(p)) for p in writers]
        written = await run_batch(self._r, reads)
        commands: list[Command] = [("SET", k.ticket_owner(ticket.id), survivor)]
        commands += [
            ("SET", k.message_owner(m), now)
            for m, owner in zip(message_ids, owners, strict=True)
            if owner and text(owner) == was
        ]
        for writer, members in zip(writers, written, strict=True):
            old = [text(m) for m in members if text(m).startswith(was + OWNER_SEP)]
            commands.append(("SREM", k.participations(writer), was))
            if old:
                commands.append(("SREM", k.written(writer), *old))
            if writer == survivor:
                continue
            commands.append(("SADD", k.participations(writer), now))
            if old:
                commands.append(("SADD", k.written(writer), *(now + m[len(was) :] for m in old)))
        await run_batch(self._r, commands)

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
        for r, (done, outbox, version, raw, by_reply, profile, message, open_) in zip(
            requests, replies, strict=True
        ):
            pending = unpack_records(outbox) if outbox else None
            ticket, unreadable = stored_ticket(raw) if raw and r.wants_ticket else (None, None)
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
                    text(open_) if open_ else "",
                )
            )
        return views

    async def commit_many(self, commits: list[Commit], *, waits: bool = False) -> list[str]:
        """Apply each event atomically (one ``commit.lua`` call each, pipelined): 'OK',
        'DUP' (already applied) or 'CONFLICT' (its ticket changed since it was read, or
        another process opened a ticket for the customer since: ``open_seen``). A ticket
        another writer changed and has not published yet is 'PENDING' when the caller
        ``waits`` (it tries again shortly), else 'CONFLICT'. Each ticket written with an
        outbox is marked as this writer's until ``clear_outboxes`` (or the lease)."""
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
                k.publishing(c.customer_id, c.ticket.id if c.ticket else ""),
            ]
            args = [self._ttl, *_commit_args(c, self.writer, self._marks)]
            commands.append(ScriptCall(self._commit, keys, args))
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
        answers = [text(replies[i]) for i in scripts]
        await self._take_back([c for c, a in zip(commits, answers, strict=True) if a == MOVED])
        return [CONFLICT if a == MOVED or (a == PENDING and not waits) else a for a in answers]

    async def _take_back(self, commits: list[Commit]) -> None:
        """The global entries written beside new tickets that were not created (another
        process opened one for the customer first): the ticket's owner and the message
        index entries that name it, so the message's retry can index it under the ticket
        it joins. Only entries that still name the ticket go (an idempotent step: a crash
        before it leaves entries that name no ticket, which readers take as unknown)."""
        k = self._keys
        calls: list[Command] = []
        for c in commits:
            if c.ticket is None:
                continue
            owner = f"{c.customer_id}{OWNER_SEP}{c.ticket.id}"
            entries = [(k.ticket_owner(c.ticket.id), c.customer_id)]
            entries += [(k.message_owner(m), owner) for m in c.message_ids]
            calls += [ScriptCall(self._let_go, [key], [value, "resign"]) for key, value in entries]
        if calls:
            with redis_errors():
                await run_batch(self._r, calls)

    async def merge_profile(self, customer_id: str, fields: dict[str, Any]) -> None:
        """CRM enrichment: the given fields replace the stored ones (one JSON value)."""
        key = self._keys.profile(customer_id)
        with redis_errors():
            current = await self._r.get(key)
            profile = {**(orjson.loads(current) if current else {}), **fields}
            await self._r.set(key, orjson.dumps(profile))

    async def clear_outboxes(
        self, done: list[tuple[str, str]], published: Sequence[tuple[str, str]] = ()
    ) -> None:
        """Forget the outboxes of (customer, event id) pairs whose records were acked, and
        this writer's marks on the (customer, ticket id) pairs it published: only while
        they are still its own (a writer that does not wait, the router, may have marked
        the ticket since; its mark stays until its own records are out). One round trip:
        a DEL per customer (one slot) and a compare-and-delete per mark."""
        outboxes: dict[str, list[str]] = {}
        for c, e in done:
            outboxes.setdefault(c, []).append(self._keys.outbox(c, e))
        commands: list[Command] = [("DEL", *keys) for keys in outboxes.values()]
        commands += [
            ScriptCall(self._let_go, [self._keys.publishing(c, t)], [self.writer, "resign"])
            for c, t in dict.fromkeys(published)
        ]
        if commands:
            with redis_errors():
                await run_batch(self._r, commands)


def _commit_args(c: Commit, writer: str, marks: str) -> list[str | int | bytes]:
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
    seen = ["any", ""] if c.open_seen is None else ["is", c.open_seen]
    indexed = c.message_ids if c.ticket else []
    return [*ticket, *open_, *outbox, *seen, writer, PUBLISH_LEASE_MS, marks, *indexed]


def carries_over(ours: Ticket | None, theirs: Ticket) -> bool:
    """Whether a merge makes the absorbed customer's current ticket the survivor's: when
    a later message would join or reopen it, and the survivor's would not take it first.

    An open ticket (new, open, pending) takes a message before a resolved one, which may
    still be reopened (the window is the router's to judge: of two resolved tickets the
    later resolved is the one a message can reopen longest); a closed ticket takes none.
    When both are open, the survivor's stays its current ticket and the other's stays
    the absorbed customer's, listed with the survivor's as any of their tickets."""
    rank = _takes_messages(theirs)
    return rank[0] > 0 and (ours is None or rank > _takes_messages(ours))


_NEVER = datetime.min.replace(tzinfo=UTC)


def _takes_messages(ticket: Ticket) -> tuple[int, datetime]:
    if ticket.status in OPEN_STATUSES:
        return 2, _NEVER
    if ticket.status == "resolved" and ticket.resolved_at is not None:
        return 1, ticket.resolved_at
    return 0, _NEVER


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
