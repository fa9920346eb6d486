"""Settled tickets leave Redis (``SWITCHBOARD_CLOSED_RETENTION_S`` after their last
change), so Redis holds the tickets at work and the recently settled, not every ticket
ever: the timers role schedules an archive timer beside the SLA timers of each closed
ticket (``ticket|ticket|archive``) and fires it here. A ticket resolved and never closed
(many helpdesks only ever resolve) goes the same way, once its reopen window is over
too: a message after that opens a new ticket whether it is there or not. The last
snapshot of an archived ticket stays on the compacted ``ticket-state`` topic.

A change after the close (feedback on a closed ticket) publishes a later snapshot, which
moves the timer on; one made while the timer fires makes the archive's compare-and-set
fail, and the timer is claimed again. Archiving publishes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

import structlog

from consumers.state.threads import RedisThreadStore, ViewRequest
from router.events import Ticket

log = structlog.get_logger("switchboard.timers")
ARCHIVE = "|ticket|archive"
"""The suffix of an archive timer's member: ``<ticket>|ticket|archive``."""
NO_EVENT = ""  # a view read only for its ticket: no event has this id


def archive_member(ticket_id: str) -> str:
    return f"{ticket_id}{ARCHIVE}"


def archive_timers(
    tickets: Iterable[Ticket], retention_s: int, reopen_window_s: int = 0
) -> dict[str, float]:
    """The archive timer of each settled ticket (``archive_time``). None when the
    retention is 0 (tickets are kept for good)."""
    if retention_s <= 0:
        return {}
    return {
        archive_member(t.id): when
        for t in tickets
        if (when := archive_time(t, retention_s, reopen_window_s)) is not None
    }


def archive_time(ticket: Ticket, retention_s: int, reopen_window_s: int) -> float | None:
    """When a ticket may leave Redis: a closed one its last change plus the retention; a
    resolved one not before its reopen window is over either; None for any other."""
    return settled_for(ticket.status, ticket.updated_at.timestamp(), retention_s, reopen_window_s)


def settled_for(
    status: object, changed: float, retention_s: int, reopen_window_s: int
) -> float | None:
    """``archive_time`` of a snapshot's ``status`` and last change (epoch seconds)."""
    if status == "closed":
        return changed + retention_s
    if status == "resolved":
        return changed + max(retention_s, reopen_window_s)
    return None


def is_archive(member: str) -> bool:
    return member.endswith(ARCHIVE)


class Archiver:
    """Fires archive timers: each ticket, as stored now, goes when it is still settled
    and unchanged for the retention (a resolved one, for its reopen window too); one
    changed since waits for its new time."""

    def __init__(self, store: RedisThreadStore, retention_s: int, reopen_window_s: int = 0) -> None:
        self._store = store
        self._retention_s = retention_s
        self._reopen_window_s = reopen_window_s

    def timers(self, tickets: Iterable[Ticket]) -> dict[str, float]:
        """The archive timers of these snapshots (``archive_timers``)."""
        return archive_timers(tickets, self._retention_s, self._reopen_window_s)

    async def fire(
        self, due: list[tuple[str, float]], now: float
    ) -> tuple[list[str], dict[str, float]]:
        """The claimed archive timers: the members settled (archived, or nothing left to
        archive) and those due later. The others (the ticket changed while it was being
        archived) are let go, to be claimed again."""
        ids = [member.removesuffix(ARCHIVE) for member, _ in due]
        owners = await self._store.ticket_owners(ids)
        gone = [m for (m, _), owner in zip(due, owners, strict=True) if not owner]
        found = [(m, t, o) for (m, _), t, o in zip(due, ids, owners, strict=True) if o]
        views = await self._store.views(
            [ViewRequest(o, NO_EVENT, ticket_id=t) for _, t, o in found]
        )
        later: dict[str, float] = {}
        todo = []
        orphans: list[tuple[str, str]] = []
        for (member, ticket_id, owner), view in zip(found, views, strict=True):
            ticket = view.ticket
            if ticket is None:  # archived before a crash let it finish: only its owner is left
                if not view.unreadable:
                    orphans.append((owner, ticket_id))
                gone.append(member)
            elif self._retention_s <= 0 or (
                (when := archive_time(ticket, self._retention_s, self._reopen_window_s)) is None
            ):
                gone.append(member)
            elif when > now:
                later[member] = when
            else:
                todo.append((member, owner, ticket, view.ticket_version))
        went = await self._store.archive([(o, t, v) for _, o, t, v in todo]) if todo else []
        for (member, _, ticket, _), done in zip(todo, went, strict=True):
            if done:
                gone.append(member)
                changed = ticket.updated_at.isoformat()
                log.info("ticket_archived", ticket_id=ticket.id, last_change=changed)
        if orphans:
            await self._store.archived(orphans, [])
        return gone, later
