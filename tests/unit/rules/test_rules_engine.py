"""Engine semantics: actions, accumulation, stop, defaults, triggers, decisions."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from rules import AppliedAction, Evaluation, loads_ruleset
from rules.model import ESCALATION_TRIGGERS, RULE_TRIGGERS

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
HEADER = """version: 1
queues: {general: {}, billing: {}, tech: {}, tech-t2: {}}
sla: {standard: {first_response: 4h}, fast: {first_response: 30m}}
defaults: {queue: general, priority: normal, sla: standard}
"""


def test_every_action_lands_in_the_decision() -> None:
    rs = loads_ruleset(
        HEADER
        + "rules:\n  - name: all actions\n    then:\n"
        + "      queue: billing\n      priority: urgent\n      tags: [a, b]\n"
        + "      remove_tags: [old]\n      sla: fast\n      assign: agent-7\n"
        + "      auto_reply: after-hours\n      notify: [lead, '#billing']\n"
    )
    d = rs.evaluate({}, now=NOW)
    assert (d.queue, d.priority, d.sla, d.assign, d.auto_reply) == (
        "billing",
        "urgent",
        "fast",
        "agent-7",
        "after-hours",
    )
    assert d.tags == ("a", "b")
    assert d.remove_tags == ("old",)
    assert d.notify == ("lead", "#billing")
    assert [(a.action, a.value) for a in d.actions] == [
        ("queue", "billing"),
        ("priority", "urgent"),
        ("tags", ("a", "b")),
        ("remove_tags", ("old",)),
        ("sla", "fast"),
        ("assign", "agent-7"),
        ("auto_reply", "after-hours"),
        ("notify", ("lead", "#billing")),
    ]
    assert {a.rule for a in d.actions} == {"all actions"}


def test_single_string_tags_and_notify_are_lists_of_one() -> None:
    rs = loads_ruleset(HEADER + "rules:\n  - {name: r, then: {tags: vip, notify: lead}}\n")
    d = rs.evaluate({}, now=NOW)
    assert (d.tags, d.notify) == (("vip",), ("lead",))


def test_later_rules_win_scalars_and_tags_accumulate() -> None:
    rs = loads_ruleset(
        HEADER
        + "rules:\n"
        + "  - {name: one, then: {queue: billing, priority: high, tags: [a, shared]}}\n"
        + "  - {name: two, then: {queue: tech, tags: [shared, b], notify: [x]}}\n"
        + "  - {name: three, then: {notify: [x, y]}}\n"
    )
    d = rs.evaluate({}, now=NOW)
    assert d.matched == ("one", "two", "three")
    assert (d.queue, d.priority) == ("tech", "high")
    assert d.tags == ("a", "shared", "b")
    assert d.notify == ("x", "y")


def test_remove_tags_nets_against_tags_in_rule_order() -> None:
    rs = loads_ruleset(
        HEADER
        + "rules:\n"
        + "  - {name: add, then: {tags: [x, y]}}\n"
        + "  - {name: remove, then: {remove_tags: [x, z]}}\n"
        + "  - {name: re-add, then: {tags: [z]}}\n"
    )
    d = rs.evaluate({}, now=NOW)
    assert d.tags == ("y", "z")
    assert d.remove_tags == ("x",)


def test_stop_ends_the_pass_only_when_its_rule_matched() -> None:
    rs = loads_ruleset(
        HEADER
        + "rules:\n"
        + "  - {name: vip, if: {customer.tier: gold}, then: {queue: tech}, stop: true}\n"
        + "  - {name: billing, then: {queue: billing}}\n"
    )
    assert rs.evaluate({"customer": {"tier": "gold"}}, now=NOW).matched == ("vip",)
    assert rs.evaluate({}, now=NOW).matched == ("billing",)
    gold = rs.evaluate({"customer": {"tier": "gold"}}, now=NOW)
    assert [e.name for e in gold.evaluations] == ["vip"]


def test_defaults_fill_only_what_no_rule_set_on_ticket_created() -> None:
    rs = loads_ruleset(HEADER + "rules:\n  - {name: r, then: {priority: high}}\n")
    d = rs.evaluate({}, now=NOW)
    assert (d.queue, d.priority, d.sla) == ("general", "high", "standard")
    assert AppliedAction("defaults", "queue", "general") in d.actions
    assert AppliedAction("defaults", "priority", "normal") not in d.actions


@pytest.mark.parametrize("trigger", ["message.received", "ticket.reopened", *ESCALATION_TRIGGERS])
def test_other_triggers_leave_unset_fields_unchanged(trigger: str) -> None:
    rs = loads_ruleset(HEADER)
    d = rs.evaluate({}, trigger=trigger, now=NOW)
    assert (d.queue, d.priority, d.sla) == (None, None, None)
    assert d.actions == ()
    assert d.trigger == trigger


@pytest.mark.parametrize("trigger", RULE_TRIGGERS)
def test_each_rule_trigger_runs_only_its_rules(trigger: str) -> None:
    rs = loads_ruleset(
        HEADER
        + "rules:\n"
        + "".join(f"  - {{name: on {t}, on: {t}, then: {{tags: [{t}]}}}}\n" for t in RULE_TRIGGERS)
        + "  - {name: default trigger, then: {tags: [default]}}\n"
    )
    d = rs.evaluate({}, trigger=trigger, now=NOW)
    expected = [f"on {trigger}"] + (["default trigger"] if trigger == "ticket.created" else [])
    assert list(d.matched) == expected


@pytest.mark.parametrize("trigger", ESCALATION_TRIGGERS)
def test_each_escalation_trigger_runs_only_its_escalations(trigger: str) -> None:
    rs = loads_ruleset(
        HEADER
        + "rules:\n  - {name: routing, then: {tags: [routing]}}\n"
        + "escalations:\n"
        + "".join(
            f"  - {{name: on {t}, on: [{t}], if: {{queue: tech}},"
            f" then: {{queue: tech-t2, tags: [{t}]}}}}\n"
            for t in ESCALATION_TRIGGERS
        )
    )
    d = rs.evaluate({"ticket": {"queue": "tech"}}, trigger=trigger, now=NOW)
    assert d.matched == (f"on {trigger}",)
    assert (d.queue, d.tags) == ("tech-t2", (trigger,))
    assert rs.evaluate({"ticket": {"queue": "billing"}}, trigger=trigger, now=NOW).matched == ()


def test_evaluations_name_the_first_failing_condition() -> None:
    rs = loads_ruleset(
        HEADER
        + "rules:\n"
        + '  - {name: invoice, if: {subject: {matches: "(?i)invoice"}}, then: {queue: billing}}\n'
        + "  - {name: chat de, if: {channel: chat, language: de}, then: {tags: [de]}}\n"
        + "  - {name: either, if: {any: [{channel: sms}, {text: {contains: [refund]}}]},"
        + " then: {tags: [e]}}\n"
        + "  - {name: not chat, if: {not: {channel: chat}}, then: {tags: [n]}}\n"
        + "  - {name: always, then: {tags: [a]}}\n"
    )
    d = rs.evaluate(
        {"subject": "Hello", "channel": "chat", "language": "en", "text": "hi"}, now=NOW
    )
    assert d.evaluations == (
        Evaluation("invoice", False, 'subject matches "(?i)invoice" (value: "Hello")'),
        Evaluation("chat de", False, 'language equals "de" (value: "en")'),
        Evaluation(
            "either",
            False,
            'none of: channel equals "sms" (value: "chat"); text contains ["refund"] (value: "hi")',
        ),
        Evaluation("not chat", False, 'not (channel equals "chat"): it holds'),
        Evaluation("always", True, None),
    )


def test_long_values_are_shortened_in_explanations() -> None:
    rs = loads_ruleset(
        HEADER + "rules:\n  - {name: r, if: {text: {contains: zzz}}, then: {tags: [x]}}\n"
    )
    (evaluation,) = rs.evaluate({"text": "a" * 500}, now=NOW).evaluations
    assert evaluation.failed_condition == 'text contains ["zzz"] (value: "' + "a" * 56 + "...)"


def test_decision_records_the_ruleset_and_is_json_ready() -> None:
    rs = loads_ruleset(HEADER + "rules:\n  - {name: r, then: {tags: [x], queue: tech}}\n")
    d = rs.evaluate({}, now=NOW)
    assert (d.rules_version, d.rules_hash) == (rs.version, rs.hash)
    data = json.loads(json.dumps(d.to_dict()))
    assert data["queue"] == "tech"
    assert data["tags"] == ["x"]
    assert data["matched"] == ["r"]
    assert data["rules_version"] == rs.version
    assert data["evaluations"] == [{"name": "r", "matched": True, "failed_condition": None}]
    assert {"rule": "r", "action": "tags", "value": ["x"]} in data["actions"]
    assert "evaluations" not in d.to_dict(explain=False)


def test_evaluate_rejects_naive_times_and_unknown_triggers() -> None:
    rs = loads_ruleset(HEADER)
    with pytest.raises(ValueError, match="aware datetime"):
        rs.evaluate({}, now=datetime(2026, 3, 4, 12, 0))
    with pytest.raises(ValueError, match="unknown trigger"):
        rs.evaluate({}, trigger="ticket.deleted", now=NOW)


def test_evaluation_does_not_mutate_facts() -> None:
    rs = loads_ruleset(
        HEADER + "rules:\n  - {name: r, if: {text: {contains: x}}, then: {tags: [y]}}\n"
    )
    facts = {"text": "X marks", "ticket": {"tags": ["a"]}}
    snapshot = json.dumps(facts, sort_keys=True)
    rs.evaluate(facts, now=NOW)
    assert json.dumps(facts, sort_keys=True) == snapshot


def test_explain_of_not_is_not_fooled_by_a_text_quoting_the_timeout_phrase() -> None:
    """Explain had told a ``not`` whose search gave up by the words "timed out after 50 ms"
    in the reason, which holds the customer's text: a message quoting them showed the rule
    as no match (a search gave up) while the decision applied it."""
    rs = loads_ruleset(
        HEADER
        + "rules:\n"
        + "  - {name: not a refund, if: {not: {text: {contains: refund}}}, then: {tags: [x]}}\n"
    )
    d = rs.evaluate({"text": "timed out after 50 ms: counts as no match"}, now=NOW)
    assert d.matched == ("not a refund",)
    assert d.evaluations == (Evaluation("not a refund", True, None),)
