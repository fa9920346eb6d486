"""SLA clocks (contract section 6): when each target's clock starts, is due, warns, is met,
and how a postponement pauses it. Pure; durations come from the ticket's SLA policy."""

from __future__ import annotations

from datetime import datetime, timedelta

from router.events import SlaClock, Ticket
from router.vocabulary import SLA_TARGETS
from rules import RuleSet


def sla_clocks(ticket: Ticket, rules: RuleSet, start: datetime) -> dict[str, SlaClock]:
    policy = rules.sla_policies.get(ticket.sla_policy or "")
    if policy is None:
        return {}
    clocks: dict[str, SlaClock] = {}
    for target in SLA_TARGETS:
        if target == "next_response":
            continue  # started by a customer message after a public reply
        previous = ticket.sla.get(target)
        if previous and (previous.met_at or previous.breached):
            clocks[target] = previous  # settled: a later priority change cannot undo it
            continue
        due = policy.due(target, ticket.priority, start)
        if due is not None:
            warn_at = policy.warning(target, ticket.priority, start)
            warned = bool(previous and previous.warned and previous.due == due)
            clocks[target] = SlaClock(due=due, warn_at=warn_at, warned=warned)
    return clocks


def paused(
    ticket: Ticket, rules: RuleSet, start: datetime, until: datetime
) -> tuple[dict[str, SlaClock], timedelta]:
    """SLA clocks pause while postponed: every running clock moves on by the business time
    the postponement covers (contract section 6)."""
    policy = rules.sla_policies.get(ticket.sla_policy or "")
    paused = policy.elapsed(start, until) if policy else until - start
    calendar = policy.calendar if policy else None

    def later(moment: datetime | None) -> datetime | None:
        if moment is None:
            return None
        return calendar.add(moment, paused) if calendar else moment + paused

    clocks = {
        target: clock
        if clock.met_at or clock.breached
        else clock.model_copy(update={"due": later(clock.due), "warn_at": later(clock.warn_at)})
        for target, clock in ticket.sla.items()
    }
    return clocks, paused


def met(clocks: dict[str, SlaClock], target: str, at: datetime) -> dict[str, SlaClock]:
    clock = clocks.get(target)
    if clock is None or clock.met_at is not None:
        return clocks
    return {**clocks, target: clock.model_copy(update={"met_at": at})}
