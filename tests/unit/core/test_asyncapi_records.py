"""The AsyncAPI document against real records: what the router, the timers, the metrics
and the dead-letter path write is validated against the message of its topic (payload
and headers), picked by its type header (``switchboard_type``) where the topic has one per type."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import orjson
import pytest
from aiokafka import ConsumerRecord
from jsonschema import Draft202012Validator

from consumers.domain.assignment import assigned, queued
from consumers.domain.escalation import accept_timeout, fire
from consumers.domain.lifecycle import apply_action
from consumers.domain.outputs import Change
from consumers.outbox import commit_for
from consumers.routing import RoutingHandler
from consumers.state.agents import AgentStore
from consumers.state.memory import InMemoryThreadStore
from router.actions import (
    AgentReplied,
    FeedbackCsat,
    NoteAdded,
    TicketClosed,
    TicketPostponed,
    TicketReopened,
    TicketResolved,
    TicketTransferred,
)
from router.app.asyncapi import LIFECYCLE, build
from router.codec import CONTENT_TYPE_HEADER, JSON_HEADER, TYPE_HEADER, dumps, encode_event
from router.events import (
    CloudEvent,
    Customer,
    Interaction,
    MetricRecord,
    SlaClock,
    ThreadRef,
    Ticket,
    Window,
)
from router.ids import event_id
from router.kafka import deadletter_parts
from router.limits import Limits
from router.topics import OutRecord, Topic, TopicNames
from router.vocabulary import EventType
from rules import loads_ruleset

pytestmark = pytest.mark.unit

NAMES = TopicNames("switchboard")
DOC = build()
AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
DUE = AT + timedelta(hours=4)
RULES = loads_ruleset(
    """
version: 1
queues:
  general: {}
  billing: {skills: [billing]}
sla:
  standard:
    first_response: {normal: 4h}
    warn_before: 15m
defaults: {queue: general, priority: normal, sla: standard}
assignment: {accept_timeout: 2m}
rules:
  - name: billing
    if: {text: {contains: [invoice]}}
    then: {queue: billing, auto_reply: ack, notify: [billing-lead]}
escalations:
  - name: late
    on: sla.first_response.breached
    then: {priority: urgent}
  - name: nobody accepts
    on: assignment.timeout
    then: {priority: high}
"""
)


def ticket(**kw: object) -> Ticket:
    base: dict[str, object] = {
        "id": "T-1",
        "channel": "email",
        "channels_seen": ["email"],
        "customer_id": "C-1",
        "contacts": 1,
        "created_at": AT,
        "updated_at": AT,
        "last_customer_at": AT,
        "queue": "general",
        "sla_policy": "standard",
        "sla": {"first_response": SlaClock(due=DUE, warn_at=DUE - timedelta(minutes=15))},
    }
    return Ticket.model_validate({**base, **kw})


def records_of(change: Change | None) -> list[OutRecord]:
    assert change is not None
    return commit_for("C-1", "cause-1", change, 1, AT).outbox


class NoAgents:
    async def presence(self, *_: object) -> None:
        raise AssertionError("no presence actions here")


def inbound(offset: int, text: str) -> ConsumerRecord[bytes, bytes]:
    """An email from Alice as the ingress writes it to the inbound topic."""
    message_id = f"<{offset}@example.com>"
    data = Interaction(
        channel="email",
        customer=Customer(email="alice@example.com"),
        inbox="support@example.com",
        thread=ThreadRef(message_id=message_id),
        subject="hello",
        text=text,
    )
    event = CloudEvent(
        id=event_id("/v1/channels/email", message_id),
        source="/v1/channels/email",
        type=EventType.INTERACTION_RECEIVED,
        subject=data.sender_key(),
        time=AT + timedelta(minutes=offset),
        data=data.model_dump(mode="json", exclude_none=True),
    )
    key, value = data.sender_key().encode(), encode_event(event)
    return ConsumerRecord(
        NAMES(Topic.INBOUND), 0, offset, 0, 0, key, value, None, len(key), len(value),
        (CONTENT_TYPE_HEADER,),
    )  # fmt: skip


async def routed_records() -> list[OutRecord]:
    """Two emails through the routing handler: created, routed, the notifications its
    rule asks for, then message_added."""
    published: list[OutRecord] = []

    async def send(records: list[OutRecord]) -> None:
        published.extend(records)

    handler = RoutingHandler(
        InMemoryThreadStore(),
        send,
        NAMES,
        lambda: RULES,
        agents=cast(AgentStore, NoAgents()),
        reopen_window=timedelta(days=7),
    )
    await handler.handle([inbound(0, "my invoice is wrong")])
    await handler.handle([inbound(1, "any news?")])
    return published


def domain_records() -> list[OutRecord]:
    """What helpdesk actions and the timers write, through the consumers' own encoder."""
    resolved = ticket(status="resolved", resolved_at=AT)
    later = AT + timedelta(minutes=5)
    changes = [
        apply_action(
            ticket(), AgentReplied(ticket_id="T-1", agent_id="a1", public=True), later, RULES
        ),
        apply_action(  # a second public reply in a row: no customer waited for it
            ticket(agent_replies=1, last_reply_at=AT),
            AgentReplied(ticket_id="T-1", agent_id="a1", public=True),
            later,
            RULES,
        ),
        apply_action(ticket(), NoteAdded(ticket_id="T-1", agent_id="a1", text="hi"), AT, RULES),
        apply_action(  # an internal reply: a note with the time it took
            ticket(),
            AgentReplied(ticket_id="T-1", agent_id="a1", public=False, handle_seconds=300),
            AT,
            RULES,
        ),
        apply_action(ticket(), TicketResolved(ticket_id="T-1", agent_id="a1"), AT, RULES),
        apply_action(resolved, TicketReopened(ticket_id="T-1", agent_id="a1"), later, RULES),
        apply_action(ticket(), TicketClosed(ticket_id="T-1"), AT, RULES),
        apply_action(ticket(), TicketTransferred(ticket_id="T-1", queue="billing"), AT, RULES),
        apply_action(ticket(), TicketPostponed(ticket_id="T-1", until=DUE), AT, RULES),
        apply_action(ticket(assignee="a1"), FeedbackCsat(ticket_id="T-1", score=5), AT, RULES),
        fire(ticket(), "first_response", "warning", RULES, DUE - timedelta(minutes=10)),
        fire(ticket(), "first_response", "breached", RULES, DUE + timedelta(seconds=1)),
        accept_timeout(ticket(assignee="a1", assigned_at=AT), RULES, later),
        assigned(ticket(), "a2", "round_robin", AT),
        queued(ticket(), AT),
    ]
    return [r for change in changes for r in records_of(change)]


def metric_record() -> OutRecord:
    """A metric record as the metrics role writes it (definition hashes left out unset)."""
    record = MetricRecord(
        metric="sla",
        window=Window(start=AT, end=AT + timedelta(minutes=5)),
        dimensions={"queue": "general"},
        counters={"met": 1},
        values={"met_ratio": 1.0},
        revision=1,
        emitted_at=AT,
    )
    value = dumps(record.model_dump(mode="json", exclude={"definition_hash", "definition_hashes"}))
    return OutRecord(Topic.METRICS_SLA, "sla/x", value, (JSON_HEADER,))


def channel(topic: Topic) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        c for c in DOC["channels"].values() if c["address"] == NAMES(topic)
    ]
    assert len(found) == 1
    return found[0]


def message_for(topic: Topic, headers: dict[str, str], value: bytes | None) -> dict[str, Any]:
    """The channel's message for a record: by its type header, else the one whose payload
    fits (a tombstone or a snapshot on ticket-state)."""
    messages: list[dict[str, Any]] = list(channel(topic)["messages"].values())
    if TYPE_HEADER in headers:
        [found] = [m for m in messages if m["name"] == headers[TYPE_HEADER]]
        return found
    fitting = [m for m in messages if not list(errors(m["payload"], parsed(value)))]
    assert fitting, f"no message of {topic} fits"
    return fitting[0]


def parsed(value: bytes | None) -> Any:
    return None if value is None else orjson.loads(value)


def errors(schema: dict[str, Any], instance: Any) -> list[str]:
    rooted = {**schema, "components": DOC["components"]}  # "#/components/..." resolves
    return [e.message for e in Draft202012Validator(rooted).iter_errors(instance)]


def assert_documented(record: OutRecord) -> None:
    headers = {k: v.decode() for k, v in record.headers}
    message = message_for(record.topic, headers, record.value)
    assert errors(message["headers"], headers) == [], (record.topic, headers)
    value = parsed(record.value)
    assert errors(message["payload"], value) == [], (record.topic, value)
    if record.topic is Topic.TICKETS:  # every data field the code writes is documented
        data = message["payload"]["allOf"][1]["properties"]["data"]
        assert set(value["data"]) <= set(data["properties"]), message["name"]


async def test_every_record_the_service_writes_matches_its_message() -> None:
    records = [*await routed_records(), *domain_records(), metric_record()]
    for record in records:
        assert_documented(record)
    written = {dict(r.headers).get(TYPE_HEADER, b"").decode() for r in records}
    assert set(LIFECYCLE) - written == set()


def test_a_lifecycle_message_requires_what_every_record_of_its_type_carries() -> None:
    sla = message_for(Topic.TICKETS, {TYPE_HEADER: EventType.TICKET_SLA_BREACHED}, None)
    data = sla["payload"]["allOf"][1]["properties"]["data"]
    assert {"ticket", "target", "policy", "due", "queue", "priority"} <= set(data["required"])
    escalated = message_for(Topic.TICKETS, {TYPE_HEADER: EventType.TICKET_ESCALATED}, None)
    missing = {"type": EventType.TICKET_ESCALATED.value, "data": {"ticket": {}}}
    assert errors(escalated["payload"], missing) != []


def test_tickets_never_carry_a_snapshot_and_ticket_state_takes_tombstones() -> None:
    tickets = channel(Topic.TICKETS)["messages"].values()
    assert EventType.TICKET_SNAPSHOT.value not in {m["name"] for m in tickets}
    for m in tickets:
        assert EventType.TICKET_SNAPSHOT.value not in str(m["payload"])
    # switchboard forget writes a null value with no headers
    assert_documented(OutRecord(Topic.TICKET_STATE, "T-1", None, ()))
    assert "tombstone" in channel(Topic.TICKET_STATE)["description"]
    for topic in (Topic.METRICS_SLA, Topic.METRICS_WORKLOAD):
        [metric] = channel(topic)["messages"].values()
        assert errors(metric["payload"], None) != []  # no tombstones there


@pytest.mark.parametrize("size", [10, 100_000], ids=["whole", "cut"])
def test_a_dead_letter_carries_the_documented_headers(size: int) -> None:
    original = b"x" * size
    record = ConsumerRecord(
        NAMES(Topic.INBOUND), 3, 42, 0, 0, b"k", original, None, 1, size,
        (CONTENT_TYPE_HEADER,),
    )  # fmt: skip
    limits = Limits(record_bytes=2000)  # values over 1000 bytes are cut
    value, headers = deadletter_parts(
        original, record, "router", "InvalidEvent: bad", limits=limits
    )
    [message] = channel(Topic.DEADLETTER)["messages"].values()
    as_text = {k: v.decode() for k, v in headers}
    assert errors(message["headers"], as_text) == []
    declared = set(message["headers"]["properties"])
    assert {k for k in as_text if k.startswith("dlq.")} <= declared
    assert ("dlq.truncated" in as_text) is (size > 1000)
    assert value is not None
    # a cut value is no JSON any more: typed as bytes, the original's type kept beside
    types = [v.decode() for k, v in headers if k == "content-type"]
    cut = size > 1000
    assert types == (["application/octet-stream"] if cut else [CONTENT_TYPE_HEADER[1].decode()])
    assert as_text.get("dlq.original_content_type") == (
        CONTENT_TYPE_HEADER[1].decode() if cut else None
    )


def test_operations_are_switchboards_send_where_it_writes_and_receive_where_it_reads() -> None:
    ops = DOC["operations"]
    sent = {
        op["channel"]["$ref"].rsplit("/", 1)[1] for op in ops.values() if op["action"] == "send"
    }
    read = {
        op["channel"]["$ref"].rsplit("/", 1)[1] for op in ops.values() if op["action"] == "receive"
    }
    assert sent == set(DOC["channels"])
    assert read == {"inbound", "actions", "tickets"}
