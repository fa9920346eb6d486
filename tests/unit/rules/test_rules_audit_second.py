"""The second outside audit of the rule language: rules that ``rules check`` passed as
ok but that can never match, and messages that did not help. Each test is what an
author sees: a warning (or error) at the place, with a hint that gives the right spelling.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rules import RuleSetInvalid, loads_ruleset
from rules.analysis import find_warnings
from rules.calendar import HORIZON_YEARS
from rules.durations import LONGEST
from tests.unit.rules.test_rules_cli import run

pytestmark = pytest.mark.unit

HEAD = "version: 1\nqueues: {general: {}, billing: {}}\ndefaults: {queue: general}\nrules:\n"


def warnings_of(rules: str) -> list[str]:
    """The warnings for ``rules``, but that nothing routes to a queue."""
    found = [str(w) for w in find_warnings(loads_ruleset(HEAD + rules, file="w.yaml"))]
    return [w for w in found if "routes to queue" not in w]


def errors_of(text: str) -> list[str]:
    with pytest.raises(RuleSetInvalid) as caught:
        loads_ruleset(text, file="r.yaml")
    return [str(error) for error in caught.value.errors]


def on_message(condition: str) -> str:
    return f"  - {{name: r, on: message.received, if: {condition}, then: {{queue: billing}}}}\n"


# -- 1, 2: values compared exactly with a normalised message ------------------------------


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (
            "{inbox: +15551234567}",
            "w.yaml:5:49: warning: inbox is compared with +15551234567, which YAML reads as "
            'the number 15551234567 (equals): a value sent as text ("+15551234567") never '
            'equals it (hint: quote it ("+15551234567") to compare text)',
        ),
        (
            "{customer.phone: {in: [+4930123456]}}",
            "w.yaml:5:59: warning: customer.phone is compared with +4930123456, which YAML "
            'reads as the number 4930123456 (in): a value sent as text ("+4930123456") never '
            'equals it (hint: quote it ("+4930123456") to compare text)',
        ),
        (
            "{subject: 42}",
            "w.yaml:5:51: warning: subject is compared with the number 42 (equals): a value "
            'sent as text ("42") never equals it (hint: quote it ("42") to compare text)',
        ),
    ],
)
def test_a_number_compared_with_a_text_field_is_a_warning_quoting_it(
    condition: str, expected: str
) -> None:
    assert warnings_of(on_message(condition)) == [expected]


@pytest.mark.parametrize(
    ("condition", "lowered"),
    [
        ("{inbox: Billing@Acme.example}", "billing@acme.example"),
        ("{customer.email: {in: [CEO@BigCorp.example]}}", "ceo@bigcorp.example"),
        ("{ticket.inbox: {not_in: [Sales@Acme.example]}}", "sales@acme.example"),
    ],
)
def test_an_address_with_capitals_is_a_warning_giving_it_lower_cased(
    condition: str, lowered: str
) -> None:
    (warning,) = warnings_of(on_message(condition))
    assert "addresses arrive lower-cased, so one with capitals never equals it" in warning
    assert warning.endswith(f"(hint: write it in lower case: {lowered})")


def test_lower_case_addresses_and_text_that_is_no_address_are_no_warning() -> None:
    rules = on_message("{inbox: billing@acme.example, subject: Re@Invoice}")
    assert warnings_of(rules) == []


@pytest.mark.parametrize(
    ("condition", "numbers"),
    [
        ('{ticket.reopen_count: "2"}', ["2"]),
        ('{reopen_count: {in: ["2", "3"]}}', ["2", "3"]),
        ('{ticket.agent_replies: {not_in: [" 0"]}}', ["0"]),
        ('{contacts: "1.50"}', ["1.50"]),
    ],
)
def test_text_compared_with_a_ticket_count_is_a_warning_giving_the_number(
    condition: str, numbers: list[str]
) -> None:
    found = warnings_of(on_message(condition))
    assert [w.split("(hint: ")[1] for w in found] == [
        f"write the number without quotes: {n})" for n in numbers
    ]
    assert all("is a number, compared with the text" in w for w in found)


def test_words_compared_with_a_ticket_count_are_a_warning_too() -> None:
    (warning,) = warnings_of(on_message('{ticket.contacts: "many"}'))
    assert "compare with a number, e.g. {ticket.contacts: 2}" in warning


@pytest.mark.parametrize(
    ("written", "shown"),
    [("01234", "1234"), ("+4915112345678", "4915112345678"), ("1.50", "1.5")],
)
def test_the_quote_hint_shows_the_number_as_written(written: str, shown: str) -> None:
    (warning,) = warnings_of(on_message(f"{{metadata.zip: {written}}}"))
    assert f'quote it ("{written}") to compare text' in warning
    assert f"which YAML reads as the number {shown}" in warning


def test_the_quote_hint_of_a_list_shows_each_number_as_written() -> None:
    found = warnings_of(on_message("{customer.attributes.zip: {in: [01234, 007]}}"))
    assert ['quote it ("01234")' in found[0], 'quote it ("007")' in found[1]] == [True, True]


# -- 3: ticket.created rules that test what the ticket will become ------------------------


@pytest.mark.parametrize(
    ("condition", "new"),
    [
        ("{queue: billing}", "queue null"),
        ("{ticket.priority: high, channel: email}", 'priority "normal"'),
        ("{ticket.tags: {contains: vip}}", "tags []"),
        ("{ticket.status: open}", 'status "new"'),
        ("{ticket.reopen_count: {gte: 1}}", "reopen_count 0"),
        ("{ticket.contacts: {gt: 1}}", "contacts 1"),
        ("{any: [{queue: billing}, {ticket.agent_replies: {gt: 0}}]}", "queue null"),
    ],
)
def test_a_created_rule_needing_what_a_new_ticket_cannot_be_can_never_match(
    condition: str, new: str
) -> None:
    rules = f"  - {{name: r, if: {condition}, then: {{tags: [x]}}}}\n"
    (warning,) = warnings_of(rules)
    assert warning.startswith("w.yaml:5:")
    assert (
        "warning: rule 'r' can never match: it runs only on ticket.created, where the "
        f"ticket is new ({new}"
    ) in warning
    assert warning.endswith(
        "(hint: conditions see the ticket as it was before this pass; use "
        "on: message.received, or test the message's fields)"
    )


@pytest.mark.parametrize(
    "rule",
    [
        "{name: r, if: {queue: billing}, on: [ticket.created, message.received], "
        "then: {tags: [x]}}",
        "{name: r, if: {ticket.status: new, queue: {exists: false}}, then: {tags: [x]}}",
        "{name: r, if: {not: {ticket.tags: vip}}, then: {tags: [x]}}",
        "{name: r, if: {any: [{queue: billing}, {channel: email}]}, then: {tags: [x]}}",
        "{name: r, if: {ticket.channel: email}, then: {tags: [x]}}",
    ],
)
def test_created_rules_a_new_ticket_can_match_are_no_warning(rule: str) -> None:
    assert warnings_of(f"  - {rule}\n") == []


# -- 4: empty conditions inside any / all / not -------------------------------------------


@pytest.mark.parametrize(
    ("condition", "where"),
    [
        ("{not: {}}", "r.yaml:5:25: an empty condition {} in 'not'"),
        ("{any: [{}, {channel: chat}]}", "r.yaml:5:26: an empty condition {} in 'any'"),
        ("{all: {}}", "r.yaml:5:25: an empty condition {} in 'all'"),
        ("{any: [{channel: chat}, {not: {}}]}", "r.yaml:5:49: an empty condition {} in 'not'"),
    ],
)
def test_an_empty_condition_in_any_all_or_not_is_an_error(condition: str, where: str) -> None:
    text = HEAD + f"  - {{name: a, if: {condition}, then: {{tags: [x]}}}}\n"
    assert errors_of(text) == [
        f"{where} (hint: give it a test, e.g. {{channel: email}}, or remove it)"
    ]


def test_a_rule_without_if_or_with_an_empty_one_still_matches_always() -> None:
    ruleset = loads_ruleset(
        HEAD + "  - {name: a, then: {tags: [a]}}\n  - {name: b, if: {}, then: {tags: [b]}}\n"
    )
    assert [r.condition.kind for r in ruleset.rules] == ["true", "true"]


# -- 5, 8: messages ------------------------------------------------------------------------


def test_an_unknown_escape_in_double_quotes_hints_at_doubling_the_backslash() -> None:
    text = HEAD + '  - {name: a, if: {subject: {matches: "\\d+"}}, then: {tags: [x]}}\n'
    assert errors_of(text) == [
        "r.yaml:5:41: YAML syntax error: found unknown escape character 'd' (hint: inside "
        "double quotes write a backslash twice (\"\\\\d+\"), or use single quotes ('\\d+'))"
    ]


@pytest.mark.parametrize("written", ["true", "True", "FALSE"])
def test_a_boolean_hint_quotes_it_as_written(written: str) -> None:
    text = HEAD + f"  - {{name: a, description: {written}, then: {{tags: [x]}}}}\n"
    (error,) = errors_of(text)
    assert error.endswith(f'(hint: quote it to make it text: "{written}")')


def test_a_merge_key_is_said_to_be_unsupported_and_nothing_more() -> None:
    text = (
        "version: 1\nqueues: {general: {}}\ndefaults: {queue: general}\n"
        "rules:\n  - &first {name: a, then: {tags: [x]}}\n  - {name: b, <<: *first}\n"
    )
    assert errors_of(text) == [
        "r.yaml:6:15: YAML merge keys (<<) are not supported (hint: write the keys out; "
        "anchors (&name) and aliases (*name) work for whole values, e.g. if: *vip)"
    ]


def test_a_duration_over_a_hundred_years_says_so() -> None:
    text = HEAD.replace("rules:\n", "sla:\n  s: {first_response: 100000d}\n")
    assert errors_of(text) == [
        "r.yaml:5:23: duration '100000d' for first_response is longer than 100 years "
        "(hint: durations are at most 100 years: use at most 36500d)"
    ]


def test_the_docs_give_the_limits_the_loader_enforces() -> None:
    """Any duration: 100 years; a due time on a calendar: 50 years ahead. The hint had
    said due times reach 100 years, where the docs and a calendar's arithmetic say 50."""
    docs = (Path(__file__).resolve().parents[3] / "docs" / "rules.md").read_text("utf-8")
    assert f"A duration is at most {LONGEST.days}d (100 years)" in docs
    assert f"Due times on a calendar are computed up to {HORIZON_YEARS} years ahead" in docs


# -- 6: typos in known fields and language codes ------------------------------------------


def test_a_misspelt_customer_field_is_a_warning_with_the_right_name() -> None:
    (warning,) = warnings_of(on_message("{customer.teir: gold, customer.plan: pro}"))
    assert warning.startswith(
        "w.yaml:5:57: warning: customer.teir is no customer field (did you mean 'customer.tier'?)"
    )


@pytest.mark.parametrize(
    ("condition", "hint"),
    [
        ("{language: DE}", "did you mean 'de'?"),
        ("{language: {in: [german]}}", "did you mean 'de' (German)?"),
        ("{language: {not_in: [no]}}", "nb (Bokmål) and nn (Nynorsk)"),
    ],
)
def test_a_language_that_is_no_lower_case_code_is_a_warning(condition: str, hint: str) -> None:
    (warning,) = warnings_of(on_message(condition))
    assert "is no language code (" in warning
    assert hint in warning


def test_languages_no_suggests_bokmal_and_nynorsk() -> None:
    (error,) = errors_of(HEAD.replace("rules:\n", "languages: [en, no]\n"))
    assert error == (
        "r.yaml:4:17: language 'no' cannot be detected (hint: Norwegian is told apart as "
        "nb (Bokmål) and nn (Nynorsk): write nb, nn or both)"
    )


# -- 7, 8: the command line ---------------------------------------------------------------


def test_rules_test_with_no_cases_fails(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(HEAD + "  - {name: a, then: {tags: [x]}}\n", encoding="utf-8")
    cases = tmp_path / "cases.yaml"
    cases.write_text("cases: []\n", encoding="utf-8")
    result = run("test", rules, "--cases", cases)
    assert result.returncode == 1
    assert result.stdout == (
        f"error: {cases}: no cases to run (write at least one under 'cases:'; "
        "an emptied file would pass unseen)\n"
    )


def test_check_warns_about_a_rule_file_with_an_upper_case_suffix(tmp_path: Path) -> None:
    (tmp_path / "10-a.yaml").write_text(HEAD + "  - {name: a, then: {queue: billing}}\n")
    (tmp_path / "20-c.YAML").write_text("rules: []\n", encoding="utf-8")
    result = run("check", tmp_path)
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines()[0] == (
        f"{tmp_path / '20-c.YAML'}:1:1: warning: not read: rule files end in .yaml or "
        ".yml, in lower case (20-c.YAML) (hint: rename it to 20-c.yaml)"
    )
