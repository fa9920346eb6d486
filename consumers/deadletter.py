"""Poison records: the original bytes to the dead-letter topic, with where and why.

The dead-letter record must always be writable: an original too large for it is kept as
a prefix, with its size and SHA-256 in the headers."""

from __future__ import annotations

import structlog
from pydantic import ValidationError

from consumers.runner import Record
from router.kafka import deadletter_parts
from router.limits import Limits
from router.observability import Telemetry
from router.topics import OutRecord, Topic

log = structlog.get_logger("switchboard.deadletter")
MAX_PATHS = 5


def deadletter_record(
    record: Record, consumer: str, error: BaseException, limits: Limits | None = None
) -> OutRecord:
    key = (record.key or b"").decode(errors="replace")[:1024]
    reason = f"{type(error).__name__}: {described(error)}"
    value, headers = deadletter_parts(record.value, record, consumer, reason, limits=limits)
    return OutRecord(Topic.DEADLETTER, key, value, tuple(headers))


def parked(
    record: Record,
    consumer: str,
    error: BaseException,
    limits: Limits | None = None,
    telemetry: Telemetry | None = None,
) -> OutRecord:
    """``deadletter_record``, logged with where the record was (topic, partition, offset)
    and why, never what it held, and counted as ``deadlettered`` for the alert."""
    log.warning(
        "deadlettered",
        consumer=consumer,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        error=described(error)[:300],
    )
    if telemetry is not None:
        telemetry.records.labels(consumer, "deadlettered").inc()
    return deadletter_record(record, consumer, error, limits)


def described(error: BaseException) -> str:
    """Why, in one line: a validation error as its field paths and messages (pydantic's
    own text quotes the input, which may be a customer's data)."""
    if isinstance(error, ValidationError):
        found = error.errors(include_input=False, include_url=False)
        paths = [f"/{'/'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in found[:MAX_PATHS]]
        more = f" (+{len(found) - MAX_PATHS} more)" if len(found) > MAX_PATHS else ""
        return f"invalid {error.title}: {'; '.join(paths)}{more}"
    return " ".join(str(error).split())
