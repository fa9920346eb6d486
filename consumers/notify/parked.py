"""What the notifier's ledger keeps of a delivery: its state once the transport
answered or the delivery was given up, and, for a delivery parked to be retried, enough
of its Kafka record to dead-letter it later."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from aiokafka import ConsumerRecord

from consumers.notify.transports import NOT_SENT, PRINTED
from consumers.runner import Record
from consumers.state.notifications import Outcome


def settled_as(verdict: str) -> Outcome:
    """The ledger state once a failure is dead-lettered."""
    return "maybe_sent" if verdict == "uncertain" else "failed"


def b64(value: bytes | None) -> str | None:
    return None if value is None else base64.b64encode(value).decode()


def unb64(value: str | None) -> bytes | None:
    return None if value is None else base64.b64decode(value)


def record_json(record: Record) -> dict[str, Any]:
    """What a parked delivery keeps of its record: enough to dead-letter it later."""
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp,
        "key": b64(record.key),
        "value": b64(record.value),
        "headers": [[k, b64(bytes(v))] for k, v in record.headers or ()],
    }


def record_from_json(data: Mapping[str, Any]) -> Record:
    key, value = unb64(data["key"]), unb64(data["value"])
    return ConsumerRecord(
        topic=data["topic"],
        partition=int(data["partition"]),
        offset=int(data["offset"]),
        timestamp=int(data["timestamp"]),
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key or b""),
        serialized_value_size=len(value or b""),
        headers=[(k, unb64(v) or b"") for k, v in data["headers"]],
    )


def parked_at(p: Mapping[str, Any], retry_for: float) -> float:
    """When a parked delivery was first parked (data parked before it was kept: its
    deadline less the retry time)."""
    return float(p.get("parked_at", float(p["deadline"]) - retry_for))


def recorded_as(answer: str) -> Outcome:
    """How the ledger records a send the transport answered: a message no provider took
    (``run`` without one, or `dev` printing it) is skipped, never counted as sent."""
    return "skipped" if answer in (NOT_SENT, PRINTED) else "sent"
