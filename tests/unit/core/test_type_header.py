"""The header that names a ``tickets`` record's type: a structured-mode record carries no
``ce_*`` header (CloudEvents SDKs that detect the mode, such as the Python SDK's
``from_kafka``, read any ``ce_`` header as binary mode and refuse the record), and the
readers that filter on the header still take records written before it was renamed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiokafka import ConsumerRecord

from consumers.domain.outputs import LifecycleOutputs
from consumers.ticket_records import superseded_dropped, ticket_of
from router.codec import (
    BINARY_PREFIX,
    CONTENT_TYPE_HEADER,
    LEGACY_TYPE_HEADER,
    TYPE_HEADER,
    type_from_headers,
)
from router.errors import InvalidEvent
from router.limits import Limits
from router.topics import OutRecord, Topic
from router.vocabulary import EventType
from tests.unit.core.test_binary_mode import binary_headers, record
from tests.unit.core.test_fast_encoding import ticket

pytestmark = pytest.mark.unit

AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
LIMITS = Limits()


def lifecycle_records(subject: str = "first") -> list[OutRecord]:
    out = LifecycleOutputs(f"cause-{subject}", ticket(subject=subject), AT)
    out.add(EventType.TICKET_SLA_BREACHED, target="first_response")
    out.add(EventType.TICKET_ESCALATED, reason="breach")
    return out.records


def as_written_before(record: OutRecord) -> OutRecord:
    """The record as an older version wrote it: its type in a ``ce_type`` header."""
    headers = [(LEGACY_TYPE_HEADER if k == TYPE_HEADER else k, v) for k, v in record.headers]
    return OutRecord(record.topic, record.key, record.value, tuple(headers))


def consumed(out: OutRecord, offset: int = 0) -> ConsumerRecord[bytes, bytes]:
    return record(Topic.TICKETS, out.value, list(out.headers), out.key.encode(), offset)


def test_a_structured_tickets_record_has_no_ce_header_and_names_its_type() -> None:
    records = lifecycle_records()
    for written in records:
        names = [name for name, _ in written.headers]
        assert not [n for n in names if n.lower().startswith(BINARY_PREFIX)], names
        assert CONTENT_TYPE_HEADER in written.headers  # structured mode, by its content type
    assert [dict(r.headers)[TYPE_HEADER] for r in records] == [
        EventType.TICKET_SLA_BREACHED.value.encode(),
        EventType.TICKET_ESCALATED.value.encode(),
    ]


def test_timers_pass_over_a_superseded_record_whichever_header_names_its_type() -> None:
    older = as_written_before(lifecycle_records("first")[0])
    newer = lifecycle_records("second")[1]
    kept = superseded_dropped([consumed(older, 0), consumed(newer, 1)], LIMITS)
    assert [r.offset for r in kept] == [1]
    assert ticket_of(kept[0], LIMITS).subject == "second"


def test_an_older_record_with_ce_type_or_no_type_header_is_still_read() -> None:
    written = lifecycle_records()[1]
    legacy = consumed(as_written_before(written))
    bare = record(Topic.TICKETS, written.value, [CONTENT_TYPE_HEADER], b"T-1")
    assert type_from_headers(legacy.headers) == EventType.TICKET_ESCALATED.value
    assert type_from_headers(bare.headers) is None
    assert ticket_of(legacy, LIMITS).subject == "first"
    assert ticket_of(bare, LIMITS).subject == "first"


def test_a_legacy_header_naming_no_lifecycle_type_is_still_refused() -> None:
    written = as_written_before(lifecycle_records()[0])
    headers = [(k, b"x.unknown" if k == LEGACY_TYPE_HEADER else v) for k, v in written.headers]
    with pytest.raises(InvalidEvent, match=r"unknown lifecycle type 'x\.unknown'"):
        ticket_of(record(Topic.TICKETS, written.value, headers, b"T-1"), LIMITS)


def test_a_binary_mode_ce_type_is_the_events_attribute_not_a_type_header() -> None:
    assert type_from_headers(binary_headers(EventType.TICKET_ESCALATED.value)) is None
