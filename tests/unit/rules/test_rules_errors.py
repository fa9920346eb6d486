"""Every kind of load error, each with its exact file:line:col and hint."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from rules import RuleError, RuleSetInvalid, load_ruleset, loads_ruleset
from rules.source import MAX_FLOW_DEPTH
from tests.budget import cpu_budget

pytestmark = pytest.mark.unit

HEADER = """version: 1
calendars:
  office: {timezone: UTC, hours: {mon: ["09:00-17:00"]}}
queues:
  general: {}
  billing: {skills: [billing]}
sla:
  standard: {first_response: 1h}
defaults: {queue: general}
"""
"""Every section a rule may refer to; the error tests add what they are about."""
BASE = HEADER + "rules:\n"


def errors_of(text: str, file: str = "r.yaml") -> list[str]:
    with pytest.raises(RuleSetInvalid) as caught:
        loads_ruleset(text, file=file)
    return [str(error) for error in caught.value.errors]


RULE_ERRORS = [
    (
        "  - {name: r, if: {subjet: x}, then: {queue: general}}",
        "r.yaml:11:20: unknown field 'subjet' (hint: did you mean 'subject'?)",
    ),
    (
        "  - {name: r, if: {ticket.prio: x}, then: {queue: general}}",
        "r.yaml:11:20: unknown ticket field 'prio' (hint: did you mean 'priority'?)",
    ),
    (
        "  - {name: r, if: {subject: {contain: x}}, then: {queue: general}}",
        "r.yaml:11:30: unknown operator 'contain' (hint: did you mean 'contains'?)",
    ),
    (
        "  - {name: r, then: {queu: general}}",
        "r.yaml:11:22: unknown action 'queu' (hint: did you mean 'queue'?)",
    ),
    (
        "  - {name: r, then: {queue: biling}}",
        "r.yaml:11:29: unknown queue 'biling' (hint: did you mean 'billing'?)",
    ),
    (
        "  - {name: r, then: {sla: premium}}",
        "r.yaml:11:27: unknown SLA policy 'premium' (hint: define it under 'sla:')",
    ),
    (
        "  - {name: r, if: {within: ofice}, then: {queue: general}}",
        "r.yaml:11:28: unknown calendar 'ofice' (hint: did you mean 'office'?)",
    ),
    (
        "  - {name: r, then: {priority: hihg}}",
        "r.yaml:11:32: unknown priority 'hihg' (hint: did you mean 'high'?)",
    ),
    (
        "  - {name: r, on: ticket.create, then: {queue: general}}",
        "r.yaml:11:19: unknown trigger 'ticket.create' (hint: did you mean 'ticket.created'?)",
    ),
    (
        "  - {name: r, on: assignment.timeout, then: {queue: general}}",
        "r.yaml:11:19: 'assignment.timeout' is an escalation trigger "
        "(hint: move this rule under 'escalations:')",
    ),
    (
        '  - {name: r, if: {subject: {matches: "(unclosed"}}, then: {queue: general}}',
        "r.yaml:11:39: bad regular expression: missing ), unterminated subpattern at position 0 "
        "(hint: Python 're' syntax; quote the pattern in YAML)",
    ),
    (  # regex writes counted repeats out: this one had taken 24 GB to compile
        '  - {name: r, if: {text: {matches: "((a{1000}){1000}){1000}"}}, then: {queue: general}}',
        "r.yaml:11:36: bad regular expression: its counted repeats write out more than "
        "100,000 steps (each x{n} is n copies of x) "
        "(hint: use smaller counts, or + / * where any number will do)",
    ),
    (
        "  - {name: r, if: {channel: {in: email}}, then: {queue: general}}",
        "r.yaml:11:34: 'in' takes a non-empty list, got a string "
        "(hint: e.g. {in: [gold, platinum]})",
    ),
    (
        "  - {name: r, if: {ticket.contacts: {gt: many}}, then: {queue: general}}",
        "r.yaml:11:42: 'gt' needs a number, got a string "
        "(hint: write a number without quotes, e.g. {gt: 5} or {gt: 2.5})",
    ),
    (
        "  - {name: r, if: {language: {exists: 1}}, then: {queue: general}}",
        "r.yaml:11:39: 'exists' takes true or false, got a number "
        "(hint: write {exists: true} (the field is set) or {exists: false} (it is missing))",
    ),
    (
        "  - {name: r, if: {channel: [email, chat]}, then: {queue: general}}",
        "r.yaml:11:29: a list is not a test for 'channel' "
        "(hint: to match one of several values write {in: [a, b]})",
    ),
    (
        "  - {name: r, if: {channel: null}, then: {queue: general}}",
        "r.yaml:11:29: null is not a test for 'channel' "
        "(hint: to test that a field is missing write {exists: false})",
    ),
    (
        "  - {name: r, then: {tags: [vip, {a: b}]}}",
        "r.yaml:11:34: 'tags' must be a non-empty string, got a mapping "
        "(hint: write one piece of text here, not a mapping (quote text with ': '))",
    ),
    (
        "  - {name: r, then: {queue: general}, stop: yes}",
        "r.yaml:11:45: stop must be true or false, got a string "
        "(hint: YAML 1.2 reads yes/no/on/off as strings: write true or false)",
    ),
    (
        "  - {then: {queue: general}}",
        "r.yaml:11:5: a rule needs a 'name' (hint: names appear in every decision)",
    ),
    ("  - {name: r}", "r.yaml:11:5: a rule needs 'then' (hint: e.g. then: {queue: billing})"),
    (
        "  - {name: r, iff: {channel: email}, then: {queue: general}}",
        "r.yaml:11:15: unknown key 'iff' in a rule (hint: did you mean 'if'?)",
    ),
    (
        "  - {name: r, if: {not: [a]}, then: {queue: general}}",
        "r.yaml:11:25: 'not' takes a condition mapping, got a list "
        "(hint: a condition maps fields to tests, e.g. {subject: {contains: invoice}})",
    ),
    (
        "  - {name: r, if: {any: email}, then: {queue: general}}",
        "r.yaml:11:25: 'any' takes a list of conditions, got a string "
        "(hint: a condition maps fields to tests, e.g. {subject: {contains: invoice}})",
    ),
    (
        "  - {name: r, when: {channel: email}, then: {queue: general}}",
        "r.yaml:11:15: unknown key 'when' in a rule (hint: did you mean 'if'? conditions "
        "go under 'if', actions under 'then')",
    ),
    (
        "  - {name: r, then: {assign: ''}}",
        "r.yaml:11:30: 'assign' must be a non-empty string, got an empty string "
        "(hint: give it a value, e.g. billing)",
    ),
    (
        "  - {name: r, then: {queue: general}}\n  - {name: r, then: {queue: billing}}",
        "r.yaml:12:12: duplicate rule name 'r' (hint: already used at r.yaml:11:12)",
    ),
]


@pytest.mark.parametrize(("rule", "expected"), RULE_ERRORS)
def test_rule_errors_name_the_exact_place(rule: str, expected: str) -> None:
    assert errors_of(BASE + rule + "\n") == [expected]


DOCUMENT_ERRORS = [
    (
        "version: 1\nqueues: {general: {}}\ndefaults: {queue: general}\nrulez: []\n",
        ["r.yaml:4:1: unknown top-level key 'rulez' (hint: did you mean 'rules'?)"],
    ),
    (
        "queues: {general: {}}\ndefaults: {queue: general}\n",
        ["r.yaml:1:1: missing 'version' (hint: start every rule file with 'version: 1')"],
    ),
    (
        "version: 2\nqueues: {general: {}}\ndefaults: {queue: general}\n",
        ["r.yaml:1:10: unsupported version 2 (hint: this Switchboard reads 'version: 1')"],
    ),
    (
        "version: 1\nqueues:\n  general: {}\n  general: {}\ndefaults: {queue: general}\n",
        [
            "r.yaml:4:3: duplicate key 'general' "
            "(hint: 'general' is already set at line 3; YAML keeps only one)"
        ],
    ),
    (
        "version: 1\nqueues: {general: {}\ndefaults: {queue: general}\n",
        [
            "r.yaml:3:1: YAML syntax error: expected ',' or '}', but got '<scalar>' "
            "(hint: close every { or [ and separate its entries with ', ')"
        ],
    ),
    ("", ["r.yaml:1:1: empty rule file (hint: start with 'version: 1')"]),
    (
        "- a\n- b\n",
        ["r.yaml:1:1: a rule file must be a mapping, got a list (hint: start with 'version: 1')"],
    ),
    (
        "version: 1\nqueues: {general: {}}\n"
        "sla:\n  s: {first_response: 30x, resolution: {hihg: 1h}, warn_befor: 5m}\n"
        "defaults: {queue: general}\n",
        [
            "r.yaml:4:23: bad duration '30x' for first_response "
            "(hint: write durations like 30m, 1h, 1d or 2h30m (units: w d h m s))",
            "r.yaml:4:41: unknown priority 'hihg' (hint: did you mean 'high'?)",
            "r.yaml:4:52: unknown key 'warn_befor' in SLA policy 's' "
            "(hint: did you mean 'warn_before'?)",
        ],
    ),
    (
        "version: 1\nqueues: {general: {}}\nsla:\n  s: {calendar: nope, next_response: 1h}\n"
        "defaults: {queue: general}\n",
        ["r.yaml:4:17: unknown calendar 'nope' (hint: define it under 'calendars:')"],
    ),
    (
        "version: 1\nqueues: {general: {}}\nsla:\n  s: {description: no targets}\n"
        "defaults: {queue: general}\n",
        [
            "r.yaml:4:6: SLA policy 's' sets no target "
            "(hint: expected one of: first_response, next_response, resolution)"
        ],
    ),
    (
        "version: 1\ncalendars:\n  c:\n    timezone: Europe/Berln\n"
        '    hours: {mon: ["9-17"], tues: ["09:00-17:00"], wed: ["17:00-09:00"]}\n'
        "    holidays: [2026-13-01]\n"
        "queues: {general: {}}\ndefaults: {queue: general}\n",
        [
            "r.yaml:4:15: unknown time zone 'Europe/Berln' (hint: did you mean 'Europe/Berlin'?)",
            "r.yaml:5:19: '9-17' is not a shift like 09:00-17:00 "
            "(hint: write shifts like 09:00-17:00)",
            "r.yaml:5:28: unknown weekday 'tues' (hint: did you mean 'tue'?)",
            "r.yaml:5:57: shift '17:00-09:00' ends before it starts; split a night shift over two "
            "days (22:00-24:00 and 00:00-06:00) (hint: write shifts like 09:00-17:00)",
            'r.yaml:6:16: bad holiday "2026-13-01" (hint: write dates as YYYY-MM-DD)',
        ],
    ),
    (
        "version: 1\ncalendars:\n  c:\n    timezone: UTC\n"
        '    hours: {mon: ["09:00-13:00", "12:00-17:00"]}\n'
        "queues: {general: {}}\ndefaults: {queue: general}\n",
        [
            "r.yaml:5:13: calendar 'c': shifts on mon overlap (hint: shifts of one day "
            "must not overlap: mon: [09:00-12:00, 13:00-17:00])"
        ],
    ),
    (
        "version: 1\nqueues: {general: {}}\ndefaults: {queue: general}\n"
        "assignment: {strategy: fastest, accept_timeout: soon, capacity: {chat: 0, fax: 2}}\n",
        [
            "r.yaml:4:24: unknown strategy 'fastest' "
            "(hint: expected one of: least_loaded, round_robin)",
            "r.yaml:4:49: bad duration 'soon' for accept_timeout "
            "(hint: write durations like 30m, 1h, 1d or 2h30m (units: w d h m s))",
            "r.yaml:4:72: capacity for chat must be a whole number from 1 to 1,000 "
            "(hint: tickets an agent takes at once, e.g. chat: 3)",
            "r.yaml:4:75: unknown channel 'fax' (hint: expected one of: email, chat, sms, "
            "whatsapp, messenger, voice, webform)",
        ],
    ),
    (
        "version: 1\nqueues: {general: {}, skilled: {skils: [x]}}\n"
        "defaults: {queue: genral, priority: hi, sla: gold, colour: red}\n",
        [
            "r.yaml:2:33: unknown key 'skils' in queue 'skilled' (hint: did you mean 'skills'?)",
            "r.yaml:3:19: unknown queue 'genral' (hint: did you mean 'general'?)",
            "r.yaml:3:37: unknown priority 'hi' (hint: did you mean 'high'?)",
            "r.yaml:3:46: unknown SLA policy 'gold' (hint: define it under 'sla:')",
            "r.yaml:3:52: unknown key 'colour' in defaults "
            "(hint: expected one of: queue, priority, sla)",
        ],
    ),
    (
        "version: 1\nqueues: {general: {}}\ndefaults: {queue: general}\n"
        "escalations:\n  - {name: e, then: {queue: general}}\n"
        "  - {name: f, on: ticket.created, then: {queue: general}}\n",
        [
            "r.yaml:5:5: an escalation needs 'on' (hint: expected one of: "
            "sla.first_response.warning, sla.first_response.breached, sla.next_response.warning, "
            "sla.next_response.breached, sla.resolution.warning, sla.resolution.breached, "
            "assignment.timeout)",
            "r.yaml:6:19: 'ticket.created' is a rule trigger "
            "(hint: move this escalation under 'rules:')",
        ],
    ),
    (
        "version: 1\nqueues: {general: {}}\ndefaults: {queue: general}\nrules: {name: r}\n",
        [
            "r.yaml:4:8: 'rules' must be a list, got a mapping "
            "(hint: each entry starts with '- name: ...')"
        ],
    ),
]


@pytest.mark.parametrize(("text", "expected"), DOCUMENT_ERRORS)
def test_document_errors_name_the_exact_place(text: str, expected: list[str]) -> None:
    assert errors_of(text) == expected


def test_all_errors_are_collected_in_one_pass() -> None:
    rules = "\n".join(
        rule.replace("name: r,", f"name: r{n},") for n, (rule, _) in enumerate(RULE_ERRORS[:8])
    )
    found = errors_of(BASE + rules + "\n")
    assert len(found) == 8
    assert [e.split(":")[1] for e in found] == [str(n) for n in range(11, 19)]


def test_a_broken_definition_is_reported_once_not_at_every_use() -> None:
    text = (
        "version: 1\ncalendars:\n  office: {timezone: Nowhere/City, hours: {mon: [09:00-17:00]}}\n"
        "queues: {general: {}}\ndefaults: {queue: general}\n"
        "rules:\n  - {name: r, if: {within: office}, then: {tags: [x]}}\n"
    )
    assert errors_of(text) == [
        "r.yaml:3:22: unknown time zone 'Nowhere/City' (hint: use an IANA name like Europe/Berlin)"
    ]


def test_rule_error_exposes_its_parts() -> None:
    with pytest.raises(RuleSetInvalid) as caught:
        loads_ruleset(BASE + "  - {name: r, then: {queue: biling}}\n", file="rules/x.yaml")
    (error,) = caught.value.errors
    assert isinstance(error, RuleError)
    assert (error.file, error.line, error.col) == ("rules/x.yaml", 11, 29)
    assert error.message == "unknown queue 'biling'"
    assert error.hint == "did you mean 'billing'?"
    assert "rules/x.yaml:11:29: unknown queue 'biling'" in str(caught.value)


def test_missing_path_and_empty_directory_are_errors(tmp_path: Path) -> None:
    with pytest.raises(RuleSetInvalid) as missing:
        load_ruleset(tmp_path / "nope.yaml")
    assert str(missing.value.errors[0]).startswith(f"{tmp_path / 'nope.yaml'}:1:1: cannot read")
    with pytest.raises(RuleSetInvalid) as empty:
        load_ruleset(tmp_path)
    assert str(empty.value.errors[0]) == (
        f"{tmp_path}:1:1: no *.yaml rule files in this directory "
        "(hint: put *.yaml or *.yml rule files directly in it, or give one rule file)"
    )


def test_a_value_left_empty_is_reported_at_its_key_not_at_the_next_line() -> None:
    text = (
        "version: 1\nqueues: {general: {}}\ndefaults:\n  queue:\n\n\n# later\n"
        "rules:\n  - name: r\n    if:\n      channel:\n    then: {tags: [x]}\n"
    )
    found = errors_of(text)
    assert [e.split(": ", 1)[0] for e in found] == ["r.yaml:4:3", "r.yaml:11:7"]


def test_a_language_in_upper_case_is_told_to_be_written_in_lower_case() -> None:
    assert errors_of(HEADER + "languages: [EN]\n") == [
        "r.yaml:10:13: language 'EN' is not lower case (hint: write it in lower case: en)"
    ]


def test_stop_written_among_the_actions_is_told_where_it_belongs() -> None:
    [error] = errors_of(BASE + "  - {name: r, if: {text: x}, then: {queue: general, stop: true}}")
    assert error.startswith("r.yaml:11:53: unknown action 'stop'")
    assert "stop belongs on the rule, beside then" in error


def test_flow_nesting_past_the_bound_is_reported_at_its_bracket_without_scanning_on() -> None:
    """``[[[[...`` cost time quadratic in its depth in the YAML scanner (5,000 brackets,
    1.7 s of a rules reload) and was then reported at 1:1; it stops at the bracket."""
    deep = "[" * 10_000 + "]" * 10_000
    with cpu_budget(0.5):
        errors = errors_of(BASE + f"  - name: deep\n    when: {{any: {deep}}}\n")
    line = BASE.count("\n") + 2
    # the ``{`` is the first level: the bracket opening one level more is the 64th ``[``
    column = len("    when: {any: ") + MAX_FLOW_DEPTH
    assert errors[0].startswith(f"r.yaml:{line}:{column}: YAML nested too deeply")


def test_flow_nesting_within_the_bound_is_read() -> None:
    shallow = "[" * (MAX_FLOW_DEPTH - 1) + "1" + "]" * (MAX_FLOW_DEPTH - 1)
    assert not any("nested too deeply" in e for e in errors_of(BASE + f"x: {shallow}\n"))


def calendar_in(zone: str) -> str:
    return (
        "version: 1\nqueues: {general: {}}\ndefaults: {queue: general}\n"
        f'calendars:\n  office: {{timezone: "{zone}", hours: {{mon: ["09:00-17:00"]}}}}\n'
    )


@pytest.mark.parametrize(
    ("zone", "hint"),
    [
        (
            "Europe",
            "'Europe' is a region, not a time zone: name one of its zones, e.g. Europe/Amsterdam",
        ),
        (
            "America",
            "'America' is a region, not a time zone: name one of its zones, e.g. America/Adak",
        ),
        ("US", "'US' is a region, not a time zone: name one of its zones, e.g. US/Alaska"),
        (
            "localtime",
            "'localtime' is the host's own setting, which differs by machine: "
            "name the zone, e.g. Europe/Berlin",
        ),
        ("posixrules", "use an IANA name like Europe/Berlin"),
    ],
)
def test_a_time_zone_that_is_no_iana_zone_is_an_error_at_its_place(zone: str, hint: str) -> None:
    """A region directory used to crash the loader (IsADirectoryError); ``localtime``
    and ``posixrules`` loaded as whatever the host has at those paths."""
    assert errors_of(calendar_in(zone)) == [
        f"r.yaml:5:22: unknown time zone '{zone}' (hint: {hint})"
    ]


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Etc/GMT+5"])
def test_an_iana_time_zone_loads(zone: str) -> None:
    assert str(loads_ruleset(calendar_in(zone)).calendars["office"].timezone) == zone


@pytest.mark.parametrize(
    ("field", "hint"),
    [
        ("ticket.queue.name", "ticket.queue has no fields of its own: test ticket.queue itself"),
        ("ticket.status.code", "ticket.status has no fields of its own: test ticket.status itself"),
        ("ticket.tags.first", "ticket.tags has no fields of its own: test ticket.tags itself"),
    ],
)
def test_a_field_below_a_ticket_field_without_fields_is_unknown(field: str, hint: str) -> None:
    """``ticket.queue.name`` had loaded, and could never match: a queue is a name."""
    rule = f"  - {{name: r, if: {{{field}: billing}}, then: {{queue: general}}}}\n"
    assert errors_of(BASE + rule) == [f"r.yaml:11:20: unknown field '{field}' (hint: {hint})"]


def test_a_field_of_a_ticket_sla_clock_is_read() -> None:
    rules = loads_ruleset(
        BASE + "  - {name: r, if: {ticket.sla.first_response.breached: true}, then: {tags: [x]}}\n"
    )
    clock = {"due": "2026-03-04T10:00:00Z", "breached": True}
    facts = {"channel": "email", "ticket": {"sla": {"first_response": clock}}}
    decision = rules.evaluate(facts, now=datetime(2026, 3, 4, 11, tzinfo=UTC))
    assert decision.tags == ("x",)


@pytest.mark.parametrize(
    ("field", "hint"),
    [
        ("ticket.sla.first_reponse.breached", "did you mean 'first_response'?"),
        ("ticket.sla.resolution.breach", "did you mean 'breached'?"),
        ("ticket.sla.resolution.due.day", "a clock's fields have no fields of their own"),
        ("ticket.sla.resolution.allowed_seconds", "a clock's fields: due, warn_at"),
    ],
)
def test_a_misspelled_sla_clock_or_clock_field_is_unknown(field: str, hint: str) -> None:
    """``ticket.sla.first_reponse.breached`` had loaded and never matched."""
    rule = f"  - {{name: r, if: {{{field}: true}}, then: {{queue: general}}}}\n"
    [error] = errors_of(BASE + rule)
    assert error.startswith(f"r.yaml:11:20: unknown field '{field}' (hint: "), error
    assert hint in error, error


@pytest.mark.parametrize(
    ("text", "column"),
    [
        ("version: 1\nqueues: {'': {}}\ndefaults: {priority: high}\n", 10),
        ("version: 1\nqueues: {'': {}}\n", 10),
        ('version: 1\nqueues: {" ": {}, general: {}}\ndefaults: {queue: general}\n', 10),
    ],
)
def test_an_empty_queue_name_is_an_error_at_the_name(text: str, column: int) -> None:
    """It had loaded a queue named '' (no rule can route to it), or, with defaults that
    name no queue, failed with "0 errors"."""
    (error,) = errors_of(text)
    assert error == (
        f"r.yaml:2:{column}: empty queue name "
        "(hint: name it, e.g. billing; rules and defaults refer to it by name)"
    )


def test_an_empty_calendar_or_policy_name_is_an_error_at_the_name() -> None:
    text = (
        "version: 1\nqueues: {general: {}}\ndefaults: {queue: general}\n"
        "calendars: {'': {timezone: UTC, hours: {mon: [09:00-17:00]}}}\n"
        "sla: {' ': {first_response: 1h}}\n"
    )
    assert errors_of(text) == [
        "r.yaml:4:13: empty calendar name "
        "(hint: name it, e.g. office; rules and defaults refer to it by name)",
        "r.yaml:5:7: empty SLA policy name "
        "(hint: name it, e.g. standard; rules and defaults refer to it by name)",
    ]


def test_an_sla_target_with_no_priority_is_an_error_as_a_policy_with_no_target_is() -> None:
    """``s: {}`` is an error ("sets no target"), and ``s: {first_response: {}}`` had loaded
    a policy that starts no clock."""
    text = (
        "version: 1\nqueues: {general: {}}\ndefaults: {queue: general}\n"
        "sla:\n  s: {first_response: {}, resolution: {}}\n"
    )
    hint = (
        "(hint: give its priorities their times, e.g. {target}: {{urgent: 1h, normal: 4h}}, "
        "one time for every priority, {target}: 4h, or leave it out)"
    )
    assert errors_of(text) == [
        "r.yaml:5:23: SLA policy 's': first_response sets no priority "
        + hint.format(target="first_response"),
        "r.yaml:5:39: SLA policy 's': resolution sets no priority "
        + hint.format(target="resolution"),
    ]
