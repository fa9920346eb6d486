from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from consumers.timers import Timer, fire, schedule
from router.events import EventType, SlaClock, Ticket
from rules import load_ruleset

pytestmark = pytest.mark.unit

RULES = load_ruleset(Path(__file__).resolve().parents[2] / "fixtures" / "rules" / "basic.yaml")
AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
DUE = AT + timedelta(hours=4)
WARN = DUE - timedelta(minutes=15)


def ticket(**kw: object) -> Ticket:
    base: dict[str, object] = {
        "id": "T-1",
        "channel": "chat",
        "customer_id": "C-1",
        "status": "new",
        "queue": "general",
        "sla_policy": "standard",
        "created_at": AT,
        "updated_at": AT,
        "sla": {"first_response": SlaClock(due=DUE, warn_at=WARN)},
    }
    return Ticket.model_validate({**base, **kw})


def test_schedule_lists_warning_and_breach_until_settled() -> None:
    assert schedule(ticket()) == {
        "T-1|first_response|warning": WARN.timestamp(),
        "T-1|first_response|breached": DUE.timestamp(),
    }
    met = ticket(sla={"first_response": SlaClock(due=DUE, met_at=AT)})
    assert schedule(met) == {}
    assert schedule(ticket(status="resolved")) == {}
    later = AT + timedelta(days=1)
    assert set(schedule(ticket(postponed_until=later)).values()) == {later.timestamp()}


def test_breach_fires_once_and_runs_the_escalation_rules() -> None:
    change = fire(ticket(), "first_response", "breached", RULES, DUE + timedelta(seconds=1))
    assert change is not None
    kinds = [etype for etype, _ in change.events]
    assert kinds == [EventType.TICKET_SLA_BREACHED, EventType.TICKET_ESCALATED]
    assert change.events[0][1] == {"target": "first_response", "policy": "standard", "due": DUE}
    assert change.ticket.priority == "urgent"
    assert change.ticket.sla["first_response"].breached is True
    assert fire(change.ticket, "first_response", "breached", RULES, DUE) is None


@pytest.mark.parametrize(
    ("kw", "now"),
    [
        ({}, WARN - timedelta(seconds=1)),  # not yet due
        ({"status": "closed"}, DUE),
        ({"postponed_until": DUE + timedelta(hours=1)}, DUE),
        ({"sla": {"first_response": SlaClock(due=DUE, warn_at=WARN, warned=True)}}, DUE),
    ],
)
def test_stale_or_early_warnings_do_nothing(kw: dict[str, object], now: datetime) -> None:
    assert fire(ticket(**kw), "first_response", "warning", RULES, now) is None


def test_timer_event_ids_are_deterministic() -> None:
    a = Timer.parse("T-1|first_response|breached", DUE.timestamp())
    b = Timer.parse("T-1|first_response|breached", DUE.timestamp())
    c = Timer.parse("T-1|first_response|warning", WARN.timestamp())
    assert a.event_id == b.event_id != c.event_id
