"""What ``POST /v1/actions`` checks against the live system before it publishes anything:
every event within the size limit (413, at its item), every id unused for other content
(422), every ticket there (404), every transfer's queue and agent known (400), every
answer to an offer from the agent it is offered to (409).
Published anyway, such an action would end in the dead-letter topic or change nothing,
and the helpdesk would believe it applied."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from channels.deps import KnownAgents, TicketOwners, TicketReads
from channels.problems import Problem, at, invalid_fields
from channels.publish import Publisher, key_reused
from router.actions import canonical_type
from router.codec import encode_event
from router.ids import scoped_id
from router.vocabulary import EventType

if TYPE_CHECKING:
    from channels.actions import Prepared


def require_sizes(prepared: list[Prepared], publisher: Publisher) -> list[bytes]:
    """Each event's bytes, or 413 at the item before anything is published when one is
    over the size limit: checked only as each was published, a list had its earlier
    items written and was then refused."""
    encoded = [encode_event(p.event) for p in prepared]
    for p, value in zip(prepared, encoded, strict=True):
        publisher.limits.check_inbound(value, pointer=p.pointer)
    return encoded


async def require_unused_ids(prepared: list[Prepared], publisher: Publisher) -> None:
    """422 before anything is published when an item's id was already written for other
    content: a given id (``id-reused``, at ``/N/id``) or one named by the
    Idempotency-Key (``idempotency-key-reused``)."""
    checked = [p for p in prepared if p.fingerprint is not None]
    if not checked:
        return
    named = [(scoped_id(p.event.source, p.event.id), p.fingerprint or "") for p in checked]
    reused = await publisher.reused(named)
    taken = [p for p, r in zip(checked, reused, strict=True) if r]
    if any(not p.given_id for p in taken):
        raise key_reused()
    if taken:
        raise id_reused([at(f"{p.pointer}/id", "used before for other content") for p in taken])


def id_reused(errors: list[dict[str, Any]]) -> Problem:
    return Problem(
        422,
        f"{errors[0]['pointer']}: this event id was already used for other content; "
        "nothing was written (use a new id for a new action)",
        slug="id-reused",
        errors=errors,
    )


def conflict_of(p: Prepared) -> Problem:
    """What a copy racing this one for its id is answered when their content differs."""
    if p.given_id:
        return id_reused([at(f"{p.pointer}/id", "used before for other content")])
    return key_reused()


async def require_tickets(prepared: list[Prepared], ticket_owners: TicketOwners) -> None:
    """404 naming every item whose ticket does not exist. Published anyway, such an action
    would only end in the dead-letter topic, and the helpdesk would believe it applied."""
    wanted = list(dict.fromkeys(p.ticket_id for p in prepared if p.ticket_id is not None))
    if not wanted:
        return
    owners = await ticket_owners(wanted)
    unknown = [t for t, owner in zip(wanted, owners, strict=True) if owner is None]
    if unknown:
        errors = [
            at(f"{p.pointer}/data/ticket_id", f"no ticket {p.ticket_id!r}")
            for p in prepared
            if p.ticket_id in unknown
        ]
        names = ", ".join(repr(t) for t in unknown)
        detail = f"unknown ticket{'s' if len(unknown) > 1 else ''} {names}; nothing was written"
        raise Problem(404, detail, slug="unknown-ticket", errors=errors)


async def require_targets(
    prepared: list[Prepared], queues: Collection[str] | None, known_agents: KnownAgents | None
) -> None:
    """One 400 naming every transfer to an unknown queue and to an unknown agent, so a
    helpdesk fixes them all at once."""
    errors = unknown_queues(prepared, queues) + await unknown_agents(prepared, known_agents)
    if errors:
        raise invalid_fields(errors)


def unknown_queues(
    prepared: list[Prepared], queues: Collection[str] | None
) -> list[dict[str, str]]:
    """Every transfer to a queue the rules do not declare. Published anyway, such an
    action would only end in the dead-letter topic. Without readable rules the router is
    left to judge."""
    if queues is None:
        return []
    known = ", ".join(sorted(queues))
    return [
        at(f"{p.pointer}/data/queue", f"unknown queue {queue!r}; one of {known}")
        for p in prepared
        if p.event.type == EventType.TICKET_TRANSFERRED
        and isinstance(data := p.event.data, dict)
        and (queue := data.get("queue")) is not None
        and queue not in queues
    ]


PRESENCE = canonical_type("agent.presence")


async def unknown_agents(
    prepared: list[Prepared], known_agents: KnownAgents | None
) -> list[dict[str, str]]:
    """Every transfer to an agent never seen: an agent becomes known by an
    ``agent.presence`` (this request's count). Published anyway, the ticket would be
    offered to nobody until the accept timeout, and the helpdesk would believe it moved."""
    if known_agents is None:
        return []
    announced = {
        data.get("agent_id")
        for p in prepared
        if p.event.type == PRESENCE and isinstance(data := p.event.data, dict)
    }
    named = [
        (p, agent)
        for p in prepared
        if p.event.type == EventType.TICKET_TRANSFERRED
        and isinstance(data := p.event.data, dict)
        and isinstance(agent := data.get("agent_id"), str)
        and agent not in announced
    ]
    if not named:
        return []
    wanted = list(dict.fromkeys(agent for _, agent in named))
    found = dict(zip(wanted, await known_agents(wanted), strict=True))
    return [
        at(f"{p.pointer}/data/agent_id", f"unknown agent {agent!r}: an agent.presence names one")
        for p, agent in named
        if not found[agent]
    ]


ACCEPTED = canonical_type("assignment.accepted")
DECLINED = canonical_type("assignment.declined")
REPLIED = canonical_type("agent.replied")


async def require_offers(prepared: list[Prepared], read_tickets: TicketReads | None) -> None:
    """409 naming every ``assignment.accepted`` / ``.declined`` whose ticket is not offered
    to its agent (its ``assignee``, as the router judges it), as read now and as the
    request's own earlier items change it (a transfer to an agent offers it to them, a
    decline to nobody). Published anyway, the router would change nothing, and the
    helpdesk would believe the agent took or gave back the ticket. Call after
    ``require_tickets``: a ticket that is not there is its 404."""
    answers = [p for p in prepared if p.event.type in (ACCEPTED, DECLINED) and p.ticket_id]
    if read_tickets is None or not answers:
        return
    wanted = list(dict.fromkeys(p.ticket_id for p in answers if p.ticket_id is not None))
    try:
        found = await read_tickets(wanted)
    except ValidationError:  # a snapshot that cannot be read: the router dead-letters
        return
    offered = {t: ticket.assignee for t, ticket in zip(wanted, found, strict=True) if ticket}
    errors = []
    for p in prepared:
        data = p.event.data if isinstance(p.event.data, dict) else {}
        ticket_id, agent = p.ticket_id, data.get("agent_id")
        if ticket_id not in offered:
            continue
        if p.event.type in (ACCEPTED, DECLINED):
            holder = offered[ticket_id]
            if holder != agent:
                to = f"to {holder!r}" if holder else "to nobody"
                detail = f"ticket {ticket_id!r} is offered {to}, not to {agent!r}"
                errors.append(at(f"{p.pointer}/data/agent_id", detail))
            elif p.event.type == DECLINED:
                offered[ticket_id] = None
        elif p.event.type == EventType.TICKET_TRANSFERRED and agent is not None:
            offered[ticket_id] = agent
        elif p.event.type == EventType.TICKET_TRANSFERRED or (
            p.event.type == REPLIED and offered[ticket_id] is None
        ):  # another queue may take it from its assignee, a reply give it to the replier:
            del offered[ticket_id]  # what follows on this ticket is left to the router
    if errors:
        detail = f"{errors[0]['pointer']}: {errors[0]['detail']}; nothing was written"
        raise Problem(409, detail, slug="not-offered", errors=errors)
