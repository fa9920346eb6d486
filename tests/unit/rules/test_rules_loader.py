"""Loading: YAML 1.2 semantics, directory merging, content hashing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rules import RuleSetInvalid, load_ruleset, loads_ruleset

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)

HEADER = "version: 1\nqueues: {general: {}, billing: {}}\ndefaults: {queue: general}\n"


def test_the_on_key_stays_a_string_under_yaml_1_2() -> None:
    """PyYAML (YAML 1.1) reads `on` as True and silently drops every trigger."""
    rs = loads_ruleset(
        HEADER
        + "rules:\n"
        + "  - name: follow-up\n    on: message.received\n    then: {tags: [follow-up]}\n"
        + "  - name: both\n    on: [ticket.created, ticket.reopened]\n    then: {tags: [both]}\n"
    )
    assert [r.triggers for r in rs.rules] == [
        ("message.received",),
        ("ticket.created", "ticket.reopened"),
    ]
    assert rs.evaluate({}, now=NOW).matched == ("both",)
    assert rs.evaluate({}, trigger="message.received", now=NOW).matched == ("follow-up",)
    assert rs.evaluate({}, trigger="ticket.reopened", now=NOW).matched == ("both",)


def test_yaml_1_1_booleans_stay_strings_in_values() -> None:
    rs = loads_ruleset(
        HEADER + "rules:\n  - {name: norway, if: {metadata.country: no}, then: {tags: [no]}}\n"
    )
    decision = rs.evaluate({"metadata": {"country": "no"}}, now=NOW)
    assert decision.tags == ("no",)


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_directory_files_merge_in_file_name_order(tmp_path: Path) -> None:
    write(
        tmp_path,
        "20-billing.yaml",
        "version: 1\nrules:\n  - {name: billing, then: {queue: billing, tags: [b]}}\n",
    )
    write(
        tmp_path,
        "10-base.yaml",
        HEADER + "rules:\n  - {name: base, then: {queue: general, tags: [a]}}\n",
    )
    write(tmp_path, "notes.txt", "not rules")
    (tmp_path / "tests").mkdir()
    write(tmp_path / "tests", "cases.yaml", "cases: []\n")
    rs = load_ruleset(tmp_path)
    assert rs.files == (str(tmp_path / "10-base.yaml"), str(tmp_path / "20-billing.yaml"))
    decision = rs.evaluate({}, now=NOW)
    assert decision.matched == ("base", "billing")
    assert decision.queue == "billing"
    assert decision.tags == ("a", "b")


def test_yml_extension_is_read_and_hidden_files_are_not(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", HEADER)
    write(tmp_path, ".#a.yaml", "garbage: [")
    assert load_ruleset(tmp_path).files == (str(tmp_path / "a.yml"),)


def test_duplicate_names_across_files_are_errors(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.yaml",
        HEADER
        + "calendars: {c: {timezone: UTC, hours: {mon: [09:00-17:00]}}}\n"
        + "sla: {s: {first_response: 1h}}\n"
        + "rules:\n  - {name: r, then: {tags: [x]}}\n",
    )
    write(
        tmp_path,
        "b.yaml",
        "version: 1\nqueues: {billing: {}}\n"
        "calendars: {c: {timezone: UTC, hours: {tue: [09:00-17:00]}}}\n"
        "sla: {s: {first_response: 2h}}\n"
        "defaults: {queue: billing}\n"
        "rules:\n  - {name: r, then: {tags: [y]}}\n",
    )
    with pytest.raises(RuleSetInvalid) as caught:
        load_ruleset(tmp_path)
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    assert [str(e) for e in caught.value.errors] == [
        f"{b}:2:10: duplicate queue 'billing' (hint: already defined at {a}:2:23)",
        f"{b}:3:13: duplicate calendar 'c' (hint: already defined at {a}:4:13)",
        f"{b}:4:7: duplicate SLA policy 's' (hint: already defined at {a}:5:7)",
        f"{b}:5:1: 'defaults' is already set (hint: first set at {a}:3:1; keep one)",
        f"{b}:7:12: duplicate rule name 'r' (hint: already used at {a}:7:12)",
    ]


def test_definitions_from_one_file_serve_rules_in_another(tmp_path: Path) -> None:
    write(tmp_path, "1.yaml", HEADER + "sla: {fast: {first_response: 5m}}\n")
    write(
        tmp_path, "2.yaml", "version: 1\nrules:\n  - {name: r, then: {queue: billing, sla: fast}}\n"
    )
    decision = load_ruleset(tmp_path).evaluate({}, now=NOW)
    assert (decision.queue, decision.sla) == ("billing", "fast")


def test_hash_ignores_comments_and_layout_but_not_content() -> None:
    one = loads_ruleset(HEADER + "rules:\n  - {name: r, then: {tags: [x]}}\n")
    reformatted = loads_ruleset(
        "# our rules\nversion: 1\nqueues:\n  general: {}\n  billing: {}\n"
        "defaults:\n  queue: general   # the fallback\n"
        "rules:\n  - name: r\n    then:\n      tags: [x]\n"
    )
    changed = loads_ruleset(HEADER + "rules:\n  - {name: r, then: {tags: [y]}}\n")
    assert one.hash == reformatted.hash
    assert one.hash != changed.hash
    assert one.hash.startswith("sha256:")
    assert len(one.hash) == len("sha256:") + 64
    assert one.version == one.hash[7:19]


def test_rule_order_changes_the_hash() -> None:
    a = loads_ruleset(
        HEADER + "rules:\n  - {name: a, then: {tags: [x]}}\n  - {name: b, then: {tags: [y]}}\n"
    )
    b = loads_ruleset(
        HEADER + "rules:\n  - {name: b, then: {tags: [y]}}\n  - {name: a, then: {tags: [x]}}\n"
    )
    assert a.hash != b.hash


def test_sections_compile_to_the_public_model() -> None:
    rs = loads_ruleset(
        "version: 1\n"
        "calendars: {office: {timezone: Europe/Berlin, hours: {mon: [09:00-12:00, 13:00-17:00]},"
        " holidays: [2026-12-25, '2026-12-26']}}\n"
        "queues: {general: {}, tech-t2: {skills: [tech, tier2]}, none: null}\n"
        "sla:\n  standard: {calendar: office, first_response: {urgent: 30m, low: 1d},"
        " resolution: 2h30m, warn_before: 15m}\n"
        "assignment: {strategy: round_robin, accept_timeout: 90s, capacity: {chat: 2}}\n"
        "defaults: {queue: general, priority: low, sla: standard}\n"
    )
    assert rs.queues["tech-t2"].skills == frozenset({"tech", "tier2"})
    assert rs.queues["none"].skills == frozenset()
    office = rs.calendars["office"]
    assert str(office.timezone) == "Europe/Berlin"
    assert office.hours["mon"] == ((540, 720), (780, 1020))
    assert {d.isoformat() for d in office.holidays} == {"2026-12-25", "2026-12-26"}
    policy = rs.sla_policies["standard"]
    assert policy.calendar is office
    assert policy.target("first_response", "urgent") == timedelta(minutes=30)
    assert policy.target("first_response", "normal") is None
    assert policy.target("resolution", "normal") == timedelta(hours=2, minutes=30)
    assert policy.warn_before == timedelta(minutes=15)
    assert rs.assignment.strategy == "round_robin"
    assert rs.assignment.accept_timeout == timedelta(seconds=90)
    assert rs.assignment.capacity["chat"] == 2
    assert rs.assignment.capacity["email"] == 10
    assert (rs.defaults.queue, rs.defaults.priority, rs.defaults.sla) == (
        "general",
        "low",
        "standard",
    )


def test_disabled_rules_are_checked_but_not_run() -> None:
    rs = loads_ruleset(HEADER + "rules:\n  - {name: off, enabled: false, then: {tags: [x]}}\n")
    assert rs.rules == ()
    with pytest.raises(RuleSetInvalid):
        loads_ruleset(HEADER + "rules:\n  - {name: off, enabled: false, then: {queue: nope}}\n")


def test_disabled_rules_are_listed_in_file_order_but_never_run() -> None:
    """The tools list what the file says (``rules explain`` shows every rule); the
    engine runs only the enabled, indexed or not, and the version is the file's."""
    text = (
        HEADER + "rules:\n"
        "  - {name: on, if: {channel: email}, then: {tags: [on]}}\n"
        "  - {name: off, enabled: false, if: {channel: email}, then: {queue: billing}}\n"
        "  - {name: last, then: {tags: [last]}}\n"
        "escalations:\n"
        "  - {name: esc off, on: assignment.timeout, enabled: false, then: {priority: high}}\n"
    )
    rs = loads_ruleset(text)
    assert [(r.name, r.enabled) for r in rs.listed] == [
        ("on", True),
        ("off", False),
        ("last", True),
        ("esc off", False),
    ]
    assert [r.name for r in rs.rules] == ["on", "last"]
    assert rs.escalations == ()
    assert rs.rules_for("assignment.timeout") == ()
    decision = rs.evaluate({"channel": "email"}, now=NOW)
    assert decision.matched == ("on", "last")
    assert decision.queue == "general"
    assert [e.name for e in decision.evaluations] == ["on", "last"]
    assert rs.evaluate_all_rules({"channel": "email"}, now=NOW) == ["on", "last"]
    assert (
        rs.version
        == loads_ruleset(text).version
        != loads_ruleset(text.replace("enabled: false", "enabled: true")).version
    )


def test_key_order_that_changes_what_happens_changes_the_hash() -> None:
    """Both orders below decide differently, so a reload must see a new version: the
    later of tags/remove_tags wins, and the first queue declared is the fallback."""
    tag_first = loads_ruleset(
        HEADER + "rules:\n  - {name: r, then: {tags: [x], remove_tags: [x]}}\n"
    )
    untag_first = loads_ruleset(
        HEADER + "rules:\n  - {name: r, then: {remove_tags: [x], tags: [x]}}\n"
    )
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert tag_first.evaluate({}, now=now).tags != untag_first.evaluate({}, now=now).tags
    assert tag_first.version != untag_first.version
    zeta = loads_ruleset("version: 1\nqueues: {zeta: {}, alpha: {}}\n")
    alpha = loads_ruleset("version: 1\nqueues: {alpha: {}, zeta: {}}\n")
    assert zeta.version != alpha.version
