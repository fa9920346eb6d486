"""Applying a rule decision to a ticket, and the SLA clocks that follow from it. Pure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from router.events import SlaClock, Ticket
from rules import Decision, RuleSet

SLA_TARGETS = ("first_response", "resolution")


def apply_decision(
    ticket: Ticket, decision: Decision, rules: RuleSet, *, fill_defaults: bool
) -> Ticket:
    """The ticket after the rules: scalars set by a rule (or the defaults, for a new
    ticket) win, tags accumulate, and SLA clocks start for a new policy or priority."""
    update: dict[str, Any] = {"rules_version": decision.rules_version}
    defaults = rules.defaults
    for name in ("queue", "priority", "sla"):
        value = getattr(decision, name)
        if value is None and fill_defaults:
            value = getattr(defaults, name)
        if value is not None:
            update["sla_policy" if name == "sla" else name] = value
    tags = [t for t in ticket.tags if t not in set(decision.remove_tags or ())]
    tags += [t for t in decision.tags if t not in tags]
    update["tags"] = tags
    if decision.assign:
        update["assignee"] = decision.assign
    routed = ticket.model_copy(update=update)
    if routed.sla_policy != ticket.sla_policy or routed.priority != ticket.priority:
        routed = routed.model_copy(update={"sla": sla_clocks(routed, rules, ticket.created_at)})
    return routed


def sla_clocks(ticket: Ticket, rules: RuleSet, start: datetime) -> dict[str, SlaClock]:
    policy = rules.sla_policies.get(ticket.sla_policy or "")
    if policy is None:
        return {}
    clocks = {}
    for target in SLA_TARGETS:
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


def routed_data(decision: Decision) -> dict[str, Any]:
    data = decision.to_dict(explain=False)
    return {
        "trigger": data.get("trigger"),
        "matched": list(decision.matched),
        "rules_version": decision.rules_version,
        "rules_hash": decision.rules_hash,
        "actions": data.get("actions"),
    }


def ticket_facts(ticket: Ticket) -> dict[str, Any]:
    """The ``ticket.*`` fields the rules see (contract section 9)."""
    return {
        "queue": ticket.queue,
        "priority": ticket.priority,
        "tags": list(ticket.tags),
        "status": ticket.status,
        "contacts": ticket.contacts,
        "reopen_count": ticket.reopen_count,
        "channel": ticket.channel,
    }
