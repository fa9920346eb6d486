"""The timers role's seat audit: a seat still held for a ticket settled a while ago is
freed, whatever left it held (a claim before a commit that then lost, records of one
ticket from two writers passing each other), so an agent's capacity is never blocked
for good. A ticket at work, or settled only just now, keeps its seat."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from structlog.testing import capture_logs

import consumers.timers
from consumers.state.threads import Commit, ViewRequest
from tests.component.pipeline.test_stale_seat_snapshot import AGENT, offered_by_the_line, waiting
from tests.component.pipeline.test_timers_rounds import Timers

pytestmark = pytest.mark.component


async def settle(timers: Timers, ticket_id: str, *, ago: timedelta) -> None:
    """The ticket resolved ``ago``, in the store only: no record of it reaches the role."""
    [current] = await timers.store.tickets([ticket_id])
    assert current is not None
    [view] = await timers.store.views(
        [ViewRequest(current.customer_id, f"resolve-{ticket_id}", ticket_id=ticket_id)]
    )
    at = datetime.now(UTC) - ago
    resolved = current.model_copy(update={"status": "resolved", "resolved_at": at})
    resolved = resolved.model_copy(update={"updated_at": at})
    commit = Commit(current.customer_id, f"resolve-{ticket_id}", resolved, view.ticket_version)
    assert await timers.store.commit_many([commit]) == ["OK"]


async def test_a_seat_held_for_a_ticket_settled_a_while_ago_is_freed(
    timers: Timers, monkeypatch: pytest.MonkeyPatch
) -> None:
    await timers.agents.presence(AGENT, "online", [], {"whatsapp": 30})
    routed = [await timers.open(waiting(f"T-audit-{n}")) for n in (1, 2, 3)]
    await timers.handler().handle(routed)  # the line offers all three: three seats
    await settle(timers, "T-audit-1", ago=timedelta(minutes=5))  # its seat was left held
    await settle(timers, "T-audit-2", ago=timedelta(seconds=1))  # its record is on the way
    # T-audit-3 is still offered: at work
    assert await timers.agents.load(AGENT, "whatsapp") == 3

    monkeypatch.setattr(consumers.timers, "SEAT_AUDIT_EVERY_S", 0.0)
    handler = timers.handler()
    with capture_logs() as logs:
        await handler.tick()

    assert await timers.agents.holders(["T-audit-1", "T-audit-2", "T-audit-3"]) == [
        None,
        AGENT,
        AGENT,
    ]
    freed = [e for e in logs if e["event"] == "seat_freed_by_audit"]
    assert [(e["ticket_id"], e["agent_id"]) for e in freed] == [("T-audit-1", AGENT)]
    await handler.tick()  # again: nothing more to free
    assert await timers.agents.load(AGENT, "whatsapp") == 2


async def test_the_audit_waits_its_interval(timers: Timers) -> None:
    await timers.agents.presence(AGENT, "online", [], {"whatsapp": 30})
    await offered_by_the_line(timers, waiting("T-audit-4"))
    await settle(timers, "T-audit-4", ago=timedelta(minutes=5))
    await timers.handler().tick()  # a process just started: the audit is not due yet
    assert await timers.agents.holders(["T-audit-4"]) == [AGENT]
