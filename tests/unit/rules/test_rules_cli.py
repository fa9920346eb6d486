"""The rule author's CLI, run as a subprocess exactly as authors run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "rules" / "examples"
CASES = EXAMPLES / "tests" / "cases.yaml"
OFFICE_OPEN = "2026-03-04T10:00:00+01:00"


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rules.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_check_ok_prints_a_summary() -> None:
    result = run("check", EXAMPLES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(
        "ok: 18 rules, 5 escalations, 6 queues, 3 SLA policies, 1 calendar; version "
    )


def test_check_errors_exit_1_with_locations(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 1\nqueues: {general: {}}\ndefaults: {queue: general}\n"
        "rules:\n  - {name: r, if: {subjet: x}, then: {queue: genral}}\n",
        encoding="utf-8",
    )
    result = run("check", bad)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{bad}:5:20: unknown field 'subjet' (hint: did you mean 'subject'?)",
        f"{bad}:5:46: unknown queue 'genral' (hint: did you mean 'general'?)",
        f"2 errors in {bad}",
    ]


def test_check_warnings_pass_with_exit_0(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "version: 1\nqueues: {general: {}, unused: {}}\ndefaults: {queue: general}\n"
        "rules:\n  - {name: all, then: {tags: [x]}, stop: true}\n"
        "  - {name: dead, then: {tags: [y]}}\n",
        encoding="utf-8",
    )
    result = run("check", rules)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[:2] == [
        f"{rules}:2:23: warning: no rule, escalation or default routes to queue 'unused'",
        f"{rules}:6:5: warning: rule 'dead' can never match: earlier rule 'all' (line 5) "
        "always matches and stops",
    ]
    assert lines[2].endswith("(2 warnings)")


def test_check_warns_of_notifications_the_notifier_would_not_find(tmp_path: Path) -> None:
    """A typo in an auto_reply or notify name would dead-letter every such notification."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "version: 1\nqueues: {general: {}}\ndefaults: {queue: general}\n"
        "rules:\n  - {name: r, then: {auto_reply: helo, notify: [lead, oncall]}}\n",
        encoding="utf-8",
    )
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "hello.email.j2").write_text("Hello\n", encoding="utf-8")
    (templates / "notify_targets.yaml").write_text(
        "version: 1\ntargets: {lead: {email: [lead@example.com]}}\n", encoding="utf-8"
    )
    result = run("check", rules)
    assert result.returncode == 0
    assert result.stdout.splitlines() == [
        f"{rules}:5:22: warning: auto_reply template 'helo' has no helo.email.j2 or "
        f"helo.sms.j2 in {templates}",
        f"{rules}:5:40: warning: notify target 'oncall' is not in "
        f"{templates / 'notify_targets.yaml'}",
        "ok: 1 rule, 0 escalations, 1 queue, 0 SLA policies, 0 calendars; version "
        + result.stdout.split("version ")[-1].split()[0]
        + " (2 warnings)",
    ]
    fixed = run("check", rules, "--templates", tmp_path)  # elsewhere: nothing found there
    assert "auto_reply template 'helo'" in fixed.stdout


def test_check_warns_of_templates_that_do_not_compile(tmp_path: Path) -> None:
    """A template with a syntax error or an unknown filter: the notifier dead-letters every
    notification that needs it; ``rules check`` had said "ok"."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "version: 1\nqueues: {general: {}}\ndefaults: {queue: general}\n"
        "rules:\n  - {name: r, then: {auto_reply: ack, notify: [lead]}}\n",
        encoding="utf-8",
    )
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "ack.email.j2").write_text("Hello {{ customer.name | shout }}\n")
    (templates / "ack.subject.j2").write_text("Re: {{ ticket.subject }}\n")
    (templates / "page.sms.j2").write_text("Ticket\n{% if ticket %}\n{{ ticket.id }}\n")
    (templates / "notify_targets.yaml").write_text(
        "version: 1\ntargets: {lead: {sms: ['+15551234567'], template: page}}\n"
    )
    result = run("check", rules)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"{templates / 'ack.email.j2'}:1:1: warning: template ack.email.j2 does not "
        "compile: No filter named 'shout'."
    )
    assert lines[1].startswith(
        f"{templates / 'page.sms.j2'}:3:1: warning: template page.sms.j2 does not compile: "
        "Unexpected end of template."
    )
    assert lines[2].endswith("(2 warnings)")


def test_test_command_passes_the_example_cases() -> None:
    result = run("test", EXAMPLES, "--cases", CASES)
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines()[-1] == "21 passed, 0 failed"


def test_test_command_shows_failures_as_a_diff(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        f"now: {OFFICE_OPEN}\ncases:\n"
        "  - name: passes\n    event: {subject: Invoice}\n    expect: {queue: billing}\n"
        "  - name: wrong\n    event: {subject: Invoice}\n"
        "    expect: {queue: tech, tags: [billing, extra], matched: [billing]}\n",
        encoding="utf-8",
    )
    result = run("test", EXAMPLES, "--cases", cases)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"PASS passes ({cases}:3)",
        f"FAIL wrong ({cases}:6)",
        "    queue:",
        '    - expected: "tech"',
        '    + actual:   "billing"',
        "    tags:",
        '    - expected: ["billing", "extra"]',
        '    + actual:   ["billing"]',
        "1 passed, 1 failed",
    ]


def test_test_command_reports_bad_case_files(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        "cases:\n  - name: x\n    event: {}\n    expect: {queu: general}\n", encoding="utf-8"
    )
    result = run("test", EXAMPLES, "--cases", cases)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{cases}:4:14: unknown expectation 'queu' (hint: did you mean 'queue'?)"
    ]


def test_test_command_locates_expectations_that_are_no_list_of_names(tmp_path: Path) -> None:
    """``tags: 5`` and ``matched: true`` had stopped the run with a TypeError, and
    ``tags: {billing: 1}`` had passed, read as its keys."""
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        f"now: {OFFICE_OPEN}\ncases:\n"
        "  - name: a\n    event: {subject: Invoice}\n    expect: {tags: 5}\n"
        "  - name: b\n    event: {subject: Invoice}\n    expect: {matched: true}\n"
        "  - name: c\n    event: {subject: Invoice}\n    expect: {tags: {billing: 1}}\n"
        "  - name: d\n    event: {subject: Invoice}\n    expect: {notify: [ops, [x]]}\n",
        encoding="utf-8",
    )
    result = run("test", EXAMPLES, "--cases", cases)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr == ""
    assert result.stdout.splitlines() == [
        f"{cases}:5:20: 'tags' expects a list of tags, got a number"
        " (hint: e.g. tags: [billing]; null for none)",
        f"{cases}:8:23: 'matched' expects a list of rule names, got a boolean"
        " (hint: the rules that matched, in order, e.g. matched: [billing]; [] for none)",
        f"{cases}:11:20: 'tags' expects a list of tags, got a mapping"
        " (hint: e.g. tags: [billing]; null for none)",
        f"{cases}:14:28: 'notify' expects a list of notify targets, got a list in it"
        " (hint: write one piece of text here, not a list (quote text with ': '))",
    ]


def test_test_command_locates_a_list_where_one_value_is_expected(tmp_path: Path) -> None:
    """``queue: [billing]`` had failed as a mismatch (``['billing']`` is no queue), as
    if the rules routed elsewhere."""
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        f"now: {OFFICE_OPEN}\ncases:\n"
        "  - name: a\n    event: {subject: Invoice}\n    expect: {queue: [billing]}\n"
        "  - name: b\n    event: {subject: Invoice}\n    expect: {priority: {p: high}}\n",
        encoding="utf-8",
    )
    result = run("test", EXAMPLES, "--cases", cases)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        f"{cases}:5:21: 'queue' expects one value, got a list"
        " (hint: e.g. queue: billing; null for none)",
        f"{cases}:8:24: 'priority' expects one value, got a mapping"
        " (hint: e.g. priority: high; null for none)",
    ]


def test_test_command_compares_tags_as_sets(tmp_path: Path) -> None:
    """The docs say tags compare as sets: a tag written twice is the same set."""
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        f"now: {OFFICE_OPEN}\ncases:\n"
        "  - name: twice\n    event: {subject: Invoice}\n"
        "    expect: {tags: [billing, billing], matched: [billing]}\n",
        encoding="utf-8",
    )
    result = run("test", EXAMPLES, "--cases", cases)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [f"PASS twice ({cases}:3)", "1 passed, 0 failed"]


def test_explain_lists_every_rule_then_the_decision(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps({"channel": "email", "subject": "Invoice 7", "text": "hi"}), encoding="utf-8"
    )
    result = run("explain", EXAMPLES, event, "--now", "2026-03-04T21:00:00+01:00")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].endswith("trigger ticket.created · now 2026-03-04T21:00:00+01:00")
    assert lines[1].startswith("ruleset hash: sha256:")
    assert "  MATCH    billing" in lines
    assert "  MATCH    after hours" in lines
    spam = next(line for line in lines if "suspected spam" in line)
    assert (
        spam.split(maxsplit=4)[-1]
        == 'subject starts_with ["[spam]", "***spam***"] (value: "Invoice 7")'
    )
    assert lines[lines.index("decision:") + 1] == "  queue:       billing  (by billing)"
    assert "  auto_reply:  after-hours  (by after hours)" in lines


def rule_lines(stdout: str) -> list[str]:
    """The per-rule lines of ``explain``: between the language line and the decision,
    without the notes (``note:`` and their indented continuation lines)."""
    lines = stdout.splitlines()
    return [
        line
        for line in lines[3 : lines.index("decision:")]
        if not line.startswith(("note:", "      "))
    ]


def test_explain_lists_rules_of_other_triggers_as_not_evaluated(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"channel": "email", "text": "hi"}), encoding="utf-8")
    created = rule_lines(run("explain", EXAMPLES, event, "--now", OFFICE_OPEN).stdout)
    assert len(created) == 18 + 5  # every rule and escalation of the file
    others = [line for line in created if "not evaluated: listens to" in line]
    assert len(others) == 4 + 5
    replied = next(line for line in created if " customer replied " in line)
    assert replied.split()[0] == "-"
    assert replied.endswith("not evaluated: listens to message.received")
    vip = next(line for line in created if " vip breach " in line)
    assert vip.endswith(
        "not evaluated: listens to sla.first_response.breached, sla.next_response.breached"
    )
    result = run("explain", EXAMPLES, event, "--now", OFFICE_OPEN, "--trigger", "ticket.reopened")
    assert result.returncode == 0, result.stdout + result.stderr
    reopened = rule_lines(result.stdout)
    assert len(reopened) == 18 + 5
    assert [line.split(maxsplit=1)[0] for line in reopened].count("-") == 18 + 5 - 2
    billing = next(line for line in reopened if " billing " in line)
    assert billing.endswith("not evaluated: listens to ticket.created")
    assert not any("reopened" in line and "not evaluated" in line for line in reopened)


def test_explain_json_and_cloudevent_input(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps(
            {
                "specversion": "1.0",
                "id": "abc",
                "type": "switchboard.interaction.received",
                "source": "/channels/email",
                "time": "2026-03-04T09:00:00Z",
                "data": {"channel": "email", "inbox": "sales@acme.example", "text": "quote please"},
            }
        ),
        encoding="utf-8",
    )
    result = run("explain", EXAMPLES, event, "--json")
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert data["now"] == "2026-03-04T09:00:00+00:00"
    assert data["queue"] == "sales"
    assert data["matched"] == ["sales enquiries"]
    assert len(data["evaluations"]) == 14
    assert len(data["not_evaluated"]) == 18 + 5 - 14
    assert {"name": "customer replied", "listens_to": ["message.received"]} in data["not_evaluated"]
    assert data["rules_hash"].startswith("sha256:")
    assert data["not_routed"] is None


def test_explain_notes_a_message_the_router_would_not_route(tmp_path: Path) -> None:
    """An out-of-office answer opens no ticket in production: explain still evaluates
    it, and says so before the rules, as simulate counts it as not routed."""
    event = tmp_path / "ooo.json"
    event.write_text(
        json.dumps({"channel": "email", "text": "I am away", "auto_reply": True}),
        encoding="utf-8",
    )
    result = run("explain", EXAMPLES, event, "--now", OFFICE_OPEN)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "note: the router would not route this message (auto-reply" in result.stdout
    assert "decision:" in result.stdout
    as_json = json.loads(run("explain", EXAMPLES, event, "--now", OFFICE_OPEN, "--json").stdout)
    assert as_json["not_routed"] == "auto-reply or bounce never opens a ticket"


def write_events(path: Path) -> None:
    envelope = {
        "specversion": "1.0",
        "type": "switchboard.interaction.received",
        "id": "e1",
        "time": "2026-03-04T09:00:00Z",
        "data": {"channel": "webform", "subject": "Pricing", "text": "demo?"},
    }
    lines = [
        {"channel": "email", "subject": "Invoice wrong", "text": "x"},
        envelope,
        {"key": "email:a@b.example", "value": {**envelope, "id": "e2"}},
        {"key": "email:c@d.example", "value": json.dumps({**envelope, "id": "e3"})},
        {"specversion": "1.0", "type": "switchboard.ticket.created", "data": {}},
    ]
    path.write_text(
        "\n".join(json.dumps(line) for line in lines) + "\nnot json\n", encoding="utf-8"
    )


def test_simulate_reports_distributions_and_differences(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    write_events(events)
    old = tmp_path / "old.yaml"
    text = (EXAMPLES / "rules.yaml").read_text(encoding="utf-8")
    old.write_text(
        text.replace("then: {queue: sales, tags: [sales]}", "then: {tags: [sales]}"),
        encoding="utf-8",
    )
    result = run("simulate", EXAMPLES, "--events", events, "--against", old, "--now", OFFICE_OPEN)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].endswith(": 4 events evaluated, 2 skipped")
    assert f"  {events}:5: skipped: not a switchboard.interaction.received event" in lines
    assert any(line.split() == ["sales", "3", "75.0%"] for line in lines)
    assert any(line.endswith("3 of 4 events route differently (75.0%)") for line in lines)
    assert "  general -> sales: 3" in lines
    assert '  line 2: queue: "general" -> "sales"' in lines


def test_simulate_json(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    write_events(events)
    result = run("simulate", EXAMPLES, "--events", events, "--json", "--now", OFFICE_OPEN)
    data = json.loads(result.stdout)
    assert data["evaluated"] == 4
    assert data["skipped"] == 2
    assert data["queues"] == {"sales": 3, "billing": 1}
    assert data["tags"]["sales"] == 3
    assert "against" not in data


def test_simulate_refuses_a_file_without_inbound_events(tmp_path: Path) -> None:
    """A tickets dump given by mistake: exit 1 naming the file, not an empty report."""
    events = tmp_path / "tickets.jsonl"
    created = {"specversion": "1.0", "type": "switchboard.ticket.created", "data": {}}
    events.write_text(
        "\n".join(json.dumps({**created, "id": f"t{n}"}) for n in range(3)) + "\n",
        encoding="utf-8",
    )
    for extra in ([], ["--json"]):
        result = run("simulate", EXAMPLES, "--events", events, *extra)
        assert result.returncode == 1, result.stderr
        assert f"error: no inbound events in {events}: all 3 lines skipped" in result.stderr
        # the way to a file it reads: tail's JSON lines (its --full output is no such file)
        assert "(switchboard tail inbound --json, or switchboard export inbound)" in result.stderr
        assert f"error: {events}:1: skipped: not a switchboard.interaction.received event" in (
            result.stderr
        )
        assert "error" not in result.stdout  # stdout holds a report or nothing


def test_bench_reports_both_rulesets() -> None:
    result = run("bench", "--events", "200", "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert [f["name"] for f in figures] == ["rules/examples", "generated 1000 rules"]
    assert figures[1]["rules"] == 1000
    assert all(0 < f["p50_us"] <= f["p99_us"] for f in figures)


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    event = tmp_path / "e.json"
    event.write_text("{}", encoding="utf-8")
    result = run("explain", EXAMPLES, event, "--trigger", "ticket.deleted")
    assert result.returncode == 2
    assert "unknown trigger 'ticket.deleted'" in result.stderr


def test_mounted_as_switchboard_rules() -> None:
    """The lead's composition root mounts this app; `switchboard rules` must behave the same."""
    result = subprocess.run(
        [sys.executable, "-m", "router.app", "rules", "test", EXAMPLES, "--cases", CASES],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "21 passed, 0 failed"


INBOX_RULES = (
    "version: 1\nqueues: {general: {}, tech: {}}\ndefaults: {queue: general}\nrules:\n"
    "  - {name: support inbox, if: {ticket.inbox: support@acme.example}, then: {tags: [inbox]}}\n"
    "  - {name: known customer, if: {customer.id: {exists: true}}, then: {tags: [known]}}\n"
    "  - {name: named ticket, if: {ticket.id: {exists: true}}, then: {queue: tech}}\n"
)
SUPPORT_MAIL = {
    "specversion": "1.0",
    "id": "e-support",
    "type": "switchboard.interaction.received",
    "source": "/channels/email",
    "time": "2026-03-04T09:00:00Z",
    "data": {
        "channel": "email",
        "inbox": "support@acme.example",
        "customer": {"email": "ada@example.com"},
        "text": "help",
    },
}


def test_tools_match_ticket_and_customer_id_rules_as_the_router_does(tmp_path: Path) -> None:
    """In production a new ticket has an id, an inbox and a customer: rules on them match
    in ``explain``, ``simulate`` and ``test`` too."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(INBOX_RULES, encoding="utf-8")
    event = tmp_path / "event.json"
    event.write_text(json.dumps(SUPPORT_MAIL), encoding="utf-8")
    explained = run("explain", rules, event)
    assert explained.returncode == 0, explained.stdout + explained.stderr
    assert "  MATCH    support inbox" in explained.stdout.splitlines()
    assert "  MATCH    known customer" in explained.stdout.splitlines()
    events = tmp_path / "events.jsonl"
    plain = {"channel": "email", "inbox": "support@acme.example", "text": "help"}
    events.write_text(json.dumps(SUPPORT_MAIL) + "\n" + json.dumps(plain) + "\n", "utf-8")
    simulated = json.loads(run("simulate", rules, "--events", events, "--json").stdout)
    assert simulated["rules"] == {"support inbox": 2, "known customer": 2, "named ticket": 2}
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        "now: 2026-03-04T10:00:00Z\ncases:\n"
        "  - name: support mail\n"
        "    event: {channel: email, inbox: support@acme.example}\n"
        "    expect: {queue: tech, tags: [inbox, known]}\n",
        encoding="utf-8",
    )
    tested = run("test", rules, "--cases", cases)
    assert tested.returncode == 0, tested.stdout
    assert tested.stdout.splitlines()[-1] == "1 passed, 0 failed"


def test_simulate_leaves_out_what_the_router_never_routes(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    data = SUPPORT_MAIL["data"]
    assert isinstance(data, dict)
    lines = [
        SUPPORT_MAIL,
        {**SUPPORT_MAIL, "id": "e-ooo", "data": {**data, "auto_reply": True}},
        {"channel": "voice", "metadata": {"call_event": "ringing"}},
        {"channel": "voice", "metadata": {"call_event": "missed"}},
    ]
    events.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    result = run("simulate", EXAMPLES, "--events", events, "--now", OFFICE_OPEN)
    assert result.returncode == 0, result.stdout + result.stderr
    lines_out = result.stdout.splitlines()
    assert lines_out[0].endswith(
        ": 2 events evaluated, 0 skipped, 2 not routed (the router opens no ticket for them)"
    )
    assert "  not routed: 1 × auto-reply or bounce never opens a ticket" in lines_out
    assert "  not routed: 1 × voice call_event 'ringing' is no customer contact" in lines_out
    data_out = json.loads(run("simulate", EXAMPLES, "--events", events, "--json").stdout)
    assert (data_out["evaluated"], data_out["not_routed"]) == (2, 2)


def test_input_that_is_not_utf8_is_named_by_line_and_a_bom_is_accepted(
    tmp_path: Path,
) -> None:
    events = tmp_path / "events.jsonl"
    good = json.dumps(SUPPORT_MAIL).encode()
    events.write_bytes(b"\xef\xbb\xbf" + good + b"\n" + b'{"text": "caf\xe9"}\n')
    result = run("simulate", EXAMPLES, "--events", events, "--now", OFFICE_OPEN)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0].endswith(": 1 events evaluated, 1 skipped")
    assert f"  {events}:2: skipped: not UTF-8 text" in result.stdout.splitlines()

    event = tmp_path / "event.json"
    event.write_bytes(b"\xef\xbb\xbf" + json.dumps(SUPPORT_MAIL, indent=1).encode())
    assert run("explain", EXAMPLES, event).returncode == 0
    event.write_bytes(b'{\n "text": "caf\xe9"\n}\n')
    explained = run("explain", EXAMPLES, event)
    assert (explained.returncode, explained.stderr) == (2, f"error: {event}:2: not UTF-8 text\n")
    assert explained.stdout == ""

    cases = tmp_path / "cases.yaml"
    cases.write_bytes(b"cases:\n  - name: caf\xe9\n")
    tested = run("test", EXAMPLES, "--cases", cases)
    assert tested.returncode == 1
    assert tested.stdout == (
        f"{cases}:2:14: not UTF-8 text (byte 0xe9) (hint: save the cases file as UTF-8)\n"
    )
    assert tested.stderr == ""

    rules = tmp_path / "rules.yaml"
    rules.write_bytes(b"version: 1\nqueues: {general: {}}\ndefaults: {queue: general}\n# caf\xe9\n")
    checked = run("check", rules)
    assert (checked.returncode, checked.stderr) == (1, "")
    assert checked.stdout.splitlines()[0] == (
        f"{rules}:4:6: not UTF-8 text (byte 0xe9) (hint: save the rule file as UTF-8)"
    )


@pytest.mark.parametrize(
    ("event", "error"),
    [
        # with the typo the case tested a message without a channel, and passed
        (
            "{chanel: webform, metadata: {category: billing}}",
            "4:13: unknown fact 'chanel' in the event (hint: did you mean 'channel'?)",
        ),
        (
            "{channel: email, customer.tier: gold}",
            "4:29: unknown fact 'customer.tier' in the event "
            "(hint: facts nest: customer: {tier: ...})",
        ),
    ],
    ids=["misspelt", "dotted"],
)
def test_a_fact_no_rule_can_read_in_a_case_is_an_error_not_a_pass(
    tmp_path: Path, event: str, error: str
) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        f"now: 2026-03-04T10:00:00+01:00\ncases:\n  - name: c\n    event: {event}\n"
        "    expect: {queue: general}\n",
        encoding="utf-8",
    )
    result = run("test", EXAMPLES, "--cases", cases)
    assert result.returncode != 0
    assert f"{cases}:{error}" in result.stdout


def test_input_too_deep_or_with_half_a_character_is_skipped_or_refused(tmp_path: Path) -> None:
    """A lone surrogate escape ("\\ud83d": half an emoji) had crashed language detection
    and the printing of explain, and a line nested 1,000 levels deep json.loads' recursion:
    tracebacks. The router (orjson) refuses both; the tools skip such a line, or exit 2."""
    half = '{"channel": "chat", "text": "\\ud83d hallo"}'
    deep = '{"channel": "email", "metadata": ' + "[" * 5000 + "]" * 5000 + "}"
    events = tmp_path / "events.jsonl"
    events.write_text(f"{half}\n{deep}\n{json.dumps(SUPPORT_MAIL)}\n", encoding="utf-8")
    result = run("simulate", EXAMPLES, "--events", events, "--now", OFFICE_OPEN)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].endswith(": 1 events evaluated, 2 skipped")
    assert (
        f'  {events}:1: skipped: not JSON: "\\ud83d" is half a character (a lone surrogate)'
        in lines
    )
    assert f"  {events}:2: skipped: not JSON: nested too deeply to read" in lines

    event = tmp_path / "event.json"
    for text, why in (
        (half, '"\\ud83d" is half a character (a lone surrogate)'),
        (deep, "nested too deeply to read"),
    ):
        event.write_text(text, encoding="utf-8")
        explained = run("explain", EXAMPLES, event)
        assert (explained.returncode, explained.stderr) == (
            2,
            f"error: cannot read event {event}: {why}\n",
        )
        assert explained.stdout == ""


def test_a_date_without_a_time_in_a_cases_file_is_named_plainly(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        "now: 2026-03-04\ncases:\n  - {name: a, event: {channel: email}, expect: {queue: x}}\n",
        encoding="utf-8",
    )
    result = run("test", EXAMPLES, "--cases", cases)
    assert result.returncode == 1
    assert result.stdout == (
        f"{cases}:1:6: now: 2026-03-04 is a date "
        "(hint: give a time with an offset, e.g. 2026-03-04T10:00:00Z)\n"
    )


def test_check_refuses_a_templates_directory_that_is_not_there(tmp_path: Path) -> None:
    """The notifier refuses to start on it: a CI gate must not pass with nine warnings."""
    missing = tmp_path / "nope"
    given = run("check", EXAMPLES, "--templates", missing)
    assert (given.returncode, given.stdout) == (2, "")
    assert given.stderr == (
        f"error: {missing}: no such directory (--templates, SWITCHBOARD_TEMPLATES_PATH)\n"
    )
    from_env = subprocess.run(
        [sys.executable, "-m", "rules.cli", "check", str(EXAMPLES)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
        env={**os.environ, "SWITCHBOARD_TEMPLATES_PATH": str(missing)},
    )
    assert from_env.returncode == 2, from_env.stdout


def switchboard_rules(*args: str | Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    return subprocess.run(
        [sys.executable, "-m", "router.app", "rules", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
        env={**clean, **env},
    )


def test_the_rule_tools_check_settings_as_every_command_does() -> None:
    """A misspelt setting is warned of with the closest name, a bad value is one line and
    exit 2, as for every other command (they had been read by no rule tool)."""
    typo = switchboard_rules("check", EXAMPLES, SWITCHBOARD_KAFKA_PARTITION="3")
    assert typo.returncode == 0, typo.stderr
    assert (
        "SWITCHBOARD_KAFKA_PARTITION is no setting; did you mean SWITCHBOARD_KAFKA_PARTITIONS?"
        in typo.stderr
    )
    bad = switchboard_rules("check", EXAMPLES, SWITCHBOARD_LOG_LEVEL="verbose")
    assert (bad.returncode, bad.stdout) == (2, "")
    assert bad.stderr.startswith("error: SWITCHBOARD_LOG_LEVEL: ")
