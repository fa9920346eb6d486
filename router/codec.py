"""orjson codec for CloudEvents in structured JSON mode, and for plain metric records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python

from router.errors import InvalidEvent
from router.events import CloudEvent

CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
CONTENT_TYPE_HEADER = ("content-type", CONTENT_TYPE.encode())
TYPE_HEADER = "ce_type"  # the CloudEvents type, binary-mode style, beside the structured value
JSON_HEADER = ("content-type", b"application/json")


def dumps(value: Any) -> bytes:
    """JSON bytes; datetimes as RFC 3339 with Z, pydantic models by their fields."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", exclude_none=False)
    return orjson.dumps(value, option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC)


def encode_event(event: CloudEvent) -> bytes:
    return orjson.dumps(
        event.model_dump(mode="json", exclude_none=True),
        option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC,
    )


def encode_envelope(
    id: str,
    source: str,
    type: str,
    *,
    subject: str | None,
    time: datetime | None,
    data: dict[str, Any],
    ticket_json: bytes | None = None,
) -> bytes:
    """The bytes ``encode_event`` gives for ``CloudEvent(...)`` with these attributes,
    without building the model: the router writes several records per event, and the
    model's validation and dump cost more than the JSON itself.

    ``ticket_json`` is ``data.ticket`` already encoded (one ticket snapshot is carried by
    every record of a cause: it is encoded once and spliced into each)."""
    head: dict[str, Any] = {"specversion": "1.0", "id": id, "source": source, "type": type}
    if subject is not None:
        head["subject"] = subject
    if time is not None:
        head["time"] = time
    head["datacontenttype"] = "application/json"
    if ticket_json is None or "ticket" in data:
        if ticket_json is not None:
            data = {"ticket": orjson.loads(ticket_json), **data}
        head["data"] = data
        return orjson.dumps(head, default=to_jsonable_python, option=orjson.OPT_UTC_Z)
    envelope = orjson.dumps(head, option=orjson.OPT_UTC_Z)
    rest = orjson.dumps(data, default=to_jsonable_python, option=orjson.OPT_UTC_Z)
    tail = b"," + rest[1:] if len(rest) > 2 else b"}"
    return b"".join((envelope[:-1], b',"data":{"ticket":', ticket_json, tail, b"}"))


def decode_event(raw: bytes | None) -> CloudEvent:
    """Parse one record value; anything that is not a CloudEvent is an InvalidEvent."""
    if raw is None:
        raise InvalidEvent("record has no value (tombstone)")
    try:
        return CloudEvent.model_validate_json(raw)
    except ValidationError as exc:
        errors: list[dict[str, object]] = [
            {"path": "/" + "/".join(str(p) for p in err["loc"]), "message": err["msg"]}
            for err in exc.errors()
        ]
        first = errors[0]
        message = f"not a CloudEvent: {first['path']}: {first['message']}"
        raise InvalidEvent(message, errors) from None
