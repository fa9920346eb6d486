"""The recount behind ``switchboard metrics verify``: every metric window (contract
section 8) counted again from the ``tickets`` topic, one lifecycle event at a time. It is
written from the documented definitions, not with the metrics role's own code, so a bug
in that code cannot hide in both sides (``router.app.verify`` lists the definitions and
does the comparing). Pure: no Kafka, no Redis."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import ValidationError

from consumers.metrics import read_lifecycle
from router.actions import MAX_HANDLE_SECONDS
from router.errors import SwitchboardError
from router.events import metric_key
from router.limits import Limits
from router.vocabulary import feedback_counts

Counters = dict[str, int]
HANDLE_MS = "handle_ms_sum"
"""Where the recount sums handle time, in whole milliseconds: exact, where adding each
event's seconds rounded would not be."""

T = "switchboard.ticket."


@dataclass(frozen=True, slots=True)
class WindowId:
    metric: str
    start: datetime
    dimensions: tuple[tuple[str, str], ...]

    @property
    def key(self) -> str:
        """The record key of contract section 8 (dimension values escaped as the metric
        topics key them); only shown: windows are matched by their fields, not keys."""
        return metric_key(self.metric, self.start, dict(self.dimensions))


def _window_start(at: datetime, window_s: int) -> datetime:
    seconds = math.floor(at.timestamp())
    return datetime.fromtimestamp(seconds - seconds % window_s, UTC)


def parse_time(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _json(value: bytes) -> Any:
    """A record's JSON as the metrics role reads it: also with ``NaN``, ``Infinity`` or a
    number past a double's range (``1e400``), which orjson refuses and the role's parser
    reads as not finite. The record counts, but not such a number."""
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return json.loads(value)


def _text(value: object, default: str = "none") -> str:
    return str(value) if value not in (None, "") else default


@dataclass(slots=True)
class Recount:
    """Counters per metric window, fed one lifecycle event at a time."""

    window_s: int
    windows: dict[WindowId, Counters] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    events: int = 0
    duplicates: int = 0
    unreadable: int = 0
    limits: Limits = field(default_factory=Limits)
    open: set[WindowId] = field(default_factory=set)
    """Windows an event past the cut-off counts in: the metrics role may not have yet."""
    _touched: list[WindowId] = field(default_factory=list, init=False, repr=False)

    def add_record(self, value: bytes | None, timestamp_ms: int, *, counted: bool = True) -> None:
        """One record of the tickets topic, as bytes. What the metrics role dead-letters
        (read as it reads it: the envelope, the type, the snapshot) counts nowhere.
        ``counted``: the metrics role had committed this record when the check began;
        else every window it counts in is ``open``."""
        try:
            read_lifecycle(value, self.limits)
            event = _json(value or b"")
        except (SwitchboardError, ValidationError, ValueError):
            event = None
        if not isinstance(event, dict) or not isinstance(event.get("id"), str):
            self.unreadable += 1
            return
        fallback = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
        self._touched.clear()
        self.add_event(event, fallback)
        if not counted:
            self.open.update(self._touched)

    def add_event(self, event: dict[str, Any], fallback: datetime) -> None:
        event_id = str(event["id"])
        if event_id in self.seen:
            self.duplicates += 1
            return
        data = event.get("data")
        ticket = data.get("ticket") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(ticket, dict):
            self.unreadable += 1
            return
        self.seen.add(event_id)
        self.events += 1
        at = parse_time(event.get("time")) or fallback
        kind = str(event.get("type", "")).removeprefix(T)
        queue, channel = _text(ticket.get("queue")), _text(ticket.get("channel"))
        agent = _text(data.get("agent_id") or ticket.get("assignee") or ticket.get("resolved_by"))
        people = {"queue": queue, "channel": channel, "agent": agent}
        # a takeback counts for whom the resolution credited, whoever reopens
        credited = (
            {**people, "agent": _text(ticket["resolved_by"])} if "resolved_by" in ticket else people
        )
        load = {"queue": queue, "channel": channel}
        if kind == "reopened" and "queue" in data:
            # the queue it was reopened in, before a rule on the reopen moved it (the
            # snapshot): where its resolution was counted
            reopened_in = _text(data["queue"])
            load, credited = {**load, "queue": reopened_in}, {**credited, "queue": reopened_in}
        if ticket.get("resolved_queue"):  # where the credit went, whatever moved it since
            credited = {**credited, "queue": _text(ticket["resolved_queue"])}

        self._workload(kind, data, at, load)

        if kind == "resolved":
            self._count("fcr", at, people, "resolved")
            if data.get("first_contact") is True:
                self._count("fcr", at, people, "resolved_first_contact")
        if kind == "reopened" and data.get("was_first_contact") is True:
            self._count("fcr", at, credited, "reopened_after_first_contact")

        if kind == "feedback_received":
            self._feedback(at, people, data.get("kind"), data.get("score"))

        sla = {
            **load,
            "priority": _text(ticket.get("priority")),
            "policy": _text(ticket.get("sla_policy")),
        }
        if kind == "responded" and data.get("within_sla") is True:
            target = {"first": "first_response", "next": "next_response"}.get(
                str(data.get("response"))
            )
            if target:
                self._count("sla", at, {**sla, "target": target}, "met")
        if kind == "resolved" and data.get("within_sla") is True:
            self._count("sla", at, {**sla, "target": "resolution"}, "met")
        if kind in ("sla_warning", "sla_breached") and data.get("target"):
            target = str(data["target"])
            due, warned = parse_time(data.get("due")), parse_time(data.get("warned_at"))
            when = (warned or at) if kind == "sla_warning" else (due or at)
            counter = "warned" if kind == "sla_warning" else "breached"
            # where the ticket was when the clock fired (the event says so), not where
            # the escalation it caused moved it (the snapshot)
            fired = {
                name: _text(data[name]) for name in ("queue", "priority", "policy") if name in data
            }
            self._count("sla", when, {**sla, **fired, "target": target}, counter)

    def _workload(
        self, kind: str, data: dict[str, Any], at: datetime, dims: dict[str, str]
    ) -> None:
        moved = data.get("from")
        if kind == "escalated" and isinstance(moved, dict) and "queue" in moved:
            # the queue it was escalated from, where its breach counted, not the one
            # the escalation moved it to (the snapshot)
            dims = {**dims, "queue": _text(moved["queue"])}
        if kind in ("created", "resolved", "reopened", "escalated"):
            self._count("workload", at, dims, kind)
        handle = data.get("handle_seconds")
        if not isinstance(handle, int | float) or isinstance(handle, bool):
            return
        # no time worked counts nothing: negative, not finite, or more than the router
        # writes (a day for a reply or note, a call's talk, hold and wrap a day each)
        most = (3 if kind == "message_added" else 1) * MAX_HANDLE_SECONDS
        if not (math.isfinite(handle) and 0 <= handle <= most):
            return
        # an agent's reply, an answered or ended call (added to its ticket with the
        # time the phone system reported), or an internal reply (a note with its time)
        if kind == "responded" or (kind in ("message_added", "note_added") and handle > 0):
            # a call's later part adds its seconds to the call counted at its first
            if not (kind == "message_added" and data.get("handled") is False):
                self._count("workload", at, dims, "handled")
            self._count("workload", at, dims, HANDLE_MS, round(handle * 1000))

    def _feedback(self, at: datetime, dims: dict[str, str], kind: object, score: object) -> None:
        if not feedback_counts(kind, score):  # out of the contract's range: not counted
            return
        assert isinstance(score, int)  # for the type checker: feedback_counts said so
        if kind == "csat":
            self._count("satisfaction", at, dims, "csat_responses")
            if score >= 4:
                self._count("satisfaction", at, dims, "csat_satisfied")
        elif kind == "nps":
            self._count("satisfaction", at, dims, "nps_responses")
            band = "promoters" if score >= 9 else "passives" if score >= 7 else "detractors"
            self._count("satisfaction", at, dims, band)
        elif kind == "ces":
            self._count("satisfaction", at, dims, "ces_responses")
            self._count("satisfaction", at, dims, "ces_sum", score)

    def _count(
        self, metric: str, at: datetime, dims: dict[str, str], counter: str, amount: int = 1
    ) -> None:
        window = WindowId(metric, _window_start(at, self.window_s), tuple(sorted(dims.items())))
        self._touched.append(window)
        counters = self.windows.setdefault(window, {})
        counters[counter] = counters.get(counter, 0) + amount


def documented_values(metric: str, c: Counters) -> dict[str, float | None]:
    """The ratios of contract section 8 (None where the denominator is zero)."""

    def share(num: float, den: int) -> float | None:
        return num / den if den else None

    if metric == "sla":
        return {"compliance": share(c.get("met", 0), c.get("met", 0) + c.get("breached", 0))}
    if metric == "fcr":
        first = c.get("resolved_first_contact", 0) - c.get("reopened_after_first_contact", 0)
        return {"fcr_rate": share(first, c.get("resolved", 0))}
    if metric == "satisfaction":
        return {
            "csat": share(c.get("csat_satisfied", 0), c.get("csat_responses", 0)),
            "nps": share(
                100 * (c.get("promoters", 0) - c.get("detractors", 0)), c.get("nps_responses", 0)
            ),
            "ces_avg": share(c.get("ces_sum", 0), c.get("ces_responses", 0)),
        }
    if metric == "workload":
        return {"aht_seconds": share(c.get(HANDLE_MS, 0) / 1000, c.get("handled", 0))}
    return {}


def as_published(metric: str, c: Counters) -> Counters:
    """A recounted window's counters as its record says them: the handle time, summed
    exactly in milliseconds, as ``handle_seconds_sum`` rounded once to whole seconds
    (half up)."""
    if metric != "workload" or HANDLE_MS not in c:
        return c
    kept = {name: n for name, n in c.items() if name != HANDLE_MS}
    return kept | {"handle_seconds_sum": (c[HANDLE_MS] + 500) // 1000}
