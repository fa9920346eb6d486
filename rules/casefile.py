"""Rule unit tests (``rules test``): events in, expected decisions out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from router.errors import SwitchboardError
from rules.engine import RuleSet
from rules.errors import (
    Mark,
    RuleError,
    closest_or_all,
    one_of,
    sorted_errors,
    yaml_text,
)
from rules.language import fill_language
from rules.model import DEFAULT_TRIGGER, TRIGGERS
from rules.replay import ENVELOPE_KEYS, facts_from, misspelt, opened_at, parse_time
from rules.sections import text_hint
from rules.source import YMap, YNode, YScalar, YSeq, parse_yaml, to_plain, type_name

CASE_KEYS = ("name", "event", "trigger", "now", "expect")
SET_FIELDS = ("tags", "remove_tags", "notify")
EXPECT_KEYS = ("queue", "priority", "sla", "assign", "auto_reply", *SET_FIELDS, "matched")
NAMES = {"tags": "tags", "remove_tags": "tags", "notify": "notify targets", "matched": "rule names"}
"""The expectations that take names, and what the names are."""
EXAMPLES = {"priority": "high", "sla": "standard", "assign": "a-1", "auto_reply": "after-hours"}
"""An example of each one-value expectation, for its hint (``queue``: billing)."""
_CASE_HINT = "cases: [{name: ..., event: {channel: email}, expect: {queue: billing}}]"


class CaseFileInvalid(SwitchboardError):
    """A cases file that cannot be read; ``errors`` holds every problem."""

    def __init__(self, errors: list[RuleError]) -> None:
        self.errors = errors
        super().__init__(str(errors[0]) if errors else "invalid cases file")


@dataclass(frozen=True)
class Case:
    name: str
    event: dict[str, Any]
    trigger: str
    now: datetime
    expect: dict[str, Any]
    mark: Mark


@dataclass(frozen=True)
class Mismatch:
    field: str
    expected: Any
    actual: Any


@dataclass(frozen=True)
class CaseResult:
    case: Case
    mismatches: tuple[Mismatch, ...]

    @property
    def passed(self) -> bool:
        return not self.mismatches


def load_cases(path: Path, *, default_now: datetime | None = None) -> list[Case]:
    """Cases from a YAML file: ``cases: [...]`` (or a bare list), optional top ``now``."""
    file = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        hint = "give the path of a readable cases file (YAML with 'cases:')"
        raise CaseFileInvalid(
            [RuleError(Mark(file, 1, 1), f"cannot read: {exc.strerror}", hint)]
        ) from exc
    try:
        text = yaml_text(file, data, "cases file")
    except RuleError as error:
        raise CaseFileInvalid([error]) from None
    root, errors = parse_yaml(text, file)
    now = default_now or datetime.now(UTC)
    items: tuple[YNode, ...] = ()
    if isinstance(root, YMap):
        for key, mark in root.keys.items():
            if key not in ("cases", "now"):
                errors.append(RuleError(mark, f"unknown key '{key}'", one_of(("cases", "now"))))
        if (now_node := root.get("now")) is not None:
            now = _time(now_node, errors) or now
        cases_node = root.get("cases")
        items = cases_node.items if isinstance(cases_node, YSeq) else ()
        if not isinstance(cases_node, YSeq):
            errors.append(
                RuleError(root.mark, "expected 'cases:' with a list of cases", _CASE_HINT)
            )
    elif isinstance(root, YSeq):
        items = root.items
    elif root is not None or not errors:
        errors.append(
            RuleError(Mark(file, 1, 1), "a cases file holds 'cases:' with a list", _CASE_HINT)
        )
    cases = [case for node in items if (case := _case(node, now, errors)) is not None]
    if errors:
        raise CaseFileInvalid(sorted_errors(errors))
    return cases


def _time(node: YNode, errors: list[RuleError]) -> datetime | None:
    value = node.value if isinstance(node, YScalar) else None
    parsed = parse_time(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        errors.append(
            RuleError(
                node.mark,
                f"now: {value.isoformat()} is a date",
                f"give a time with an offset, e.g. {value.isoformat()}T10:00:00Z",
            )
        )
    elif parsed is None:
        errors.append(
            RuleError(
                node.mark,
                f"bad time {to_plain(node)!r}",
                "write 2026-03-02T10:00:00Z (with Z or an offset)",
            )
        )
    return parsed


def _case(  # noqa: PLR0912 - one check per key of a case, errors collected, not raised
    node: YNode, now: datetime, errors: list[RuleError]
) -> Case | None:
    if not isinstance(node, YMap):
        errors.append(
            RuleError(node.mark, f"a case must be a mapping, got {type_name(node)}", _CASE_HINT)
        )
        return None
    for key, mark in node.keys.items():
        if key not in CASE_KEYS:
            errors.append(
                RuleError(
                    mark,
                    f"unknown key '{key}' in case",
                    closest_or_all(key, CASE_KEYS),
                )
            )
    name_node, event_node, expect_node = node.get("name"), node.get("event"), node.get("expect")
    name = to_plain(name_node) if name_node is not None else None
    if not isinstance(name, str):
        errors.append(
            RuleError(node.mark, "a case needs a 'name'", "e.g. name: invoice goes to billing")
        )
    if not isinstance(event_node, YMap):
        errors.append(
            RuleError(
                node.mark if event_node is None else event_node.mark,
                "a case needs an 'event' mapping (the facts)",
                "e.g. event: {channel: email, subject: Invoice}",
            )
        )
    if not isinstance(expect_node, YMap):
        errors.append(
            RuleError(
                node.mark if expect_node is None else expect_node.mark,
                "a case needs an 'expect' mapping",
                "e.g. expect: {queue: billing}; keys: " + ", ".join(EXPECT_KEYS),
            )
        )
    elif not expect_node.entries:
        errors.append(
            RuleError(
                expect_node.mark,
                "a case needs at least one expectation in 'expect'",
                "e.g. expect: {queue: billing}; keys: " + ", ".join(EXPECT_KEYS),
            )
        )
    else:
        for key, mark in expect_node.keys.items():
            if key not in EXPECT_KEYS:
                errors.append(
                    RuleError(
                        mark,
                        f"unknown expectation '{key}'",
                        closest_or_all(key, EXPECT_KEYS),
                    )
                )
            elif key in NAMES:
                errors.extend(_names_errors(key, expect_node.entries[key]))
            elif not isinstance(value := expect_node.entries[key], YScalar):
                errors.append(
                    RuleError(
                        value.mark,
                        f"'{key}' expects one value, got {type_name(value)}",
                        f"e.g. {key}: {EXAMPLES.get(key, 'billing')}; null for none",
                    )
                )
    trigger = DEFAULT_TRIGGER
    if (trigger_node := node.get("trigger")) is not None:
        trigger = str(to_plain(trigger_node))
        if trigger not in TRIGGERS:
            errors.append(
                RuleError(
                    trigger_node.mark,
                    f"unknown trigger '{trigger}'",
                    closest_or_all(trigger, TRIGGERS),
                )
            )
    own_now: datetime | None = None
    if (now_node := node.get("now")) is not None:
        own_now = _time(now_node, errors)
    event: dict[str, Any] | None = None
    if isinstance(event_node, YMap):
        errors.extend(_unknown_facts(event_node))
        found = facts_from(to_plain(event_node))
        if found is None:
            errors.append(
                RuleError(
                    event_node.mark,
                    "this event is a CloudEvent of another type than an inbound message",
                    "give the facts, or a switchboard.interaction.received event",
                )
            )
        else:
            # a recorded event is evaluated at its own time, as the router did and as
            # ``rules explain`` does, unless the case says when
            event, now = found[0], own_now or found[1] or now
    if not (isinstance(name, str) and event is not None and isinstance(expect_node, YMap)):
        return None
    return Case(name, event, trigger, now, to_plain(expect_node), node.mark)


def _names_errors(key: str, node: YNode) -> list[RuleError]:
    """Problems with an expectation of names (``tags``, ``matched``...): a list of texts,
    one text alone, or null for none. Anything else had stopped the run with a
    TypeError (``tags: 5``) or passed unseen (``tags: {billing: 1}``, read as its keys)."""
    if isinstance(node, YScalar) and (node.value is None or isinstance(node.value, str)):
        return []
    problem = f"'{key}' expects a list of {NAMES[key]}, got"
    if not isinstance(node, YSeq):
        hint = (
            "the rules that matched, in order, e.g. matched: [billing]; [] for none"
            if key == "matched"
            else f"e.g. {key}: [billing]; null for none"
        )
        return [RuleError(node.mark, f"{problem} {type_name(node)}", hint)]
    return [
        RuleError(item.mark, f"{problem} {type_name(item)} in it", text_hint(item))
        for item in node.items
        if not (isinstance(item, YScalar) and isinstance(item.value, str))
    ]


def _unknown_facts(event: YMap) -> list[RuleError]:
    """A misspelt fact (``chanel``, ``ticket.stauts``) would leave the case testing a
    message without it, and pass for the wrong reason. Facts are a message's fields
    and the rules' field names; an event envelope is read as it is."""
    if any(key in event.keys for key in ENVELOPE_KEYS):
        return []
    ticket = event.get("ticket")
    ticket_marks = ticket.keys if isinstance(ticket, YMap) else {}
    marks = {("", k): m for k, m in event.keys.items()}
    marks |= {("ticket", k): m for k, m in ticket_marks.items()}
    return [
        RuleError(marks[where, key], message, hint)
        for where, key, message, hint in misspelt(event.keys, ticket_marks)
    ]


def run_case(ruleset: RuleSet, case: Case) -> CaseResult:
    """The case's event is read as the router reads a message (``replay.facts_from``:
    the ticket it would open, the customer's fields), then evaluated."""
    event = opened_at(case.event, case.now, case.trigger)
    fill_language(event, ruleset.languages)  # as the router would: detected if unsaid
    decision = ruleset.evaluate(event, trigger=case.trigger, now=case.now)
    actual = {
        "queue": decision.queue,
        "priority": decision.priority,
        "sla": decision.sla,
        "assign": decision.assign,
        "auto_reply": decision.auto_reply,
        "tags": decision.tags,
        "remove_tags": decision.remove_tags,
        "notify": decision.notify,
        "matched": list(decision.matched),
    }
    mismatches = []
    for key, expected in case.expect.items():
        got: Any = actual[key]
        if key in NAMES:
            wanted = [expected] if isinstance(expected, str) else list(expected or [])
            if key in SET_FIELDS:  # sets: a name written twice is the same set
                wanted, got = sorted(set(wanted)), sorted(got)
            if wanted != list(got):
                mismatches.append(Mismatch(key, wanted, list(got)))
        elif expected != got:
            mismatches.append(Mismatch(key, expected, got))
    return CaseResult(case, tuple(mismatches))
