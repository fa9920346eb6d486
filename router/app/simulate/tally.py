"""What a simulation measured, as the contract's ``simulate --json`` shape.

Per ticket offered (it waited in line for an agent, as ``waiting_member`` says, or for
the agent a rule assigned it to): when it was created, when an agent took it or the
customer gave up, and its SLA clocks as the router left them. Per 30 minutes: the same
counts by creation time, and the agents' time.

Definitions (the README's staffing section repeats them):
- ``p_wait``: share of offered tickets that did not get an agent at once (answered
  later, abandoned, or still waiting when the run ended);
- ``unserved``: offered tickets no agent took and the customer did not give up on:
  still waiting when the run ended;
- ``wait_*``: time from creation to an agent, over handled tickets (those that waited
  nothing count as 0). An unserved ticket's wait has no end, and its wait so far only
  says when the run stopped, so it is left out (``p_wait`` and ``unserved`` show it);
- ``occupancy`` overall: agent-seconds holding at least one ticket / agent-seconds on
  shift; per queue: the agent-seconds its tickets took (an agent holding k tickets
  gives each 1/k of its time) / on-shift seconds of the agents with its skills. The
  on-shift time counts from the start of the first event's day until the queue's last
  ticket is done (abandoned, or created if that is later; the end of the run if one is
  unserved): the run goes on while another queue works off its backlog, and those
  idle hours would otherwise dilute the queue's occupancy;
- ``utilisation``: seat-seconds held / seat-seconds on shift, a seat being one ticket of
  an agent's capacity on a channel the tickets (overall; per queue, the queue's) came
  in on: an agent holding one of its three chats is occupied, but uses a third of its
  seats. On-shift time as for ``occupancy``;
- ``sla``: per target, clocks met in time / clocks settled: met; or never to be met,
  whenever their due time: the customer gave up (the ticket was closed without the
  response or resolution), or no agent took the ticket by the end of the run (unserved:
  the run ends only when no agent ever would); or due before the end of the run without
  being met (a follow-up whose agent is off until another day). Giving up counts
  against the service level, as contact centres count abandoned contacts.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from router.events import Ticket
from router.vocabulary import SLA_TARGETS

BUCKET_S = 1800


class Spans:
    """Seconds accumulated per 30-minute interval (epoch seconds // 1800)."""

    def __init__(self) -> None:
        self.seconds: dict[int, float] = defaultdict(float)

    def add(self, start: float, end: float, weight: float = 1.0) -> None:
        while end > start:
            bucket = int(start // BUCKET_S)
            edge = min(end, (bucket + 1) * BUCKET_S)
            self.seconds[bucket] += (edge - start) * weight
            start = edge

    def merge(self, other: Spans) -> None:
        for bucket, seconds in other.seconds.items():
            self.seconds[bucket] += seconds

    def total(self) -> float:
        return sum(self.seconds.values())


@dataclass(slots=True)
class Outcome:
    """One ticket that waited in line for an agent, or for the agent a rule named."""

    ticket_id: str
    queue: str
    channel: str
    created: float
    ticket: Ticket
    assigned_at: float | None = None
    agent: str | None = None
    handle_s: float = 0.0
    done_at: float | None = None
    abandoned_at: float | None = None
    work: list[tuple[float, float]] = field(default_factory=list)  # agent working on it

    @property
    def bucket(self) -> int:
        return int(self.created // BUCKET_S)

    @property
    def wait_s(self) -> float | None:
        return None if self.assigned_at is None else self.assigned_at - self.created

    @property
    def waited(self) -> bool:
        """It did not get an agent at once (or at all)."""
        return self.assigned_at is None or self.assigned_at > self.created

    @property
    def unserved(self) -> bool:
        return self.assigned_at is None and self.abandoned_at is None

    @property
    def settled_at(self) -> float:
        """When the queue was done with it: its agent's last work ended, or the customer
        gave up; its creation when neither (see ``served_until``)."""
        times = [self.created, *(end for _, end in self.work[-1:])]
        if self.abandoned_at is not None:
            times.append(self.abandoned_at)
        return max(times)


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile of sorted ``values``."""
    if not values:
        return None
    return values[max(0, math.ceil(share * len(values)) - 1)]


def _ratio(part: float, whole: float) -> float | None:
    return None if whole <= 0 else part / whole


def sla_compliance(outcomes: Iterable[Outcome], end: datetime) -> dict[str, float | None]:
    met: dict[str, int] = defaultdict(int)
    settled: dict[str, int] = defaultdict(int)
    for outcome in outcomes:
        ticket = outcome.ticket
        lost = ticket.status == "closed" or outcome.unserved  # its clocks can never be met
        for target, clock in ticket.sla.items():
            if clock.due is None:
                continue
            if clock.met_at is not None:
                settled[target] += 1
                # at the due time itself: breached, as the router counts it (sla.within)
                met[target] += clock.met_at < clock.due and not clock.breached
            elif lost or clock.breached or clock.due <= end:
                settled[target] += 1
    return {t: _ratio(met[t], settled[t]) for t in SLA_TARGETS if settled[t]}


@dataclass(slots=True)
class Time:
    """Agent time of one part of the run (overall, a queue, an interval), in seconds:
    holding at least one ticket and on shift; seats held and seats on shift."""

    busy: float
    staffed: float
    seats_busy: float
    seats: float


def figures(outcomes: list[Outcome], time: Time, end: datetime) -> dict[str, Any]:
    handled = [o for o in outcomes if o.assigned_at is not None]
    waits = sorted(o.wait_s or 0.0 for o in handled)
    waited = sum(1 for o in outcomes if o.waited)
    return {
        "offered": len(outcomes),
        "handled": len(handled),
        "abandoned": sum(1 for o in outcomes if o.abandoned_at is not None),
        "unserved": sum(1 for o in outcomes if o.unserved),
        "p_wait": _ratio(waited, len(outcomes)),
        "wait_mean_s": sum(waits) / len(waits) if waits else None,
        "wait_p50_s": percentile(waits, 0.5),
        "wait_p90_s": percentile(waits, 0.9),
        "occupancy": _ratio(time.busy, time.staffed),
        "utilisation": _ratio(time.seats_busy, time.seats),
        "sla": sla_compliance(outcomes, end),
    }


def report(
    outcomes: list[Outcome],
    *,
    busy: Spans,
    queue_busy: Mapping[str, Spans],
    seats_busy: Spans,
    queue_seats: Mapping[str, Spans],
    seats: Mapping[str, Mapping[str, int]],
    shifts: Mapping[str, list[tuple[float, float]]],
    skilled: Mapping[str, list[str]],
    end: datetime,
) -> dict[str, Any]:
    """The ``simulate --json`` object: ``overall`` and ``queues.<name>``, each with the
    figures for the whole run and per 30-minute interval. ``shifts``: per agent, the
    spans (epoch seconds) it was on shift; ``seats``: per agent, its seats per channel."""
    last = end.timestamp()
    by_queue: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_queue[outcome.queue].append(outcome)
    overall = _with_intervals(
        outcomes,
        (busy, _on_shift(shifts, shifts, last)),
        (seats_busy, _on_shift(shifts, shifts, last, _seats_on(seats, outcomes))),
        end,
    )
    queues = {}
    for queue in sorted(by_queue):
        here = by_queue[queue]
        until = served_until(here, last)
        agents = skilled.get(queue, [])
        queues[queue] = _with_intervals(
            here,
            (queue_busy.get(queue, Spans()), _on_shift(shifts, agents, until)),
            (
                queue_seats.get(queue, Spans()),
                _on_shift(shifts, agents, until, _seats_on(seats, here)),
            ),
            end,
        )
    return {"overall": overall, "queues": queues}


def _seats_on(
    seats: Mapping[str, Mapping[str, int]], outcomes: Iterable[Outcome]
) -> dict[str, float]:
    """Per agent, its seats on the channels the tickets came in on (the seats of a
    channel without work would make every roster look idle)."""
    channels = {o.channel for o in outcomes}
    return {a: float(sum(n for c, n in per.items() if c in channels)) for a, per in seats.items()}


def served_until(outcomes: Iterable[Outcome], end: float) -> float:
    """When a queue was done with its tickets: the end of the run while one is unserved."""
    return max((end if o.unserved else o.settled_at for o in outcomes), default=end)


def _on_shift(
    shifts: Mapping[str, list[tuple[float, float]]],
    agents: Iterable[str],
    until: float,
    weights: Mapping[str, float] | None = None,
) -> Spans:
    """The agents' on-shift seconds up to ``until``, each times its weight if given."""
    spans = Spans()
    for agent in agents:
        weight = 1.0 if weights is None else weights.get(agent, 0.0)
        for start, stop in shifts.get(agent, ()):
            spans.add(start, min(stop, until), weight)
    return spans


def _with_intervals(
    outcomes: list[Outcome],
    agents: tuple[Spans, Spans],
    seats: tuple[Spans, Spans],
    end: datetime,
) -> dict[str, Any]:
    """The figures for ``outcomes``, and per interval. ``agents``: agent time busy and on
    shift; ``seats``: seat time held and on shift."""
    (busy, staffed), (held, seated) = agents, seats

    def time(bucket: int | None) -> Time:
        if bucket is None:
            return Time(busy.total(), staffed.total(), held.total(), seated.total())
        return Time(
            busy.seconds.get(bucket, 0.0),
            staffed.seconds.get(bucket, 0.0),
            held.seconds.get(bucket, 0.0),
            seated.seconds.get(bucket, 0.0),
        )

    whole = figures(outcomes, time(None), end)
    per: dict[int, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        per[outcome.bucket].append(outcome)
    buckets = sorted(set(per) | {b for b, s in staffed.seconds.items() if s > 0})
    whole["intervals"] = [
        {
            "start": datetime.fromtimestamp(b * BUCKET_S, UTC).isoformat().replace("+00:00", "Z"),
            **figures(per.get(b, []), time(b), end),
        }
        for b in buckets
    ]
    return whole
