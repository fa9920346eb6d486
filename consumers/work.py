"""The routing consumer's work: inbound messages and helpdesk actions decoded from their
records, and the order they are routed in within one poll.

A record of either topic is read in structured or binary CloudEvents mode. Work is
routed in rounds (the k-th item of every customer), so one customer's items keep their
offset order while a round costs a few pipelined Redis round trips; a reply to a message
of another sender in the same poll waits until that message has found its ticket.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import ValidationError

from consumers.domain.threading import reply_refs, thread_key
from consumers.runner import Record, arrival_order
from router.actions import Action, TicketAction, parse_action
from router.codec import Headers, decode_record, is_binary, required_specversion
from router.errors import InvalidEvent
from router.events import MAX_CLOCK_SKEW, CloudEvent, Interaction
from router.ids import action_key, scoped_id
from router.vocabulary import EventType


@dataclass(slots=True)
class Inbound:
    """One decoded inbound record and what routing needs to know about it."""

    record: Record
    event: CloudEvent
    interaction: Interaction
    identities: list[str]
    refs: list[str]  # ``reply_refs``: the parent first; the first one known names the ticket
    at: datetime
    customer_id: str = ""
    ticket_id: str | None = None  # the ticket a reply from another sender answers
    sender_id: str | None = None  # that sender, when the message is routed as the owner's
    cause: str = field(init=False)
    """The id its effects are keyed by (``scoped_id``): its dedupe marker, the ids of the
    records it causes, the ticket it opens. Worked out once: routing reads it often."""

    def __post_init__(self) -> None:
        self.cause = scoped_id(self.event.source, self.event.id)


@dataclass(slots=True)
class ActionWork:
    """One decoded helpdesk action."""

    record: Record
    event: CloudEvent
    action: Action
    at: datetime
    customer_id: str = ""
    refs: list[str] = field(default_factory=list)

    @property
    def ticket_id(self) -> str | None:
        return self.action.ticket_id if isinstance(self.action, TicketAction) else None

    @property
    def cause(self) -> str:
        """The id its effects are keyed by (``action_key``)."""
        return action_key(self.event.source, self.event.id)


Work = Inbound | ActionWork


def event_time(event: CloudEvent, record: Record) -> datetime:
    """When an event written to Kafka happened: its ``time``, unless that is more than
    the clock skew after the record was written (a wrong clock, a forged time), then the
    record's timestamp. A future time would put every later change of the ticket, and
    its metrics, in windows that have not begun. An old time stands: history is imported
    through the inbound topic (HTTP adds the 7-day bound, ``router.events.received_time``).
    A time without a zone (not RFC 3339) cannot be compared: the record's timestamp too.
    A time with an offset is the same instant in UTC: every record the router writes says
    its times with ``Z``, so consumers that compare or sort the strings get them right."""
    written = datetime.fromtimestamp(record.timestamp / 1000, UTC)
    claimed = event.time
    if claimed is None or claimed.tzinfo is None or claimed > written + MAX_CLOCK_SKEW:
        return written
    return claimed.astimezone(UTC)


def parse_action_record(record: Record) -> ActionWork:
    """An action in structured or binary mode: a helpdesk that speaks Kafka may use either."""
    event = decode_record(record.value, record.headers)
    action = parse_action(event)
    return ActionWork(record, event, action, event_time(event, record))


class InboundEvent(CloudEvent):
    """An inbound envelope whose data is read as an ``Interaction`` in the same pass: one
    validation per record instead of a dict first and the model from it."""

    data: Interaction  # type: ignore[assignment]  # narrower than a CloudEvent's data


def parse_record(record: Record) -> Inbound:
    event: CloudEvent
    fast: InboundEvent | None = None
    if not is_binary(record.headers):  # structured mode: one validation for the whole value
        try:
            fast = InboundEvent.model_validate_json(record.value or b"")
        except ValidationError:  # say precisely what is wrong, as the envelope and data do
            fast = None
    if fast is not None:
        event, interaction = required_specversion(fast), fast.data
    else:
        event = decode_interaction_event(record.value, record.headers)
        interaction = parse_interaction(event)
    if event.type != EventType.INTERACTION_RECEIVED:
        raise InvalidEvent(f"unexpected event type {event.type!r} on the inbound topic")
    identities = interaction.customer.identities() or [(record.key or b"").decode()]
    if not identities[0]:
        raise InvalidEvent("interaction has no customer identity and the record no key")
    refs = reply_refs(interaction)
    return Inbound(record, event, interaction, identities, refs, event_time(event, record))


def answers_wait(items: list[Work]) -> tuple[list[Work], list[Work]]:
    """The work that can go now, and the replies that must wait for a message of another
    sender in the same poll (inbound records are keyed by sender, so a colleague's reply
    may sit on another partition and even come first): routed after it, a reply finds
    that message's ticket and joins it. A waiting sender's later work waits too, to keep
    their order. When everything waits (messages whose headers name each other: one
    arrived with a reference to a message not yet received), the first goes alone, so
    the next finds its ticket: all at once, none would find the other's."""
    carriers = {
        key: sender(item)
        for item in reversed(items)
        if isinstance(item, Inbound) and (key := thread_key(item.interaction))
    }
    now: list[Work] = []
    later: list[Work] = []
    waiting: set[str] = set()
    for item in items:
        who = sender(item)
        if who in waiting or any(carriers.get(ref, who) != who for ref in item.refs):
            waiting.add(who)
            later.append(item)
        else:
            now.append(item)
    return (now, later) if now else (later[:1], later[1:])


def sender(item: Work) -> str:
    """Who wrote it: a reply routed as a ticket owner's still has its own sender."""
    return (item.sender_id if isinstance(item, Inbound) else None) or item.customer_id


def in_arrival_order(items: list[Work]) -> list[Work]:
    """Messages (``inbound``) and actions (``actions``) of one poll merged by their record
    timestamps, each partition's records kept in offset order. Messages first and actions
    after, a backlog (after a restart, a rebalance, while the router lags) applied a
    customer's "not solved" before the resolve it answered, and the ticket ended resolved
    with the complaint buried in it; a reply before the agent's reply it answered."""
    return arrival_order(items, lambda item: item.record)


def rounds(items: list[Work]) -> list[list[Work]]:
    """Round k holds the k-th message of every customer, in offset order."""
    per_customer: dict[str, int] = {}
    out: list[list[Work]] = []
    for item in items:
        k = per_customer.get(item.customer_id, 0)
        per_customer[item.customer_id] = k + 1
        if k == len(out):
            out.append([])
        out[k].append(item)
    return out


def decode_interaction_event(raw: bytes | None, headers: Headers = ()) -> CloudEvent:
    event = decode_record(raw, headers)
    if event.type != EventType.INTERACTION_RECEIVED:
        raise InvalidEvent(f"unexpected event type {event.type!r} on the inbound topic")
    return event


def parse_interaction(event: CloudEvent) -> Interaction:
    try:
        return Interaction.model_validate(event.data or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        path = "/data/" + "/".join(str(p) for p in err["loc"])
        problem: list[dict[str, object]] = [{"path": path, "message": err["msg"]}]
        raise InvalidEvent(f"invalid interaction: {path}: {err['msg']}", problem) from None
