"""Recorded traffic through a ruleset: reading event files and the ``simulate`` report.

Input lines may be plain facts dicts, CloudEvents ``switchboard.interaction.received``
envelopes, or ``switchboard tail --json`` lines ``{"key": ..., "value": <envelope>}``.
Files are read as bytes: a line that is not UTF-8 is skipped and reported, not fatal, and
a UTF-8 byte order mark at the start is ignored.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from router.events import Customer, Interaction, iso
from router.vocabulary import CHANNELS, CONTACT_CALLS, PRIORITIES, STATUSES
from rules.conditions import Condition
from rules.decision import Decision
from rules.engine import RuleSet
from rules.errors import Mark, RuleError, closest_or_all, did_you_mean, yaml_text
from rules.facts import facts as build_facts
from rules.fields import OPEN_PREFIXES, TICKET_ALIASES, TICKET_FIELDS, TOP_FIELDS
from rules.language import fill_language
from rules.model import DEFAULT_TRIGGER, Rule
from rules.never_match import STATUS_SEEN
from rules.source import YMap, parse_yaml, to_plain, type_name

INTERACTION_TYPE = "switchboard.interaction.received"
# what an event routes to; a difference in any of these makes it "route differently"
COMPARED = ("queue", "priority", "sla", "tags", "remove_tags", "auto_reply", "assign", "notify")
SETS = ("tags", "remove_tags", "notify", "matched")  # compared as added / removed
MAX_EXAMPLES = 5  # skipped lines shown
BOM = b"\xef\xbb\xbf"
# what plain facts may name: a message's fields, and the rules' field names
FACT_KEYS = tuple(
    dict.fromkeys(
        (*Interaction.model_fields, *TOP_FIELDS, *TICKET_ALIASES, *OPEN_PREFIXES, "ticket")
    )
)
# the ticket fields plain facts may name as a rule does, without ``ticket.``
BARE_TICKET_FIELDS = tuple(name for name in TICKET_ALIASES if name not in TOP_FIELDS)
# a record with one of these is an event envelope or a dump line, not plain facts
ENVELOPE_KEYS = ("specversion", "type", "value", "value_b64", "data")
# what the message itself says about its sender, and the id the tools stand in for:
# any other ``customer.*`` field comes from the CRM profile (``customer.upserted``)
MESSAGE_CUSTOMER_FIELDS = (*Customer.model_fields, "id")
# what the router stores of a ``customer.upserted`` (``consumers.routing``): these, its
# ``id`` as ``crm_id``; its email and phone only say which customer it is
PROFILE_FIELDS = ("name", "tier", "language", "attributes", "crm_id")
UPSERT_FIELDS = ("id", "email", "phone", *PROFILE_FIELDS)
_PROFILE_HINT = "e.g. {tier: gold, attributes: {arr: 250000}}"


@dataclass(frozen=True)
class Recorded:
    """One usable input line: the facts, when it happened (if known) and its id."""

    line: int
    facts: dict[str, Any]
    time: datetime | None = None
    id: str | None = None


@dataclass(frozen=True)
class Rejected:
    """A line of plain facts naming facts no rule can know (``chanel``): each problem
    as "message (hint: ...)"."""

    line: int
    problems: tuple[str, ...]


@dataclass(frozen=True)
class NotRouted:
    """An inbound event the router opens no ticket for, so runs no rules on (line, why)."""

    line: int
    reason: str


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 instant (``Z`` allowed); None when absent, naive or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def facts_from(
    record: Any, profile: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], datetime | None, str | None] | None:
    """The facts inside one input record, or None when it is not an inbound event;
    ``profile`` is the customer's CRM profile, as the router has it stored."""
    found = _inbound(record)
    if found is None:
        return None
    data, time, event_id = found
    return completed(data, event_id=event_id, at=time, profile=profile), time, event_id


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def load_json(text: str) -> Any:
    """``text`` as JSON, or a ValueError saying why it cannot be read. The router reads
    with orjson, which refuses JSON nested too deeply and a lone surrogate escape
    (``"\\ud83d"``, half a character); ``json.loads`` raised a RecursionError on the
    first and let the second through, to crash language detection and printing."""
    try:
        record = json.loads(text)
        if _SURROGATE_ESCAPE.search(text):  # most likely a pair, making one character
            json.dumps(record, ensure_ascii=False).encode("utf-8")
    except RecursionError:
        raise ValueError("nested too deeply to read") from None
    except UnicodeEncodeError as exc:
        half = f"\\u{ord(exc.object[exc.start]):04x}"
        raise ValueError(f'"{half}" is half a character (a lone surrogate)') from None
    return record


def record_not_routed(record: Any) -> str | None:
    """``not_routed`` for the message inside one input record (facts or an event)."""
    found = _inbound(record)
    return not_routed(found[0]) if found is not None else None


def _inbound(record: Any) -> tuple[dict[str, Any], datetime | None, str | None] | None:
    """The message inside a record (facts or an event's ``data``), its time and id."""
    if not isinstance(record, dict):
        return None
    if "value" in record and "key" in record:
        value = record["value"]
        if isinstance(value, str | bytes):
            try:
                value = load_json(value if isinstance(value, str) else value.decode())
            except ValueError:  # UnicodeDecodeError too
                return None
        return _inbound(value)
    if "specversion" in record or "type" in record:
        data = record.get("data")
        if record.get("type") != INTERACTION_TYPE or not isinstance(data, dict):
            return None
        event_id = record.get("id")
        return data, parse_time(record.get("time")), event_id if isinstance(event_id, str) else None
    return record, None, None


def not_routed(message: dict[str, Any]) -> str | None:
    """Why the router would open no ticket for this message and run no rules on it
    (``consumers.domain.threading.place``), or None when it routes it."""
    if message.get("channel") == "voice":
        metadata = message.get("metadata")
        call = metadata.get("call_event") if isinstance(metadata, dict) else None
        if call is not None and call not in CONTACT_CALLS:
            return f"voice call_event {call!r} is no customer contact"
    if message.get("auto_reply") is True:
        return "auto-reply or bounce never opens a ticket"
    return None


def completed(
    given: dict[str, Any],
    *,
    event_id: str | None = None,
    at: datetime | None = None,
    profile: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Facts as the router would see a message on the new ticket it opens (``ticket.*``
    of a new ticket named after ``event_id`` and opened ``at``, ``customer.*`` from the
    CRM ``profile`` and the message, attributes by name); the ``ticket`` fields given
    win, so a case can describe an existing ticket."""
    facts = build_facts(None, given, profile, event_id=event_id, at=at)
    # a ticket field by the short name a rule reads it by (``tags``: ``ticket.tags``)
    short = {key: given[key] for key in BARE_TICKET_FIELDS if key in given}
    ticket = given.get("ticket")
    stated: dict[str, Any] = ticket if isinstance(ticket, dict) else {}
    if short or stated:
        facts["ticket"] = {**facts["ticket"], **short, **stated}
    return facts


#: The least counts a trigger finds a ticket with when the rules run: the router counts
#: the message (and the reopen) before it evaluates, so a message to a ticket is at
#: least its second contact, a reopen at least its first.
COUNTS_SEEN: dict[str, dict[str, int]] = {
    "message.received": {"contacts": 2},
    "ticket.reopened": {"contacts": 2, "reopen_count": 1},
}


def opened_at(
    facts: dict[str, Any], at: datetime, trigger: str = DEFAULT_TRIGGER
) -> dict[str, Any]:
    """The facts with the ticket opened ``at`` when the input did not say when (plain
    facts): the router opens a new ticket at its event's time, when it also evaluates.
    A ticket shown as ``new`` to a trigger that never finds one so (``STATUS_SEEN``: a
    reopen, an accept timeout) is seen as that trigger finds it, ``open``; its counts as
    the trigger finds them (``COUNTS_SEEN``): a reopen had shown ``reopen_count: 0``."""
    ticket = facts.get("ticket")
    if not isinstance(ticket, dict):
        return dict(facts)
    ticket = dict(ticket)
    seen = STATUS_SEEN.get(trigger, ("new",))
    if ticket.get("status") == "new" and "new" not in seen:
        ticket["status"] = seen[0]
    for name, least in COUNTS_SEEN.get(trigger, {}).items():
        if isinstance(count := ticket.get(name), int) and count < least:
            ticket[name] = least
    if ticket.get("created_at") is None:
        stamp = iso(at)
        ticket |= {"created_at": stamp, "updated_at": stamp}
    return {**facts, "ticket": ticket}


def unknown_facts(record: Any) -> list[str]:
    """The facts and ticket fields of plain facts that no rule can know (``chanel``),
    one "message (hint: ...)" each: without the check such a fact would be read as
    absent, silently. An envelope or a dump line is an interaction, read as it is."""
    if not isinstance(record, dict) or any(key in record for key in ENVELOPE_KEYS):
        return []
    ticket = record.get("ticket")
    ticket = ticket if isinstance(ticket, dict) else {}
    found = [f"{message} (hint: {hint})" for _, _, message, hint in misspelt(record, ticket)]
    found += _unknown_value(record.get("channel"), CHANNELS, "channel '{}' in the event")
    for name, choices in TICKET_VALUES.items():
        found += _unknown_value(ticket.get(name), choices, f"ticket {name} '{{}}'")
    return found


#: The ticket fields whose values Switchboard's vocabulary fixes.
TICKET_VALUES: dict[str, tuple[str, ...]] = {"priority": PRIORITIES, "status": STATUSES}


def _unknown_value(value: Any, choices: tuple[str, ...], what: str) -> list[str]:
    """A text value outside ``choices``, which no event carries (``"channel": "emial"``)
    and no rule would ever match, as one "message (hint: ...)"; nothing otherwise."""
    if not isinstance(value, str) or value in choices:
        return []
    hint = closest_or_all(value, choices)
    return [f"unknown {what.format(value)} (hint: {hint})"]


def misspelt(facts: Iterable[str], ticket: Iterable[str]) -> list[tuple[str, str, str, str]]:
    """(where, key, message, hint) of every fact and ticket field no rule can know."""
    found = [
        ("", key, f"unknown fact '{key}' in the event", _fact_hint(key))
        for key in facts
        if key not in FACT_KEYS
    ]
    found += [
        (
            "ticket",
            key,
            f"unknown ticket field '{key}'",
            closest_or_all(key, TICKET_FIELDS),
        )
        for key in ticket
        if key not in TICKET_FIELDS
    ]
    return found


def _fact_hint(key: str) -> str:
    """``customer.tier`` as an event's key: the facts nest, as the event does."""
    head, _, rest = key.partition(".")
    if rest and head in (*OPEN_PREFIXES, "ticket"):
        return f"facts nest: {head}: {{{rest}: ...}}"
    return closest_or_all(key, FACT_KEYS)


def read_events(path: Path) -> Iterator[Recorded | NotRouted | Rejected | tuple[int, str]]:
    """Each line as a Recorded event, a NotRouted one, a Rejected one (plain facts
    with misspelt names), or (line number, why it was skipped)."""
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            try:
                line = (raw.removeprefix(BOM) if number == 1 else raw).decode("utf-8")
            except UnicodeDecodeError:
                yield number, "not UTF-8 text"
                continue
            if not line.strip():
                continue
            try:
                record = load_json(line)
            except ValueError as exc:
                yield number, f"not JSON: {exc}"
                continue
            found = _inbound(record)
            if found is None:
                yield number, "not a switchboard.interaction.received event"
                continue
            if problems := unknown_facts(record):
                yield Rejected(number, tuple(problems))
                continue
            data, time, event_id = found
            if (reason := not_routed(data)) is not None:
                yield NotRouted(number, reason)
                continue
            yield Recorded(number, completed(data, event_id=event_id, at=time), time, event_id)


def crm_fields(condition: Condition) -> set[str]:
    """The ``customer.*`` fields a condition reads that only the customer's CRM profile
    gives (``customer.tier``, ``customer.arr``): the message names only its sender."""
    found = set()
    if condition.field is not None:
        head, _, rest = condition.field.partition(".")
        if head == "customer" and rest.split(".")[0] not in MESSAGE_CUSTOMER_FIELDS:
            found.add(condition.field)
    for child in condition.children:
        found |= crm_fields(child)
    return found


def missing_crm_fields(rules: Iterable[Rule], facts: Mapping[str, Any]) -> list[str]:
    """The CRM-only ``customer.*`` fields ``rules`` read that ``facts`` do not hold: the
    tools read them as null where the router would have the stored profile."""
    customer = facts.get("customer")
    missing = set()
    for rule in rules:
        for name in crm_fields(rule.condition):
            value: Any = customer
            for part in name.split(".")[1:]:
                value = value.get(part) if isinstance(value, Mapping) else None
            if value is None:
                missing.add(name)
    return sorted(missing)


def reached(rules: Sequence[Rule], decision: Decision) -> Sequence[Rule]:
    """The rules a pass evaluated: all of ``rules``, unless a matching ``stop`` rule
    ended the pass."""
    last = decision.matched[-1] if decision.matched else None
    for position, rule in enumerate(rules):
        if rule.name == last and rule.stop:
            return rules[: position + 1]
    return rules


def load_profile(path: Path) -> dict[str, Any]:
    """A customer's CRM profile from a YAML or JSON mapping (the fields of a
    ``customer.upserted``), as the router stores it; raises RuleError where it is wrong,
    so a misspelt field cannot silently leave the profile without it."""
    file = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        hint = "give a YAML or JSON file holding the profile, " + _PROFILE_HINT
        raise RuleError(Mark(file, 1, 1), f"cannot read: {exc.strerror or exc}", hint) from None
    text = yaml_text(file, data, "profile file")
    root, errors = parse_yaml(text, file)
    if errors:
        raise errors[0]
    if not isinstance(root, YMap):
        got = type_name(root) if root is not None else "nothing"
        raise RuleError(Mark(file, 1, 1), f"a profile is a mapping, got {got}", _PROFILE_HINT)
    for key, mark in root.keys.items():
        if key not in UPSERT_FIELDS:
            hint = did_you_mean(key, UPSERT_FIELDS) or (
                f"a CRM attribute goes under attributes: {{{key}: ...}}; "
                f"fields: {', '.join(UPSERT_FIELDS)}"
            )
            raise RuleError(mark, f"unknown profile field '{key}'", hint)
    given = json.loads(json.dumps(to_plain(root), default=str))  # stored as JSON
    if not isinstance(given.get("attributes", {}), dict):
        raise RuleError(root.keys["attributes"], "attributes must be a mapping", _PROFILE_HINT)
    profile = {k: v for k, v in given.items() if k in PROFILE_FIELDS and v is not None}
    if given.get("id") is not None:
        profile["crm_id"] = given["id"]
    return profile


def outcome(decision: Decision) -> dict[str, Any]:
    """The parts of a decision that change where a ticket goes (``COMPARED``) and the
    rules met, comparable across rulesets."""
    return {
        "queue": decision.queue,
        "priority": decision.priority,
        "sla": decision.sla,
        "tags": sorted(decision.tags),
        "remove_tags": sorted(decision.remove_tags),
        "auto_reply": decision.auto_reply,
        "assign": decision.assign,
        "notify": sorted(decision.notify),
        "matched": list(decision.matched),
    }


def differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """What differs between two outcomes, field by field: ``[old, new]`` for a single
    value, ``{"added": [...], "removed": [...]}`` for a set (tags, notify, rules met).
    Empty when the event routes the same, even if other rules were met on the way
    (a renamed rule alone changes nothing for the ticket)."""
    if all(old[k] == new[k] for k in COMPARED):
        return {}
    changes: dict[str, Any] = {}
    for key in (*COMPARED, "matched"):
        if old[key] == new[key]:
            continue
        if key in SETS:
            changes[key] = {
                "added": [v for v in new[key] if v not in old[key]],
                "removed": [v for v in old[key] if v not in new[key]],
            }
        else:
            changes[key] = [old[key], new[key]]
    return changes


@dataclass
class SimulationReport:
    """What a ruleset did to a batch of recorded events (and how that differs from another)."""

    version: str
    against_version: str | None = None
    evaluated: int = 0
    skipped: int = 0
    skipped_examples: list[tuple[int, str]] = field(default_factory=list)
    not_routed: Counter[str] = field(default_factory=Counter)
    rejected: list[Rejected] = field(default_factory=list)
    crm_unknown: int = 0
    crm_fields: Counter[str] = field(default_factory=Counter)
    queues: Counter[str] = field(default_factory=Counter)
    priorities: Counter[str] = field(default_factory=Counter)
    tags: Counter[str] = field(default_factory=Counter)
    rules: Counter[str] = field(default_factory=Counter)
    changed: int = 0
    changed_fields: Counter[str] = field(default_factory=Counter)
    moves: Counter[tuple[str, str]] = field(default_factory=Counter)
    examples: list[dict[str, Any]] = field(default_factory=list)

    def by_field(self) -> dict[str, int]:
        """How many differing events differ in each field, in ``COMPARED`` order."""
        fields = (*COMPARED, "matched")
        return {key: self.changed_fields[key] for key in fields if self.changed_fields[key]}

    def to_dict(self) -> dict[str, Any]:
        report: dict[str, Any] = {
            "rules_version": self.version,
            "evaluated": self.evaluated,
            "skipped": self.skipped,
            "skipped_examples": [{"line": n, "reason": r} for n, r in self.skipped_examples],
            "not_routed": self.not_routed.total(),
            "not_routed_reasons": dict(self.not_routed.most_common()),
            "crm_unknown": self.crm_unknown,
            "crm_fields": dict(self.crm_fields.most_common()),
            "queues": dict(self.queues.most_common()),
            "priorities": dict(self.priorities.most_common()),
            "tags": dict(self.tags.most_common()),
            "rules": dict(self.rules.most_common()),
        }
        if self.against_version is not None:
            report["against"] = {
                "rules_version": self.against_version,
                "changed": self.changed,
                "changed_fields": self.by_field(),
                "queue_moves": [
                    {"from": old, "to": new, "count": count}
                    for (old, new), count in self.moves.most_common()
                ],
                "examples": self.examples,
            }
        return report


UNCHANGED = "unchanged"
"""What a later trigger's decision that sets no queue (or priority) counts under: the
ticket keeps its own (``rules explain`` says the same)."""


def _named(value: object) -> str:
    return UNCHANGED if value is None else str(value)


def simulate(
    ruleset: RuleSet,
    events: Iterable[Recorded | NotRouted | Rejected | tuple[int, str]],
    *,
    against: RuleSet | None = None,
    trigger: str = DEFAULT_TRIGGER,
    now: datetime | None = None,
    on_event: Callable[[], None] | None = None,
    keep: int | None = None,
) -> SimulationReport:
    """Evaluate every event the router would route; events without a time are evaluated
    (and their ticket opened) at ``now`` (default: now). Events the router opens no
    ticket for are counted by reason, not evaluated. Lines of misspelt facts are
    collected in ``rejected``; after the first, the rest is only read for more of them
    (the report would not count). Events that met rules reading CRM-only customer
    fields they do not carry are counted in ``crm_unknown``.

    With ``against``, every event that routes differently is counted, in total and per
    field; the first ``keep`` of them (default: all, which grows with the file) are kept
    in ``examples`` with what differs."""
    fallback = now or datetime.now(UTC)
    report = SimulationReport(ruleset.version, against.version if against else None)
    listening = ruleset.rules_for(trigger)
    reads_crm = any(crm_fields(rule.condition) for rule in listening)
    for item in events:
        if on_event is not None:
            on_event()
        if isinstance(item, NotRouted):
            report.not_routed[item.reason] += 1
            continue
        if isinstance(item, Rejected):
            report.rejected.append(item)
            continue
        if report.rejected:
            continue
        if not isinstance(item, Recorded):
            report.skipped += 1
            if len(report.skipped_examples) < MAX_EXAMPLES:
                report.skipped_examples.append(item)
            continue
        at = item.time or fallback
        given = opened_at(item.facts, at, trigger)
        facts = dict(given)
        fill_language(facts, ruleset.languages)  # as the router would: detected if unsaid
        decision = ruleset.evaluate(facts, trigger=trigger, now=at)
        report.evaluated += 1
        report.queues[_named(decision.queue)] += 1
        report.priorities[_named(decision.priority)] += 1
        report.tags.update(decision.tags)
        report.rules.update(decision.matched)
        if reads_crm and (unknown := missing_crm_fields(reached(listening, decision), facts)):
            report.crm_unknown += 1
            report.crm_fields.update(unknown)
        if against is None:
            continue
        theirs = dict(given)
        fill_language(theirs, against.languages)
        old = outcome(against.evaluate(theirs, trigger=trigger, now=at))
        new = outcome(decision)
        changes = differences(old, new)
        if not changes:
            continue
        report.changed += 1
        report.changed_fields.update(changes.keys())
        if "queue" in changes:
            report.moves[(_named(old["queue"]), _named(new["queue"]))] += 1
        if keep is None or len(report.examples) < keep:
            report.examples.append(
                {
                    "line": item.line,
                    "id": item.id,
                    "subject": item.facts.get("subject"),
                    "changes": changes,
                }
            )
    return report
