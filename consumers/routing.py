"""The routing consumer: inbound interactions -> tickets, routed by the rules.

Per record: resolve the customer, read the thread (one round trip), decide placement and
run the rules (pure), then commit ticket + dedupe marker + outbox in one Lua call. After
the whole poll, the outbox records are produced and acknowledged, and only then are the
offsets committed (by the runner). A redelivered record finds its dedupe marker and
re-publishes its stored outbox (same event ids) instead of doing anything twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer
from pydantic import ValidationError

from consumers.deadletter import deadletter_record
from consumers.runner import Record
from consumers.threading import Placed, place
from router.codec import CONTENT_TYPE_HEADER, decode_event, encode_event
from router.errors import InvalidEvent, SwitchboardError
from router.events import CloudEvent, EventType, Interaction, SlaClock, Ticket
from router.ids import derived_id
from router.kafka import send_and_wait_all
from router.observability import Telemetry
from router.state import Commit, OutRecord, RedisThreadStore
from router.topics import Topic, TopicNames
from rules import Decision, RuleSet

SOURCE = "/switchboard/router"
TRIGGERS = {"new": "ticket.created", "join": "message.received", "reopen": "ticket.reopened"}
SLA_TARGETS = ("first_response", "resolution")
MAX_CONFLICT_RETRIES = 10
log = structlog.get_logger("switchboard.router")


class RoutingHandler:
    name = "router"

    def __init__(
        self,
        store: RedisThreadStore,
        producer: AIOKafkaProducer,
        names: TopicNames,
        rules: Callable[[], RuleSet],
        *,
        reopen_window: timedelta,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._store = store
        self._producer = producer
        self._names = names
        self._rules = rules
        self._reopen_window = reopen_window
        self._telemetry = telemetry

    async def tick(self) -> None:
        return None

    async def handle(self, records: list[Record]) -> None:
        outputs: list[OutRecord] = []
        published: dict[str, list[str]] = {}
        in_batch: set[str] = set()
        for record in records:
            try:
                customer_id, event_id, outs = await self._one(record)
            except SwitchboardError as exc:
                if exc.retriable:
                    raise
                outputs.append(deadletter_record(record, self.name, exc))
                self._count("deadlettered")
                continue
            except Exception as exc:  # a bug must not stop the line: park the record
                log.exception("routing_failed", offset=record.offset, partition=record.partition)
                outputs.append(deadletter_record(record, self.name, exc))
                self._count("deadlettered")
                continue
            if outs and event_id not in in_batch:  # a copy within one poll publishes once
                in_batch.add(event_id)
                outputs.extend(outs)
                published.setdefault(customer_id, []).append(event_id)
        await send_and_wait_all(
            self._producer,
            [(self._names(o.topic), o.key.encode(), o.value, list(o.headers)) for o in outputs],
        )
        for customer_id, event_ids in published.items():
            await self._store.clear_outbox(customer_id, event_ids)

    def _count(self, outcome: str) -> None:
        if self._telemetry:
            self._telemetry.records.labels(self.name, outcome).inc()

    async def _one(self, record: Record) -> tuple[str, str, list[OutRecord]]:
        event = decode_interaction_event(record.value)
        interaction = parse_interaction(event)
        identities = interaction.customer.identities() or [(record.key or b"").decode()]
        if not identities[0]:
            raise InvalidEvent("interaction has no customer identity and the record no key")
        customer_id = await self._store.resolve_customer(identities)
        refs = [r for r in (interaction.thread.in_reply_to, *interaction.thread.references) if r]
        at = event.time or datetime.fromtimestamp(record.timestamp / 1000, UTC)
        for _ in range(MAX_CONFLICT_RETRIES):
            view = await self._store.view(customer_id, event.id, refs)
            if view.done:
                self._count("duplicate")
                return customer_id, event.id, view.outbox or []
            placed = place(
                interaction,
                view.ticket,
                event_id=event.id,
                customer_id=customer_id,
                at=at,
                reopen_window=self._reopen_window,
            )
            outputs, ticket = self._route(event, interaction, placed, at)
            result = await self._store.commit(
                Commit(
                    customer_id=customer_id,
                    event_id=event.id,
                    ticket=ticket,
                    expected_version=view.ticket_version if placed.kind != "new" else 0,
                    outbox=outputs,
                    message_ids=[interaction.thread.message_id]
                    if ticket and interaction.thread.message_id
                    else [],
                    open_ticket=ticket.id if ticket else None,
                )
            )
            if result == "OK":
                self._count(placed.kind)
                log.info(
                    "routed",
                    placement=placed.kind,
                    ticket_id=ticket.id if ticket else None,
                    customer_id=customer_id,
                    event_id=event.id,
                    queue=ticket.queue if ticket else None,
                )
                return customer_id, event.id, outputs
        raise InvalidEvent(f"gave up after {MAX_CONFLICT_RETRIES} concurrent-update conflicts")

    def _route(
        self, event: CloudEvent, interaction: Interaction, placed: Placed, at: datetime
    ) -> tuple[list[OutRecord], Ticket | None]:
        if placed.ticket is None:
            return [], None
        rules = self._rules()
        trigger = TRIGGERS[placed.kind]
        decision = rules.evaluate(facts(interaction, placed.ticket), trigger=trigger, now=at)
        ticket = apply_decision(placed.ticket, decision, rules, fill_defaults=placed.kind == "new")
        out = LifecycleOutputs(event.id, ticket, at)
        message = interaction.model_dump(mode="json", exclude_none=True)
        message["event_id"] = event.id
        if placed.kind == "new":
            out.add(EventType.TICKET_CREATED, interaction=message)
        elif placed.kind == "reopen":
            out.add(EventType.TICKET_REOPENED, interaction=message, reason=placed.reason)
        else:
            out.add(EventType.TICKET_MESSAGE_ADDED, interaction=message)
        if placed.kind == "new" or decision.matched:
            out.add(EventType.TICKET_ROUTED, **routed_data(decision))
        if decision.auto_reply:
            out.add(EventType.TICKET_NOTIFICATION, template=decision.auto_reply, kind="auto_reply")
        for target in decision.notify or ():
            out.add(EventType.TICKET_NOTIFICATION, template=target, kind="notify")
        out.snapshot()
        return out.records, ticket


class LifecycleOutputs:
    """Builds the lifecycle records of one input event, each with a deterministic id."""

    def __init__(self, cause_id: str, ticket: Ticket, at: datetime) -> None:
        self.cause_id = cause_id
        self.ticket = ticket
        self.at = at
        self.records: list[OutRecord] = []
        self._snapshot = ticket.model_dump(mode="json")

    def add(self, etype: EventType, **data: Any) -> None:
        seq = str(len(self.records))
        event = CloudEvent(
            id=derived_id(self.cause_id, etype.value, seq),
            source=SOURCE,
            type=etype,
            subject=self.ticket.id,
            time=self.at,
            data={"ticket": self._snapshot, **data},
        )
        self.records.append(
            OutRecord(Topic.TICKETS, self.ticket.id, encode_event(event), (CONTENT_TYPE_HEADER,))
        )

    def snapshot(self) -> None:
        event = CloudEvent(
            id=derived_id(self.cause_id, EventType.TICKET_SNAPSHOT.value),
            source=SOURCE,
            type=EventType.TICKET_SNAPSHOT,
            subject=self.ticket.id,
            time=self.at,
            data={"ticket": self._snapshot},
        )
        self.records.append(
            OutRecord(
                Topic.TICKET_STATE, self.ticket.id, encode_event(event), (CONTENT_TYPE_HEADER,)
            )
        )


def decode_interaction_event(raw: bytes | None) -> CloudEvent:
    event = decode_event(raw)
    if event.type != EventType.INTERACTION_RECEIVED:
        raise InvalidEvent(f"unexpected event type {event.type!r} on the inbound topic")
    return event


def parse_interaction(event: CloudEvent) -> Interaction:
    try:
        return Interaction.model_validate(event.data or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        path = "/data/" + "/".join(str(p) for p in err["loc"])
        raise InvalidEvent(f"invalid interaction: {path}: {err['msg']}") from None


def facts(interaction: Interaction, ticket: Ticket) -> dict[str, Any]:
    """The view of an event the rules see (contract section 9 fields)."""
    customer = interaction.customer.model_dump(exclude_none=True)
    customer["id"] = ticket.customer_id
    return {
        "channel": interaction.channel,
        "inbox": interaction.inbox,
        "subject": interaction.subject,
        "text": interaction.text,
        "language": interaction.language,
        "customer": customer,
        "ticket": {
            "queue": ticket.queue,
            "priority": ticket.priority,
            "tags": list(ticket.tags),
            "status": ticket.status,
            "contacts": ticket.contacts,
            "reopen_count": ticket.reopen_count,
            "channel": ticket.channel,
        },
        "metadata": interaction.metadata,
    }


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
        if previous and previous.met_at:
            clocks[target] = previous
            continue
        due = policy.due(target, ticket.priority, start)
        if due is not None:
            clocks[target] = SlaClock(due=due)
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
