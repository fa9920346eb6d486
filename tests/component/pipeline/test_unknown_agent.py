"""A rule's ``assign`` naming an agent no ``agent.presence`` ever named (a typo) offers the
ticket to nobody: it goes straight to the line (``.queued``, reason ``unknown_agent``) and
no roster entry is made up. Before, the ticket was ``.assigned`` to the phantom, waited out
the accept timeout, and the phantom then showed in GET /v1/agents (so a transfer to it was
accepted too)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from consumers.domain.assignment import named
from router.events import Ticket
from router.topics import Topic
from tests.component.pipeline.test_timers_rounds import Timers
from tests.component.pipeline.test_waiting_line import routed_record

pytestmark = pytest.mark.component


def named_to(agent_id: str, n: int) -> Ticket:
    """A ticket a rule's ``assign`` gave to ``agent_id``, not offered yet."""
    at = datetime.now(UTC) - timedelta(seconds=5)
    ticket = Ticket(
        id=f"T-named-{n}",
        channel="email",
        channels_seen=["email"],
        customer_id=f"C-named-{n}",
        queue="general",
        created_at=at,
        updated_at=at,
    )
    return ticket.model_copy(update=named(agent_id))


def story(timers: Timers, ticket_id: str) -> list[tuple[str, Any]]:
    """What the ticket's records said: (kind, agent offered or reason queued)."""
    out: list[tuple[str, Any]] = []
    for record in timers.outbox.records:
        if record.topic != Topic.TICKETS or record.value is None:
            continue
        event: dict[str, Any] = orjson.loads(record.value)
        kind = event["type"].rsplit(".", 1)[1]
        if event["data"]["ticket"]["id"] == ticket_id and kind in ("assigned", "queued"):
            data = event["data"]
            out.append((kind, data["reason"] if kind == "queued" else data["agent_id"]))
    return out


async def test_a_rule_naming_an_unknown_agent_sends_the_ticket_to_the_line(
    timers: Timers,
) -> None:
    await timers.agents.presence("maria", "online", [], {"email": 5})
    typo, known = named_to("ghost", 1), named_to("maria", 2)
    for ticket in (typo, known):
        await timers.open(ticket)

    await timers.handler().handle([routed_record(typo), routed_record(known)])

    assert story(timers, typo.id) == [("queued", "unknown_agent")]
    assert story(timers, known.id) == [("assigned", "maria")]
    assert await timers.agents.known(["ghost"]) == [False]  # a transfer to it is refused
    assert [r.agent_id for r in await timers.agents.records()] == ["maria"]  # GET /v1/agents
    [waiting] = await timers.store.tickets([typo.id])
    assert waiting is not None
    assert (waiting.assignee, waiting.assigned_at) == (None, None)
