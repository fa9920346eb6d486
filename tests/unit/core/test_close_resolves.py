"""Closing a ticket still being worked resolves it first, as the large helpdesks count a
close as solved: the resolution counts in workload, FCR and the resolution SLA, in the
metrics role's contributions and in ``metrics verify``'s recount alike, so created minus
resolved stays the backlog. A ticket already resolved is not resolved twice."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from consumers.domain.lifecycle import abandoned, apply_action
from consumers.domain.outputs import LifecycleOutputs
from router.actions import Action, TicketClosed, TicketPostponed, TicketResolved
from router.events import SlaClock, Ticket
from router.vocabulary import EventType
from rules import load_ruleset
from tests.unit.core.metric_counts import contributed, recounted

pytestmark = pytest.mark.unit

RULES = load_ruleset(Path(__file__).resolve().parents[2] / "fixtures" / "rules" / "basic.yaml")
AT = datetime(2026, 11, 23, 10, 0, 5, tzinfo=UTC)
WINDOW = "2026-11-23T10:00:00Z"
LOAD = f"workload/{WINDOW}/channel=chat,queue=general"
FCR = f"fcr/{WINDOW}/agent=a2,channel=chat,queue=general"
RESOLUTION = (
    f"sla/{WINDOW}/channel=chat,policy=standard,priority=normal,queue=general,target=resolution"
)


def open_chat(status: str = "open") -> Ticket:
    """One chat message, routed to general, with a resolution due in a day."""
    return Ticket.model_validate(
        {
            "id": "T-1",
            "channel": "chat",
            "channels_seen": ["chat"],
            "customer_id": "C-1",
            "status": status,
            "queue": "general",
            "priority": "normal",
            "sla_policy": "standard",
            "sla": {"resolution": SlaClock(due=AT + timedelta(days=1))},
            "contacts": 1,
            "created_at": AT - timedelta(minutes=5),
            "updated_at": AT - timedelta(minutes=5),
        }
    )


def play(ticket: Ticket, *steps: tuple[Action, datetime]) -> list[bytes]:
    """The ``tickets`` records the router writes for ``steps``, applied in turn."""
    records: list[bytes] = []
    for n, (action, at) in enumerate(steps):
        change = apply_action(ticket, action, at, RULES)
        assert change is not None
        ticket = change.ticket
        out = LifecycleOutputs(f"cause-{n}", ticket, at)
        for etype, data in change.events:
            out.add(etype, **data)
        records += [r.value for r in out.records if r.value is not None]
    return records


Count = Callable[[list[bytes]], dict[str, dict[str, int]]]
COUNTS = pytest.mark.parametrize("count", [contributed, recounted], ids=["metrics-role", "verify"])


def types(records: list[bytes]) -> list[str]:
    return [orjson.loads(r)["type"] for r in records]


@pytest.mark.parametrize("status", ["new", "open", "pending"])
def test_closing_a_ticket_still_worked_resolves_it_then_closes_it(status: str) -> None:
    [resolved, closed] = play(open_chat(status), (TicketClosed(ticket_id="T-1", agent_id="a2"), AT))
    assert types([resolved, closed]) == [EventType.TICKET_RESOLVED, EventType.TICKET_CLOSED]
    data = orjson.loads(resolved)["data"]
    assert (data["agent_id"], data["first_contact"], data["within_sla"]) == ("a2", True, True)
    after = Ticket.model_validate(orjson.loads(closed)["data"]["ticket"])
    assert (after.status, after.resolved_at, after.resolved_by) == ("closed", AT, "a2")
    ids = [orjson.loads(r)["id"] for r in (resolved, closed)]
    assert len(set(ids)) == 2
    again = play(open_chat(status), (TicketClosed(ticket_id="T-1", agent_id="a2"), AT))
    assert ids == [orjson.loads(r)["id"] for r in again]  # the same ids when re-published


@COUNTS
def test_a_direct_close_counts_as_a_resolution_in_every_metric(count: Count) -> None:
    windows = count(play(open_chat(), (TicketClosed(ticket_id="T-1", agent_id="a2"), AT)))
    assert windows[LOAD]["resolved"] == 1
    assert windows[FCR] == {"resolved": 1, "resolved_first_contact": 1}
    assert windows[RESOLUTION] == {"met": 1}


@COUNTS
def test_closing_a_resolved_ticket_counts_its_resolution_once(count: Count) -> None:
    records = play(
        open_chat(),
        (TicketResolved(ticket_id="T-1", agent_id="a2"), AT),
        (TicketClosed(ticket_id="T-1", agent_id="a2"), AT + timedelta(seconds=10)),
    )
    assert types(records) == [EventType.TICKET_RESOLVED, EventType.TICKET_CLOSED]
    windows = count(records)
    assert windows[LOAD]["resolved"] == 1
    assert windows[FCR]["resolved"] == 1


def test_closing_a_postponed_ticket_ends_the_postponement_and_resolves_it() -> None:
    until = AT + timedelta(hours=2)
    records = play(
        open_chat(),
        (TicketPostponed(ticket_id="T-1", until=until), AT),
        (TicketClosed(ticket_id="T-1"), AT + timedelta(minutes=1)),
    )
    assert types(records) == [
        EventType.TICKET_POSTPONED,
        EventType.TICKET_RESOLVED,
        EventType.TICKET_CLOSED,
    ]
    after = Ticket.model_validate(orjson.loads(records[-1])["data"]["ticket"])
    assert (after.status, after.postponed_until) == ("closed", None)
    assert orjson.loads(records[1])["data"]["agent_id"] is None


def test_a_customer_giving_up_closes_the_ticket_without_resolving_it() -> None:
    """The staffing simulation's abandonment: the customer left, nobody solved anything,
    so no resolution is counted and the resolution target is not met by it."""
    change = abandoned(open_chat(), AT, RULES)
    assert change is not None
    assert [etype for etype, _ in change.events] == [EventType.TICKET_CLOSED]
    assert (change.ticket.status, change.ticket.resolved_at) == ("closed", None)
    assert change.ticket.sla["resolution"].met_at is None
    assert abandoned(change.ticket, AT, RULES) is None
