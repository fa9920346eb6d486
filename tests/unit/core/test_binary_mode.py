"""CloudEvents in binary mode on Kafka (attributes in ``ce_*`` headers, the value is the
data), as the Kafka protocol binding asks receivers to accept: a helpdesk that speaks
Kafka may write its actions to ``switchboard.actions`` that way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import orjson
import pytest
from aiokafka import ConsumerRecord

from consumers.state.memory import InMemoryThreadStore
from consumers.work import parse_action_record, parse_record
from router import codec
from router.actions import TicketResolved
from router.codec import CONTENT_TYPE_HEADER, decode_record, encode_event, is_binary
from router.errors import InvalidEvent
from router.events import CloudEvent, Customer, Interaction, ThreadRef
from router.topics import OutRecord, Topic
from router.vocabulary import EventType
from tests.unit.core.test_routing_handler import AT, NAMES, Broker, handler

pytestmark = pytest.mark.unit

Headers = list[tuple[str, bytes]]


def binary_headers(type_: str, id_: str = "desk-1", **extra: str) -> Headers:
    attributes = {
        "specversion": "1.0",
        "id": id_,
        "source": "/helpdesk",
        "type": type_,
        "time": "2026-11-23T10:05:00Z",
        **extra,
    }
    return [(f"ce_{k}", v.encode()) for k, v in attributes.items()] + [
        ("content-type", b"application/json")
    ]


def record(
    topic: Topic, value: bytes | None, headers: Headers, key: bytes = b"k", offset: int = 0
) -> ConsumerRecord[bytes, bytes]:
    size = len(value or b"")
    stamp = int(AT.timestamp() * 1000)
    return ConsumerRecord(
        NAMES(topic), 0, offset, stamp, 0, key, value, None, len(key), size, tuple(headers)
    )


def without(headers: Headers, name: str) -> Headers:
    return [(k, v) for k, v in headers if k != name]


# --- the codec ----------------------------------------------------------------------------


def test_a_binary_record_becomes_the_same_cloudevent_as_its_structured_twin() -> None:
    headers = binary_headers(
        "switchboard.ticket.resolved", subject="T-1", traceparent="00-abc-def-01"
    )
    event = decode_record(b'{"ticket_id": "T-1", "agent_id": "a-1"}', headers)
    assert event == CloudEvent(
        id="desk-1",
        source="/helpdesk",
        type="switchboard.ticket.resolved",
        subject="T-1",
        time=datetime(2026, 11, 23, 10, 5, tzinfo=UTC),
        data={"ticket_id": "T-1", "agent_id": "a-1"},
        traceparent="00-abc-def-01",  # extension attributes are kept
    )
    no_content_type = without(headers, "content-type")  # JSON is the default
    assert decode_record(b'{"ticket_id": "T-1"}', no_content_type).data == {"ticket_id": "T-1"}
    assert decode_record(None, headers).data is None  # an event without data


@pytest.mark.parametrize(
    ("headers", "binary"),
    [
        ([("content-type", b"application/json")], False),  # no ce_specversion
        ([("ce_type", b"t"), CONTENT_TYPE_HEADER], False),  # as Switchboard writes
        ([("ce_specversion", b"1.0"), CONTENT_TYPE_HEADER], False),
        ([("ce_specversion", b"1.0"), ("Content-Type", b"application/cloudevents+json")], False),
        ([("CE_SPECVERSION", b"1.0")], False),  # header names are case-sensitive
        ([("ce_specversion", b"1.0")], True),
        ([("ce_specversion", b"1.0"), ("content-type", b"application/json")], True),
    ],
)
def test_binary_mode_is_recognised_by_its_headers(headers: Headers, binary: bool) -> None:
    assert is_binary(headers) is binary


def test_structured_records_still_decode_from_their_value() -> None:
    event = CloudEvent(id="1", source="/x", type="t", data={"a": 1})
    headers: Headers = [CONTENT_TYPE_HEADER, ("ce_type", b"t")]
    assert decode_record(encode_event(event), headers) == event
    assert decode_record(encode_event(event), []) == event


def test_a_structured_event_without_specversion_is_no_cloudevent() -> None:
    """CloudEvents 1.0 requires the attribute; a record without it is dead-lettered on
    every topic, the router's own fast path for inbound records included."""
    data = {"channel": "webform", "customer": {"email": "a@example.com"}, "text": "hi"}
    envelope = {"id": "e-1", "source": "/x", "type": EventType.INTERACTION_RECEIVED}
    value = orjson.dumps({**envelope, "data": data})
    with pytest.raises(InvalidEvent, match="/specversion: Field required"):
        decode_record(value, [])
    with pytest.raises(InvalidEvent, match="/specversion: Field required"):
        parse_record(record(Topic.INBOUND, value, [CONTENT_TYPE_HEADER]))
    declared = orjson.dumps({"specversion": "1.0", **envelope, "data": data})
    assert parse_record(record(Topic.INBOUND, declared, [CONTENT_TYPE_HEADER])).event.id == "e-1"


def test_a_phone_that_is_not_e164_is_refused_with_its_path() -> None:
    """The ingress writes E.164; a producer writing to the topic directly must too."""
    data = {"channel": "sms", "customer": {"phone": "hello"}, "text": "hi"}
    kind = EventType.INTERACTION_RECEIVED
    event = {"specversion": "1.0", "id": "e-2", "source": "/x", "type": kind, "data": data}
    with pytest.raises(InvalidEvent, match="/data/customer/phone"):
        parse_record(record(Topic.INBOUND, orjson.dumps(event), [CONTENT_TYPE_HEADER]))


@pytest.mark.parametrize("missing", ["ce_id", "ce_source", "ce_type"])
def test_a_missing_attribute_is_named_by_its_header(missing: str) -> None:
    headers = without(binary_headers("switchboard.ticket.resolved"), missing)
    with pytest.raises(InvalidEvent, match=f"header {missing}: Field required") as caught:
        decode_record(b'{"ticket_id": "T-1"}', headers)
    assert caught.value.errors == [{"path": missing, "message": "Field required"}]


@pytest.mark.parametrize("written", ["CE_ID", "ce_ID", "Ce_Id"])
def test_an_attribute_header_not_in_lower_case_is_named_as_written(written: str) -> None:
    headers = [*without(binary_headers("t"), "ce_id"), (written, b"b1")]
    with pytest.raises(InvalidEvent, match=f"must be lower case \\(ce_\\*\\), not {written}"):
        decode_record(b"{}", headers)


@pytest.mark.parametrize(
    ("content_type", "value"),
    [(b"text/plain", b"resolved T-1"), (b"application/avro", b"\x00\x01")],
)
def test_data_that_is_not_json_is_refused_naming_its_content_type(
    content_type: bytes, value: bytes
) -> None:
    headers = [*without(binary_headers("t"), "content-type"), ("content-type", content_type)]
    with pytest.raises(InvalidEvent, match=f"content type '{content_type.decode()}' is not JSON"):
        decode_record(value, headers)


@pytest.mark.parametrize(
    ("value", "headers", "fragment"),
    [
        (b"{nope", binary_headers("t"), "data is not valid JSON"),
        (b"[1, 2]", binary_headers("t"), "/data: Input should be a valid dictionary"),
        (b"{}", binary_headers("t", time="yesterday"), "header ce_time"),
        (b"{}", [("ce_specversion", b"0.3"), *binary_headers("t")[1:]], "header ce_specversion"),
        (b"{}", [*binary_headers("t"), ("ce_id", b"again")], "header ce_id is repeated"),
        (b"{}", [*binary_headers("t"), ("ce_subject", b"\xff")], "ce_subject is not UTF-8"),
    ],
)
def test_other_bad_binary_records_say_what_is_wrong(
    value: bytes, headers: Headers, fragment: str
) -> None:
    with pytest.raises(InvalidEvent, match=fragment):
        decode_record(value, headers)


# --- the router ---------------------------------------------------------------------------


def interaction(email: str, text: str) -> Interaction:
    return Interaction(
        channel="email",
        customer=Customer(email=email),
        inbox="support@example.com",
        thread=ThreadRef(message_id=f"<1@{email}>"),
        subject="hello",
        text=text,
    )


def test_parse_functions_read_binary_records() -> None:
    data = interaction("alice@example.com", "hello")
    headers = binary_headers(EventType.INTERACTION_RECEIVED, "in-1")
    value = orjson.dumps(data.model_dump(mode="json", exclude_none=True))
    inbound = parse_record(record(Topic.INBOUND, value, headers))
    assert (inbound.event.id, inbound.interaction, inbound.identities) == (
        "in-1",
        data,
        ["email:alice@example.com"],
    )
    resolved = binary_headers("switchboard.ticket.resolved", "act-1")
    work = parse_action_record(record(Topic.ACTIONS, b'{"ticket_id": "T-1"}', resolved))
    assert isinstance(work.action, TicketResolved)
    assert (work.event.id, work.ticket_id, work.at) == ("act-1", "T-1", AT + timedelta(minutes=5))
    with pytest.raises(InvalidEvent, match="header ce_id"):
        parse_action_record(
            record(Topic.ACTIONS, b'{"ticket_id": "T-1"}', without(resolved, "ce_id"))
        )


def types(records: list[OutRecord]) -> list[str]:
    return [cast(str, orjson.loads(r.value or b"{}").get("type", "")) for r in records]


async def test_the_router_routes_binary_messages_and_actions_and_deadletters_the_rest() -> None:
    store, broker = InMemoryThreadStore(), Broker()
    routing = handler(store, broker)
    data = interaction("alice@example.com", "my order is late")
    value = orjson.dumps(data.model_dump(mode="json", exclude_none=True))
    message = binary_headers(EventType.INTERACTION_RECEIVED, "in-1")
    await routing.handle([record(Topic.INBOUND, value, message, key=b"email:alice@example.com")])
    created = broker.published
    assert types(created)[:2] == ["switchboard.ticket.created", "switchboard.ticket.routed"]
    snapshot: dict[str, Any] = orjson.loads(created[-1].value or b"{}")
    ticket_id = snapshot["data"]["ticket"]["id"]

    broker.published = []
    resolve = binary_headers("switchboard.ticket.resolved", "act-1", subject=ticket_id)
    body = orjson.dumps({"ticket_id": ticket_id, "agent_id": "a-1"})
    plain = [*without(resolve, "content-type"), ("content-type", b"text/plain")]
    await routing.handle(
        [
            record(Topic.ACTIONS, body, resolve, key=ticket_id.encode(), offset=1),
            record(Topic.ACTIONS, b"resolve it", plain, key=ticket_id.encode(), offset=2),
        ]
    )
    [dead] = [r for r in broker.published if r.topic is Topic.DEADLETTER]
    error = dict(dead.headers)["dlq.error"].decode()
    assert "content type 'text/plain' is not JSON" in error
    assert ("ce_id", b"act-1") in dead.headers  # the attributes stay with the original bytes
    lifecycle = [r for r in broker.published if r.topic is Topic.TICKETS]
    assert "switchboard.ticket.resolved" in types(lifecycle)


def test_a_time_written_to_kafka_far_ahead_of_its_record_is_the_records_time() -> None:
    """A future ``time`` would pin the ticket and its metrics ahead; an old one stands
    (history is imported through the inbound topic); within the clock skew it stands."""
    data = orjson.dumps(interaction("alice@example.com", "hello").model_dump(mode="json"))
    for claimed, at in (
        (AT + timedelta(hours=24), AT),
        (AT + timedelta(minutes=6), AT),
        (AT + timedelta(minutes=4), AT + timedelta(minutes=4)),
        (AT - timedelta(days=400), AT - timedelta(days=400)),
    ):
        when = claimed.isoformat()
        inbound = binary_headers(EventType.INTERACTION_RECEIVED, "in-1", time=when)
        assert parse_record(record(Topic.INBOUND, data, inbound)).at == at
        noted = binary_headers("switchboard.ticket.note_added", "act-1", time=when)
        note = b'{"ticket_id": "T-1", "text": "VIP"}'
        assert parse_action_record(record(Topic.ACTIONS, note, noted)).at == at


async def test_records_nested_too_deep_are_deadlettered_saying_so() -> None:
    store, broker = InMemoryThreadStore(), Broker()
    routing = handler(store, broker)
    deep = b"[" * 900 + b"]" * 900  # deeper than orjson writes: spliced in
    data = interaction("alice@example.com", "deep").model_dump(mode="json", exclude_none=True)
    message = orjson.dumps({**data, "metadata": {"a": "DEEP"}}).replace(b'"DEEP"', deep)
    upsert = orjson.dumps({"email": "alice@example.com", "attributes": {"a": "DEEP"}})
    upsert = upsert.replace(b'"DEEP"', deep)
    await routing.handle(
        [
            record(Topic.INBOUND, message, binary_headers(EventType.INTERACTION_RECEIVED, "i")),
            record(Topic.ACTIONS, upsert, binary_headers("switchboard.customer.upserted", "u")),
        ]
    )
    dead = [r for r in broker.published if r.topic is Topic.DEADLETTER]
    errors = [dict(r.headers)["dlq.error"].decode() for r in dead]
    assert len(errors) == 2
    assert all("nested deeper than 200 levels" in error for error in errors), errors


def test_a_wide_shallow_record_is_not_walked_for_its_depth(monkeypatch: pytest.MonkeyPatch) -> None:
    """A value with fewer brackets than the depth limit cannot nest past it: a
    helpdesk's binary-mode records, most of what the actions topic holds, are decoded
    without walking their data (a list of 500 items had cost 8.7 times the decode)."""

    def walked(*_: object) -> None:
        raise AssertionError("walked")

    monkeypatch.setattr(codec, "nested_too_deep", walked)
    wide = orjson.dumps({"ticket_id": "T-1", "text": "VIP", "tags": ["x"] * 500})
    noted = binary_headers("switchboard.ticket.note_added", "act-1")
    assert parse_action_record(record(Topic.ACTIONS, wide, noted)).ticket_id == "T-1"
