"""A recorded day: the JSONL file ``switchboard export inbound`` writes (one CloudEvent
envelope of the inbound topic per line, exactly the record's value) read back as the
records the routing consumer would have polled, in time order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson
from aiokafka import ConsumerRecord

from router.codec import CONTENT_TYPE_HEADER
from router.errors import ConfigError
from router.topics import Topic, TopicNames

NAMES = TopicNames("simulate")
INBOUND = NAMES(Topic.INBOUND)


@dataclass(frozen=True, slots=True)
class DayEvent:
    at: float  # epoch seconds: the event's ``time``
    value: bytes
    key: bytes | None
    line: int = 0  # in the events file, for naming an event the router could not take

    def record(self, offset: int) -> ConsumerRecord[bytes, bytes]:
        """The event as a record of the inbound topic, timestamped with its time."""
        return ConsumerRecord(
            INBOUND,
            0,
            offset,
            int(self.at * 1000),
            0,
            self.key,
            self.value,
            None,
            len(self.key or b""),
            len(self.value),
            (CONTENT_TYPE_HEADER,),
        )


def read_day(path: str | Path) -> list[DayEvent]:
    """Every event of the file in time order (stable for equal times); a line that is
    not a CloudEvent with a ``time`` is a ``ConfigError`` naming ``file:line``, and so is
    a file without events (empty, or blank lines only): a run of nothing would report
    every figure as zero, which reads like a result."""
    path = Path(path)
    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        raise ConfigError("--events", f"cannot read {path}: {exc.strerror or exc}") from None
    events: list[DayEvent] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        events.append(parse_line(line, f"{path}:{number}", number))
    if not events:
        hint = "one CloudEvent a line, as `switchboard export inbound` writes"
        raise ConfigError("--events", f"{path}: no events ({hint})")
    events.sort(key=lambda e: e.at)
    return events


FIRST_YEAR, LAST_YEAR = 1971, 9000
"""The years an event may be dated in: the clock around them must not run off the
calendar (year 1 or 9999 did, with a traceback)."""


def parse_line(line: bytes, where: str, number: int = 0) -> DayEvent:
    try:
        envelope = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ConfigError("--events", f"{where}: not JSON: {exc}") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("time"), str):
        raise ConfigError("--events", f"{where}: expected a CloudEvent with a 'time'")
    try:
        at = datetime.fromisoformat(envelope["time"])
    except ValueError:
        raise ConfigError("--events", f"{where}: bad time {envelope['time']!r}") from None
    if at.tzinfo is None:
        raise ConfigError("--events", f"{where}: time {envelope['time']!r} has no offset")
    if not FIRST_YEAR <= at.year <= LAST_YEAR:  # the shifts are laid out a week around it
        raise ConfigError(
            "--events",
            f"{where}: time {envelope['time']!r} is outside the years "
            f"{FIRST_YEAR}-{LAST_YEAR} a day is simulated in",
        )
    subject = envelope.get("subject")
    key = subject.encode() if isinstance(subject, str) and subject else None
    return DayEvent(at.timestamp(), line, key, number)
