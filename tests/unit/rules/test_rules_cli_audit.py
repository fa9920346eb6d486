"""`rules explain` and `rules simulate` say what they cannot know (the CRM profile), take
it when given, read a missing decision field as "unchanged" where it is, and hold
replayed lines to the checks `explain` makes. Run as a subprocess, as authors run it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.rules.test_rules_cli import run

pytestmark = pytest.mark.unit

NOW = "2026-03-04T10:00:00Z"
CRM_RULES = (
    "version: 1\nqueues: {general: {}, vip: {}, billing: {}}\ndefaults: {queue: general}\n"
    "rules:\n"
    "  - {name: vip by crm attribute, if: {customer.arr: {gte: 100000}}, then: {queue: vip}}\n"
    "  - {name: gold, if: {customer.tier: gold}, then: {tags: [gold]}}\n"
    "  - {name: big sender, if: {customer.email: {contains: '@big'}}, then: {tags: [big]}}\n"
)
INBOUND = {
    "specversion": "1.0",
    "id": "e-crm",
    "type": "switchboard.interaction.received",
    "source": "/channels/email",
    "time": NOW,
    "data": {"channel": "email", "customer": {"email": "ada@big.example"}, "text": "hi"},
}


@pytest.fixture
def crm_rules(tmp_path: Path) -> Path:
    rules = tmp_path / "rules.yaml"
    rules.write_text(CRM_RULES, encoding="utf-8")
    return rules


@pytest.fixture
def inbound(tmp_path: Path) -> Path:
    event = tmp_path / "event.json"
    event.write_text(json.dumps(INBOUND), encoding="utf-8")
    return event


def test_explain_names_the_crm_fields_it_does_not_have(crm_rules: Path, inbound: Path) -> None:
    result = run("explain", crm_rules, inbound)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "note: customer.arr, customer.tier come from the customer's CRM profile" in out
    assert "(customer.upserted), which explain does not have" in out
    assert "--customer FILE" in out
    assert "  queue:       general  (by defaults)" in out.splitlines()
    data = json.loads(run("explain", crm_rules, inbound, "--json").stdout)
    assert data["crm_unknown"] == ["customer.arr", "customer.tier"]


def test_explain_takes_the_crm_profile_as_the_router_stores_it(
    tmp_path: Path, crm_rules: Path, inbound: Path
) -> None:
    profile = tmp_path / "customer.yaml"
    profile.write_text("{tier: gold, attributes: {arr: 250000}}\n", encoding="utf-8")
    result = run("explain", crm_rules, inbound, "--customer", profile)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "  MATCH    vip by crm attribute" in lines
    assert "  MATCH    gold" in lines
    assert "  queue:       vip  (by vip by crm attribute)" in lines
    assert "  tags:        gold, big" in lines
    assert "CRM profile" not in result.stdout

    as_json = tmp_path / "customer.json"  # a customer.upserted body works as it is
    as_json.write_text(json.dumps({"id": "crm-1", "email": "ada@big.example", "tier": "gold"}))
    assert "  MATCH    gold" in run("explain", crm_rules, inbound, "--customer", as_json).stdout


def test_explain_refuses_a_profile_field_the_router_would_not_store(
    tmp_path: Path, crm_rules: Path, inbound: Path
) -> None:
    profile = tmp_path / "customer.yaml"
    profile.write_text("tier: gold\narr: 250000\n", encoding="utf-8")
    result = run("explain", crm_rules, inbound, "--customer", profile)
    assert result.returncode == 2
    assert result.stdout.startswith(
        f"error: {profile}:2:1: unknown profile field 'arr' (hint: a CRM attribute goes "
        "under attributes: {arr: ...}"
    )


def test_simulate_counts_events_that_met_rules_on_crm_fields_once(
    tmp_path: Path, crm_rules: Path
) -> None:
    customer = {"email": "b@x.example", "tier": "silver", "attributes": {"arr": 5}}
    carried = {"channel": "email", "customer": customer, "text": "hi"}
    events = tmp_path / "events.jsonl"
    events.write_text(
        json.dumps(INBOUND) + "\n" + json.dumps(carried) + "\n" + json.dumps(INBOUND) + "\n",
        encoding="utf-8",
    )
    result = run("simulate", crm_rules, "--events", events, "--now", NOW)
    assert result.returncode == 0, result.stdout + result.stderr
    notes = [line for line in result.stdout.splitlines() if "CRM profile" in line]
    assert notes == [
        "  note: 2 of 3 evaluated events met rules reading customer.arr, customer.tier, "
        "which come from the customer's CRM profile (customer.upserted): simulate does not "
        "have it and read them as null"
    ]
    data = json.loads(run("simulate", crm_rules, "--events", events, "--json").stdout)
    assert (data["crm_unknown"], data["crm_fields"]) == (
        2,
        {"customer.arr": 2, "customer.tier": 2},
    )


UNCHANGED_RULES = (
    "version: 1\nqueues: {general: {}, billing: {}}\n"
    "defaults: {queue: general}\n"
    "sla: {standard: {first_response: 1h}}\n"
    "rules:\n"
    "  - {name: tag replies, on: message.received, then: {tags: [replied]}}\n"
)


def test_explain_says_unchanged_where_an_unset_field_leaves_the_ticket_as_it_is(
    tmp_path: Path,
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(UNCHANGED_RULES, encoding="utf-8")
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps({"channel": "email", "text": "hi", "ticket": {"queue": "billing"}}),
        encoding="utf-8",
    )
    follow_up = run("explain", rules, event, "--trigger", "message.received", "--now", NOW)
    assert follow_up.returncode == 0, follow_up.stdout + follow_up.stderr
    decision = follow_up.stdout.split("decision:\n")[1].splitlines()
    assert decision[:3] == [
        "  queue:       unchanged (billing)",
        "  priority:    unchanged (normal)",
        "  sla:         unchanged",
    ]
    created = run("explain", rules, event, "--now", NOW).stdout.split("decision:\n")[1]
    assert "  sla:         none" in created.splitlines()  # a new ticket really has none


def test_simulate_refuses_misspelt_facts_as_explain_does(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    good = json.dumps({"channel": "email", "text": "refund"})
    events.write_text(good + "\n" + json.dumps({"chanel": "email", "txet": "refund"}) + "\n")
    result = run("simulate", "rules/examples", "--events", events, "--now", NOW)
    assert result.returncode == 2
    assert result.stdout.splitlines() == [
        f"error: {events}:2: unknown fact 'chanel' in the event (hint: did you mean 'channel'?)",
        f"error: {events}:2: unknown fact 'txet' in the event (hint: did you mean 'text'?)",
        f"1 line of misspelt facts in {events}",
    ]


def test_simulate_skips_other_cloudevents_and_explain_refuses_them(tmp_path: Path) -> None:
    other = {"type": "com.example.other", "id": "1"}
    events = tmp_path / "events.jsonl"
    good = json.dumps({"channel": "email", "text": "refund"})
    events.write_text(good + "\n" + json.dumps(other) + "\n", encoding="utf-8")
    result = run("simulate", "rules/examples", "--events", events, "--now", NOW)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].endswith(": 1 events evaluated, 1 skipped")
    assert f"  {events}:2: skipped: not a switchboard.interaction.received event" in lines

    event = tmp_path / "event.json"
    event.write_text(json.dumps(other), encoding="utf-8")
    explained = run("explain", "rules/examples", event)
    assert (explained.returncode, explained.stdout) == (
        2,
        f"error: {event} holds neither facts nor a switchboard.interaction.received event\n",
    )


CALENDAR_RULES = (
    "version: 1\nqueues: {general: {}}\n"
    "calendars:\n"
    "  office:\n"
    "    timezone: America/New_York\n"
    "    hours: {mon: ['09:00-17:00'], tue: ['09:00-17:00'], wed: ['09:00-17:00'],\n"
    "            thu: ['09:00-17:00'], fri: ['09:00-17:00']}\n"
    "sla:\n"
    "  standard:\n"
    "    calendar: office\n"
    "    warn_before: 30m\n"
    "    first_response: {normal: 4h, urgent: 1h}\n"
    "    resolution: {normal: 2d}\n"
    "defaults: {queue: general, priority: normal, sla: standard}\n"
    "rules:\n"
    "  - {name: urgent, if: {text: {contains: down}}, then: {priority: urgent}}\n"
)


def test_explain_shows_when_a_new_tickets_clocks_fall_due_on_its_calendar(
    tmp_path: Path,
) -> None:
    """Friday 16:30 in New York, half an hour before closing: a 4 h first response runs
    30 min on Friday and 3.5 h from Monday 09:00, so it is due Monday 12:30 EST."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(CALENDAR_RULES, encoding="utf-8")
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"channel": "email", "text": "a question"}), encoding="utf-8")
    friday_evening = "2026-12-04T21:30:00Z"
    shown = run("explain", rules, event, "--now", friday_evening)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert (
        "  first_response: due 2026-12-07T17:30:00+00:00, warning 2026-12-07T17:00:00+00:00"
        in shown.stdout.splitlines()
    )
    report = json.loads(run("explain", rules, event, "--now", friday_evening, "--json").stdout)
    # 2d is 48 business hours: six 8-hour days, Monday week at 16:30 EST
    assert report["sla_times"]["resolution"]["due"] == "2026-12-14T21:30:00+00:00"
    event.write_text(json.dumps({"channel": "email", "text": "site is down"}), encoding="utf-8")
    urgent = json.loads(run("explain", rules, event, "--now", friday_evening, "--json").stdout)
    assert urgent["sla_times"]["first_response"]["due"] == "2026-12-07T14:30:00+00:00"
    follow_up = run(
        "explain", rules, event, "--now", friday_evening, "--trigger", "message.received"
    )
    assert "first_response:" not in follow_up.stdout  # a later trigger's clocks have a history
