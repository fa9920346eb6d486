"""The one way a consumer makes a change durable and visible: commit it to the thread store
(ticket, dedupe marker and outbox in one atomic step), publish the outbox, and only after
the broker acknowledged it, clear the outbox. A crash anywhere in between is repaired by
the redelivery: the dedupe marker is found and the stored outbox is published again,
under the same event ids.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from consumers.domain.outputs import TIMERS_SOURCE, Change, LifecycleOutputs
from consumers.state.threads import Commit, ThreadStore
from router.limits import Limits
from router.topics import OutRecord, Topic

Send = Callable[[list[OutRecord]], Awaitable[None]]


def commit_for(
    customer_id: str,
    event_id: str,
    change: Change,
    version: int,
    at: datetime,
    *,
    limits: Limits | None = None,
    message: dict[str, Any] | None = None,
) -> Commit:
    """The commit of one change the timers role made (a timer fired, an offer withdrawn):
    the new ticket and its lifecycle records as the outbox."""
    out = LifecycleOutputs(event_id, change.ticket, at, limits, source=TIMERS_SOURCE)
    for etype, data in change.events:
        out.add(etype, **data)
    out.snapshot()
    return Commit(
        customer_id,
        event_id,
        change.ticket,
        version,
        out.records,
        message=message,
        ticket_json=out.ticket_json,
    )


class Delivery:
    """The records of one batch of work, published together, then their outboxes cleared.

    ``publish`` takes an outbox to send (of work done now, or found pending by a
    redelivery); ``commit`` applies commits and takes the outboxes of those that went
    through; ``flush`` publishes everything, then clears those outboxes.
    """

    def __init__(self, store: ThreadStore, send: Send) -> None:
        self._store = store
        self._send = send
        self.records: list[OutRecord] = []
        self._acked: list[tuple[str, str]] = []
        self._tickets: list[tuple[str, str]] = []  # (customer, ticket) of the snapshots

    def add(self, records: list[OutRecord]) -> None:
        """Records with no outbox behind them (dead letters)."""
        self.records.extend(records)

    def publish(self, customer_id: str, event_id: str, records: list[OutRecord]) -> None:
        """The outbox of ``event_id``: committed now, or found pending by a redelivery.
        Cleared once the broker acknowledged it."""
        self.records.extend(records)
        self._acked.append((customer_id, event_id))
        self._tickets += [
            (customer_id, r.key)
            for r in records
            if r.topic is Topic.TICKET_STATE and isinstance(r.key, str)
        ]

    async def commit(self, commits: list[Commit], *, waits: bool = False) -> list[str]:
        """Apply ``commits``; each answer is 'OK', 'DUP' or 'CONFLICT' (see the store),
        or 'PENDING' when the caller ``waits``. The outboxes of the 'OK' ones are
        published by ``flush``."""
        results = await self._store.commit_many(commits, waits=waits) if commits else []
        for commit, result in zip(commits, results, strict=True):
            if result == "OK":
                self.publish(commit.customer_id, commit.event_id, commit.outbox)
        return results

    async def flush(self) -> None:
        """Publish, then clear the outboxes and the marks that held the tickets' other
        writers back until their records were out (``commit.lua``'s 'PENDING')."""
        records, acked, tickets = self.records, self._acked, self._tickets
        self.records, self._acked, self._tickets = [], [], []
        await self._send(records)
        await self._store.clear_outboxes(acked, tickets)
