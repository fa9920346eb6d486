"""orjson codec for CloudEvents in structured JSON mode, and for plain metric records.

Reading also accepts binary mode (attributes in ``ce_*`` headers, the value is the data),
as the CloudEvents Kafka binding asks of receivers: a helpdesk that speaks Kafka may
write either to ``switchboard.actions``. Switchboard itself always writes structured."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python

from router.errors import InvalidEvent
from router.events import DATA_BASE64, CloudEvent

CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
CONTENT_TYPE_HEADER = ("content-type", CONTENT_TYPE.encode())
TYPE_HEADER = "switchboard_type"
"""Names a structured-mode record's CloudEvents type beside its value, so that a reader can
pass over types it does not want without parsing them. Not ``ce_``-prefixed: the Kafka
binding allows a structured-mode record only the headers of binary mode as a whole, and
CloudEvents SDKs that detect the mode read any ``ce_`` header as binary mode."""
LEGACY_TYPE_HEADER = "ce_type"
"""The type header's name before it was ``TYPE_HEADER``: records written then are still
on the topics after an upgrade. In binary mode it is the type attribute itself."""
JSON_HEADER = ("content-type", b"application/json")
BINARY_PREFIX = "ce_"  # binary-mode attribute headers; lower case, as the binding says
SPECVERSION_HEADER = "ce_specversion"
STRUCTURED_PREFIX = "application/cloudevents"

Headers = Sequence[tuple[str, bytes]]

MAX_EVENT_DEPTH = 200
"""Levels of arrays and objects a record's event may nest, the envelope's own included:
what pydantic's JSON parser reads of a structured-mode value (deeper is "recursion limit
exceeded"). The binary-mode and ``data_base64`` paths, read by orjson (1,024 levels),
keep to it too: deeper data had gone on to fail further on, in Python's recursion or
orjson's encoder (254 levels), instead of being dead-lettered as it came in."""


def nested_too_deep(value: Any, levels: int) -> list[int | str] | None:
    """The path of an array or object in ``value`` nested deeper than ``levels`` (``value``
    itself is level 1), None when none is. A stack, not recursion: the value may nest as
    deep as its parser allowed, deeper than Python's own stack."""
    if not isinstance(value, dict | list):
        return None
    stack: list[tuple[Any, int, tuple[Any, ...]]] = [(value, 1, ())]
    while stack:
        node, level, path = stack.pop()
        if level > levels:
            found: list[int | str] = []
            while path:  # (key, parent's path) links, innermost first
                key, path = path
                found.append(key)
            return found[::-1]
        items = node.items() if isinstance(node, dict) else enumerate(node)
        stack.extend(
            (child, level + 1, (key, path))
            for key, child in items
            if isinstance(child, dict | list)
        )
    return None


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


_TIMES = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC
"""Times as RFC 3339 wants them (``encode_event``'s options): a naive one is taken as UTC
and written with its ``Z``, never as a local time without an offset."""


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
        return orjson.dumps(head, default=to_jsonable_python, option=_TIMES)
    envelope = orjson.dumps(head, option=_TIMES)
    rest = orjson.dumps(data, default=to_jsonable_python, option=_TIMES)
    tail = b"," + rest[1:] if len(rest) > 2 else b"}"
    return b"".join((envelope[:-1], b',"data":{"ticket":', ticket_json, tail, b"}"))


def decode_event(raw: bytes | None) -> CloudEvent:
    """Parse one record value; anything that is not a CloudEvent is an InvalidEvent."""
    if raw is None:
        raise InvalidEvent("record has no value (tombstone)")
    try:
        decoded = _data_from_base64(raw) if b'"data_base64"' in raw else None
        if decoded is not None:
            event = CloudEvent.model_validate(decoded)
        else:
            event = CloudEvent.model_validate_json(raw)
    except ValidationError as exc:
        raise _not_a_cloudevent(exc, binary=False) from None
    return required_specversion(event)


def _data_from_base64(raw: bytes) -> dict[str, Any] | None:
    """The event's JSON with ``data_base64`` decoded into ``data``, as the CloudEvents
    JSON format allows: base64, then JSON, when the data's content type is JSON. None
    when the value is not a JSON object holding ``data_base64`` (the model says what is
    wrong with it); both members at once is left for the model to refuse."""
    try:
        event = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(event, dict) or DATA_BASE64 not in event:
        return None
    if "data" in event:
        return within_depth(event, "CloudEvent")
    encoded = event.pop(DATA_BASE64)
    content_type = event.get("datacontenttype")
    if isinstance(content_type, str) and not is_json_media(content_type):
        raise _base64_problem(
            f"data of content type {content_type!r} is not JSON; only JSON data is read"
        )
    try:
        data = json_from_base64(encoded)
    except ValueError:
        raise _base64_problem("not base64-encoded JSON") from None
    if not isinstance(data, dict):
        raise _base64_problem("the data it encodes is not a JSON object")
    event["data"] = data
    return within_depth(event, "CloudEvent")


def within_depth(event: dict[str, Any], mode: str, data: bytes | None = None) -> dict[str, Any]:
    """``event`` (its attributes and data) when it nests no deeper than a structured-mode
    value may (``MAX_EVENT_DEPTH``), else an InvalidEvent naming where it goes too deep.
    ``data``: the JSON text of the event's only nested member (binary mode's value, the
    attributes being text): with fewer brackets than that, it is not walked."""
    if data is not None and data.count(b"[") + data.count(b"{") < MAX_EVENT_DEPTH:
        return event
    path = nested_too_deep(event, MAX_EVENT_DEPTH)
    if path is None:
        return event
    where = "/" + "/".join(str(p) for p in path)
    problem = f"nested deeper than {MAX_EVENT_DEPTH} levels"
    raise InvalidEvent(f"not a {mode}: {where}: {problem}", [{"path": where, "message": problem}])


def json_from_base64(encoded: object) -> Any:
    """The JSON value a ``data_base64`` holds; ValueError when it is no base64 of JSON."""
    if not isinstance(encoded, str | bytes):
        raise ValueError("data_base64 is not text")
    return orjson.loads(base64.b64decode(encoded, validate=True))  # both raise ValueErrors


def _base64_problem(problem: str) -> InvalidEvent:
    path = "/" + DATA_BASE64
    return InvalidEvent(
        f"not a CloudEvent: {path}: {problem}", [{"path": path, "message": problem}]
    )


def required_specversion(event: CloudEvent) -> CloudEvent:
    """A decoded event that said which CloudEvents version it is: the attribute is
    required (the model only defaults it for the events we build)."""
    if "specversion" not in event.model_fields_set:
        message = "not a CloudEvent: /specversion: Field required"
        raise InvalidEvent(message, [{"path": "/specversion", "message": "Field required"}])
    return event


def type_from_headers(headers: Headers | None) -> str | None:
    """The CloudEvents type a structured-mode record of Switchboard's names in a header
    (``TYPE_HEADER``, or ``LEGACY_TYPE_HEADER`` as older versions wrote it); None when it
    names none, or is in binary mode (whose ``ce_type`` is the event's own attribute, read
    by ``decode_record``): the value then says."""
    if not headers:
        return None
    legacy = None
    for name, raw in headers:  # this version's header: the common case, one pass
        if name == TYPE_HEADER:
            return bytes(raw).decode(errors="replace")
        if name == LEGACY_TYPE_HEADER and legacy is None:
            legacy = raw
    if legacy is None or is_binary(headers):
        return None
    return bytes(legacy).decode(errors="replace")


def is_binary(headers: Headers) -> bool:
    """Binary mode per the Kafka binding: a ``ce_specversion`` header, and a content type
    (if any) that is not ``application/cloudevents...`` (that one is structured mode)."""
    if not any(name == SPECVERSION_HEADER for name, _ in headers):
        return False
    content_type = _content_type(headers)
    return content_type is None or not content_type.lower().startswith(STRUCTURED_PREFIX)


def decode_record(value: bytes | None, headers: Headers) -> CloudEvent:
    """One record as a CloudEvent, in binary mode when its headers say so, else the value
    in structured mode. Binary data must be JSON (as every Switchboard event's is)."""
    if not is_binary(headers):
        try:
            return decode_event(value)
        except InvalidEvent as exc:
            raise _binary_hint(headers, exc) from None
    attributes: dict[str, object] = {}
    for name, raw in headers:
        if name.lower().startswith(BINARY_PREFIX) and name != name.lower():
            # attribute names are lower case (CloudEvents 1.0), and so their headers:
            # ``CE_ID`` is no ``ce_id``, which would be reported missing instead
            problem = f"binary-mode headers must be lower case (ce_*), not {name}"
            raise InvalidEvent(
                f"binary-mode CloudEvent: {problem}", [{"path": name, "message": problem}]
            )
        if not name.startswith(BINARY_PREFIX):
            continue
        attribute = name.removeprefix(BINARY_PREFIX)
        if attribute in attributes:
            message = f"binary-mode CloudEvent: header {name} is repeated"
            raise InvalidEvent(message, [{"path": name, "message": "repeated"}])
        try:
            attributes[attribute] = raw.decode()
        except (UnicodeDecodeError, AttributeError):
            message = f"binary-mode CloudEvent: header {name} is not UTF-8 text"
            raise InvalidEvent(message, [{"path": name, "message": "not UTF-8 text"}]) from None
    content_type = _content_type(headers)
    if content_type is not None:
        attributes["datacontenttype"] = content_type
    if content_type is not None and not is_json_media(content_type):
        message = (
            f"binary-mode CloudEvent: data of content type {content_type!r} is not JSON; "
            "only JSON data is read"
        )
        raise InvalidEvent(message, [{"path": "content-type", "message": "not JSON"}])
    if value:  # no value (or an empty one) is an event without data
        try:
            attributes["data"] = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            message = f"binary-mode CloudEvent: data is not valid JSON: {exc}"
            raise InvalidEvent(message, [{"path": "/data", "message": str(exc)}]) from None
    try:
        checked = within_depth(attributes, "binary-mode CloudEvent", value or b"")
        return CloudEvent.model_validate(checked)
    except ValidationError as exc:
        raise _not_a_cloudevent(exc, binary=True) from None


def _binary_hint(headers: Headers, exc: InvalidEvent) -> InvalidEvent:
    """A record that is no structured-mode event but whose headers look like binary mode's
    yet are not (a ``ce_specversion`` missing, names not in lower case): the reason says
    so first, then what structured mode found."""
    names = [name for name, _ in headers if name.lower().startswith(BINARY_PREFIX)]
    upper = [name for name in names if not name.startswith(BINARY_PREFIX)]
    if upper:
        problem = f"binary-mode headers must be lower case (ce_*), not {upper[0]}"
    elif names and SPECVERSION_HEADER not in names and set(names) - {LEGACY_TYPE_HEADER}:
        problem = f"binary-mode ce_* headers without {SPECVERSION_HEADER}"
    else:
        return exc
    message = f"{problem}; nor is the value a structured-mode event ({exc})"
    return InvalidEvent(message, [{"path": SPECVERSION_HEADER, "message": problem}, *exc.errors])


def _content_type(headers: Headers) -> str | None:
    """The ``content-type`` header; its name is matched in any case (Kafka clients vary)."""
    for name, raw in headers:
        if name.lower() == "content-type":
            return raw.decode(errors="replace").strip() if raw is not None else None
    return None


def is_json_media(content_type: str) -> bool:
    """``application/json`` (``text/json``) or any ``+json``, parameters aside; an absent
    content type is JSON too, by the CloudEvents default."""
    media = content_type.partition(";")[0].strip().lower()
    return media in ("application/json", "text/json") or media.endswith("+json")


def _not_a_cloudevent(exc: ValidationError, *, binary: bool) -> InvalidEvent:
    """Every field error with its path; in binary mode an attribute is named by its
    header (``ce_id``), the data by its JSON path (``/data/...``)."""
    errors: list[dict[str, object]] = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]] or ([DATA_BASE64] if err["type"] == DATA_BASE64 else [])
        if binary and loc and loc[0] != "data":
            path = BINARY_PREFIX + loc[0] + "".join(f"/{p}" for p in loc[1:])
        else:
            path = "/" + "/".join(loc)
        errors.append({"path": path, "message": err["msg"]})
    first = errors[0]
    mode = "binary-mode CloudEvent" if binary else "CloudEvent"
    if binary and not str(first["path"]).startswith("/"):
        return InvalidEvent(f"not a {mode}: header {first['path']}: {first['message']}", errors)
    return InvalidEvent(f"not a {mode}: {first['path']}: {first['message']}", errors)
