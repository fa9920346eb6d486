"""Times Switchboard writes are in UTC whatever offset a sender gave: the event time the
ingress gives a record, and a postponement's end in the ticket snapshot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from consumers.domain.lifecycle import apply_action
from router.actions import parse_action
from router.events import CloudEvent, Interaction, Ticket, received_time, utcnow
from rules import load_ruleset

pytestmark = pytest.mark.unit

RULES = load_ruleset(Path(__file__).resolve().parents[2] / "fixtures" / "rules" / "basic.yaml")
PLUS_TWO = timezone(timedelta(hours=2))


def test_a_senders_time_is_kept_as_that_instant_in_utc() -> None:
    given = (utcnow() - timedelta(hours=1)).astimezone(PLUS_TWO).replace(microsecond=0)
    kept = received_time(given)
    assert kept == given
    assert kept.utcoffset() == timedelta(0)
    assert orjson.dumps(kept, option=orjson.OPT_UTC_Z).decode().endswith('Z"')


def test_a_senders_time_ahead_of_ours_is_the_time_received() -> None:
    """A customer's clock four minutes fast: the ticket opens now, not in four minutes,
    where the agent's immediate reply would have been dated too (with no wait)."""
    before = utcnow()
    kept = received_time(before + timedelta(minutes=4))
    assert before <= kept <= utcnow()
    assert received_time(before - timedelta(days=8)) >= before  # older than any retry


def test_a_postponement_until_given_with_an_offset_is_stored_in_utc() -> None:
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    ticket = Ticket(
        id="T-1", channel="email", customer_id="C-1", status="open", created_at=now, updated_at=now
    )
    event = CloudEvent(
        id="e-1",
        source="/helpdesk",
        type="ticket.postponed",
        data={"ticket_id": "T-1", "until": "2026-11-24T09:00:00+02:00"},
    )
    change = apply_action(ticket, parse_action(event), now, RULES)
    assert change is not None
    snapshot = orjson.loads(change.ticket.model_dump_json())
    assert snapshot["postponed_until"] == "2026-11-24T07:00:00Z"
    [(_, data)] = change.events
    assert data["until"] == datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
    assert data["until"].utcoffset() == timedelta(0)


def test_a_messages_sent_at_with_an_offset_is_the_same_instant_in_utc() -> None:
    """A chat's ``sent_at`` or a call's ``at`` given as +02:00 is published in UTC on
    ``inbound`` and in ``data.interaction`` on ``tickets``, as an email's Date is."""
    message = Interaction.model_validate(
        {
            "channel": "chat",
            "customer": {"email": "eve@example.com"},
            "sent_at": "2026-12-05T13:08:00+02:00",
        }
    )
    assert message.model_dump(mode="json")["sent_at"] == "2026-12-05T11:08:00Z"
