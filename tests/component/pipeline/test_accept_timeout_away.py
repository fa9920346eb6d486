"""An agent who lets an offer time out is set away until their next ``agent.presence``,
as Twilio TaskRouter's TimeoutActivity or Omni-Channel's push time-out do: they are offered
nothing more, their other unaccepted offers go back in line (``agent_away``), and the
tickets they accepted stay theirs. Before, only the timed-out ticket skipped them: every
other chat was offered to them first and waited out the whole accept timeout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from consumers.domain.assignment import AssignRequest
from router.events import Ticket
from router.topics import Topic
from tests.component.pipeline.test_timers_rounds import Timers
from tests.component.pipeline.test_waiting_line import routed_record

pytestmark = pytest.mark.component


def offer(n: int, *, minutes_ago: float, accepted: bool = False) -> Ticket:
    """A chat offered to ``absent`` ``minutes_ago`` (the basic rules give 2 minutes)."""
    now = datetime.now(UTC)
    at = now - timedelta(minutes=minutes_ago)
    return Ticket(
        id=f"T-away-{n}",
        status="open",
        channel="chat",
        channels_seen=["chat"],
        customer_id=f"C-away-{n}",
        queue="general",
        assignee="absent",
        assigned_at=at,
        accepted=accepted,
        created_at=at,
        updated_at=at,
    )


def queued_reasons(timers: Timers) -> dict[str, str]:
    """Ticket -> the reason of its last ``.queued`` record."""
    out: dict[str, str] = {}
    for record in timers.outbox.records:
        if record.topic != Topic.TICKETS or record.value is None:
            continue
        event: dict[str, Any] = orjson.loads(record.value)
        if event["type"].endswith(".queued"):
            out[event["data"]["ticket"]["id"]] = event["data"]["reason"]
    return out


async def test_an_accept_timeout_sets_the_agent_away_until_their_next_presence(
    timers: Timers,
) -> None:
    agents = timers.agents
    await agents.presence("absent", "online", [], {"chat": 10})
    await agents.presence("present", "online", [], {"chat": 10})
    lapsed, pending, accepted = (
        offer(1, minutes_ago=30),
        offer(2, minutes_ago=0),
        offer(3, minutes_ago=20, accepted=True),
    )
    for ticket in (lapsed, pending, accepted):
        await timers.open(ticket)
        seat = AssignRequest(ticket.id, "chat", "general", frozenset(), "least_loaded", 3)
        await agents.claim([(seat, "absent")], force=True)

    await timers.handler().handle([routed_record(lapsed)])  # its accept timeout fires

    assert await agents.statuses(["absent", "present"]) == {"absent": "away", "present": "online"}
    [shown] = await agents.records(["absent"])  # what GET /v1/agents reports
    assert shown.status == "away"
    reasons = queued_reasons(timers)
    assert reasons == {lapsed.id: "accept_timeout", pending.id: "agent_away"}
    assert await agents.holders([accepted.id]) == ["absent"]  # accepted work stays

    await agents.presence("absent", "online", None, None)  # back: offered tickets again
    assert await agents.statuses(["absent"]) == {"absent": "online"}


async def test_an_agent_offline_when_their_offer_times_out_stays_offline(
    timers: Timers,
) -> None:
    agents = timers.agents
    await agents.presence("absent", "online", [], {"chat": 10})
    lapsed = offer(4, minutes_ago=30)
    await timers.open(lapsed)
    seat = AssignRequest(lapsed.id, "chat", "general", frozenset(), "least_loaded", 3)
    await agents.claim([(seat, "absent")], force=True)
    await agents.presence("absent", "offline", None, None)  # left before the timer fired

    await timers.handler().handle([routed_record(lapsed)])

    assert queued_reasons(timers) == {lapsed.id: "accept_timeout"}
    assert await agents.statuses(["absent"]) == {"absent": "offline"}
