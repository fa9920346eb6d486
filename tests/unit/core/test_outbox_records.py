"""An outbox holds the records a cause publishes, byte for byte, across a crash."""

from __future__ import annotations

import orjson
import pytest

from router.topics import OutRecord, Topic, pack_records, unpack_records

pytestmark = pytest.mark.unit

RECORDS = [
    OutRecord(
        Topic.TICKETS,
        "T-1",
        b'{"id":"e1","data":{"text":"line one\\nline \\"two\\"","name":"J\xc3\xbcrgen"}}',
        (("content-type", b"application/cloudevents+json"), ("ce_type", b"x.created")),
    ),
    OutRecord(Topic.TICKET_STATE, "T-1", b'{"id":"e2"}\n', ()),
    OutRecord(Topic.TICKETS, "T-\u00e9", None, (("ce_type", b"x.routed"),)),
    OutRecord(Topic.TICKETS, "T-2", b"", ()),
]


def test_records_come_back_byte_for_byte() -> None:
    assert unpack_records(pack_records(RECORDS)) == RECORDS
    assert unpack_records(pack_records([])) == []


def test_an_outbox_written_in_the_earlier_form_is_still_read() -> None:
    earlier = orjson.dumps(  # values as JSON strings: no raw line break
        [
            [r.topic.value, r.key, text(r.value), [[k, v.decode()] for k, v in r.headers]]
            for r in RECORDS
        ]
    )

    assert unpack_records(earlier) == RECORDS


def text(value: bytes | None) -> str | None:
    return None if value is None else value.decode()
