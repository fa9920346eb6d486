"""Poison records: the original bytes to the dead-letter topic, with where and why.

The dead-letter record keeps the original key byte for byte (a null key stays null), so a
replay restores it. It must always be writable: an original value too large for it is kept
as a prefix, with its size and SHA-256 in the headers; so is a key beyond any record's
(``dlq.key_truncated``)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import structlog
from pydantic import ValidationError

from consumers.runner import Record
from router.errors import InvalidEvent
from router.kafka import deadletter_parts
from router.limits import Limits
from router.logs import Sampled
from router.observability import Telemetry
from router.topics import OutRecord, Topic

log = structlog.get_logger("switchboard.deadletter")
MAX_PATHS = 5
_ATEXT = r"[\w.!#$%&*+/=?^`{|}~-]"
#: The local part starts where a run of its characters starts: a long run without "@" is
#: scanned once, not once per position.
EMAIL = re.compile(rf"(?<!{_ATEXT}){_ATEXT}+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"(?<![\w+])(?<!\d\.)\+?\d[\d ()-]{5,}\d(?!\w)(?!\.\d)")
QUOTED = re.compile(r"""(?<!\w)(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")(?!\w)""")
PHONE_DIGITS = 7
#: A path segment the event schema names: a field name or a list index.
SCHEMA_SEGMENT = re.compile(r"[A-Za-z0-9_]{1,40}")
#: Maps whose keys the sender chooses.
FREE_FORM_MAPS = frozenset({"handles", "metadata", "attributes"})


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


LOGGED = Sampled()
"""A ``deadlettered`` line per consumer, topic and reason every 5 s at most, the next
saying how many were held back: a flood of the same poison (2,000 records) had written
a line each. The count per record is ``switchboard_consumer_records_total``."""


def parked(
    record: Record,
    consumer: str,
    error: BaseException,
    limits: Limits | None = None,
    telemetry: Telemetry | None = None,
) -> OutRecord:
    """``deadletter_record``, logged with where the record was (topic, partition, offset)
    and why, never what it held (the values an error quotes and the sender's own keys in
    its field paths are left out of the log; the ``dlq.error`` header keeps them, beside
    the original bytes), sampled (``LOGGED``), and counted as ``deadlettered`` for the
    alert."""
    why = without_values(described(error, logged=True))[:300]
    held = LOGGED.take((consumer, record.topic, why))
    if held is not None:
        log.warning(
            "deadlettered",
            consumer=consumer,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            error=why,
            held_back=held,
        )
    if telemetry is not None:
        telemetry.records.labels(consumer, "deadlettered").inc()
    return deadletter_record(record, consumer, error, limits)


def described(error: BaseException, *, logged: bool = False) -> str:
    """Why, in one line: a validation error as its field paths and messages (pydantic's
    own text quotes the input, which may be a customer's data). ``logged``: each path as
    ``schema_path`` shows it, for a log line."""
    if isinstance(error, ValidationError):
        found = error.errors(include_input=False, include_url=False)
        paths = [f"{_path(e['loc'], logged)}: {e['msg']}" for e in found[:MAX_PATHS]]
        more = f" (+{len(found) - MAX_PATHS} more)" if len(found) > MAX_PATHS else ""
        return f"invalid {error.title}: {'; '.join(paths)}{more}"
    text = str(error)
    if logged and isinstance(error, InvalidEvent):
        for pointer in _pointers(error):
            text = text.replace(pointer, schema_path(pointer.split("/")[1:]))
    return " ".join(text.split())


def schema_path(segments: Sequence[object]) -> str:
    """A JSON path with only what the event schema names: field names and list indexes.
    A key the sender chose (a map of channel handles, metadata, attributes) may be
    personal ("/data/customer/handles/Hans Handle"), so it is shown as ``*``."""
    shown: list[str] = []
    free = False
    for segment in map(str, segments):
        shown.append("*" if free or not SCHEMA_SEGMENT.fullmatch(segment) else segment)
        free = free or segment in FREE_FORM_MAPS
    return "/" + "/".join(shown)


def _path(loc: Sequence[object], logged: bool) -> str:
    return schema_path(loc) if logged else "/" + "/".join(map(str, loc))


def _pointers(error: InvalidEvent) -> list[str]:
    """The JSON paths the error names, the longest first: one may begin another."""
    found = {e.get("path") for e in error.errors}
    paths = [p for p in found if isinstance(p, str) and p.startswith("/")]
    return sorted(paths, key=len, reverse=True)


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
