"""What every endpoint needs, built once per app and injected with ``Annotated``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from channels.publish import Publisher
from router.events import Ticket
from router.health import ReadyCheck
from router.observability import Telemetry
from router.settings import Settings

TicketOwners = Callable[[list[str]], Awaitable[list[str | None]]]
"""The customer of each ticket id, None where there is no such ticket; raises
``BackendUnavailable`` when the store does not answer (``RedisThreadStore.ticket_owners``)."""

TicketReads = Callable[[list[str]], Awaitable[list[Ticket | None]]]
"""The snapshot of each ticket id, None where there is none (``RedisThreadStore.tickets``,
as the read API reads it)."""

KnownQueues = Callable[[], Collection[str] | None]
KnownAgents = Callable[[list[str]], Awaitable[list[bool]]]
"""The queues of the rules this process can read; None when it reads none."""


@dataclass
class IngressContext:
    settings: Settings
    publisher: Publisher
    telemetry: Telemetry
    ticket_owners: TicketOwners
    known_queues: KnownQueues = lambda: None
    rules_version: Callable[[], str | None] = lambda: None  # of the rules known_queues reads
    known_agents: KnownAgents | None = None  # None: the router judges
    ticket_reads: TicketReads | None = None  # None: the router judges offers
    ready_checks: dict[str, ReadyCheck] = field(default_factory=dict)
    state_lost: Callable[[], Awaitable[bool]] | None = None  # ``StateMarker.lost``


async def _context(request: Request) -> IngressContext:
    """A coroutine on purpose: FastAPI runs a plain function dependency in its thread
    pool, a thread hop per request that cost more than the rest of a web form."""
    ctx: IngressContext = request.app.state.ingress
    return ctx


Ingress = Annotated[IngressContext, Depends(_context)]
