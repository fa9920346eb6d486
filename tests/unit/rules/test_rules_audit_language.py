"""Findings of the outside audit of the rule language: what `rules check` accepts, the
router can run, and what the language documents is what the router does."""

from __future__ import annotations

import re
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import regex

from rules import RuleSetInvalid, loads_ruleset
from rules.analysis import find_warnings

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def load_errors(text: str) -> list[str]:
    with pytest.raises(RuleSetInvalid) as caught:
        loads_ruleset(text, file="a.yaml")
    return [str(e) for e in caught.value.errors]


# -- 1. an SLA target the calendar cannot reach ---------------------------------------------

BRIEF_CALENDAR = """version: 1
calendars: {o: {timezone: UTC, hours: {mon: ["09:00-10:00"]}}}
queues: {general: {}}
defaults: {queue: general, sla: s}
sla:
"""


def test_a_target_longer_than_the_calendar_reaches_is_a_located_load_error() -> None:
    errors = load_errors(
        BRIEF_CALENDAR + "  s: {calendar: o, first_response: 4h, resolution: 52w}\n"
        "  t:\n"
        "    calendar: o\n"
        "    resolution: {low: 52w, high: 2000h}\n"
    )
    assert len(errors) == 2
    assert errors[0].startswith(
        "a.yaml:6:52: resolution \"52w\" is more business time than calendar 'o' "
        "(open 1h a week) has in the 50 years ahead"
    )
    assert "(hint: shorten it to at most 25" in errors[0]
    assert errors[1].startswith('a.yaml:9:23: resolution.low "52w" is more business time')


def test_every_target_a_loaded_policy_has_gets_a_due_time_from_any_start() -> None:
    """At the longest target the error allows, the router still computes due times."""
    calendar = loads_ruleset(BRIEF_CALENDAR + "  s: {calendar: o, first_response: 4h}\n").calendars[
        "o"
    ]
    limit = calendar.reach()
    assert timedelta(hours=2400) < limit < timedelta(hours=2600)
    policy = loads_ruleset(
        BRIEF_CALENDAR + f"  s: {{calendar: o, resolution: {int(limit.total_seconds())}s}}\n"
    ).sla_policies["s"]
    for start in (NOW, datetime(2026, 1, 5, 9, 30, tzinfo=UTC), datetime(2030, 6, 1, tzinfo=UTC)):
        due = policy.due("resolution", "normal", start)
        assert due is not None
        assert policy.elapsed(start, due) == limit


def test_a_daylight_saving_calendar_reaches_its_limit_too() -> None:
    """The clocks go forward inside the only shift of the week (02:00-03:00 on a Sunday
    in Berlin, lost every March): the limit allows for it."""
    ruleset = loads_ruleset(
        """version: 1
calendars: {night: {timezone: Europe/Berlin, hours: {sun: ["02:00-03:00"]}}}
queues: {general: {}}
sla: {s: {calendar: night, resolution: 2000h}}
defaults: {queue: general, sla: s}
"""
    )
    calendar = ruleset.calendars["night"]
    start = datetime(2026, 3, 1, tzinfo=UTC)
    due = calendar.add(start, calendar.reach())
    assert calendar.between(start, due) == calendar.reach()


def test_a_calendar_its_holidays_close_for_good_is_a_load_error() -> None:
    mondays = ", ".join(
        (datetime(2026, 1, 5) + timedelta(weeks=n)).date().isoformat() for n in range(2700)
    )
    errors = load_errors(
        "version: 1\n"
        'calendars: {o: {timezone: UTC, hours: {mon: ["09:00-10:00"]}, '
        f"holidays: [{mondays}]}}}}\n"
        "queues: {general: {}}\n"
        "defaults: {queue: general}\n"
    )
    assert errors[0].startswith("a.yaml:2:39: calendar 'o': its holidays leave it no open time")


# -- 2. regular expressions: re's language, run by regex -------------------------------------

HEADER = """version: 1
queues: {general: {}}
defaults: {queue: general}
rules:
"""


def rule_with(pattern: str) -> str:
    return (
        HEADER
        + f"  - {{name: r, if: {{subject: {{matches: '{pattern}'}}}}, then: {{tags: [x]}}}}\n"
    )


@pytest.mark.parametrize(
    ("pattern", "text", "problem", "hint"),
    [
        ("^[[:digit:]]+$", "12345", "'[:digit:]' at position 2 is a POSIX class", "write \\d"),
        ("x[[:space:]]y", "x y", "'[:space:]' at position 2 is a POSIX class", "write \\s"),
        ("[^[:alpha:]]", "5", "'[:alpha:]' at position 2 is a POSIX class", "write [^\\W\\d_]"),
        ("[a[:^digit:]]", "x", "'[:^digit:]' at position 2 is a POSIX class", "[0-9]"),
        ("colou?r{e<=1}", "colour", "'{e<=1}' at position 7 would be fuzzy matching", "\\{e<=1}"),
        ("(?:ab){i<=1,d<=1}", "a", "'{i<=1,d<=1}' at position 6 would be fuzzy", "\\{i<=1"),
        ("a{1<=e<=2}", "b", "'{1<=e<=2}' at position 1 would be fuzzy", "(colou?r|colr)"),
        ("x{2i+1d<=3}", "y", "'{2i+1d<=3}' at position 1 would be fuzzy", "\\{2i+1d<=3}"),
        ("(?x)x{ e<=1 }", "y", "'{ e<=1 }' at position 5 would be fuzzy", "\\{ e<=1 }"),
    ],
)
def test_regex_only_syntax_that_re_reads_otherwise_is_refused(
    pattern: str, text: str, problem: str, hint: str
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        assert not re.search(pattern, text)  # the documented language: no match
    assert regex.search(pattern, text)  # the engine that runs it: a match
    (error,) = load_errors(rule_with(pattern))
    assert error.startswith(f"a.yaml:5:39: unsupported regular expression: {problem}")
    assert hint in error.split("(hint: ")[1]


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("[[a]]x", "a]x"),  # a '[' in a set: re warns of nested sets; both read it alike
        ("[a&&b]", "&"),
        ("\\[[:digit:]]", "[:]"),
        ("x{1,2}y", "xxy"),
        ("\\{e<=1\\}", "{e<=1}"),
        ("[{e}]", "e"),
        ("\\N{EM DASH}", "\u2014"),
    ],
)
def test_patterns_both_engines_read_alike_load_silently_and_match(pattern: str, text: str) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ruleset = loads_ruleset(rule_with(pattern))
        decision = ruleset.evaluate({"subject": text}, now=NOW)
        missed = ruleset.evaluate({"subject": "-"}, now=NOW).evaluations
    assert [str(w.message) for w in caught] == []
    assert decision.matched == ("r",)
    assert [e.matched for e in missed] == [False]


# -- 3. vocabulary warnings for the shorthands ----------------------------------------------


def test_priority_and_status_shorthands_are_checked_against_their_vocabulary() -> None:
    ruleset = loads_ruleset(
        HEADER + "  - {name: r, if: {priority: {in: [high, urgnet]}}, then: {tags: [x]},"
        " on: message.received}\n"
        "escalations:\n"
        "  - {name: e, on: sla.first_response.breached, if: {status: opne}, then: {tags: [y]}}\n"
        "  - {name: f, on: sla.resolution.breached, if: {priority: High}, then: {tags: [z]}}\n"
        "  - {name: g, on: sla.resolution.warning, if: {priority: high}, then: {tags: [w]}}\n",
        file="w.yaml",
    )
    assert [str(w) for w in find_warnings(ruleset)] == [
        "w.yaml:5:31: warning: 'urgnet' is no priority (did you mean 'urgent'?): "
        "priority never equals it",
        "w.yaml:7:61: warning: 'opne' is no status (did you mean 'open'?): status never equals it",
        "w.yaml:8:59: warning: 'High' is no priority (did you mean 'high'?): "
        "priority never equals it",
    ]


# -- 4. numbers ------------------------------------------------------------------------------


def hits(condition: str, facts: dict[str, Any]) -> bool:
    ruleset = loads_ruleset(HEADER + f"  - {{name: r, if: {condition}, then: {{tags: [x]}}}}\n")
    return ruleset.evaluate(facts, now=NOW).matched == ("r",)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12.5", True),
        (" 12 ", True),
        ("1e3", True),
        ("-3", False),
        (12.5, True),
        ("1_000", False),
        ("inf", False),
        ("Infinity", False),
        ("1e999", False),
        ("nan", False),
        ("\u0661\u0662", False),  # Arabic-Indic 12: float() reads it, JSON does not
        (float("inf"), False),
    ],
)
def test_numbers_in_facts_are_decimal_numbers_as_json_writes_them(
    value: Any, expected: bool
) -> None:
    assert hits("{metadata.amount: {gt: 5}}", {"metadata": {"amount": value}}) is expected


@pytest.mark.parametrize("operand", [".nan", ".inf", "-.inf", "1e999"])
def test_a_number_test_against_nan_or_infinity_is_a_load_error(operand: str) -> None:
    (error,) = load_errors(
        HEADER + f"  - {{name: r, if: {{metadata.n: {{gt: {operand}}}}}, then: {{tags: [x]}}}}\n"
    )
    assert error.startswith("a.yaml:5:37: 'gt' needs a finite number")
    assert "(hint: a fact is never NaN or infinite" in error
