"""Poison records: the original bytes to the dead-letter topic, with where and why.

The dead-letter record keeps the original key byte for byte (a null key stays null), so a
replay restores it. It must always be writable: an original value too large for it is kept
as a prefix, with its size and SHA-256 in the headers; so is a key beyond any record's
(``dlq.key_truncated``)."""

from __future__ import annotations

import re

import structlog
from pydantic import ValidationError

from consumers.runner import Record
from router.kafka import deadletter_parts
from router.limits import Limits
from router.observability import Telemetry
from router.topics import OutRecord, Topic

log = structlog.get_logger("switchboard.deadletter")
MAX_PATHS = 5
EMAIL = re.compile(r"[\w.!#$%&*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"(?<![\w+])(?<!\d\.)\+?\d[\d ()-]{5,}\d(?!\w)(?!\.\d)")
QUOTED = re.compile(r"""(?<!\w)(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")(?!\w)""")
PHONE_DIGITS = 7


def deadletter_record(
    record: Record, consumer: str, error: BaseException, limits: Limits | None = None
) -> OutRecord:
    limits = limits or Limits()
    reason = f"{type(error).__name__}: {described(error)}"
    value, headers = deadletter_parts(record.value, record, consumer, reason, limits=limits)
    key = record.key
    if key is not None and len(key) > limits.inbound_bytes:
        headers.append(("dlq.key_truncated", str(len(key)).encode()))
        key = key[: limits.inbound_bytes]
    return OutRecord(Topic.DEADLETTER, key, value, tuple(headers))


def parked(
    record: Record,
    consumer: str,
    error: BaseException,
    limits: Limits | None = None,
    telemetry: Telemetry | None = None,
) -> OutRecord:
    """``deadletter_record``, logged with where the record was (topic, partition, offset)
    and why, never what it held (the values an error quotes are left out of the log; the
    ``dlq.error`` header keeps them, beside the original bytes), and counted as
    ``deadlettered`` for the alert."""
    log.warning(
        "deadlettered",
        consumer=consumer,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        error=without_values(described(error))[:300],
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


def without_values(reason: str) -> str:
    """``reason`` for a log line: the field path and the kind of problem, without the
    value it quotes (``/data/phone: not a phone number: '…'``), an email address or a
    phone number."""
    return QUOTED.sub("'…'", redacted(reason))


def redacted(text: str) -> str:
    """``text`` with email addresses and phone numbers replaced, for a warning log line
    (a provider's answer names the recipient it refused). Runs of fewer than seven digits
    stay: SMTP codes (``550 5.1.1``) and Twilio error codes are not phone numbers."""
    text = EMAIL.sub("<redacted-email>", text)
    return PHONE.sub(_phone_redacted, text)


def _phone_redacted(found: re.Match[str]) -> str:
    digits = sum(ch.isdigit() for ch in found.group())
    return "<redacted-phone>" if digits >= PHONE_DIGITS else found.group()
