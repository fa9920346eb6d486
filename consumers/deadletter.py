"""Poison records: the original bytes to the dead-letter topic, with where and why."""

from __future__ import annotations

from consumers.runner import Record
from router.kafka import deadletter_headers
from router.state import OutRecord
from router.topics import Topic


def deadletter_record(record: Record, consumer: str, error: BaseException) -> OutRecord:
    key = (record.key or b"").decode(errors="replace")
    return OutRecord(
        Topic.DEADLETTER, key, record.value, tuple(deadletter_headers(record, consumer, error))
    )
