"""Poison records: the original bytes to the dead-letter topic, with where and why.

The dead-letter record must always be writable: an original too large for it is kept as
a prefix, with its size and SHA-256 in the headers."""

from __future__ import annotations

from consumers.runner import Record
from router.kafka import deadletter_parts
from router.limits import Limits
from router.topics import OutRecord, Topic


def deadletter_record(
    record: Record, consumer: str, error: BaseException, limits: Limits | None = None
) -> OutRecord:
    key = (record.key or b"").decode(errors="replace")[:1024]
    value, headers = deadletter_parts(record.value, record, consumer, error, limits=limits)
    return OutRecord(Topic.DEADLETTER, key, value, tuple(headers))
