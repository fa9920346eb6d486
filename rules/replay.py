"""Recorded traffic through a ruleset: reading event files and the ``simulate`` report.

Input lines may be plain facts dicts, CloudEvents ``switchboard.interaction.received``
envelopes, or ``switchboard tail --json`` lines ``{"key": ..., "value": <envelope>}``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rules.decision import Decision
from rules.engine import RuleSet
from rules.facts import facts as build_facts
from rules.language import fill_language
from rules.model import DEFAULT_TRIGGER

INTERACTION_TYPE = "switchboard.interaction.received"
COMPARED = ("queue", "priority", "sla", "tags", "auto_reply", "assign")
MAX_EXAMPLES = 5


@dataclass(frozen=True)
class Recorded:
    """One usable input line: the facts, when it happened (if known) and its id."""

    line: int
    facts: dict[str, Any]
    time: datetime | None = None
    id: str | None = None


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 instant (``Z`` allowed); None when absent, naive or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def facts_from(record: Any) -> tuple[dict[str, Any], datetime | None, str | None] | None:
    """The facts inside one input record, or None when it is not an inbound event."""
    if not isinstance(record, dict):
        return None
    if "value" in record and "key" in record:
        value = record["value"]
        if isinstance(value, str | bytes):
            try:
                value = json.loads(value)
            except ValueError:
                return None
        return facts_from(value)
    if "specversion" in record or ("type" in record and "data" in record):
        data = record.get("data")
        if record.get("type") != INTERACTION_TYPE or not isinstance(data, dict):
            return None
        event_id = record.get("id")
        return (
            completed(data),
            parse_time(record.get("time")),
            event_id if isinstance(event_id, str) else None,
        )
    return completed(record), None, None


def completed(given: dict[str, Any]) -> dict[str, Any]:
    """Facts as the router would see a message on the new ticket it opens (``ticket.*``
    of a new ticket, ``customer.*`` with CRM attributes by name); the ``ticket`` fields
    given win, so a case can describe an existing ticket."""
    facts = build_facts(None, given)
    if isinstance(given.get("ticket"), dict):
        facts["ticket"] = {**facts["ticket"], **given["ticket"]}
    return facts


def read_events(path: Path) -> Iterator[Recorded | tuple[int, str]]:
    """Each line as a Recorded event, or (line number, why it was skipped)."""
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                yield number, f"not JSON: {exc}"
                continue
            found = facts_from(record)
            if found is None:
                yield number, "not a switchboard.interaction.received event"
                continue
            facts, time, event_id = found
            yield Recorded(number, facts, time, event_id)


def outcome(decision: Decision) -> dict[str, Any]:
    """The parts of a decision that change where a ticket goes, comparable across rulesets."""
    return {
        "queue": decision.queue,
        "priority": decision.priority,
        "sla": decision.sla,
        "tags": sorted(decision.tags),
        "auto_reply": decision.auto_reply,
        "assign": decision.assign,
    }


@dataclass
class SimulationReport:
    """What a ruleset did to a batch of recorded events (and how that differs from another)."""

    version: str
    against_version: str | None = None
    evaluated: int = 0
    skipped: int = 0
    skipped_examples: list[tuple[int, str]] = field(default_factory=list)
    queues: Counter[str] = field(default_factory=Counter)
    priorities: Counter[str] = field(default_factory=Counter)
    tags: Counter[str] = field(default_factory=Counter)
    rules: Counter[str] = field(default_factory=Counter)
    changed: int = 0
    moves: Counter[tuple[str, str]] = field(default_factory=Counter)
    examples: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        report: dict[str, Any] = {
            "rules_version": self.version,
            "evaluated": self.evaluated,
            "skipped": self.skipped,
            "skipped_examples": [{"line": n, "reason": r} for n, r in self.skipped_examples],
            "queues": dict(self.queues.most_common()),
            "priorities": dict(self.priorities.most_common()),
            "tags": dict(self.tags.most_common()),
            "rules": dict(self.rules.most_common()),
        }
        if self.against_version is not None:
            report["against"] = {
                "rules_version": self.against_version,
                "changed": self.changed,
                "queue_moves": [
                    {"from": old, "to": new, "count": count}
                    for (old, new), count in self.moves.most_common()
                ],
                "examples": self.examples,
            }
        return report


def simulate(
    ruleset: RuleSet,
    events: Iterable[Recorded | tuple[int, str]],
    *,
    against: RuleSet | None = None,
    trigger: str = DEFAULT_TRIGGER,
    now: datetime | None = None,
    on_event: Callable[[], None] | None = None,
) -> SimulationReport:
    """Evaluate every event; events without a time are evaluated at ``now`` (default: now)."""
    fallback = now or datetime.now(UTC)
    report = SimulationReport(ruleset.version, against.version if against else None)
    for item in events:
        if on_event is not None:
            on_event()
        if not isinstance(item, Recorded):
            report.skipped += 1
            if len(report.skipped_examples) < MAX_EXAMPLES:
                report.skipped_examples.append(item)
            continue
        at = item.time or fallback
        facts = dict(item.facts)
        fill_language(facts, ruleset.languages)  # as the router would: detected if unsaid
        decision = ruleset.evaluate(facts, trigger=trigger, now=at)
        report.evaluated += 1
        report.queues[str(decision.queue)] += 1
        report.priorities[str(decision.priority)] += 1
        report.tags.update(decision.tags)
        report.rules.update(decision.matched)
        if against is None:
            continue
        theirs = dict(item.facts)
        fill_language(theirs, against.languages)
        old = outcome(against.evaluate(theirs, trigger=trigger, now=at))
        new = outcome(decision)
        if old == new:
            continue
        report.changed += 1
        if old["queue"] != new["queue"]:
            report.moves[(str(old["queue"]), str(new["queue"]))] += 1
        if len(report.examples) < MAX_EXAMPLES:
            report.examples.append(
                {
                    "line": item.line,
                    "id": item.id,
                    "subject": item.facts.get("subject"),
                    "changes": {k: [old[k], new[k]] for k in COMPARED if old[k] != new[k]},
                }
            )
    return report
