from __future__ import annotations

from typing import Any

import pytest

from consumers.domain.windows import derived_values, fcr, satisfaction, sla, workload

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
    assert counters(replied) == {"handled": 1, "handle_seconds_sum": 90}
    assert workload("switchboard.ticket.responded", {"ticket": TICKET}) == []
    assert derived_values("workload", {"handled": 2, "handle_seconds_sum": 300}) == {
        "aht_seconds": 150.0
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
