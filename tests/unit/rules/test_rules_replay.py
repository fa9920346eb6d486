"""Reading recorded traffic for `rules simulate` and `rules explain`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from router.ids import customer_id_for, ticket_id
from rules import loads_ruleset
from rules.facts import NEW_TICKET_ID, new_ticket_facts
from rules.replay import (
    Recorded,
    facts_from,
    opened_at,
    parse_time,
    read_events,
    simulate,
)

pytestmark = pytest.mark.unit

AT = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)

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
    "customer": {"email": "a@b.example", "id": customer_id_for("email:a@b.example")},
    "metadata": {"page_url": "/pricing"},
    # what the router's rules see on the ticket this first message opens
    "ticket": new_ticket_facts(
        "chat",
        id=ticket_id("evt-1"),
        customer_id=customer_id_for("email:a@b.example"),
        inbox="web",
        at=AT,
    ),
}


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
    assert facts["ticket"] == {
        **new_ticket_facts("sms", id=NEW_TICKET_ID, customer_id=customer_id_for("sms:anonymous")),
        "reopen_count": 2,
    }
    assert facts_from({"customer": "bob", "language": 5}) is not None  # nothing to crash on
    assert facts_from({**ENVELOPE, "type": "switchboard.ticket.created"}) is None
    assert facts_from([1, 2]) is None


def test_ticket_fields_by_their_short_names_are_the_tickets_as_a_rule_reads_them() -> None:
    """``tags`` and ``contacts`` in plain facts are ``ticket.tags`` and ``ticket.contacts``,
    as in a rule; they had been accepted and ignored, so a case could pass for the wrong
    reason. Written under ``ticket`` too, that one wins."""
    rules = loads_ruleset(
        "version: 1\nqueues: {general: {}}\ndefaults: {queue: general}\nrules:\n"
        "  - {name: not vip, on: message.received, if: {not: {tags: vip}},"
        " then: {priority: low}}\n"
        "  - {name: many, on: message.received, if: {contacts: {gte: 3}},"
        " then: {tags: [many]}}\n"
    )
    found = facts_from({"channel": "email", "text": "hi", "tags": ["vip"], "contacts": 5})
    assert found is not None
    facts = found[0]
    assert (facts["ticket"]["tags"], facts["ticket"]["contacts"]) == (["vip"], 5)
    decision = rules.evaluate(facts, now=AT, trigger="message.received")
    assert decision.matched == ("many",)
    both = facts_from({"channel": "email", "tags": ["a"], "ticket": {"tags": ["b"]}})
    assert both is not None
    assert both[0]["ticket"]["tags"] == ["b"]


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


def test_simulate_compares_outcomes_and_keeps_every_difference() -> None:
    header = "version: 1\nqueues: {general: {}, sales: {}}\ndefaults: {queue: general}\n"
    new = loads_ruleset(
        header + "rules:\n  - {name: s, if: {text: {contains: quote}}, then: {queue: sales}}\n"
    )
    old = loads_ruleset(header)
    events = [Recorded(n, {"text": "a quote"}) for n in range(1, 9)] + [Recorded(9, {"text": "hi"})]
    report = simulate(new, events, against=old, now=AT)
    assert (report.evaluated, report.changed) == (9, 8)
    assert report.moves == {("general", "sales"): 8}
    assert [example["line"] for example in report.examples] == list(range(1, 9))
    assert report.examples[0] == {
        "line": 1,
        "id": None,
        "subject": None,
        "changes": {"queue": ["general", "sales"], "matched": {"added": ["s"], "removed": []}},
    }
    kept = simulate(new, events, against=old, now=AT, keep=3)
    assert (kept.changed, len(kept.examples)) == (8, 3)
    assert report.to_dict()["against"]["queue_moves"] == [
        {"from": "general", "to": "sales", "count": 8}
    ]


def test_events_the_router_opens_no_ticket_for_are_counted_not_evaluated(
    tmp_path: Path,
) -> None:
    """Auto-replies and calls that are no contact (ringing, answered, ended) open no
    ticket in the router, so no rule runs for them: simulate says so instead."""
    data = ENVELOPE["data"]
    assert isinstance(data, dict)
    voice = {"channel": "voice", "customer": {"phone": "+4915112345678"}}
    lines = [
        ENVELOPE,
        {**ENVELOPE, "id": "evt-2", "data": {**data, "auto_reply": True}},
        {**voice, "metadata": {"call_event": "ringing"}},
        {**voice, "metadata": {"call_event": "answered"}},
        {**voice, "metadata": {"call_event": "ended"}},
        {**voice, "metadata": {"call_event": "missed"}},
        {**voice, "metadata": {"call_event": "voicemail"}},
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    ruleset = loads_ruleset("version: 1\nqueues: {general: {}}\ndefaults: {queue: general}\n")
    report = simulate(ruleset, read_events(path), now=AT)
    assert (report.evaluated, report.skipped) == (3, 0)
    assert report.to_dict()["not_routed"] == 4
    assert report.to_dict()["not_routed_reasons"] == {
        "voice call_event 'ringing' is no customer contact": 1,
        "voice call_event 'answered' is no customer contact": 1,
        "voice call_event 'ended' is no customer contact": 1,
        "auto-reply or bounce never opens a ticket": 1,
    }


def test_lines_that_are_not_utf8_are_skipped_and_a_bom_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    good = json.dumps(ENVELOPE).encode()
    path.write_bytes(b"\xef\xbb\xbf" + good + b"\n" + b'{"text": "caf\xe9"}\n' + good + b"\n")
    first, second, third = list(read_events(path))
    assert first == Recorded(1, FACTS, AT, "evt-1")
    assert second == (2, "not UTF-8 text")
    assert third == Recorded(3, FACTS, AT, "evt-1")


def test_plain_facts_open_their_ticket_when_they_are_evaluated() -> None:
    """Without an event time the ticket opens at ``now``, as the router opens it at the
    time of the event it evaluates; rules on ``ticket.created_at`` see a time."""
    ruleset = loads_ruleset(
        "version: 1\nqueues: {general: {}, fresh: {}}\ndefaults: {queue: general}\n"
        "rules:\n  - {name: f, if: {ticket.created_at: {exists: true}}, then: {queue: fresh}}\n"
    )
    found = facts_from({"text": "hi"})
    assert found is not None
    assert found[0]["ticket"]["created_at"] is None  # not known until evaluated
    report = simulate(ruleset, [Recorded(1, found[0])], now=AT)
    assert report.queues == {"fresh": 1}
    assert opened_at(FACTS, datetime(2030, 1, 1, tzinfo=UTC)) == FACTS  # the event's own time


def test_a_later_trigger_that_sets_no_queue_counts_it_unchanged() -> None:
    """On ``message.received`` the defaults do not apply: a message no rule moves leaves
    its ticket's queue and priority as they are, and the summary says so, not "None"."""
    ruleset = loads_ruleset(
        "version: 1\nqueues: {general: {}, vip: {}}\ndefaults: {queue: general}\n"
        "rules:\n  - {name: v, on: [message.received], if: {text: {contains: [vip]}},"
        " then: {queue: vip}}\n"
    )
    events = [Recorded(1, FACTS), Recorded(2, {**FACTS, "text": "vip please"})]
    report = simulate(ruleset, events, trigger="message.received", now=AT)
    assert report.queues == {"unchanged": 1, "vip": 1}
    assert report.priorities == {"unchanged": 2}
