from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from consumers.domain.escalation import fire
from consumers.domain.windows import (
    CONTRIBUTORS,
    derived_values,
    fcr,
    satisfaction,
    sla,
    workload,
)
from consumers.metrics import read_lifecycle
from router.app.recount import Recount
from router.events import SlaClock, Ticket
from router.limits import Limits
from router.vocabulary import EventType
from rules import loads_ruleset

pytestmark = pytest.mark.unit

TICKET = {"queue": "billing", "channel": "email", "assignee": "a1"}


def counters(contributions: list[Any]) -> dict[str, int]:
    return {c.counter: c.amount for c in contributions}


def test_fcr_counts_resolutions_and_first_contact_then_reopen_corrects() -> None:
    resolved = fcr("switchboard.ticket.resolved", {"ticket": TICKET, "first_contact": True})
    assert counters(resolved) == {"resolved": 1, "resolved_first_contact": 1}
    assert resolved[0].dimensions == {"queue": "billing", "channel": "email", "agent": "a1"}
    second = fcr("switchboard.ticket.resolved", {"ticket": TICKET, "first_contact": False})
    assert counters(second) == {"resolved": 1}
    reopen = fcr("switchboard.ticket.reopened", {"ticket": TICKET, "was_first_contact": True})
    assert counters(reopen) == {"reopened_after_first_contact": 1}
    assert fcr("switchboard.ticket.reopened", {"ticket": TICKET}) == []
    rate = derived_values(
        "fcr", {"resolved": 4, "resolved_first_contact": 3, "reopened_after_first_contact": 1}
    )
    assert rate == {"fcr_rate": 0.5}


@pytest.mark.parametrize(
    ("kind", "score", "expected"),
    [
        ("csat", 5, {"csat_responses": 1, "csat_satisfied": 1}),
        ("csat", 3, {"csat_responses": 1}),
        ("nps", 10, {"nps_responses": 1, "promoters": 1}),
        ("nps", 7, {"nps_responses": 1, "passives": 1}),
        ("nps", 6, {"nps_responses": 1, "detractors": 1}),
        ("ces", 6, {"ces_responses": 1, "ces_sum": 6}),
    ],
)
def test_satisfaction_bands(kind: str, score: int, expected: dict[str, int]) -> None:
    data = {"ticket": TICKET, "kind": kind, "score": score}
    assert counters(satisfaction("switchboard.ticket.feedback_received", data)) == expected


@pytest.mark.parametrize(
    ("kind", "score"),
    [("csat", 0), ("csat", 9), ("nps", 11), ("nps", -3), ("ces", 0), ("ces", 99), ("csat", True)],
)
def test_a_score_out_of_its_range_counts_nowhere_in_the_role_or_its_recount(
    kind: str, score: int
) -> None:
    """The router refuses these; one a foreign producer wrote to ``tickets`` had counted
    (a CSAT 9 as satisfied, a CES 99 into the mean), and ``True`` only in the role, so
    ``metrics verify`` disagreed with it."""
    data = {"ticket": TICKET, "kind": kind, "score": score}
    assert satisfaction("switchboard.ticket.feedback_received", data) == []
    recount = Recount(window_s=60)
    event = {
        "id": "e-1",
        "type": "switchboard.ticket.feedback_received",
        "time": "2026-11-23T10:00:00Z",
        "data": data,
    }
    recount.add_event(event, datetime(2026, 11, 23, tzinfo=UTC))
    assert recount.windows == {}


def test_satisfaction_values() -> None:
    values = derived_values(
        "satisfaction",
        {
            "csat_responses": 4,
            "csat_satisfied": 3,
            "nps_responses": 10,
            "promoters": 5,
            "passives": 3,
            "detractors": 2,
            "ces_responses": 2,
            "ces_sum": 9,
        },
    )
    assert values == {"csat": 0.75, "nps": 30.0, "ces_avg": 4.5}
    assert derived_values("satisfaction", {}) == {"csat": None, "nps": None, "ces_avg": None}


def test_workload_handle_time_from_replies() -> None:
    replied = workload("switchboard.ticket.responded", {"ticket": TICKET, "handle_seconds": 90.4})
    assert counters(replied) == {"handled": 1, "handle_ms_sum": 90_400}
    assert workload("switchboard.ticket.responded", {"ticket": TICKET}) == []
    assert derived_values("workload", {"handled": 2, "handle_seconds_sum": 300}) == {
        "aht_seconds": 150.0
    }
    assert derived_values("workload", {"handled": 2, "handle_ms_sum": 300_500}) == {
        "aht_seconds": 150.25
    }


SLA_TICKET = {**TICKET, "priority": "high", "sla_policy": "standard"}


@pytest.mark.parametrize(
    ("event_type", "data", "expected"),
    [
        ("responded", {"response": "first", "within_sla": True}, [("met", "first_response")]),
        ("responded", {"response": "next", "within_sla": True}, [("met", "next_response")]),
        ("responded", {"response": "next", "within_sla": False}, []),  # late: the breach counts
        ("responded", {"response": "next", "within_sla": None}, []),  # no clock was running
        ("responded", {"response": "other", "within_sla": True}, []),
        ("sla_warning", {"target": "next_response"}, [("warned", "next_response")]),
        ("sla_breached", {"target": "next_response"}, [("breached", "next_response")]),
        ("resolved", {"within_sla": True}, [("met", "resolution")]),
        ("resolved", {"within_sla": False}, []),
    ],
)
def test_sla_counts_met_breached_and_warned_per_target(
    event_type: str, data: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    out = sla(f"switchboard.ticket.{event_type}", {"ticket": SLA_TICKET, **data})
    assert [(c.counter, c.dimensions["target"]) for c in out] == expected
    for c in out:
        assert c.dimensions == {
            "queue": "billing",
            "channel": "email",
            "priority": "high",
            "policy": "standard",
            "target": c.dimensions["target"],
        }


def test_a_breach_counts_under_the_queue_and_priority_it_fired_under() -> None:
    """Its escalation may move the ticket (the snapshot shows the result); the breach
    belongs to where the ticket was when its clock ran out."""
    escalated = {**SLA_TICKET, "queue": "tier2", "priority": "urgent"}
    data = {"ticket": escalated, "target": "first_response", "queue": "billing"}
    [breach] = sla("switchboard.ticket.sla_breached", {**data, "priority": "high"})
    assert (breach.dimensions["queue"], breach.dimensions["priority"]) == ("billing", "high")
    [older] = sla("switchboard.ticket.sla_breached", {"ticket": escalated, "target": "x"})
    assert older.dimensions["queue"] == "tier2"  # a record that does not say: its snapshot


def test_sla_compliance_is_met_over_met_and_breached() -> None:
    assert derived_values("sla", {"met": 3, "breached": 1, "warned": 2}) == {"compliance": 0.75}
    assert derived_values("sla", {"warned": 1}) == {"compliance": None}


AT = datetime(2026, 11, 23, 17, 21, 10, tzinfo=UTC)


def both_count(event_type: str, data: dict[str, Any]) -> dict[str, set[tuple[str, ...]]]:
    """Where the metrics role (its contributions) and ``metrics verify`` (its own
    recount) count one event: metric -> {(counter, *dimension values sorted by name)}."""
    role: dict[str, set[tuple[str, ...]]] = {}
    for contributor in CONTRIBUTORS:
        for c in contributor(event_type, data):
            dims = tuple(v for _, v in sorted(c.dimensions.items()))
            role.setdefault(c.metric, set()).add((c.counter, *dims))
    recount = Recount(60)
    event = {"id": "e-1", "type": event_type, "time": AT.isoformat(), "data": data}
    recount.add_event(event, AT)
    verified: dict[str, set[tuple[str, ...]]] = {}
    for window, counted in recount.windows.items():
        dims = tuple(v for _, v in window.dimensions)
        verified.setdefault(window.metric, set()).update((n, *dims) for n in counted)
    assert role == verified  # both sides agree, and this is where they count it
    return role


def test_a_warning_counts_under_the_policy_it_fired_under_not_the_escalations() -> None:
    """The escalation on a warning switched the ticket from the fast policy to the slow
    one (the snapshot it carries); the warning fired under fast and counts there."""
    escalated = {**SLA_TICKET, "queue": "tech", "sla_policy": "slow"}
    fired = {"target": "first_response", "queue": "tech", "priority": "high"}
    counted = both_count(
        "switchboard.ticket.sla_warning", {"ticket": escalated, **fired, "policy": "fast"}
    )
    # channel, policy, priority, queue, target
    assert counted["sla"] == {("warned", "email", "fast", "high", "tech", "first_response")}
    older = both_count("switchboard.ticket.sla_warning", {"ticket": escalated, **fired})
    assert older["sla"] == {("warned", "email", "slow", "high", "tech", "first_response")}


def test_a_reopen_a_rule_moved_is_counted_in_the_queue_it_was_reopened_in() -> None:
    """Resolved in general (first contact, by a1), reopened by the customer, and a rule
    on the reopen moved it to billing (the snapshot): the takeback and the workload
    ``reopened`` land in general, where the resolution was counted."""
    moved = {**TICKET, "queue": "billing", "resolved_by": "a1", "assignee": None}
    data = {"ticket": moved, "by": "customer", "was_first_contact": True, "queue": "general"}
    counted = both_count("switchboard.ticket.reopened", data)
    assert counted["fcr"] == {("reopened_after_first_contact", "a1", "email", "general")}
    assert counted["workload"] == {("reopened", "email", "general")}
    del data["queue"]  # a record written before it said: the snapshot's queue
    before = both_count("switchboard.ticket.reopened", data)
    assert before["workload"] == {("reopened", "email", "billing")}


def test_an_internal_reply_is_handled_work_for_the_metrics_role_and_verify_alike() -> None:
    """An internal ``agent.replied`` is published as a note with its ``handle_seconds``:
    both count it as handled work, with its seconds; a note without them counts nothing."""
    note = {"ticket": TICKET, "ticket_id": "T-1", "agent_id": "a1", "text": ""}
    timed = {**note, "handle_seconds": 300.4}
    counted = both_count("switchboard.ticket.note_added", timed)
    assert counted == {
        "workload": {("handled", "email", "billing"), ("handle_ms_sum", "email", "billing")}
    }
    assert counters(workload("switchboard.ticket.note_added", timed)) == {
        "handled": 1,
        "handle_ms_sum": 300_400,
    }
    recount = Recount(60)
    event = {"id": "e-1", "type": "switchboard.ticket.note_added", "time": AT.isoformat()}
    recount.add_event({**event, "data": timed}, AT)
    [verified] = recount.windows.values()
    assert verified == {"handled": 1, "handle_ms_sum": 300_400}
    assert both_count("switchboard.ticket.note_added", note) == {}
    assert both_count("switchboard.ticket.note_added", {**note, "handle_seconds": 0}) == {}


SNAPSHOT = {
    "id": "T-1",
    "channel": "email",
    "customer_id": "C-1",
    "queue": "billing",
    "priority": "normal",
    "sla_policy": "standard",
    "created_at": "2026-11-23T17:00:00Z",
    "updated_at": "2026-11-23T17:21:10Z",
}


@pytest.mark.parametrize("seconds", [b"-5", b"-0.5", b"NaN", b"Infinity", b"-Infinity", b"1e400"])
def test_a_handle_time_that_is_no_time_worked_counts_nothing_in_the_role_or_its_recount(
    seconds: bytes,
) -> None:
    """Only another producer of the tickets topic writes one. A reply's -5 s had counted
    as handled with an AHT of -5 s (and Prometheus refused it); an infinite one failed the
    role, and ``metrics verify`` could not read ``NaN`` at all. The reply still counts
    where it met its SLA; its time counts nowhere, in both."""
    reply = {
        "specversion": "1.0",
        "id": "e-1",
        "source": "/t",
        "type": "switchboard.ticket.responded",
        "time": AT.isoformat(),
        "data": {"ticket": SNAPSHOT, "response": "first", "within_sla": True, "handle_seconds": 0},
    }
    raw = orjson.dumps(reply).replace(b'"handle_seconds":0', b'"handle_seconds":' + seconds)
    event, _ = read_lifecycle(raw, Limits())  # as the metrics role reads it
    role = {(c.metric, c.counter) for f in CONTRIBUTORS for c in f(event.type, event.data or {})}
    recount = Recount(60)
    recount.add_record(raw, 0)
    verified = {(w.metric, name) for w, counted in recount.windows.items() for name in counted}
    assert role == verified == {("sla", "met")}


DAY_S = 86_400


@pytest.mark.parametrize(
    ("event_type", "seconds", "counted"),
    [
        ("responded", DAY_S, True),
        ("responded", DAY_S + 0.5, False),
        ("responded", 2 * DAY_S, False),
        ("responded", 1e308, False),
        ("note_added", DAY_S + 1, False),
        ("message_added", 2 * DAY_S, True),  # a call: talk, hold and wrap-up, a day each
        ("message_added", 3 * DAY_S, True),
        ("message_added", 3 * DAY_S + 1, False),
        ("message_added", 1e308, False),
    ],
)
def test_a_handle_time_longer_than_the_router_writes_counts_nothing_in_the_role_or_its_recount(
    event_type: str, seconds: float, counted: bool
) -> None:
    """The ingress takes a day at most per reply, and per call part (talk, hold, wrap).
    ``1e308`` s from another producer had overflowed into milliseconds: the role
    dead-lettered the reply and ``metrics verify`` stopped with a traceback."""
    data = {"ticket": TICKET, "handle_seconds": seconds}
    handled = {("handled", "email", "billing"), ("handle_ms_sum", "email", "billing")}
    assert both_count(f"switchboard.ticket.{event_type}", data) == (
        {"workload": handled} if counted else {}
    )


ESCALATING = """
version: 1
queues: {general: {}, tier2: {}}
sla: {standard: {first_response: 1h, warn_before: 15m}}
defaults: {queue: general, priority: normal, sla: standard}
escalations:
  - name: late
    on: sla.first_response.breached
    then: {queue: tier2, priority: high}
"""


def test_an_escalation_counts_in_the_queue_it_moved_the_ticket_from() -> None:
    """A first response breached in general escalates the ticket to tier2: the breach and
    its ``escalated`` both count in general, where it happened (``from.queue``). The
    escalation had counted in tier2 (the snapshot), apart from the breach that caused it."""
    opened = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    due = opened + timedelta(hours=1)
    ticket = Ticket.model_validate(
        {
            **SNAPSHOT,
            "status": "new",
            "contacts": 1,
            "created_at": opened,
            "updated_at": opened,
            "last_customer_at": opened,
            "queue": "general",
            "sla": {"first_response": SlaClock(due=due, warned=True)},
        }
    )
    change = fire(ticket, "first_response", "breached", loads_ruleset(ESCALATING), due)
    assert change is not None
    snapshot = change.ticket.model_dump(mode="json")
    assert snapshot["queue"] == "tier2"
    counted: dict[str, set[tuple[str, ...]]] = {}
    for event_type, data in change.events:
        record = orjson.loads(orjson.dumps({**data, "ticket": snapshot}))
        for metric, found in both_count(event_type.value, record).items():
            counted.setdefault(metric, set()).update(found)
    assert counted["workload"] == {("escalated", "email", "general")}
    # channel, policy, priority, queue, target
    assert counted["sla"] == {
        ("breached", "email", "standard", "normal", "general", "first_response")
    }
    [escalated] = [d for e, d in change.events if e is EventType.TICKET_ESCALATED]
    older = {key: value for key, value in escalated.items() if key != "from"}
    before = both_count(EventType.TICKET_ESCALATED.value, {**older, "ticket": snapshot})
    assert before["workload"] == {("escalated", "email", "tier2")}  # a record that does not say
