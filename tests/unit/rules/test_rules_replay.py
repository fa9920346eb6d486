"""Reading recorded traffic for `rules simulate` and `rules explain`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rules import loads_ruleset
from rules.facts import new_ticket_facts
from rules.replay import Recorded, facts_from, parse_time, read_events, simulate

pytestmark = pytest.mark.unit

ENVELOPE = {
    "specversion": "1.0",
    "id": "evt-1",
    "type": "switchboard.interaction.received",
    "source": "/channels/chat",
    "time": "2026-03-04T09:00:00Z",
    "data": {
        "channel": "chat",
        "inbox": "web",
        "subject": None,
        "text": "hello",
        "language": "en",
        "customer": {"email": "a@b.example"},
        "metadata": {"page_url": "/pricing"},
        "thread": {"conversation_id": "c1"},
        "attachments": [],
        "auto_reply": False,
    },
}
FACTS = {
    "channel": "chat",
    "inbox": "web",
    "subject": None,
    "text": "hello",
    "language": "en",
    "customer": {"email": "a@b.example"},
    "metadata": {"page_url": "/pricing"},
    # what the router's rules see on the ticket this first message opens
    "ticket": new_ticket_facts("chat"),
}
AT = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)


def test_facts_from_a_cloudevent_are_the_routers_facts_for_a_new_ticket() -> None:
    assert facts_from(ENVELOPE) == (FACTS, AT, "evt-1")


def test_facts_from_tail_dump_lines_with_object_or_string_values() -> None:
    assert facts_from({"key": "email:a", "value": ENVELOPE}) == (FACTS, AT, "evt-1")
    assert facts_from({"key": "email:a", "value": json.dumps(ENVELOPE)}) == (FACTS, AT, "evt-1")
    assert facts_from({"key": "email:a", "value": "{broken"}) is None


def test_raw_facts_are_completed_as_for_a_new_ticket_and_other_types_are_skipped() -> None:
    """Plain facts mean what the router would see: the new ticket's fields (status new,
    one contact), CRM attributes by name, and whatever ``ticket`` fields are given."""
    found = facts_from(
        {
            "channel": "sms",
            "text": "hi",
            "customer": {"tier": "gold", "attributes": {"plan": "business"}},
            "ticket": {"reopen_count": 2},
        }
    )
    assert found is not None
    facts, at, event_id = found
    assert (at, event_id) == (None, None)
    assert (facts["channel"], facts["text"], facts["metadata"]) == ("sms", "hi", {})
    assert facts["customer"]["plan"] == "business"
    assert facts["customer"]["tier"] == "gold"
    assert facts["ticket"] == {**new_ticket_facts("sms"), "reopen_count": 2}
    assert facts_from({"customer": "bob", "language": 5}) is not None  # nothing to crash on
    assert facts_from({**ENVELOPE, "type": "switchboard.ticket.created"}) is None
    assert facts_from([1, 2]) is None


def test_parse_time_needs_an_offset() -> None:
    assert parse_time("2026-03-04T09:00:00Z") == AT
    assert parse_time("2026-03-04T10:00:00+01:00") == AT
    assert parse_time("2026-03-04T09:00:00") is None
    assert parse_time("yesterday") is None
    assert parse_time(None) is None


def test_read_events_numbers_lines_and_explains_skips(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(ENVELOPE) + "\n\n{oops\n", encoding="utf-8")
    first, second = list(read_events(path))
    assert first == Recorded(1, FACTS, AT, "evt-1")
    assert isinstance(second, tuple)
    assert second[0] == 3
    assert second[1].startswith("not JSON")


def test_simulate_compares_outcomes_and_caps_examples() -> None:
    header = "version: 1\nqueues: {general: {}, sales: {}}\ndefaults: {queue: general}\n"
    new = loads_ruleset(
        header + "rules:\n  - {name: s, if: {text: {contains: quote}}, then: {queue: sales}}\n"
    )
    old = loads_ruleset(header)
    events = [Recorded(n, {"text": "a quote"}) for n in range(1, 9)] + [Recorded(9, {"text": "hi"})]
    report = simulate(new, events, against=old, now=AT)
    assert (report.evaluated, report.changed) == (9, 8)
    assert report.moves == {("general", "sales"): 8}
    assert len(report.examples) == 5
    assert report.examples[0] == {
        "line": 1,
        "id": None,
        "subject": None,
        "changes": {"queue": ["general", "sales"]},
    }
    assert report.to_dict()["against"]["queue_moves"] == [
        {"from": "general", "to": "sales", "count": 8}
    ]
