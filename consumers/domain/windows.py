"""Tumbling event-time windows and the contributions a lifecycle event makes to the
metrics of contract section 8. Pure: every metric can be recomputed by replaying the
tickets topic through these functions."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard

from router.actions import MAX_HANDLE_SECONDS
from router.vocabulary import EventType, feedback_counts

WORKLOAD_COUNTS = {
    EventType.TICKET_CREATED.value: "created",
    EventType.TICKET_RESOLVED.value: "resolved",
    EventType.TICKET_REOPENED.value: "reopened",
    EventType.TICKET_ESCALATED.value: "escalated",
}
HANDLE_MS = "handle_ms_sum"
"""The counter handle time is added to, in whole milliseconds: an integer (exact under
redelivery, one ``HINCRBY``) that keeps the sum of fractional seconds exact, where
rounding each event's seconds would not (0.4 + 2.5 + 0.4 s made 2). Published as
``handle_seconds_sum`` (``published_counters``). A new name, not ``handle_seconds_sum``
in a new unit: a window an older version counted whole seconds into keeps them under
that name, and both are read together."""
HANDLE_SECONDS = "handle_seconds_sum"
"""The published handle time counter (contract section 8), and where versions before
``HANDLE_MS`` counted whole seconds."""
MOST_CALL_SECONDS = 3 * MAX_HANDLE_SECONDS
"""The most one call event reports: its talk, hold and wrap-up time, a day each, as the
ingress takes them (a reply or an internal reply: ``MAX_HANDLE_SECONDS``, a day)."""
CSAT_SATISFIED = 4
NPS_PROMOTER, NPS_PASSIVE = 9, 7


def window_of(at: datetime, size_s: int) -> tuple[datetime, datetime]:
    """The window ``[start, end)`` holding ``at``; windows align to the Unix epoch."""
    ts = int(at.timestamp())
    start = datetime.fromtimestamp(ts - ts % size_s, UTC)
    return start, start + timedelta(seconds=size_s)


@dataclass(frozen=True, slots=True)
class Contribution:
    metric: str
    dimensions: dict[str, str]
    counter: str
    amount: int = 1
    definition: str | None = None  # the hash of the definition it was counted under
    at: datetime | None = None  # the time whose window counts it; None: the event's time


Contributor = Callable[[str, dict[str, Any]], list[Contribution]]


def _ticket(data: dict[str, Any]) -> dict[str, Any]:
    ticket = data.get("ticket")
    return ticket if isinstance(ticket, dict) else {}


def _queue_channel(data: dict[str, Any]) -> dict[str, str]:
    ticket = _ticket(data)
    return {"queue": str(ticket.get("queue") or "none"), "channel": str(ticket.get("channel"))}


def _with_agent(data: dict[str, Any]) -> dict[str, str]:
    """The agent the event names, else the ticket's assignee, else the agent who resolved
    it (``resolved_by``: feedback on a ticket resolved by someone nobody assigned counts
    for them), else ``none``."""
    ticket = _ticket(data)
    agent = data.get("agent_id") or ticket.get("assignee") or ticket.get("resolved_by")
    return {**_queue_channel(data), "agent": str(agent or "none")}


def _credited(data: dict[str, Any]) -> dict[str, str]:
    """Whom and where a resolution's first contact was credited, for the reopen that
    takes it back: the snapshot's ``resolved_by`` (kept through the reopen; null: nobody
    was, so ``none``), whoever reopens it, in its ``resolved_queue``, wherever a transfer
    moved the resolved ticket. A snapshot written before those were recorded (no such
    field) counts the takeback as any event, in the queue it was reopened in."""
    ticket = _ticket(data)
    dims = _with_agent(data) | _reopened_in(data)
    if "resolved_by" in ticket:
        dims["agent"] = str(ticket["resolved_by"] or "none")
    if ticket.get("resolved_queue"):
        dims["queue"] = str(ticket["resolved_queue"])
    return dims


def _reopened_in(data: dict[str, Any]) -> dict[str, str]:
    """The queue a reopen happened in: its own ``queue`` (where the ticket was when the
    customer's message reopened it, before a rule on ``ticket.reopened`` moved it), so
    its workload count and FCR takeback land where the resolution counted. A record
    written before it said so: the snapshot's."""
    return {"queue": str(data.get("queue") or "none")} if "queue" in data else {}


def _escalated_from(data: dict[str, Any]) -> dict[str, str]:
    """The queue an escalation happened in: its ``from.queue`` (the snapshot shows where
    it moved the ticket), where the SLA breach that set it off counts too. A record that
    does not say: the snapshot's."""
    moved = data.get("from")
    if not isinstance(moved, dict) or "queue" not in moved:
        return {}
    return {"queue": str(moved["queue"] or "none")}


def workload(event_type: str, data: dict[str, Any]) -> list[Contribution]:
    """created / resolved / reopened / escalated, and handled + handle_seconds_sum (AHT)."""
    dims = _queue_channel(data)
    if event_type == EventType.TICKET_REOPENED:
        dims |= _reopened_in(data)
    if event_type == EventType.TICKET_ESCALATED:
        dims |= _escalated_from(data)
    counter = WORKLOAD_COUNTS.get(event_type)
    if counter is not None:
        return [Contribution("workload", dims, counter)]
    handle = data.get("handle_seconds")
    most = MAX_HANDLE_SECONDS
    if event_type == EventType.TICKET_MESSAGE_ADDED:  # a call: talk, hold and wrap-up
        most = MOST_CALL_SECONDS
    if not _worked(handle, most):
        return []
    reply = event_type == EventType.TICKET_RESPONDED
    call = event_type == EventType.TICKET_MESSAGE_ADDED and handle > 0  # answered/ended calls
    internal = event_type == EventType.TICKET_NOTE_ADDED and handle > 0  # internal replies
    if not (reply or call or internal):
        return []
    seconds = Contribution("workload", dims, HANDLE_MS, handle_ms(handle))
    if call and data.get("handled") is False:  # a later part of a call counted already
        return [seconds]
    return [Contribution("workload", dims, "handled"), seconds]


def _worked(handle: object, most: float) -> TypeGuard[float]:
    """Whether an event's ``handle_seconds`` is time worked: a number of seconds from 0 to
    the ``most`` the router writes for the event. The router writes no other, but another
    producer of the tickets topic may, and one is not counted at all (not even as
    ``handled``): a negative one took from the window's sum (an AHT of -5 s) and
    Prometheus refuses a counter going down; an infinite one has no milliseconds, and
    ``1e308`` seconds would swamp every sum it joins. ``metrics verify`` leaves out the
    same (``router.app.recount``)."""
    if not isinstance(handle, int | float) or isinstance(handle, bool):
        return False
    return math.isfinite(handle) and 0 <= handle <= most


def handle_ms(seconds: float) -> int:
    """A handle time in whole milliseconds, the precision the metrics keep."""
    return round(seconds * 1000)


def handle_ms_total(counted: dict[str, int]) -> int:
    """A window's handle time in milliseconds: what this version counted, plus the whole
    seconds an older version counted into the same window before an upgrade."""
    return counted.get(HANDLE_MS, 0) + 1000 * counted.get(HANDLE_SECONDS, 0)


def handle_seconds_sum(counted: dict[str, int]) -> int:
    """The window's ``handle_seconds_sum`` as published: its exact sum in milliseconds,
    rounded once to whole seconds (half up), as a metric record's counters are integers
    (``router.events.MetricRecord``). The rounding is the window's, never an event's:
    it stays within half a second of the snapshots' ``handle_seconds`` summed, and
    ``values.aht_seconds`` is computed from the exact sum."""
    return (handle_ms_total(counted) + 500) // 1000


def published_counters(metric: str, counted: dict[str, int]) -> dict[str, int]:
    """A window's counters as its record says them: a workload window's handle time in
    seconds (``handle_seconds_sum``) from the milliseconds stored."""
    if metric != "workload" or (HANDLE_MS not in counted and HANDLE_SECONDS not in counted):
        return counted
    kept = {name: n for name, n in counted.items() if name != HANDLE_MS}
    return kept | {HANDLE_SECONDS: handle_seconds_sum(counted)}


def fcr(event_type: str, data: dict[str, Any]) -> list[Contribution]:
    """First-contact resolution: counted at resolution, corrected by a later reopen."""
    dims = _with_agent(data)
    definition = data.get("fcr_definition")
    definition = definition if isinstance(definition, str) else None
    if event_type == EventType.TICKET_RESOLVED:
        out = [Contribution("fcr", dims, "resolved", definition=definition)]
        if data.get("first_contact"):
            out.append(Contribution("fcr", dims, "resolved_first_contact", definition=definition))
        return out
    if event_type == EventType.TICKET_REOPENED and data.get("was_first_contact"):
        credited = _credited(data)
        return [
            Contribution("fcr", credited, "reopened_after_first_contact", definition=definition)
        ]
    return []


def satisfaction(event_type: str, data: dict[str, Any]) -> list[Contribution]:
    """CSAT (4-5 satisfied), NPS (9-10 promoters, 7-8 passives), CES (sum and count)."""
    score, kind = data.get("score"), data.get("kind")
    if event_type != EventType.TICKET_FEEDBACK_RECEIVED or not feedback_counts(kind, score):
        return []
    assert isinstance(score, int)  # for the type checker: feedback_counts said so
    dims = _with_agent(data)
    if kind == "csat":
        names = ["csat_responses"] + (["csat_satisfied"] if score >= CSAT_SATISFIED else [])
    elif kind == "nps":
        band = (
            "promoters"
            if score >= NPS_PROMOTER
            else "passives"
            if score >= NPS_PASSIVE
            else "detractors"
        )
        names = ["nps_responses", band]
    elif kind == "ces":
        return [
            Contribution("satisfaction", dims, "ces_responses"),
            Contribution("satisfaction", dims, "ces_sum", score),
        ]
    else:
        return []
    return [Contribution("satisfaction", dims, name) for name in names]


RESPONSE_TARGETS = {"first": "first_response", "next": "next_response"}


def sla(event_type: str, data: dict[str, Any]) -> list[Contribution]:
    """Per target: ``met`` where a reply or resolution met it, ``breached`` once per
    ticket and target (at the due time), ``warned`` at the warning.

    ``next_response`` runs in cycles (one from the first customer message after each
    public reply), so "once per ticket and target" is read as once per clock: each cycle
    is met or breached at most once (the lifecycle judges ``within_sla`` only against a
    running clock, and each cycle's warning and breach carry their own event id, which
    the metric consumer counts once), and compliance compares cycles met with cycles
    breached."""
    ticket = _ticket(data)
    dims = {
        **_queue_channel(data),
        "priority": str(ticket.get("priority")),
        "policy": str(ticket.get("sla_policy") or "none"),
    }
    if event_type in (EventType.TICKET_SLA_WARNING, EventType.TICKET_SLA_BREACHED):
        # counted under the queue, priority and policy it fired under, not as its
        # escalation left the ticket (the snapshot it carries); older records do not
        # say: the snapshot
        if "queue" in data:
            dims["queue"] = str(data.get("queue") or "none")
        if "priority" in data:
            dims["priority"] = str(data.get("priority"))
        if "policy" in data:
            dims["policy"] = str(data.get("policy") or "none")
    counter, target = None, data.get("target")
    if event_type == EventType.TICKET_SLA_WARNING:
        counter = "warned"
    elif event_type == EventType.TICKET_SLA_BREACHED:
        counter = "breached"
    elif data.get("within_sla") is True and event_type == EventType.TICKET_RESPONDED:
        counter, target = "met", RESPONSE_TARGETS.get(str(data.get("response")))
    elif data.get("within_sla") is True and event_type == EventType.TICKET_RESOLVED:
        counter, target = "met", "resolution"
    if counter is None or not target:
        return []
    # a breach counts in the window of its due time, however late the timer fired; a
    # warning in that of its warning time (``warned_at``), whoever fired it when
    at = _time(data.get({"breached": "due", "warned": "warned_at"}.get(counter, "")))
    return [Contribution("sla", {**dims, "target": str(target)}, counter, at=at)]


def _time(value: Any) -> datetime | None:
    """A time as a record carries it (ISO 8601 text), or as the pure functions give it."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else None
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


CONTRIBUTORS: tuple[Contributor, ...] = (workload, fcr, satisfaction, sla)


COUNTERS: dict[str, tuple[str, ...]] = {
    "sla": ("met", "breached", "warned"),
    "fcr": ("resolved", "resolved_first_contact", "reopened_after_first_contact"),
    "satisfaction": (
        "csat_responses",
        "csat_satisfied",
        "nps_responses",
        "promoters",
        "passives",
        "detractors",
        "ces_responses",
        "ces_sum",
    ),
    "workload": ("created", "resolved", "reopened", "escalated", "handled", "handle_seconds_sum"),
}
"""Every counter of each metric (contract section 8)."""


def is_backlog(metric: str, dimensions: dict[str, str]) -> bool:
    """A workload window per queue alone holds the backlog gauges, set once a window, not
    counters added to (those are per queue and channel)."""
    return metric == "workload" and "channel" not in dimensions


def every_counter(
    metric: str, dimensions: dict[str, str], counted: dict[str, int]
) -> dict[str, int]:
    """A window's counters with those nothing added to yet as 0, so a reader finds every
    counter of the metric in every record. The backlog gauges of a workload window (per
    queue, without a channel) are a snapshot of their own and are left as they are."""
    if is_backlog(metric, dimensions):
        return counted
    return {**dict.fromkeys(COUNTERS.get(metric, ()), 0), **counted}


def derived_values(
    metric: str, c: dict[str, int], dimensions: dict[str, str] | None = None
) -> dict[str, float | None]:
    """The ratios of contract section 8, from one window's counters (None: no data), as
    stored (``HANDLE_MS``: the exact average handle time) or as published. A backlog
    record (workload per queue, no channel) holds gauges only: no ratio."""

    def ratio(num: float, den: int) -> float | None:
        return num / den if den else None

    if dimensions is not None and is_backlog(metric, dimensions):
        return {}
    if metric == "workload":  # from the stored milliseconds, exact, when given them
        return {"aht_seconds": ratio(handle_ms_total(c) / 1000, c.get("handled", 0))}
    if metric == "sla":
        met = c.get("met", 0)
        return {"compliance": ratio(met, met + c.get("breached", 0))}
    if metric == "fcr":
        net = c.get("resolved_first_contact", 0) - c.get("reopened_after_first_contact", 0)
        return {"fcr_rate": ratio(net, c.get("resolved", 0))}
    if metric == "satisfaction":
        nps = ratio(
            100 * (c.get("promoters", 0) - c.get("detractors", 0)), c.get("nps_responses", 0)
        )
        return {
            "csat": ratio(c.get("csat_satisfied", 0), c.get("csat_responses", 0)),
            "nps": nps,
            "ces_avg": ratio(c.get("ces_sum", 0), c.get("ces_responses", 0)),
        }
    return {}
