"""Applying a rule decision to a ticket. Pure."""

from __future__ import annotations

from typing import Any

from consumers.domain.assignment import named
from consumers.domain.sla import sla_clocks, time_next_response
from router.events import Ticket
from router.vocabulary import EventType
from rules import Decision, RuleSet


def apply_decision(
    ticket: Ticket,
    decision: Decision,
    rules: RuleSet,
    *,
    fill_defaults: bool,
    also: dict[str, Any] | None = None,
) -> Ticket:
    """The ticket after the rules: scalars set by a rule (or the defaults, for a new
    ticket) win, tags accumulate, and SLA clocks are (re)timed for a new policy or
    priority. A next_response cycle that the customer's message has just started
    (``sla.customer_wrote``) gets its due time here, after the rules: a message rule may
    set the priority it is due by. An ``assign`` naming another agent than the assignee
    leaves the ticket to be offered to them (``named``): the timers role, which follows
    every snapshot and holds the agents' seats, makes the offer as it makes the line's,
    with its ``.assigned`` record and accept timeout. A new queue is only set here: the
    caller moves an assigned ticket to that queue's line (``assignment.requeued``), with
    the record saying why. ``also`` holds other fields to set in the same copy."""
    update: dict[str, Any] = {**(also or {}), "rules_version": decision.rules_version}
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
    if decision.assign and decision.assign != ticket.assignee:
        update.update(named(decision.assign))  # the timers role makes the offer
    routed = ticket.model_copy(update=update)
    if routed.sla_policy != ticket.sla_policy or routed.priority != ticket.priority:
        routed.sla = sla_clocks(routed, rules, ticket.created_at, before=ticket)
    else:
        routed.sla = time_next_response(routed, rules)
    return routed  # a copy of our own: the clocks timed from it are set on it


def routed_data(decision: Decision) -> dict[str, Any]:
    data = decision.to_dict(explain=False)
    return {
        "trigger": data.get("trigger"),
        "matched": list(decision.matched),
        "rules_version": decision.rules_version,
        "rules_hash": decision.rules_hash,
        "actions": data.get("actions"),
    }


def notifications(decision: Decision) -> list[tuple[EventType, dict[str, Any]]]:
    """The ``.notification`` events a decision asks for, routing or escalation alike:
    its auto-reply to the customer, then each ``notify`` target."""
    out: list[tuple[EventType, dict[str, Any]]] = []
    if decision.auto_reply:
        out.append(
            (EventType.TICKET_NOTIFICATION, {"template": decision.auto_reply, "kind": "auto_reply"})
        )
    out.extend(
        (EventType.TICKET_NOTIFICATION, {"template": target, "kind": "notify"})
        for target in decision.notify or ()
    )
    return out
