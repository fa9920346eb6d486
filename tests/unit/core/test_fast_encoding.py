"""The router's fast paths write exactly what the slow, obvious code wrote: the same ids
(UUIDv5) and the same record bytes (the pydantic CloudEvent, dumped). A consumer that
dedupes by id, or a reader that parses the bytes, sees no difference."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers.domain.outputs import SOURCE, LifecycleOutputs
from router.codec import TYPE_HEADER, decode_event, encode_event
from router.events import CloudEvent, SlaClock, Ticket
from router.ids import NAMESPACE, derived_id, event_id, ticket_id
from router.topics import Topic
from router.vocabulary import EventType

pytestmark = pytest.mark.unit

AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@given(st.text(), st.text())
def test_event_ids_are_uuid5(source: str, provider_id: str) -> None:
    assert event_id(source, provider_id) == str(uuid.uuid5(NAMESPACE, f"{source}\x1f{provider_id}"))


@given(st.text(min_size=1), st.lists(st.text(), max_size=4))
def test_derived_and_ticket_ids_are_uuid5(parent: str, parts: list[str]) -> None:
    assert derived_id(parent, *parts) == str(uuid.uuid5(NAMESPACE, "\x1f".join((parent, *parts))))
    assert ticket_id(parent) == "T-" + uuid.uuid5(NAMESPACE, f"ticket\x1f{parent}").hex[:16]


def ticket(**changes: object) -> Ticket:
    fields: dict[str, object] = {
        "id": "T-1",
        "channel": "email",
        "customer_id": "C-1",
        "created_at": AT,
        "updated_at": AT + timedelta(seconds=1.5),
        "subject": "Rechnung – Frage",
        "tags": ["billing", "vip"],
        "sla": {"first_response": SlaClock(due=AT + timedelta(hours=1), warned=True)},
    }
    return Ticket.model_validate({**fields, **changes})


# timing is no part of the check: a loaded machine had failed it on generation speed
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([UTC, timezone(timedelta(hours=2))]),
    st.dictionaries(st.sampled_from(["reason", "agent_id", "score"]), st.none() | st.text()),
)
def test_lifecycle_records_are_the_cloudevents_bytes(tz: timezone, data: dict[str, object]) -> None:
    at = AT.astimezone(tz)
    snapshot = ticket(queue=None, assignee="a1")
    out = LifecycleOutputs("cause-1", snapshot, at)
    out.add(EventType.TICKET_ESCALATED, **data)
    out.snapshot()
    escalated, state = out.records
    expected = CloudEvent(
        id=derived_id("cause-1", EventType.TICKET_ESCALATED.value, "0"),
        source=SOURCE,
        type=EventType.TICKET_ESCALATED,
        subject="T-1",
        time=at,
        data={"ticket": snapshot.model_dump(mode="json"), **data},
    )
    assert escalated.value == encode_event(expected)
    assert (escalated.topic, state.topic) == (Topic.TICKETS, Topic.TICKET_STATE)
    assert dict(escalated.headers)[TYPE_HEADER] == EventType.TICKET_ESCALATED.value.encode()
    assert decode_event(state.value).data == {
        "ticket": orjson.loads(escalated.value)["data"]["ticket"]
    }
