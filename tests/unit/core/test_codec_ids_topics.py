from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from router.codec import CONTENT_TYPE, decode_event, encode_event
from router.errors import InvalidEvent
from router.events import CloudEvent, Customer, Interaction, metric_key
from router.ids import derived_id, event_id, ticket_id
from router.topics import SPECS, Topic, TopicNames

pytestmark = pytest.mark.unit


def test_event_round_trips_in_structured_mode() -> None:
    event = CloudEvent(
        id="1",
        source="/x",
        type="switchboard.interaction.received",
        time=datetime(2026, 11, 22, 10, 0, tzinfo=UTC),
        data={"channel": "chat"},
        traceparent="00-abc",  # extension attributes survive
    )
    raw = encode_event(event)
    body = orjson.loads(raw)
    assert body["specversion"] == "1.0"
    assert body["time"] == "2026-11-22T10:00:00Z"
    assert body["traceparent"] == "00-abc"
    assert decode_event(raw) == event
    assert CONTENT_TYPE == "application/cloudevents+json; charset=utf-8"


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"{nope", "not a CloudEvent"),
        (b'{"id": "1", "source": "/x"}', "/type"),
        (b'{"id": "", "source": "/x", "type": "t"}', "/id"),
        (None, "tombstone"),
    ],
)
def test_anything_else_is_an_invalid_event_with_a_path(raw: bytes | None, fragment: str) -> None:
    with pytest.raises(InvalidEvent, match=fragment):
        decode_event(raw)


def test_a_null_extension_is_one_not_set() -> None:
    """The CloudEvents JSON format (3.1): a null attribute value is the attribute unset.
    A Kafka record's had been kept, and travelled on as ``null``."""
    raw = orjson.dumps(
        {
            "specversion": "1.0",
            "id": "C234-1234-1234",
            "source": "/mycontext",
            "type": "ticket.resolved",
            "subject": None,
            "datacontenttype": None,  # the conformance suite's validMinimalWithNullForOptional
            "comexampleextension1": "value",
            "unsetextension": None,
            "data": {"ticket_id": "T-1"},
        }
    )
    event = decode_event(raw)
    assert event.model_extra == {"comexampleextension1": "value"}
    assert event.subject is None
    assert event.datacontenttype == "application/json"
    assert b"unsetextension" not in encode_event(event)


def test_ids_are_deterministic_and_distinct() -> None:
    assert event_id("/email", "<a@b>") == event_id("/email", "<a@b>")
    assert event_id("/email", "<a@b>") != event_id("/sms", "<a@b>")
    assert derived_id("e1", "created") != derived_id("e1", "routed")
    assert ticket_id("e1") == ticket_id("e1")
    assert ticket_id("e1").startswith("T-")


def test_registry_names_every_contract_topic_with_compaction() -> None:
    names = TopicNames("switchboard")
    specs = names.all()
    assert set(specs) == {
        "switchboard.inbound",
        "switchboard.actions",
        "switchboard.tickets",
        "switchboard.ticket-state",
        "switchboard.metrics.sla",
        "switchboard.metrics.fcr",
        "switchboard.metrics.satisfaction",
        "switchboard.metrics.workload",
        "switchboard.deadletter",
    }
    compacted = {n for n, s in specs.items() if s.compacted}
    assert compacted == {n for n in specs if ".metrics." in n or n.endswith("ticket-state")}
    assert names.parse("switchboard.tickets") is Topic.TICKETS
    assert names.parse("other.tickets") is None
    assert len(SPECS) == len(Topic)


def test_sender_key_is_the_strongest_identity() -> None:
    both = Interaction(channel="sms", customer=Customer(email="A@X.io", phone="+15551234567"))
    assert both.sender_key() == "email:a@x.io"
    phone = Interaction(channel="sms", customer=Customer(phone="+15551234567"))
    assert phone.sender_key() == "phone:+15551234567"


def test_metric_key_sorts_dimensions() -> None:
    start = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    key = metric_key("sla", start, {"queue": "billing", "channel": "email"})
    assert key == "sla/2026-11-22T10:00:00Z/channel=email,queue=billing"


def test_a_record_built_with_a_naive_time_still_carries_an_rfc3339_time() -> None:
    """CloudEvents ``time`` is RFC 3339, which has no time without an offset: a naive time
    is taken as UTC, as ``encode_event`` takes it, not written bare."""
    from router.codec import encode_envelope

    naive = datetime(2026, 1, 1, 10, 0)
    for ticket_json in (None, b'{"id":"T-1"}'):
        value = encode_envelope(
            "e-1", "/s", "t", subject="T-1", time=naive, data={"at": naive}, ticket_json=ticket_json
        )
        event = orjson.loads(value)
        assert event["time"] == "2026-01-01T10:00:00Z"
        assert event["data"]["at"] == "2026-01-01T10:00:00Z"
