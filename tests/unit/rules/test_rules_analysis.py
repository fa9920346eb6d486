"""`rules check` warnings: shadowed rules, queue overrides, escalation loops, dead queues."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from rules import analysis, load_ruleset, loads_ruleset
from rules.analysis import find_warnings
from rules.conditions import Condition

pytestmark = pytest.mark.unit

HEADER = """version: 1
queues: {general: {}, billing: {}, tech: {}, tech-t2: {}}
defaults: {queue: general}
"""


def warnings(text: str, *, unrouted: bool = False) -> list[str]:
    found = [str(w) for w in find_warnings(loads_ruleset(HEADER + text, file="w.yaml"))]
    return [w for w in found if unrouted or "routes to queue" not in w]


def test_rule_after_an_always_matching_stop_rule_can_never_match() -> None:
    found = warnings(
        "rules:\n"
        "  - {name: catch all, then: {queue: billing}, stop: true}\n"
        "  - {name: never, if: {channel: email}, then: {queue: tech}}\n"
        "  - {name: other trigger, on: message.received, then: {queue: tech}}\n"
    )
    assert found == [
        "w.yaml:6:5: warning: rule 'never' can never match: earlier rule 'catch all' (line 5) "
        "always matches and stops"
    ]


def test_rule_with_the_same_condition_as_an_earlier_stop_rule_can_never_match() -> None:
    found = warnings(
        "rules:\n"
        "  - {name: first, if: {channel: chat, language: de}, then: {queue: billing}, stop: true}\n"
        "  - {name: second, if: {language: de, channel: chat}, then: {tags: [x]}}\n"
        "  - {name: route tech, then: {queue: tech}}\n"
    )
    assert found[0] == (
        "w.yaml:6:5: warning: rule 'second' can never match: earlier rule 'first' (line 5) "
        "has the same condition and stops"
    )


def test_rule_more_specific_than_an_earlier_stop_rule_can_never_match() -> None:
    found = warnings(
        "rules:\n"
        "  - {name: chat, if: {channel: chat}, then: {queue: billing}, stop: true}\n"
        "  - {name: german chat, if: {channel: chat, language: de}, then: {queue: tech}}\n"
    )
    assert found == [
        "w.yaml:6:5: warning: rule 'german chat' can never match: earlier rule 'chat' (line 5) "
        "matches whenever it would and stops"
    ]


def test_general_rule_after_a_specific_one_overrides_its_queue() -> None:
    found = warnings(
        "rules:\n"
        "  - {name: refunds, if: {inbox: a@x, text: {contains: refund}}, then: {queue: billing}}\n"
        "  - {name: inbox a, if: {inbox: a@x}, then: {queue: tech}}\n"
    )
    assert found == [
        "w.yaml:6:5: warning: rule 'inbox a' sets queue 'tech' whenever rule 'refunds' (line 5) "
        "sets queue 'billing' (its conditions are a subset), so the earlier queue never sticks"
    ]


def test_partially_overlapping_rules_with_different_queues() -> None:
    found = warnings(
        "rules:\n"
        "  - {name: a, if: {inbox: a@x, language: de}, then: {queue: billing}}\n"
        "  - {name: b, if: {inbox: a@x, channel: chat}, then: {queue: tech}}\n"
    )
    assert found == [
        "w.yaml:6:5: warning: rules 'a' (line 5) and 'b' set different queues "
        "('billing', 'tech') and can both match; the later rule wins"
    ]


@pytest.mark.parametrize(
    "rules",
    [
        # more specific later: an intended refinement
        "  - {name: a, if: {inbox: a@x}, then: {queue: billing}}\n"
        "  - {name: b, if: {inbox: a@x, text: {contains: api}}, then: {queue: tech}}\n",
        # disjoint values of the same field
        "  - {name: a, if: {inbox: a@x, language: de}, then: {queue: billing}}\n"
        "  - {name: b, if: {inbox: a@x, language: {in: [fr, it]}}, then: {queue: tech}}\n",
        # the first one stops
        "  - {name: a, if: {inbox: a@x, language: de}, then: {queue: billing}, stop: true}\n"
        "  - {name: b, if: {inbox: a@x, channel: chat}, then: {queue: tech}}\n",
        # same queue
        "  - {name: a, if: {inbox: a@x}, then: {queue: billing}}\n"
        "  - {name: b, if: {inbox: a@x}, then: {queue: billing}}\n",
    ],
)
def test_no_queue_warning_for_refinements_disjoint_stopped_or_equal(rules: str) -> None:
    assert warnings("rules:\n" + rules) == []


def test_queue_overrides_compare_only_rules_that_share_a_condition(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`rules check` had compared every pair of routing rules, reading both rules'
    conditions anew for each pair: 6,000 keyword rules took 55 s. A rule is now read once
    and compared only with the earlier rules it shares a condition with (all of them when
    it has none), which are the only pairs that can warn; the warnings are the same."""
    reads = [0]
    atom_keys = analysis._atom_keys  # noqa: SLF001 - counted, to show the work per rule

    def counted(condition: Condition) -> frozenset[object]:
        reads[0] += 1
        return atom_keys(condition)

    monkeypatch.setattr(analysis, "_atom_keys", counted)
    keywords = "".join(
        f"  - {{name: r{n}, if: {{text: {{contains: word{n}}}}}, "
        f"then: {{queue: {'billing' if n % 2 else 'tech'}}}}}\n"
        for n in range(300)
    )
    overlapping = (
        "  - {name: refunds, if: {inbox: a@x, text: {contains: refund}}, then: {queue: billing}}\n"
        "  - {name: inbox a, if: {inbox: a@x}, then: {queue: tech}}\n"
        "  - {name: chat a, if: {inbox: a@x, channel: chat}, then: {queue: billing}}\n"
        "  - {name: reply, on: message.received, if: {channel: email}, then: {queue: billing}}\n"
        "  - {name: reply any, on: message.received, then: {queue: tech}}\n"
    )
    found = warnings("rules:\n" + keywords + overlapping)
    assert found == [
        "w.yaml:306:5: warning: rule 'inbox a' sets queue 'tech' whenever rule 'refunds' "
        "(line 305) sets queue 'billing' (its conditions are a subset), so the earlier queue "
        "never sticks",
        "w.yaml:309:5: warning: rule 'reply any' sets queue 'tech' whenever rule 'reply' "
        "(line 308) sets queue 'billing' (its conditions are a subset), so the earlier queue "
        "never sticks",
    ]
    assert reads[0] <= 3 * 305  # a few reads per rule, not one per pair (46,000 had been)


def test_escalations_that_lead_back_are_reported() -> None:
    found = warnings(
        "rules:\n  - {name: r, then: {queue: billing}}\n"
        "escalations:\n"
        "  - {name: up, on: sla.first_response.breached, if: {queue: tech},"
        " then: {queue: tech-t2}}\n"
        "  - {name: down, on: assignment.timeout, if: {ticket.queue: tech-t2},"
        " then: {queue: tech}}\n"
        "  - {name: fine, on: assignment.timeout, if: {queue: billing}, then: {queue: general}}\n"
    )
    assert found == [
        "w.yaml:7:5: warning: escalation 'up' can lead back to where it started "
        "(tech -> tech-t2 -> tech); tickets may bounce between queues",
        "w.yaml:8:5: warning: escalation 'down' can lead back to where it started "
        "(tech-t2 -> tech -> tech-t2); tickets may bounce between queues",
    ]


def test_queues_nothing_routes_to_are_reported() -> None:
    found = warnings("rules:\n  - {name: r, then: {queue: billing}}\n", unrouted=True)
    assert found == [
        "w.yaml:2:36: warning: no rule, escalation or default routes to queue 'tech'",
        "w.yaml:2:46: warning: no rule, escalation or default routes to queue 'tech-t2'",
    ]


def test_a_file_without_defaults_loads_and_says_where_unrouted_tickets_go() -> None:
    """A small file that only tags (as one writes to try an operator) is valid: a ticket
    no rule routes lands in the first queue declared, else 'general', with a warning."""
    bare = "version: 1\nrules:\n  - {name: t, if: {text: {contains: [x]}}, then: {tags: [x]}}\n"
    ruleset = loads_ruleset(bare, file="m.yaml")
    decision = ruleset.evaluate({"text": "x"}, now=datetime(2026, 3, 2, 10, tzinfo=UTC))
    assert (decision.queue, decision.priority, decision.tags) == ("general", "normal", ("x",))
    assert [str(w) for w in find_warnings(ruleset)] == [
        "m.yaml:1:1: warning: no default queue: a ticket no rule routes lands in 'general' "
        "(say so with defaults: {queue: ...})"
    ]
    queued = loads_ruleset(
        "version: 1\nqueues: {billing: {}, general: {}}\ndefaults: {priority: high}\n"
    )
    assert (queued.defaults.queue, queued.defaults.priority) == ("billing", "high")


def test_a_warn_before_as_long_as_a_target_is_a_warning_never_given() -> None:
    found = warnings(
        "sla:\n"
        "  fast:\n"
        "    first_response: {urgent: 1m, high: 5m, normal: 10m}\n"
        "    resolution: 4h\n"
        "    warn_before: 5m\n"
        "  fine:\n"
        "    first_response: 1h\n"
        "    warn_before: 5m\n"
    )
    assert found == [
        "w.yaml:8:5: warning: warn_before is not shorter than the target, so no warning is "
        "given for: first_response high, first_response urgent (policy 'fast')"
    ]


def test_a_value_outside_a_fields_vocabulary_is_a_condition_that_never_holds() -> None:
    found = warnings(
        "rules:\n"
        "  - {name: faxes, if: {channel: fax}, then: {tags: [fax]}}\n"
        "  - name: nested\n"
        "    if: {any: [{ticket.priority: {in: [urgnet, high]}}, {channel: Email}]}\n"
        "    then: {tags: [x]}\n"
        "  - {name: fine, if: {channel: {in: [email, chat]}}, then: {tags: [y]}}\n"
    )
    assert found == [
        "w.yaml:5:33: warning: 'fax' is no channel (one of: email, chat, sms, whatsapp, "
        "messenger, voice, webform): channel never equals it",
        "w.yaml:7:35: warning: 'urgnet' is no priority (did you mean 'urgent'?): "
        "ticket.priority never equals it",
        "w.yaml:7:67: warning: 'Email' is no channel (did you mean 'email'?): "
        "channel never equals it",
    ]


def test_a_rule_in_another_file_is_named_with_its_file(tmp_path: Path) -> None:
    (tmp_path / "10-vip.yaml").write_text(
        HEADER + "rules:\n  - {name: a, then: {queue: billing}, stop: true}\n", encoding="utf-8"
    )
    (tmp_path / "20-b.yaml").write_text(
        "version: 1\nrules:\n  - {name: b, if: {channel: email}, then: {queue: tech}}\n",
        encoding="utf-8",
    )
    found = [str(w) for w in find_warnings(load_ruleset(tmp_path))]
    first = tmp_path / "10-vip.yaml"
    expected = f"rule 'b' can never match: earlier rule 'a' ({first}:5) always matches"
    assert any(expected in w for w in found), found


def test_a_priority_an_sla_policy_gives_no_target_loses_that_clock() -> None:
    found = warnings(
        "sla:\n"
        "  fast:\n"
        "    first_response: 1h\n"
        "    resolution: {normal: 2m, high: 3m}\n"
        "  flat: {resolution: 8h}\n"
        "rules:\n"
        "  - {name: fast sla, then: {sla: fast}}\n"
        "escalations:\n"
        "  - {name: bump, on: sla.first_response.warning, then: {priority: urgent}}\n"
        "  - {name: fine, on: sla.first_response.warning, then: {priority: high}}\n"
        "  - {name: own policy, on: sla.first_response.warning,\n"
        "     then: {priority: urgent, sla: flat}}\n"
    )
    assert found == [
        "w.yaml:12:57: warning: SLA policy 'fast' has no resolution target for priority "
        "'urgent' (only for normal, high): the ticket loses its resolution clock, which then "
        "never warns or breaches (hint: add urgent to resolution in 'fast', or give resolution "
        "one value for every priority, e.g. resolution: 8h)"
    ]


def test_a_rule_with_no_actions_that_does_not_stop_is_a_warning() -> None:
    found = warnings(
        "rules:\n"
        "  - {name: nothing, if: {channel: email}, then: {}}\n"
        "  - {name: guard, if: {channel: chat}, then: {}, stop: true}\n"
    )
    assert found == [
        "w.yaml:5:5: warning: rule 'nothing' has no actions: matching it changes nothing "
        "(hint: give 'then' an action, e.g. then: {tags: [seen]}, or add stop: true to keep "
        "later rules from running)"
    ]


def test_a_rule_that_adds_and_removes_one_tag_is_warned_of_naming_which_wins() -> None:
    """The key written later wins, which the rule does not show at a glance."""
    found = warnings(
        "rules:\n"
        "  - {name: gone, then: {tags: [t, u], remove_tags: [t]}}\n"
        "  - {name: kept, then: {remove_tags: [t], tags: [t]}}\n"
        "  - {name: fine, then: {remove_tags: [t], tags: [u]}}\n"
    )
    hint = "(hint: name each tag in one of the two lists)"
    assert found == [
        "w.yaml:5:39: warning: rule 'gone' both adds and removes 't': 'remove_tags' is "
        f"written later, so the rule removes it {hint}",
        "w.yaml:6:43: warning: rule 'kept' both adds and removes 't': 'tags' is written "
        f"later, so the rule keeps it {hint}",
    ]


def test_a_bare_number_compared_for_equality_with_a_text_field_is_warned_of() -> None:
    """metadata and CRM attributes mostly arrive as strings, and "42" never equals 42
    (only gt/gte/lt/lte read numbers in strings)."""
    found = warnings(
        "rules:\n"
        "  - {name: a, if: {metadata.plan: 42}, then: {tags: [a]}}\n"
        '  - {name: b, if: {customer.attributes.seats: {in: ["6", 5]}}, then: {tags: [b]}}\n'
        '  - {name: fine, if: {metadata.plan: "42", ticket.contacts: 3,'
        " metadata.size: {gt: 5}, customer.attributes.vip: true}, then: {tags: [c]},"
        " on: message.received}\n"
    )
    hint = "to compare text; gt, gte, lt and lte read numbers in text)"
    assert found == [
        "w.yaml:5:35: warning: metadata.plan is compared with the number 42 (equals): "
        f'a value sent as text ("42") never equals it (hint: quote it ("42") {hint}',
        "w.yaml:6:48: warning: customer.attributes.seats is compared with the number 5 (in): "
        f'a value sent as text ("5") never equals it (hint: quote it ("5") {hint}',
    ]


@pytest.mark.parametrize(
    ("pattern", "warned"),
    [
        ("(a+)+$", True),
        ("(\\\\w+\\\\s?)+!", True),
        ("(x+x+)+y", True),
        ("(?i)\\\\b(invoice|refund)s?\\\\b", False),
        ("order #\\\\d+", False),
        ("(ab)+", False),
        ("(a++)+$", False),  # possessive: never backtracks
        ("(?>a+)+$", False),  # atomic: the same
    ],
)
def test_a_repeat_inside_a_repeat_is_a_warning(pattern: str, warned: bool) -> None:
    """Such a search gives up on a crafted text after its time limit and counts as no
    match: the rule stops matching the messages it was written for, without a word."""
    found = warnings(
        "rules:\n"
        f'  - {{name: r, if: {{text: {{matches: "{pattern}"}}}}, then: {{queue: billing}}}}\n'
    )
    runaway = [w for w in found if "a repeat inside a repeat" in w]
    assert bool(runaway) is warned, found


@pytest.mark.parametrize(
    ("pattern", "warned"),
    [
        ("^(a|aa)+$", True),
        ("(.|\\\\s)*X", True),  # a space is either
        ("(a|b|ab)*$", True),
        ("(?i)^(a|Aa)+$", True),  # a and A are one character without case
        ("(?i)(x|Xy)+z", False),  # they part at the second: y or the next x
        ("(\\\\dx|\\\\wy)+", False),
        ("(ab|cd)+", False),
        ("(a|ab)*c", False),  # read one way: after an a, a b or the next a
        ("(ab|abc)+$", False),
        ("(\\\\d|x)+", False),
        ("(.|\\\\n)*", False),  # . is every character but the newline
        ("(?:a|aa)++$", False),  # possessive: never backtracks
        ("(?i)\\\\b(invoice|refund|charge)", False),
    ],
)
def test_a_repeated_choice_whose_alternatives_begin_alike_is_a_warning(
    pattern: str, warned: bool
) -> None:
    """Each character both alternatives can begin with is read two ways, so a text that
    fails at its end is tried in a number of ways that doubles with each: the search gives
    up after its time limit and the rule stops matching, without a word."""
    found = warnings(
        "rules:\n"
        f'  - {{name: r, if: {{text: {{matches: "{pattern}"}}}}, then: {{queue: billing}}}}\n'
    )
    runaway = [w for w in found if "alternatives can begin alike" in w]
    assert bool(runaway) is warned, found
