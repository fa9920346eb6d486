"""Per-agent FCR and satisfaction credit the agent who resolved a ticket nobody holds:
the first-contact takeback and the feedback land where the credit went, in the metrics
role's contributions and in ``metrics verify``'s independent recount alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from consumers.domain.lifecycle import apply_action
from consumers.domain.outputs import LifecycleOutputs
from consumers.domain.windows import fcr, satisfaction
from router.actions import (
    Action,
    FeedbackCes,
    FeedbackCsat,
    FeedbackNps,
    TicketReopened,
    TicketResolved,
    TicketTransferred,
)
from router.events import Ticket
from rules import load_ruleset
from tests.unit.core.metric_counts import Counts
from tests.unit.core.metric_counts import contributed as counted
from tests.unit.core.metric_counts import recounted as recount

pytestmark = pytest.mark.unit

RULES = load_ruleset(Path(__file__).resolve().parents[2] / "fixtures" / "rules" / "basic.yaml")
AT = datetime(2026, 11, 23, 10, 0, 5, tzinfo=UTC)
DIMS = "channel=chat,queue=general"


def unassigned_chat() -> Ticket:
    """One chat message, routed to general, nobody assigned, no reply yet."""
    return Ticket.model_validate(
        {
            "id": "T-1",
            "channel": "chat",
            "channels_seen": ["chat"],
            "customer_id": "C-1",
            "status": "open",
            "queue": "general",
            "contacts": 1,
            "created_at": AT - timedelta(minutes=5),
            "updated_at": AT - timedelta(minutes=5),
        }
    )


def play(*steps: tuple[Action, datetime]) -> list[bytes]:
    """The ``tickets`` records the router writes for ``steps``, applied in turn."""
    ticket, records = unassigned_chat(), []
    for n, (action, at) in enumerate(steps):
        change = apply_action(ticket, action, at, RULES)
        assert change is not None
        ticket = change.ticket
        out = LifecycleOutputs(f"cause-{n}", ticket, at)
        for etype, data in change.events:
            out.add(etype, **data)
        records += [r.value for r in out.records]
    return records


def contributed(records: list[bytes]) -> Counts:
    """What the metrics role counts for fcr and satisfaction, per window key."""
    return counted(records, (fcr, satisfaction))


def recounted(records: list[bytes]) -> Counts:
    """What ``metrics verify`` recounts for fcr and satisfaction, per window key."""
    return recount(records, ("fcr", "satisfaction"))


def resolve_then_reopen() -> list[bytes]:
    return play(
        (TicketResolved(ticket_id="T-1", agent_id="a2"), AT),
        (TicketReopened(ticket_id="T-1"), AT + timedelta(seconds=43)),
    )


def test_the_resolver_is_recorded_on_the_snapshot_and_kept_through_the_reopen() -> None:
    resolved, reopened = (orjson.loads(r)["data"]["ticket"] for r in resolve_then_reopen())
    assert resolved["assignee"] is None
    assert resolved["resolved_by"] == "a2"
    assert reopened["status"] == "open"
    assert reopened["resolved_by"] == "a2"


@pytest.mark.parametrize("count", [contributed, recounted], ids=["metrics-role", "verify"])
def test_the_first_contact_takeback_lands_on_the_agent_it_was_credited_to(count: object) -> None:
    assert callable(count)
    windows = count(resolve_then_reopen())
    assert windows == {
        f"fcr/2026-11-23T10:00:00Z/agent=a2,{DIMS}": {
            "resolved": 1,
            "resolved_first_contact": 1,
            "reopened_after_first_contact": 1,
        }
    }


@pytest.mark.parametrize("count", [contributed, recounted], ids=["metrics-role", "verify"])
def test_the_takeback_follows_the_credit_whoever_reopens(count: object) -> None:
    """Resolved by a2 (credited a2), reopened by a3 naming themself: a2 loses it."""
    assert callable(count)
    records = play(
        (TicketResolved(ticket_id="T-1", agent_id="a2"), AT),
        (TicketReopened(ticket_id="T-1", agent_id="a3"), AT + timedelta(seconds=43)),
    )
    assert count(records) == {
        f"fcr/2026-11-23T10:00:00Z/agent=a2,{DIMS}": {
            "resolved": 1,
            "resolved_first_contact": 1,
            "reopened_after_first_contact": 1,
        }
    }


@pytest.mark.parametrize("count", [contributed, recounted], ids=["metrics-role", "verify"])
def test_feedback_on_a_ticket_resolved_by_an_agent_nobody_assigned_counts_for_them(
    count: object,
) -> None:
    assert callable(count)
    later = AT + timedelta(minutes=10)
    records = play(
        (TicketResolved(ticket_id="T-1", agent_id="a2"), AT),
        (FeedbackCsat(ticket_id="T-1", score=5), later),
        (FeedbackCes(ticket_id="T-1", score=4), later),
        (FeedbackNps(ticket_id="T-1", score=9), later),
    )
    windows = count(records)
    assert windows[f"satisfaction/2026-11-23T10:10:00Z/agent=a2,{DIMS}"] == {
        "csat_responses": 1,
        "csat_satisfied": 1,
        "ces_responses": 1,
        "ces_sum": 4,
        "nps_responses": 1,
        "promoters": 1,
    }
    assert not any("agent=none" in key for key in windows)


@pytest.mark.parametrize("count", [contributed, recounted], ids=["metrics-role", "verify"])
def test_a_resolution_nobody_is_credited_for_is_taken_back_from_nobody(count: object) -> None:
    """Resolved naming no agent, nobody assigned: credited to none; a reopen by a3 takes
    it back from none, not from a3."""
    assert callable(count)
    records = play(
        (TicketResolved(ticket_id="T-1"), AT),
        (TicketReopened(ticket_id="T-1", agent_id="a3"), AT + timedelta(seconds=43)),
    )
    assert count(records) == {
        f"fcr/2026-11-23T10:00:00Z/agent=none,{DIMS}": {
            "resolved": 1,
            "resolved_first_contact": 1,
            "reopened_after_first_contact": 1,
        }
    }


@pytest.mark.parametrize("count", [contributed, recounted], ids=["metrics-role", "verify"])
def test_the_takeback_lands_in_the_queue_credited_though_a_transfer_moved_the_ticket(
    count: object,
) -> None:
    """Resolved in general, transferred to billing while resolved, then reopened: the
    takeback is general's, where the credit went, not an orphan in billing."""
    assert callable(count)
    records = play(
        (TicketResolved(ticket_id="T-1", agent_id="a2"), AT),
        (TicketTransferred(ticket_id="T-1", queue="billing"), AT + timedelta(seconds=20)),
        (TicketReopened(ticket_id="T-1"), AT + timedelta(seconds=43)),
    )
    assert count(records) == {
        f"fcr/2026-11-23T10:00:00Z/agent=a2,{DIMS}": {
            "resolved": 1,
            "resolved_first_contact": 1,
            "reopened_after_first_contact": 1,
        }
    }
