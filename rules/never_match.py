"""``rules check`` warnings about conditions on the ticket that can never hold where a
rule runs: a ``ticket.created`` rule sees every new ticket alike (queue null, tags [],
status new, ...), and each trigger finds the ticket in a few statuses only."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from router.vocabulary import ASSIGNMENT_TIMEOUT, STATUSES
from rules.conditions import Condition, show
from rules.engine import RuleSet
from rules.errors import RuleWarning
from rules.facts import new_ticket_facts
from rules.fields import field_path, lowered


def leaves(condition: Condition) -> Iterable[Condition]:
    if condition.kind == "leaf":
        yield condition
    for child in condition.children:
        yield from leaves(child)


_NEW_TICKET = new_ticket_facts(None)
_FIXED_AT_CREATION = (
    "queue",
    "priority",
    "tags",
    "status",
    "contacts",
    "reopen_count",
    "agent_replies",
    "assignee",
    "sla_policy",
    "handle_seconds",
    "language",
)
"""The ``ticket.*`` fields every new ticket has the same value in before its first
pass (``rules.facts.new_ticket_facts``): queue null, tags [], priority normal, ..."""


def never_on_created(ruleset: RuleSet) -> Iterable[RuleWarning]:
    """A rule run only on ``ticket.created`` that requires the ticket to be what the
    rules make it (``{queue: billing}``): conditions see the ticket before the pass,
    and a new one is the same for every ticket, so the condition never holds."""
    for rule in ruleset.rules:
        if rule.triggers != ("ticket.created",):
            continue
        for atom in rule.condition.atoms():
            fields = [_fixed_field(leaf) for leaf in leaves(atom)]
            if not fields or None in fields or atom.kind == "within":
                continue
            if atom.test(_new_ticket_values(atom)):
                continue
            shown = ", ".join(f"{f} {show(_NEW_TICKET[f])}" for f in dict.fromkeys(fields) if f)
            yield RuleWarning(
                atom.mark or rule.mark,
                f"rule '{rule.name}' can never match: it runs only on ticket.created, "
                f"where the ticket is new ({shown}) and '{atom.text}' does not hold",
                "conditions see the ticket as it was before this pass; use "
                "on: message.received, or test the message's fields",
            )
            break


STATUS_SEEN: dict[str, tuple[str, ...]] = {
    "ticket.created": ("new",),
    "message.received": ("new", "open"),
    "ticket.reopened": ("open",),
    ASSIGNMENT_TIMEOUT: ("open", "pending"),
}
"""The statuses a trigger finds a ticket in when the rules run: a message has moved a
``pending`` ticket back to ``open`` (and one to a settled ticket reopened it, or opened a
follow-up), a reopen made it ``open``, an accept timeout follows an offer, which made it
``open`` (``pending`` when postponed). SLA warnings and breaches: any unsettled one. The
first is how the offline tools show a ticket their input gives as ``new``
(``rules.replay.opened_at``)."""


def never_in_status(ruleset: RuleSet) -> Iterable[RuleWarning]:
    """A rule on ``ticket.status`` that no status its triggers find holds (``{status:
    new}`` on ``assignment.timeout``, ``{status: pending}`` on ``message.received``).
    Rules run only on ``ticket.created`` are ``never_on_created``'s."""
    for rule in ruleset.rules + ruleset.escalations:
        if rule.triggers == ("ticket.created",):
            continue
        seen = {s for t in rule.triggers for s in STATUS_SEEN.get(t, ("new", "open", "pending"))}
        for atom in rule.condition.atoms():
            found = list(leaves(atom))
            if not found or not all(_status_leaf(leaf) for leaf in found):
                continue
            holds = [s for s in STATUSES if atom.test(_status_values(atom, s))]
            if not holds or set(holds) & seen:  # none: no status at all (a typo), said apart
                continue
            yield RuleWarning(
                atom.mark or rule.mark,
                f"rule '{rule.name}' can never match: on {', '.join(rule.triggers)} the "
                f"ticket is {' or '.join(sorted(seen))} when the rules run, and "
                f"'{atom.text}' holds for none",
                "a customer's message reopens or moves the ticket before the rules see it, "
                "and an offer makes a new ticket open",
            )
            break


def _status_leaf(leaf: Condition) -> bool:
    """Whether ``leaf`` reads ``ticket.status`` (and nothing else)."""
    if leaf.kind != "leaf" or leaf.field is None:
        return False
    return field_path(leaf.field) == ("ticket", "status")


def _status_values(condition: Condition, status: str) -> list[object]:
    """The slots ``condition`` reads, filled with ``status``."""
    return _filled(condition, lambda _leaf: status)


def _fixed_field(leaf: Condition) -> str | None:
    """The ticket field ``leaf`` reads, if every new ticket has the same value in it."""
    if leaf.kind != "leaf" or leaf.field is None:
        return None
    path = field_path(leaf.field)
    if len(path) == 2 and path[0] == "ticket" and path[1] in _FIXED_AT_CREATION:
        return path[1]
    return None


def _new_ticket_values(condition: Condition) -> list[object]:
    """The slots ``condition`` reads, filled as a new ticket fills them."""
    return _filled(condition, lambda leaf: _NEW_TICKET[field_path(leaf.field or "")[-1]])


def _filled(condition: Condition, value_of: Callable[[Condition], object]) -> list[object]:
    """The slots ``condition`` reads (each leaf's value, and its lower-cased form where
    the leaf compares so), with ``value_of`` each leaf."""
    found = list(leaves(condition))
    slots = [s for leaf in found for s in (leaf.slot, leaf.lower_slot) if s is not None]
    values: list[object] = [None] * (max(slots, default=0) + 1)
    for leaf in found:
        value = value_of(leaf)
        if leaf.slot is not None:
            values[leaf.slot] = value
        if leaf.lower_slot is not None:
            values[leaf.lower_slot] = lowered(value)
    return values
