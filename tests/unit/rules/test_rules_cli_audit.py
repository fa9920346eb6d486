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
    assert result.stderr.startswith(
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
    assert result.stderr.splitlines() == [
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
    assert (explained.returncode, explained.stderr) == (
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


DISABLED_RULES = (
    "version: 1\nqueues: {general: {}, billing: {}}\ndefaults: {queue: general}\n"
    "rules:\n"
    "  - {name: first, if: {subject: {contains: zzz}}, then: {tags: [a]}}\n"
    "  - {name: switched off, enabled: false, if: {channel: email}, then: {queue: billing}}\n"
    "  - {name: last, then: {tags: [last]}}\n"
    "escalations:\n"
    "  - {name: esc off, on: assignment.timeout, enabled: false, then: {priority: high}}\n"
)


def test_check_and_explain_show_disabled_rules_in_their_place(tmp_path: Path) -> None:
    """``enabled: false`` is checked but never run: check counts it, explain lists it
    where the file has it (a rule nobody can see is one nobody remembers to delete)."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(DISABLED_RULES, encoding="utf-8")
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"channel": "email", "subject": "hi"}), encoding="utf-8")
    check = run("check", rules)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.splitlines()[-1].startswith(
        "ok: 3 rules (1 disabled), 1 escalation (1 disabled), 2 queues,"
    )
    text = run("explain", rules, event, "--now", NOW)
    assert text.returncode == 0, text.stdout + text.stderr
    lines = text.stdout.splitlines()
    assert lines[3 : lines.index("decision:")] == [
        '  no match first         subject contains ["zzz"] (value: "hi")',
        "  -        switched off  disabled (enabled: false): never runs",
        "  MATCH    last",
        "  -        esc off       disabled (enabled: false): never runs",
    ]
    assert "  queue:       general  (by defaults)" in lines
    data = json.loads(run("explain", rules, event, "--now", NOW, "--json").stdout)
    assert data["matched"] == ["last"]
    assert [e["name"] for e in data["evaluations"]] == ["first", "last"]
    assert data["not_evaluated"] == [
        {"name": "switched off", "disabled": True},
        {"name": "esc off", "disabled": True},
    ]
    assert data["rules_version"] == text.stdout.split()[1]


def test_explain_says_a_pattern_search_gave_up_and_warns_once_on_stderr(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "version: 1\nqueues: {general: {}}\ndefaults: {queue: general}\nrules:\n"
        '  - {name: slow, if: {text: {matches: "(x+x+)+y"}}, then: {tags: [s]}}\n',
        encoding="utf-8",
    )
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"channel": "email", "text": "x" * 3000}), encoding="utf-8")
    reason = 'text matches "(x+x+)+y" timed out after 50 ms: counts as no match (value: "'
    text = run("explain", rules, event, "--now", NOW)
    assert text.returncode == 0, text.stdout + text.stderr
    (line,) = (line for line in text.stdout.splitlines() if " slow " in line)
    assert line.startswith("  no match slow  " + reason)
    assert text.stderr.count("rule_pattern_timed_out") == 1
    as_json = run("explain", rules, event, "--now", NOW, "--json")
    data = json.loads(as_json.stdout)  # the warning is on stderr, the JSON alone on stdout
    assert data["evaluations"][0]["failed_condition"].startswith(reason)
    assert data["matched"] == []
    assert as_json.stderr.count("rule_pattern_timed_out") == 1


def test_a_case_that_expects_nothing_is_an_error_not_a_pass(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(CRM_RULES, encoding="utf-8")
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        "cases:\n  - name: nothing\n    event: {channel: email}\n    expect: {}\n",
        encoding="utf-8",
    )
    result = run("test", rules, "--cases", cases)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{cases}:4:13: a case needs at least one expectation in 'expect' (hint: e.g. "
        "expect: {queue: billing}; keys: queue, priority, sla, assign, auto_reply, tags, "
        "remove_tags, notify, matched)"
    ]


def test_a_fact_value_no_event_carries_is_refused_as_a_misspelt_fact_is(tmp_path: Path) -> None:
    """``{"channel": "pigeon"}`` was explained without a word: a rule on ``channel: chat``
    read as not matched, and the author never learned the event could not exist."""
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"channel": "emial", "text": "hi", "ticket": {"priority": "hihg"}}))
    result = run("explain", "rules/examples", event, "--now", NOW)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: {event}: unknown channel 'emial' in the event (hint: did you mean 'email'?)",
        f"error: {event}: unknown ticket priority 'hihg' (hint: did you mean 'high'?)",
    ]
    event.write_text(json.dumps({"channel": "pigeon", "text": "hi"}))
    result = run("explain", "rules/examples", event, "--now", NOW)
    assert result.returncode == 2
    assert "unknown channel 'pigeon' in the event (hint: expected one of: " in result.stderr
