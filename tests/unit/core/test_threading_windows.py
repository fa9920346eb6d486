from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumers.domain.escalation import accept_timeout, schedule
from consumers.domain.threading import handle_seconds, place
from consumers.domain.windows import window_of, workload
from router.events import Customer, Interaction, ThreadRef, Ticket
from rules import loads_ruleset

pytestmark = pytest.mark.unit

AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
RULES = loads_ruleset("version: 1\nqueues: {general: {}}\ndefaults: {queue: general}\n")


def msg(channel: str = "chat", *, auto: bool = False, mid: str | None = None) -> Interaction:
    return Interaction(
        channel=channel,  # type: ignore[arg-type]
        customer=Customer(email="a@example.com"),
        text="hi",
        auto_reply=auto,
        thread=ThreadRef(message_id=mid),
    )


def ticket(**kw: object) -> Ticket:
    base: dict[str, object] = {
        "id": "T-1",
        "channel": "chat",
        "channels_seen": ["chat"],
        "customer_id": "C-1",
        "status": "open",
        "contacts": 1,
        "created_at": AT,
        "updated_at": AT,
    }
    return Ticket.model_validate({**base, **kw})


def test_first_message_opens_a_ticket_named_after_the_event() -> None:
    placed = place(
        msg(), None, event_id="e1", customer_id="C-1", at=AT, reopen_window=WEEK, rules=RULES
    )
    assert placed.kind == "new"
    assert placed.ticket is not None
    again = place(
        msg(), None, event_id="e1", customer_id="C-1", at=AT, reopen_window=WEEK, rules=RULES
    )
    assert again.ticket == placed.ticket


def test_a_message_on_another_channel_joins_the_open_ticket() -> None:
    placed = place(
        msg("email", mid="<m>"),
        ticket(),
        event_id="e2",
        customer_id="C-1",
        at=AT + timedelta(hours=1),
        reopen_window=WEEK,
        rules=RULES,
    )
    assert placed.kind == "join"
    assert placed.ticket is not None
    assert placed.ticket.channels_seen == ["chat", "email"]
    assert placed.ticket.contacts == 2
    assert placed.ticket.message_ids == ["<m>"]


def test_resolved_ticket_reopens_within_the_window_only() -> None:
    resolved = ticket(status="resolved", resolved_at=AT)
    inside = place(
        msg(),
        resolved,
        event_id="e3",
        customer_id="C-1",
        at=AT + timedelta(days=6),
        reopen_window=WEEK,
        rules=RULES,
    )
    assert inside.kind == "reopen"
    assert inside.ticket is not None
    assert (inside.ticket.status, inside.ticket.reopen_count) == ("open", 1)
    outside = place(
        msg(),
        resolved,
        event_id="e4",
        customer_id="C-1",
        at=AT + timedelta(days=8),
        reopen_window=WEEK,
        rules=RULES,
    )
    assert outside.kind == "new"


def test_auto_replies_never_open_or_reopen() -> None:
    assert (
        place(
            msg(auto=True),
            None,
            event_id="e",
            customer_id="C",
            at=AT,
            reopen_window=WEEK,
            rules=RULES,
        ).kind
        == "skip"
    )
    resolved = ticket(status="resolved", resolved_at=AT)
    assert (
        place(
            msg(auto=True),
            resolved,
            event_id="e",
            customer_id="C",
            at=AT,
            reopen_window=WEEK,
            rules=RULES,
        ).kind
        == "skip"
    )


def voice(event: str, call_id: str = "CA1", text: str = "", **seconds: float) -> Interaction:
    return Interaction(
        channel="voice",
        customer=Customer(phone="+15551230000"),
        text=text,
        thread=ThreadRef(call_id=call_id),
        metadata={"call_event": event, **seconds},
    )


@pytest.mark.parametrize("status", ["resolved", "closed"])
def test_a_new_call_adds_no_handle_time_to_the_customers_settled_ticket(status: str) -> None:
    """The customer's ticket was resolved; a later call (another call id) is no handling
    of it: it changes nothing, as a call answered with no ticket."""
    settled = ticket(channel="voice", status=status, resolved_at=AT)
    for event in ("answered", "ended"):
        placed = place(
            voice(event, "CA2", talk_seconds=300),
            settled,
            event_id="e",
            customer_id="C-1",
            at=AT + timedelta(hours=1),
            reopen_window=WEEK,
            rules=RULES,
        )
        assert (placed.kind, placed.ticket) == ("skip", None)


def test_a_call_found_by_its_own_id_adds_its_time_whatever_the_tickets_status() -> None:
    """The call was on that ticket (its missed call opened it): ended after the agent
    resolved it, its handle time still belongs there."""
    resolved = ticket(channel="voice", status="resolved", resolved_at=AT, message_ids=["call:CA1"])
    placed = place(
        voice("ended", talk_seconds=300),
        resolved,
        event_id="e",
        customer_id="C-1",
        at=AT + timedelta(minutes=5),
        reopen_window=WEEK,
        rules=RULES,
        by_reply=True,
    )
    assert placed.kind == "call"
    assert placed.ticket is not None
    assert (placed.ticket.status, placed.ticket.handle_seconds) == ("resolved", 300)
    open_ = place(
        voice("ended", "CA9", talk_seconds=60),
        ticket(status="pending"),
        event_id="e",
        customer_id="C-1",
        at=AT,
        reopen_window=WEEK,
        rules=RULES,
    )
    assert open_.ticket is not None
    assert (open_.kind, open_.ticket.handle_seconds) == ("call", 60)


@pytest.mark.parametrize("event", ["answered", "ended"])
def test_the_agent_offered_the_ticket_who_answers_the_call_takes_it(event: str) -> None:
    """The accept timeout handed the ticket to another agent after a1 handled the call."""
    offered = ticket(channel="voice", assignee="a1", assigned_at=AT, message_ids=["call:CA1"])
    later = AT + timedelta(minutes=5)

    def on_call(agent: str) -> Ticket:
        placed = place(
            voice(event, talk_seconds=60, agent_id=agent),  # type: ignore[arg-type]
            offered,
            event_id="e",
            customer_id="C-1",
            at=AT + timedelta(seconds=30),
            reopen_window=WEEK,
            rules=RULES,
            by_reply=True,
        )
        assert placed.kind == "call"
        assert placed.ticket is not None
        return placed.ticket

    taken = on_call("a1")
    assert (taken.assignee, taken.accepted) == ("a1", True)
    assert "T-1|assignment|timeout" not in schedule(taken, RULES.assignment.accept_timeout)
    assert accept_timeout(taken, RULES, later) is None  # stays with a1
    other = on_call("a2")  # another agent on the call accepts nothing for a1
    assert (other.assignee, other.accepted) == ("a1", False)
    assert accept_timeout(other, RULES, later) is not None


def test_the_voicemail_of_a_missed_call_is_the_same_contact() -> None:
    missed = place(
        voice("missed"),
        None,
        event_id="e1",
        customer_id="C-1",
        at=AT,
        reopen_window=WEEK,
        rules=RULES,
    )
    assert missed.ticket is not None
    voicemail = place(
        voice("voicemail", text="please call me back about my invoice"),
        missed.ticket,
        event_id="e2",
        customer_id="C-1",
        at=AT + timedelta(minutes=1),
        reopen_window=WEEK,
        rules=RULES,
        by_reply=True,
    )
    assert voicemail.kind == "join"  # routed as a message: its transcript runs the rules
    assert voicemail.ticket is not None
    assert (voicemail.ticket.contacts, voicemail.ticket.message_ids) == (1, ["call:CA1"])
    other = place(
        voice("voicemail", "CA2"),
        voicemail.ticket,
        event_id="e3",
        customer_id="C-1",
        at=AT + timedelta(minutes=2),
        reopen_window=WEEK,
        rules=RULES,
    )
    assert other.ticket is not None
    assert other.ticket.contacts == 2  # another call is another contact


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    st.sampled_from([1, 60, 300, 3600]),
)
def test_every_instant_falls_in_exactly_one_aligned_window(at: datetime, size: int) -> None:
    start, end = window_of(at, size)
    assert start <= at < end
    assert end - start == timedelta(seconds=size)
    assert int(start.timestamp()) % size == 0


def test_workload_counts_lifecycle_types_per_queue_and_channel() -> None:
    data = {"ticket": {"queue": "billing", "channel": "email"}}
    [c] = workload("switchboard.ticket.created", data)
    assert (c.metric, c.counter, c.dimensions) == (
        "workload",
        "created",
        {"queue": "billing", "channel": "email"},
    )
    assert workload("switchboard.ticket.routed", data) == []
    assert workload("something.else", data) == []


@pytest.mark.parametrize(
    ("parts", "seconds"),
    [
        ({"talk_seconds": 120, "hold_seconds": 30.5, "wrap_seconds": 60}, 210.5),
        ({"talk_seconds": True, "hold_seconds": 30}, 30),  # a flag is no duration
        ({"talk_seconds": 1e308, "wrap_seconds": 60}, 60),  # would overflow the ticket's sum
        ({"talk_seconds": float("inf"), "hold_seconds": -5, "wrap_seconds": 10}, 10),
        ({"talk_seconds": "120"}, 0),
        # a whole day, which the ingress accepts, counts (it had counted 0 after a 202)
        ({"talk_seconds": 86_400, "wrap_seconds": 60}, 86_460),
        ({"talk_seconds": 86_400.5, "wrap_seconds": 60}, 60),
    ],
)
def test_a_calls_handle_time_counts_only_durations_a_call_can_have(
    parts: dict[str, object], seconds: float
) -> None:
    """Call events from Kafka skip the HTTP edge's checks: what is no duration counts
    nothing, so the ticket's handle time stays a finite number."""
    call = Interaction(
        channel="voice", customer=Customer(phone="+15551230000"), text="", metadata=parts
    )
    assert handle_seconds(call) == seconds
