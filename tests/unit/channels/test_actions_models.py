"""router.actions: one model per action type, canonical names, keys, error paths."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from channels.actions import prepare
from channels.problems import Problem
from channels.publish import fingerprint_of
from router.actions import ACTIONS, action_key, canonical_type, parse_action
from router.errors import InvalidEvent
from router.events import CloudEvent, utcnow

pytestmark = pytest.mark.unit

CONTRACT = [
    "agent.replied",
    "ticket.note_added",
    "ticket.resolved",
    "ticket.reopened",
    "ticket.closed",
    "ticket.transferred",
    "ticket.postponed",
    "assignment.accepted",
    "assignment.declined",
    "feedback.csat",
    "feedback.nps",
    "feedback.ces",
    "agent.presence",
    "customer.upserted",
]


def event(type_: str, data: dict[str, Any]) -> CloudEvent:
    return CloudEvent(id="e1", source="/test", type=type_, data=data)


def test_every_contract_type_has_a_model() -> None:
    assert sorted(ACTIONS) == sorted(f"switchboard.{t}" for t in CONTRACT)


@pytest.mark.parametrize("name", ["feedback.csat", "switchboard.feedback.csat"])
def test_prefix_is_optional(name: str) -> None:
    assert canonical_type(name) == "switchboard.feedback.csat"
    assert canonical_type("feedback.bogus") is None


@pytest.mark.parametrize(
    ("type_", "score", "ok"),
    [
        ("feedback.csat", 1, True),
        ("feedback.csat", 5, True),
        ("feedback.csat", 0, False),
        ("feedback.csat", 6, False),
        ("feedback.nps", 0, True),
        ("feedback.nps", 10, True),
        ("feedback.nps", 11, False),
        ("feedback.ces", 7, True),
        ("feedback.ces", 8, False),
        ("feedback.csat", "5", False),
        ("feedback.csat", 4.5, False),
        ("feedback.csat", True, False),
    ],
)
def test_score_ranges(type_: str, score: object, ok: bool) -> None:
    ev = event(type_, {"ticket_id": "T-1", "score": score})
    if ok:
        assert parse_action(ev).model_dump()["score"] == score
    else:
        with pytest.raises(InvalidEvent) as info:
            parse_action(ev)
        assert info.value.errors[0]["path"] == "/data/score"


@pytest.mark.parametrize(
    ("type_", "data", "key"),
    [
        ("agent.replied", {"ticket_id": "T-1", "agent_id": "a", "public": False}, "T-1"),
        ("ticket.transferred", {"ticket_id": "T-2", "queue": "billing"}, "T-2"),
        ("ticket.postponed", {"ticket_id": "T-3", "until": "2026-12-01T09:00:00+01:00"}, "T-3"),
        (
            "agent.presence",
            {"agent_id": "a-1", "status": "away", "skills": ["billing"]},
            "agent:a-1",
        ),
        ("customer.upserted", {"id": "c-9", "tier": "gold"}, "customer:c-9"),
        ("customer.upserted", {"phone": "+1 415 867 5309"}, "customer:+14158675309"),
    ],
)
def test_keys(type_: str, data: dict[str, Any], key: str) -> None:
    canonical = canonical_type(type_)
    assert canonical is not None
    assert action_key(canonical, parse_action(event(type_, data))) == key


@pytest.mark.parametrize(
    ("type_", "data", "path"),
    [
        ("agent.replied", {"ticket_id": "T-1", "agent_id": "a"}, "/data/public"),
        ("ticket.postponed", {"ticket_id": "T-1", "until": "2026-12-01T09:00:00"}, "/data/until"),
        ("ticket.transferred", {"ticket_id": "T-1"}, "/data"),
        ("agent.presence", {"agent_id": "a", "status": "busy"}, "/data/status"),
        (
            "agent.presence",
            {"agent_id": "a", "status": "online", "capacity": {"fax": 1}},
            "/data/capacity/fax",
        ),
        ("customer.upserted", {"name": "nobody"}, "/data"),
        ("customer.upserted", {"email": "nope"}, "/data/email"),
        ("customer.upserted", {"phone": "VERIFY"}, "/data/phone"),
        ("ticket.bogus", {}, "/type"),
    ],
)
def test_errors_carry_paths(type_: str, data: dict[str, Any], path: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        parse_action(event(type_, data))
    assert path in [e["path"] for e in info.value.errors]


def test_prepare_fills_the_envelope_and_validates_every_item() -> None:
    [one] = prepare({"type": "ticket.closed", "data": {"ticket_id": "T-1"}, "subject": "s"})
    assert one.key == "T-1"
    assert one.event.type == "switchboard.ticket.closed"
    assert one.event.subject == "s"
    assert one.event.time is not None
    with pytest.raises(Problem) as info:
        prepare(
            [
                {"type": "ticket.closed", "data": {}},
                {"type": "feedback.ces", "data": {"ticket_id": "T", "score": 9}},
                {"type": "ticket.closed", "data": {"ticket_id": "T"}, "time": "noon"},
            ]
        )
    pointers = [e["pointer"] for e in info.value.errors or []]
    assert pointers == ["/0/data/ticket_id", "/1/data/score", "/2/time"]


REPLY = {"ticket_id": "T-1", "agent_id": "a-1", "public": True}


@pytest.mark.parametrize("seconds", [0, 240, 240.5, 86_400])
def test_handle_seconds_within_a_day_are_kept(seconds: float) -> None:
    action = parse_action(event("agent.replied", {**REPLY, "handle_seconds": seconds}))
    assert action.model_dump()["handle_seconds"] == seconds


@pytest.mark.parametrize("seconds", [1e308, 86_400.5, -1, "240", True])
def test_handle_seconds_that_would_corrupt_the_ticket_are_refused(seconds: object) -> None:
    """1e308 summed on the ticket overflowed to inf (serialised as null); ``true`` was 1.0."""
    with pytest.raises(InvalidEvent) as info:
        parse_action(event("agent.replied", {**REPLY, "handle_seconds": seconds}))
    assert [e["path"] for e in info.value.errors] == ["/data/handle_seconds"]


@pytest.mark.parametrize("public", ["yes", "no", "on", "off", "t", "f", "1", "0", 1, 0, None])
def test_public_is_a_json_boolean_only(public: object) -> None:
    with pytest.raises(InvalidEvent) as info:
        parse_action(event("agent.replied", {**REPLY, "public": public}))
    assert [e["path"] for e in info.value.errors] == ["/data/public"]


@pytest.mark.parametrize("capacity", ["3", True, 2.0, -1])
def test_capacity_is_a_json_integer_only(capacity: object) -> None:
    data = {"agent_id": "a-1", "status": "online", "capacity": {"email": capacity}}
    with pytest.raises(InvalidEvent) as info:
        parse_action(event("agent.presence", data))
    assert [e["path"] for e in info.value.errors] == ["/data/capacity/email"]


def postpone(until: str) -> dict[str, Any]:
    return {"type": "ticket.postponed", "data": {"ticket_id": "T-1", "until": until}}


@pytest.mark.parametrize("until", ["9999-12-31T23:59:59Z", "2020-01-01T00:00:00Z"])
def test_a_postponement_too_far_ahead_or_past_is_refused_at_until(until: str) -> None:
    """9999-12-31 was answered 202, then overflowed in the router and was dead-lettered."""
    with pytest.raises(Problem) as info:
        prepare(postpone(until))
    assert [e["pointer"] for e in info.value.errors or []] == ["/data/until"]


def test_a_postponement_up_to_a_year_and_a_day_ahead_is_accepted() -> None:
    soon = (utcnow() + timedelta(days=365)).isoformat()
    [one] = prepare(postpone(soon))
    assert one.event.data["until"]
    too_far = (utcnow() + timedelta(days=367)).isoformat()
    with pytest.raises(Problem) as info:
        prepare(postpone(too_far))
    assert "366 days" in (info.value.errors or [{}])[0]["detail"]


@pytest.mark.parametrize(
    ("body", "pointers"),
    [
        ([], [""]),  # the whole document: "" (RFC 6901), not "/"
        ([5], ["/0"]),  # a list item: "/0", not "/0/"
        ({"type": "ticket.closed", "data": {}}, ["/data/ticket_id"]),
        (
            [
                {
                    "type": "agent.presence",
                    "data": {"agent_id": "a", "status": "online", "capacity": {"fax": 1}},
                }
            ],
            ["/0/data/capacity/fax"],  # an invalid key: the member it names
        ),
    ],
)
def test_every_error_pointer_is_a_json_pointer(body: Any, pointers: list[str]) -> None:
    with pytest.raises(Problem) as info:
        prepare(body)
    assert [e["pointer"] for e in info.value.errors or []] == pointers


def test_an_action_without_extensions_keeps_the_fingerprint_its_id_was_claimed_with() -> None:
    """Fingerprints sit in Redis beside each id written: an action without extensions
    hashes as before they were read, so its retry after an upgrade is still a duplicate;
    one with extensions hashes them too (they are part of the event)."""
    item = {"type": "ticket.closed", "id": "x-1", "source": "/hd", "data": {"ticket_id": "T-1"}}
    claimed = fingerprint_of(
        {
            "id": "x-1",
            "type": "switchboard.ticket.closed",
            "source": "/hd",
            "subject": "T-1",
            "data": {"ticket_id": "T-1"},
        }
    )
    [plain] = prepare(item)
    [structured] = prepare(item, cloudevents=True)
    assert plain.fingerprint == structured.fingerprint == claimed
    [traced] = prepare({**item, "traceparent": "00-a"}, cloudevents=True)
    [other] = prepare({**item, "traceparent": "00-b"}, cloudevents=True)
    assert len({claimed, traced.fingerprint, other.fingerprint}) == 3
    assert traced.event.model_dump()["traceparent"] == "00-a"
