"""Every operator and field, alone and nested, against the facts a router builds."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from rules import RuleSet, loads_ruleset, operators
from rules.bench import generate_events, generate_ruleset_yaml
from rules.operators import GaveUp, match_probe
from rules.pattern_shape import MAX_WAYS, ways
from tests.budget import cpu_budget

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday, 13:00 in Berlin
HEADER = """version: 1
calendars:
  office: {timezone: Europe/Berlin, hours: {wed: ["09:00-12:00", "13:00-17:00"]}}
queues: {general: {}}
defaults: {queue: general}
rules:
"""


def matches(condition: str, facts: dict[str, Any], now: datetime = NOW) -> bool:
    rs = loads_ruleset(HEADER + f"  - name: r\n    if: {condition}\n    then: {{tags: [hit]}}\n")
    return rs.evaluate(facts, now=now).matched == ("r",)


CASES = [
    # scalar equals, exact and type-aware
    ("{channel: email}", {"channel": "email"}, True),
    ("{channel: email}", {"channel": "Email"}, False),
    ("{channel: email}", {}, False),
    ("{channel: {equals: chat}}", {"channel": "chat"}, True),
    ("{ticket.reopen_count: 1}", {"ticket": {"reopen_count": 1}}, True),
    ("{ticket.reopen_count: 1}", {"ticket": {"reopen_count": True}}, False),
    ("{metadata.urgent: true}", {"metadata": {"urgent": True}}, True),
    ("{metadata.urgent: true}", {"metadata": {"urgent": 1}}, False),
    ("{ticket.tags: vip}", {"ticket": {"tags": ["a", "vip"]}}, True),
    ("{ticket.tags: vip}", {"ticket": {"tags": ["a"]}}, False),
    # in / not_in
    ("{customer.tier: {in: [gold, platinum]}}", {"customer": {"tier": "gold"}}, True),
    ("{customer.tier: {in: [gold, platinum]}}", {"customer": {"tier": "silver"}}, False),
    ("{customer.tier: {in: [gold, platinum]}}", {"customer": None}, False),
    ("{ticket.contacts: {in: [1, 2]}}", {"ticket": {"contacts": 2}}, True),
    ("{ticket.tags: {in: [vip, press]}}", {"ticket": {"tags": ["x", "press"]}}, True),
    ("{language: {not_in: [de, fr]}}", {"language": "en"}, True),
    ("{language: {not_in: [de, fr]}}", {"language": "de"}, False),
    ("{language: {not_in: [de, fr]}}", {}, True),
    # text tests read a number as written: YAML reads +44, 0044 and 1e3 as numbers
    ("{customer.phone: {starts_with: [+44, 0044]}}", {"customer": {"phone": "+447700"}}, True),
    ("{customer.phone: {starts_with: +44}}", {"customer": {"phone": "+4930123"}}, False),
    ("{text: {contains: 0123}}", {"text": "code 0123"}, True),
    ("{text: {contains: 0123}}", {"text": "code 123"}, False),
    ("{text: {contains_all: [1e3, 0777]}}", {"text": "1e3 and 0777"}, True),
    ("{text: {contains: 42}}", {"text": "order 42"}, True),
    # contains: any of, case-insensitive, string or list
    ("{text: {contains: refund}}", {"text": "I want a REFUND now"}, True),
    ("{text: {contains: [invoice, refund]}}", {"text": "my Invoice is wrong"}, True),
    ("{text: {contains: [invoice, refund]}}", {"text": "hello"}, False),
    ("{text: {contains: [invoice, refund]}}", {"text": None}, False),
    ("{ticket.tags: {contains: VIP}}", {"ticket": {"tags": ["vip"]}}, True),
    ("{ticket.tags: {contains: vi}}", {"ticket": {"tags": ["vip"]}}, False),
    ("{metadata.order: {contains: 42}}", {"metadata": {"order": 1429}}, True),
    # contains_all
    ("{text: {contains_all: [cancel, subscription]}}", {"text": "Cancel my Subscription"}, True),
    ("{text: {contains_all: [cancel, subscription]}}", {"text": "cancel my order"}, False),
    # matches: regex search, compiled once
    ('{subject: {matches: "(?i)^re:"}}', {"subject": "RE: your ticket"}, True),
    ('{subject: {matches: "^re:"}}', {"subject": "RE: your ticket"}, False),
    ('{subject: {matches: "\\\\d{4}"}}', {"subject": "order 2026"}, True),
    ('{customer.phone: {matches: "^\\\\+49"}}', {"customer": {"phone": "+4930123"}}, True),
    ('{ticket.contacts: {matches: "^1"}}', {"ticket": {"contacts": 12}}, True),
    ('{subject: {matches: "x"}}', {}, False),
    # starts_with: case-insensitive, any of
    ("{subject: {starts_with: ['[spam]', fwd]}}", {"subject": "[SPAM] win"}, True),
    ("{subject: {starts_with: fwd}}", {"subject": "Re: fwd"}, False),
    ("{inbox: {starts_with: billing@}}", {"inbox": "Billing@acme.example"}, True),
    # comparisons
    ("{ticket.contacts: {gt: 3}}", {"ticket": {"contacts": 4}}, True),
    ("{ticket.contacts: {gt: 3}}", {"ticket": {"contacts": 3}}, False),
    ("{ticket.contacts: {gte: 3}}", {"ticket": {"contacts": 3}}, True),
    ("{ticket.contacts: {lt: 3}}", {"ticket": {"contacts": 2.5}}, True),
    ("{ticket.contacts: {lte: 3}}", {"ticket": {"contacts": 4}}, False),
    ("{metadata.score: {gte: 0.5}}", {"metadata": {"score": "0.75"}}, True),
    ("{metadata.score: {gte: 0.5}}", {"metadata": {"score": "high"}}, False),
    ("{metadata.score: {gte: 0}}", {"metadata": {"score": True}}, False),
    ("{ticket.contacts: {gt: 1, lt: 5}}", {"ticket": {"contacts": 3}}, True),
    ("{ticket.contacts: {gt: 1, lt: 5}}", {"ticket": {"contacts": 5}}, False),
    # whole numbers compare exactly, past the 2**53 a float holds exactly
    ("{metadata.n: {lt: 9007199254740993}}", {"metadata": {"n": 9007199254740992}}, True),
    ("{metadata.n: {gt: 9007199254740992}}", {"metadata": {"n": 9007199254740993}}, True),
    ("{metadata.n: {gte: 9007199254740993}}", {"metadata": {"n": 9007199254740992}}, False),
    ("{metadata.n: {lt: 9007199254740993}}", {"metadata": {"n": 9007199254740992.0}}, True),
    # exists
    ("{language: {exists: true}}", {"language": "de"}, True),
    ("{language: {exists: true}}", {"language": ""}, False),
    ("{language: {exists: false}}", {}, True),
    ("{ticket.tags: {exists: false}}", {"ticket": {"tags": []}}, True),
    # within a calendar (split shift: lunch 12:00-13:00 Berlin)
    ("{within: office}", {}, True),
    ("{not: {within: office}}", {}, False),
    # nesting
    ("{any: [{channel: chat}, {channel: sms}]}", {"channel": "sms"}, True),
    ("{any: [{channel: chat}, {channel: sms}]}", {"channel": "email"}, False),
    ("{any: {channel: chat, language: de}}", {"language": "de"}, True),
    ("{all: [{channel: chat}, {language: de}]}", {"channel": "chat", "language": "de"}, True),
    ("{all: [{channel: chat}, {language: de}]}", {"channel": "chat"}, False),
    ("{channel: chat, language: de}", {"channel": "chat", "language": "en"}, False),
    ("{not: {channel: chat}}", {"channel": "email"}, True),
    (
        "{not: {any: [{channel: chat}, {not: {language: de}}]}}",
        {"channel": "x", "language": "de"},
        True,
    ),
    # fields: every kind, including deep metadata and bare ticket aliases
    ("{inbox: support@acme.example}", {"inbox": "support@acme.example"}, True),
    ("{metadata.page.section: pricing}", {"metadata": {"page": {"section": "pricing"}}}, True),
    ("{metadata.page.section: pricing}", {"metadata": {"page": "pricing"}}, False),
    ("{queue: tech}", {"ticket": {"queue": "tech"}}, True),
    ("{priority: {in: [high, urgent]}}", {"ticket": {"priority": "urgent"}}, True),
    ("{status: pending}", {"ticket": {"status": "pending"}}, True),
    ("{tags: vip}", {"ticket": {"tags": ["vip"]}}, True),
    ("{reopen_count: {gte: 1}}", {"ticket": {"reopen_count": 1}}, True),
]


@pytest.mark.parametrize(("condition", "facts", "expected"), CASES)
def test_operator(condition: str, facts: dict[str, Any], expected: bool) -> None:
    assert matches(condition, facts) is expected


def test_within_follows_the_calendar() -> None:
    lunch = datetime(2026, 3, 4, 11, 30, tzinfo=UTC)  # 12:30 in Berlin
    evening = datetime(2026, 3, 4, 18, 0, tzinfo=UTC)
    assert matches("{within: office}", {}, NOW)
    assert not matches("{within: office}", {}, lunch)
    assert not matches("{within: office}", {}, evening)
    assert matches("{not: {within: office}}", {}, lunch)


def test_a_rule_without_if_always_matches() -> None:
    rs = loads_ruleset(
        HEADER + "  - {name: r, then: {tags: [x]}}\n  - {name: s, if: {}, then: {tags: [y]}}\n"
    )
    assert rs.evaluate({}, now=NOW).matched == ("r", "s")


def test_regexes_are_compiled_at_load_not_per_event() -> None:
    rs = loads_ruleset(
        HEADER + '  - {name: r, if: {subject: {matches: "^a+$"}}, then: {tags: [x]}}\n'
    )
    (leaf,) = rs.rules[0].condition.atoms()
    assert leaf.operand.pattern == "^a+$"
    assert leaf.operand.search("aaa")


facts_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
facts_strategy = st.fixed_dictionaries(
    {},
    optional=dict.fromkeys(
        ("channel", "inbox", "subject", "text", "language", "customer", "ticket", "metadata"),
        facts_values,
    ),
)

EVERY_OPERATOR = loads_ruleset(
    HEADER
    + "\n".join(
        f"  - {{name: r{n}, if: {condition}, then: {{tags: [t{n}]}}}}"
        for n, (condition, _, _) in enumerate(CASES)
    )
    + "\n"
)


@settings(max_examples=300, deadline=None)
@given(facts=facts_strategy)
def test_no_operator_raises_on_arbitrary_facts(facts: dict[str, Any]) -> None:
    decision = EVERY_OPERATOR.evaluate(facts, now=NOW)
    assert set(decision.matched) <= {f"r{n}" for n in range(len(CASES))}
    assert len(decision.evaluations) == len(CASES)


GENERATED: RuleSet = loads_ruleset(generate_ruleset_yaml(300, seed=3))
SAMPLE_EVENTS = generate_events(50, seed=5)


@settings(max_examples=200, deadline=None)
@given(
    base=st.sampled_from(SAMPLE_EVENTS),
    inbox=st.sampled_from(["support1@brand1.example", "x", None]),
    tags=st.lists(st.sampled_from(["vip", "billing"]), max_size=2),
    words=st.text(max_size=30),
)
def test_the_index_never_changes_which_rules_match(
    base: dict[str, Any], inbox: str | None, tags: list[str], words: str
) -> None:
    facts = {**base, "inbox": inbox, "ticket": {"tags": tags}, "text": f"{base['text']} {words}"}
    fast = GENERATED.evaluate(facts, now=NOW).matched
    assert list(fast) == GENERATED.evaluate_all_rules(facts, now=NOW)
    assert list(fast) == [
        e.name for e in GENERATED.evaluate(facts, now=NOW).evaluations if e.matched
    ]


def test_a_pattern_that_backtracks_without_bound_gives_up_in_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The text is a customer's: ``(a|aa)+$`` on "aaaa…!" would take longer than the age
    of the universe in a backtracking engine. Past the limit it counts as no match, and
    the router goes on; a pattern with few ways to match (run without the limit, so
    not starved by the event's spent budget) on the same text is unaffected. (The
    limit is wall time: raised here so a busy machine pausing the test cannot time out
    "aaaa".)"""
    monkeypatch.setattr(operators, "MATCH_TIMEOUT_S", 0.5)
    monkeypatch.setattr(operators, "EVENT_BUDGET_S", 1.0)
    rs = loads_ruleset(
        HEADER
        + '  - {name: evil, if: {text: {matches: "(a|aa)+$"}}, then: {tags: [evil]}}\n'
        + '  - {name: fine, if: {text: {matches: "^a{60}!$"}}, then: {tags: [fine]}}\n'
    )
    decision = rs.evaluate({"text": "a" * 60 + "!"}, now=NOW)  # before: it never returned
    assert decision.matched == ("fine",)
    assert rs.evaluate({"text": "aaaa"}, now=NOW).matched == ("evil",)


@pytest.mark.parametrize(
    ("pattern", "few"),
    [
        (r"(?i)\b(invoice|refund|charge|payment)s?\b", True),
        (r"(?i)@bigcorp\.example$", True),
        (r"\d{3}-\d{4}", True),
        (r"(?=ab)a[bc]", True),
        (r"(a|aa)+$", False),  # unbounded repeats
        (r".*x", False),
        (r"(a|aa){0,30}$", False),  # bounded, but 2**30 ways to try
        (r"(a?){10}b", False),
        (r"(\w)\1", False),  # a back-reference
    ],
)
def test_only_patterns_with_few_ways_to_match_run_without_the_time_limit(
    pattern: str, few: bool
) -> None:
    assert (ways(pattern) <= MAX_WAYS) is few


def test_a_bounded_pattern_with_exponential_ways_still_gives_up_in_time() -> None:
    rs = loads_ruleset(
        HEADER + '  - {name: evil, if: {text: {matches: "(a|aa){0,60}$"}}, then: {tags: [e]}}\n'
    )
    with cpu_budget(1.0):
        assert rs.evaluate({"text": "a" * 60 + "!"}, now=NOW).matched == ()


def test_a_pattern_with_few_ways_searches_a_long_text_in_linear_time() -> None:
    rs = loads_ruleset(
        HEADER + '  - {name: bill, if: {text: {matches: "(?i)\\\\b(invoice|refund)s?\\\\b"}}, '
        "then: {tags: [b]}}\n"
    )
    text = "an invoic " * 100_000
    with cpu_budget(1.0):
        assert rs.evaluate({"text": text}, now=NOW).matched == ()
        assert rs.evaluate({"text": text + "REFUNDS!"}, now=NOW).matched == ("bill",)


def test_case_insensitive_operators_fold_case_and_compose_accents() -> None:
    """As a German or French desk expects: "STRASSE" contains "straße", and "Kündigung"
    typed with a combining umlaut (NFD, as some mail clients send it) is "kündigung"."""
    rs = loads_ruleset(
        HEADER
        + '  - {name: street, if: {text: {contains: ["straße"]}}, then: {tags: [a]}}\n'
        + '  - {name: notice, if: {text: {contains: ["kündigung"]}}, then: {tags: [b]}}\n'
        + '  - {name: greeting, if: {text: {starts_with: ["ÉTÉ"]}}, then: {tags: [c]}}\n'
    )
    assert rs.evaluate({"text": "HAUPTSTRASSE 5"}, now=NOW).matched == ("street",)
    assert rs.evaluate({"text": "Meine Ku\u0308ndigung"}, now=NOW).matched == ("notice",)
    assert rs.evaluate({"text": "e\u0301te\u0301 2026"}, now=NOW).matched == ("greeting",)
    assert rs.evaluate({"text": "invoice"}, now=NOW).matched == ()


def test_explain_names_a_search_that_gave_up_and_the_warning_is_logged_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A timed-out search counts as no match for routing, but explain says it gave up
    (an ordinary "no match" would send the author looking at the wrong thing); the
    evaluation logs ``rule_pattern_timed_out`` and its explanation does not log again."""
    # each rule's search runs to its own limit: on a busy machine the event's budget
    # could be spent by the first alone (``test_an_events_timed_searches_share_...``)
    monkeypatch.setattr(operators, "EVENT_BUDGET_S", 10.0)
    rs = loads_ruleset(
        HEADER
        + '  - {name: evil, if: {text: {matches: "(x+x+)+y"}}, then: {tags: [evil]}}\n'
        + '  - {name: nested, if: {any: [{channel: sms}, {not: {text: {matches: "(x+x+)+y"}}}]},'
        + " then: {tags: [n]}}\n"
    )
    with capture_logs() as logs:
        decision = rs.evaluate({"text": "x" * 3000, "channel": "email"}, now=NOW)
        evaluations = decision.evaluations
    # a timeout counts as no match, and under ``not`` as no answer: neither holds
    assert decision.matched == ()
    gave_up = 'text matches "(x+x+)+y" timed out after 50 ms: counts as no match (value: "'
    assert [e.failed_condition for e in evaluations] == [
        gave_up + "x" * 56 + "...)",
        'none of: channel equals "sms" (value: "email"); not (text matches "(x+x+)+y"): a'
        " search in it gave up, so neither holds",
    ]
    assert [entry["event"] for entry in logs] == ["rule_pattern_timed_out"] * 2  # one per rule
    plain = rs.evaluate({"text": "xxy"}, now=NOW).evaluations
    assert plain[0].failed_condition is None
    assert rs.evaluate({"text": "ab"}, now=NOW).evaluations[0].failed_condition == (
        'text matches "(x+x+)+y" (value: "ab")'
    )


def test_explain_shows_what_the_evaluation_found_once_the_events_budget_is_spent() -> None:
    """Explain had searched every pattern again with a fresh 50 ms: after four runaway
    searches had spent the event's 200 ms, the router counted ``invoice.*`` as no match
    and queued the ticket in general, while explain showed MATCH billing, and a rule
    never searched as "timed out after 50 ms"."""
    rs = loads_ruleset(
        HEADER.replace("queues: {general: {}}", "queues: {general: {}, billing: {}}")
        + "".join(
            f'  - {{name: r{n}, if: {{text: {{matches: "^(a|aa)+{n}$"}}}}, then: {{tags: [r]}}}}\n'
            for n in range(1, 6)
        )
        + '  - {name: billing, if: {text: {matches: "invoice.*"}}, then: {queue: billing}}\n'
    )
    decision = rs.evaluate({"text": "a" * 60 + "! invoice"}, now=NOW)
    assert (decision.queue, decision.matched) == ("general", ())
    evaluations = {e.name: e for e in decision.evaluations}
    assert not any(e.matched for e in evaluations.values())
    assert "timed out after 50 ms" in str(evaluations["r1"].failed_condition)
    spent = "not searched: the event's 200 ms for timed searches was spent; counts as no match"
    assert evaluations["billing"].failed_condition == (
        f'text matches "invoice.*" {spent} (value: "' + "a" * 56 + "...)"
    )
    assert str(evaluations["r5"].failed_condition).startswith(f'text matches "^(a|aa)+5$" {spent}')


def test_the_explain_probe_of_matches_agrees_with_the_test() -> None:
    pattern = regex.compile("(x+x+)+y")
    probe = match_probe(pattern, 0)
    assert probe is not None
    assert match_probe(regex.compile("(?i)invoice"), 0) is None  # no limit: cannot time out
    assert [probe([v]) for v in (None, "xxy", "ab", ["ab", "xxy"], 12, [None])] == [
        False,
        True,
        False,
        True,
        False,
        False,
    ]
    assert probe([["x" * 3000, "xxy"]]) is True  # a later item matched
    assert probe([["x" * 3000, "ab"]]) == GaveUp(0.05)  # gave up, after 50 ms


def test_an_events_timed_searches_share_one_budget() -> None:
    """A runaway pattern on a list (``metadata.cc``: 100 addresses) had had 50 ms per
    address, 5 s of the router for one email, and a warning per address. The event's
    searches share 200 ms; past it they match nothing and say nothing more."""
    rs = loads_ruleset(
        HEADER
        + '  - {name: cc, if: {metadata.cc: {matches: "(a|aa)+$"}}, then: {tags: [cc]}}\n'
        + '  - {name: text, if: {text: {matches: "(a|aa)+$"}}, then: {tags: [t]}}\n'
    )
    runaway = "a" * 60 + "@x"
    facts = {"text": runaway, "metadata": {"cc": [runaway] * 100}}
    began = time.perf_counter()
    with capture_logs() as logs:
        decision = rs.evaluate(facts, now=NOW)
    assert time.perf_counter() - began < 1.0
    assert decision.matched == ()
    assert 1 <= len(logs) <= 5  # about 200 ms / 50 ms
    assert rs.evaluate({"text": "aaaa", "metadata": {"cc": []}}, now=NOW).matched == ("text",)
