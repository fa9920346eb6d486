"""orjson codec for CloudEvents in structured JSON mode, and for plain metric records."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from router.errors import InvalidEvent
from router.events import CloudEvent

CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
CONTENT_TYPE_HEADER = ("content-type", CONTENT_TYPE.encode())
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
