"""What ``rules test`` (and ``explain``) show a rule, held to what the router shows it:
an outside audit found a reopen seen with ``reopen_count: 0`` and a message with
``contacts: 1``, counts the router never has, and a recorded event evaluated at the
wall-clock time, not at its own; and rules could not read the ticket fields section 10
adds (``follow_up_of``, ``handle_seconds``, ``language``)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from rules import RuleSetInvalid, loads_ruleset
from rules.casefile import load_cases, run_case

pytestmark = pytest.mark.unit

HEAD = "version: 1\nqueues: {general: {}}\ndefaults: {queue: general}\n"
COUNTERS = (
    HEAD
    + """rules:
  - {name: first reopen, on: ticket.reopened, if: {reopen_count: 1}, then: {tags: [once]}}
  - {name: no reopen, on: ticket.reopened, if: {reopen_count: 0}, then: {tags: [never]}}
  - {name: one contact, on: message.received, if: {ticket.contacts: 1}, then: {tags: [never]}}
  - {name: more contacts, on: message.received, if: {contacts: {gte: 2}}, then: {tags: [more]}}
"""
)


def cases(tmp_path: Path, text: str, rules: str = COUNTERS) -> list[tuple[str, list[str]]]:
    """Each case's name and the fields it got wrong."""
    path = tmp_path / "cases.yaml"
    path.write_text(text, encoding="utf-8")
    ruleset = loads_ruleset(rules, "r.yaml")
    results = [run_case(ruleset, case) for case in load_cases(path)]
    return [(result.case.name, [m.field for m in result.mismatches]) for result in results]


def test_a_reopen_and_a_message_are_seen_with_the_counts_the_router_gives_them(
    tmp_path: Path,
) -> None:
    text = """now: 2026-03-04T10:00:00Z
cases:
  - name: reopen
    trigger: ticket.reopened
    event: {channel: email, text: still broken}
    expect: {tags: [once], matched: [first reopen]}
  - name: message
    trigger: message.received
    event: {channel: email, text: any news?}
    expect: {tags: [more], matched: [more contacts]}
  - name: a ticket given with more contacts keeps them
    trigger: ticket.reopened
    event: {channel: email, ticket: {reopen_count: 3, contacts: 5}}
    expect: {tags: []}
"""
    assert cases(tmp_path, text) == [
        ("reopen", []),
        ("message", []),
        ("a ticket given with more contacts keeps them", []),
    ]


def test_a_recorded_event_is_evaluated_at_its_own_time(tmp_path: Path) -> None:
    rules = HEAD + (
        "calendars: {office: {timezone: UTC, hours: {mon: [09:00-17:00], tue: [09:00-17:00],"
        " wed: [09:00-17:00], thu: [09:00-17:00], fri: [09:00-17:00]}}}\n"
        "rules:\n  - {name: ah, if: {not: {within: office}}, then: {tags: [after-hours]}}\n"
    )
    text = """now: 2026-03-04T10:00:00Z
cases:
  - name: saturday night
    event:
      specversion: "1.0"
      id: e-1
      source: /v1/channels/email
      type: switchboard.interaction.received
      time: "2026-03-07T03:00:00Z"
      data: {channel: email, customer: {email: a@example.org}, inbox: s@acme.test, text: hi}
    expect: {tags: [after-hours]}
  - name: the case's own time wins
    now: 2026-03-04T10:00:00Z
    event:
      specversion: "1.0"
      id: e-2
      source: /v1/channels/email
      type: switchboard.interaction.received
      time: "2026-03-07T03:00:00Z"
      data: {channel: email, customer: {email: a@example.org}, inbox: s@acme.test, text: hi}
    expect: {tags: []}
"""
    assert cases(tmp_path, text, rules) == [
        ("saturday night", []),
        ("the case's own time wins", []),
    ]


@pytest.mark.parametrize(
    ("condition", "ticket", "matches"),
    [
        ("{ticket.follow_up_of: {exists: true}}", {"follow_up_of": "T-1"}, True),
        ("{ticket.follow_up_of: {exists: true}}", {}, False),
        ("{ticket.handle_seconds: {gt: 600}}", {"handle_seconds": 900.0}, True),
        ("{ticket.language: de}", {"language": "de"}, True),
    ],
)
def test_rules_read_the_ticket_fields_section_10_adds(
    condition: str, ticket: dict[str, object], matches: bool
) -> None:
    rules = loads_ruleset(
        HEAD
        + f"rules:\n  - {{name: r, on: message.received, if: {condition}, then: {{tags: [t]}}}}\n"
    )
    facts = {"channel": "email", "ticket": {"status": "open", **ticket}}
    decision = rules.evaluate(
        facts, trigger="message.received", now=datetime(2026, 3, 4, tzinfo=UTC)
    )
    assert (decision.matched == ("r",)) is matches


def test_an_unknown_ticket_field_is_still_a_load_error() -> None:
    with pytest.raises(RuleSetInvalid, match="unknown"):
        loads_ruleset(HEAD + "rules:\n  - {name: r, if: {ticket.folow_up_of: x}, then: {}}\n")
