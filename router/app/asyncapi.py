"""The AsyncAPI 3.0 document of the topics, generated from the topic registry, the event
models and ``LIFECYCLE_DATA``: the Kafka-side twin of the ingress's OpenAPI document.

Operations are from Switchboard's point of view, as AsyncAPI 3.0 has them: ``send`` on
every topic it writes, ``receive`` on those its roles consume (``CONSUMED``)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema

from consumers.notify.replies import MAX_REFERENCES
from router.actions import ACTIONS, PREFIX
from router.app.roles import CONSUMED
from router.codec import (
    BINARY_PREFIX,
    CONTENT_TYPE,
    LEGACY_TYPE_HEADER,
    SPECVERSION_HEADER,
    TYPE_HEADER,
)
from router.events import DATA_BASE64, CloudEvent, Interaction, MetricRecord, Ticket
from router.topics import Topic, TopicNames
from router.vocabulary import AUTH_ID, AUTH_TYPE, PRIORITIES, RULES_CHECKED, SLA_TARGETS, EventType

REF = "#/components/schemas/"
ENVELOPE_CONTENT_TYPE = "application/cloudevents+json"
METRIC_CONTENT_TYPE = "application/json"
LIFECYCLE = [
    t.value
    for t in EventType
    if t.value.startswith("switchboard.ticket.") and t is not EventType.TICKET_SNAPSHOT
]

Schema = dict[str, Any]
STR: Schema = {"type": "string"}
STR_OR_NULL: Schema = {"type": ["string", "null"]}
NUMBER: Schema = {"type": "number"}
NUMBER_OR_NULL: Schema = {"type": ["number", "null"]}
BOOL: Schema = {"type": "boolean"}
BOOL_OR_NULL: Schema = {"type": ["boolean", "null"], "description": "null: no clock ran"}
TIME: Schema = {"type": "string", "format": "date-time"}
INTERACTION = "interaction"
"""A field holding the customer message (``Interaction`` plus ``event_id``)."""


def _enum(*values: str) -> Schema:
    return {"type": "string", "enum": list(values)}


def _place(**fields: Schema) -> Schema:
    return {"type": "object", "required": list(fields), "properties": fields}


ROUTED: dict[str, Schema] = {
    "trigger": STR,
    "matched": {"type": "array", "items": STR, "description": "names of the rules that matched"},
    "rules_version": STR,
    "rules_hash": STR,
    "actions": {
        "type": "array",
        "items": _place(rule=STR, action=STR, value={"type": ["string", "array"]}),
    },
}
SLA_FIRED: dict[str, Schema] = {
    "target": _enum(*SLA_TARGETS),
    "policy": STR_OR_NULL,
    "due": TIME,
    "queue": STR_OR_NULL,
    "priority": _enum(*PRIORITIES),
}
REOPENED: dict[str, Schema] = {
    "by": _enum("customer", "agent"),
    "reason": STR_OR_NULL,
    "was_first_contact": BOOL,
    "fcr_definition": STR,
}

# Each lifecycle type's ``data`` (besides ``ticket``, which every one carries): the fields
# every record of the type has, then those only some have (``data`` as consumers/domain
# and consumers/routing build it).
LIFECYCLE_DATA: dict[EventType, tuple[dict[str, Schema], dict[str, Schema]]] = {
    EventType.TICKET_CREATED: ({INTERACTION: {}}, {}),
    EventType.TICKET_MESSAGE_ADDED: (
        {INTERACTION: {}},
        {  # an answered or ended call: no customer contact
            "contact": {"const": False},
            "handle_seconds": NUMBER_OR_NULL,
            "handled": {
                "type": "boolean",
                "description": "the call's first part with seconds: counted as one handled"
                " call (a later part adds its seconds to it)",
            },
            "agent_id": STR_OR_NULL,
        },
    ),
    EventType.TICKET_ROUTED: (ROUTED, {}),
    EventType.TICKET_ASSIGNED: (
        {"agent_id": STR, "queue": STR_OR_NULL, "strategy": STR},
        {},
    ),
    EventType.TICKET_QUEUED: (
        {"queue": STR_OR_NULL, "reason": STR},
        {"agent_id": STR_OR_NULL, "decline_reason": STR},
    ),
    EventType.TICKET_ESCALATED: (
        {
            "reason": {**STR, "description": "the escalation trigger"},
            "from": _place(queue=STR_OR_NULL, priority=_enum(*PRIORITIES)),
            "to": _place(queue=STR_OR_NULL, priority=_enum(*PRIORITIES)),
            **ROUTED,
        },
        {},
    ),
    EventType.TICKET_SLA_WARNING: (
        SLA_FIRED,
        {"warned_at": {**TIME, "description": "the time the warning counts at (its window)"}},
    ),
    EventType.TICKET_SLA_BREACHED: (SLA_FIRED, {}),
    EventType.TICKET_RESPONDED: (
        {
            "response": {
                "type": ["string", "null"],
                "enum": ["first", "next", None],
                "description": "null: a further public reply in a row, no customer waited",
            },
            "agent_id": STR,
            "business_seconds": NUMBER_OR_NULL,
            "within_sla": BOOL_OR_NULL,
            "handle_seconds": NUMBER_OR_NULL,
        },
        {},
    ),
    EventType.TICKET_TRANSFERRED: (
        {
            "from": _place(queue=STR_OR_NULL, agent_id=STR_OR_NULL),
            "to": _place(queue=STR_OR_NULL, agent_id=STR_OR_NULL),
        },
        {},
    ),
    EventType.TICKET_POSTPONED: ({"until": TIME, "sla_paused_seconds": NUMBER}, {}),
    EventType.TICKET_RESOLVED: (
        {
            "agent_id": STR_OR_NULL,
            "first_contact": BOOL,
            "fcr_definition": STR,
            "within_sla": BOOL_OR_NULL,
        },
        {},
    ),
    EventType.TICKET_REOPENED: (
        REOPENED,
        {
            INTERACTION: {},
            "agent_id": STR_OR_NULL,
            "queue": {
                **STR_OR_NULL,
                "description": "a customer's reopen: the queue it was reopened in, before "
                "the rules on ticket.reopened ran (the metrics count the reopen there)",
            },
        },
    ),
    EventType.TICKET_CLOSED: ({"agent_id": STR_OR_NULL}, {}),
    EventType.TICKET_FEEDBACK_RECEIVED: (
        {
            "kind": _enum("csat", "nps", "ces"),
            "score": {"type": "integer"},
            "agent_id": STR_OR_NULL,
        },
        {},
    ),
    EventType.TICKET_NOTE_ADDED: (
        {"ticket_id": STR, "agent_id": STR_OR_NULL, "text": STR},
        {"handle_seconds": NUMBER},  # an internal agent.replied that reported its time
    ),
    EventType.TICKET_NOTIFICATION: (
        {"template": STR, "kind": _enum("auto_reply", "notify")},
        {
            "thread": {
                "type": "object",
                "description": "an email auto-reply: the message it answers, for its "
                "In-Reply-To and References",
                "properties": {
                    "message_id": STR_OR_NULL,
                    "in_reply_to": STR_OR_NULL,
                    "references": {"type": "array", "items": STR, "maxItems": MAX_REFERENCES},
                    "subject": STR_OR_NULL,
                },
            },
            "reply_to": {
                "type": "object",
                "description": "an auto-reply: whom it answers, as the message it answers "
                "names them (the notifier sends to them, not to the ticket's later senders, "
                "and through Twilio from the number they wrote to)",
                "properties": {
                    "channel": STR,
                    "customer": {"type": "object"},
                    "inbox": STR_OR_NULL,
                    "provider": STR_OR_NULL,
                    "participant": {
                        "const": True,
                        "description": "present when the sender is not the ticket's "
                        "customer (a reply that joined their thread): the notifier sends "
                        "them nothing of the customer's (CRM profile, ticket subject)",
                    },
                },
            },
        },
    ),
}

DEADLETTER_HEADERS: dict[str, Schema] = {
    "dlq.topic": {**STR, "description": "the topic the record was read from"},
    "dlq.partition": {**STR, "pattern": "^-?[0-9]+$", "description": "-1: unknown"},
    "dlq.offset": {**STR, "pattern": "^-?[0-9]+$", "description": "-1: unknown"},
    "dlq.consumer": {**STR, "description": "the consumer (role) that set it aside"},
    "dlq.error": {**STR, "maxLength": 2000, "description": "why, in one line"},
}
DEADLETTER_TRUNCATED: dict[str, Schema] = {
    "dlq.truncated": {"const": "true"},
    "dlq.original_bytes": {**STR, "pattern": "^[0-9]+$"},
    "dlq.original_digest": {**STR, "pattern": "^sha256:[0-9a-f]{64}$"},
    "dlq.original_content_type": {
        **STR,
        "description": "the original's content-type header, when the value was cut: the "
        "record's own content-type is then application/octet-stream",
    },
    "dlq.key_truncated": {
        **STR,
        "pattern": "^[0-9]+$",
        "description": "the original key's size, when the key (longer than a quarter of "
        "the record size limit) was cut to that; else the key is the original, byte for byte",
    },
}
INPUT_CONTENT_TYPE: Schema = {
    **STR,
    "description": f"`{CONTENT_TYPE}` as Switchboard writes it; optional: a record without "
    f"a `{SPECVERSION_HEADER}` header is read in structured mode whatever it says",
}
STRUCTURED_INPUT = (
    "Structured mode of the CloudEvents Kafka binding: the whole event as the JSON value. "
    "The data may be given as `data_base64` (base64 of its JSON) instead of `data`, not both."
)
BINARY_INPUT = (
    "Binary mode of the CloudEvents Kafka binding, as a producer other than Switchboard may "
    f"write: the attributes in lower-case `{BINARY_PREFIX}*` headers (extensions as "
    f"`{BINARY_PREFIX}<name>`), the value is the data alone, as JSON. A record is binary when "
    f"it has a `{SPECVERSION_HEADER}` header and its content-type (if any) does not start "
    "with `application/cloudevents`."
)


TYPE_HEADER_TEXT = (
    "the CloudEvents type, to filter by without parsing the value; not a binary-mode "
    f"`{BINARY_PREFIX}*` header (the record is in structured mode). Older versions wrote "
    f"it as `{LEGACY_TYPE_HEADER}`, and Switchboard's readers still accept that."
)
LIFECYCLE_TEXT = (
    "`data.ticket` is the ticket's snapshot after the whole change that published the "
    "record, not between its records: one cause (a message, an action, a timer) can "
    "publish several, e.g. `.sla_breached` then `.escalated`, and every one carries the "
    "end state. Read each record's own `data` for what it reports; see README.md, Status and "
    "deviations: `data.ticket` is the snapshot after the whole change."
)


class _EveryField(GenerateJsonSchema):
    """A snapshot carries every field of its model, null ones included: each is required."""

    def field_is_required(self, field: Any, total: bool) -> bool:  # noqa: ARG002
        return True


class _EveryValue(GenerateJsonSchema):
    """A record written without its null fields (a metric record): every field that has a
    value whenever it is written is required, the rest optional."""

    def field_is_required(self, field: Any, total: bool) -> bool:  # noqa: ARG002
        inner = field.get("schema", {})
        return not (inner.get("type") == "default" and inner.get("default", ...) is None)


PUBLISHED: dict[type[BaseModel], type[GenerateJsonSchema]] = {
    Ticket: _EveryField,
    MetricRecord: _EveryValue,
}
"""What only the product writes, described as written (contract sections 7 and 8 list these
fields without ``?``), rather than as loosely as the models would read them. An
interaction stays as the router reads it: another producer may write ``inbound``, and a
field it leaves out takes its default."""


def _schema(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, str]:
    """Add ``model`` (and the models it uses) to ``schemas``; return a $ref to it."""
    generator = PUBLISHED.get(model)
    if generator is not None:
        doc = model.model_json_schema(
            ref_template=REF + "{model}", mode="serialization", schema_generator=generator
        )
    else:
        doc = model.model_json_schema(ref_template=REF + "{model}")
    if model is CloudEvent:  # it has a default, but a record without it is no CloudEvent
        doc["required"] = ["specversion", *doc.get("required", [])]
    for name, sub in doc.pop("$defs", {}).items():
        schemas.setdefault(name, sub)
    schemas.setdefault(model.__name__, doc)
    return {"$ref": REF + model.__name__}


def _cloudevent(types: list[str], data: Schema, schemas: dict[str, Any]) -> Schema:
    envelope = _schema(CloudEvent, schemas)
    return {
        "allOf": [
            envelope,
            {
                "type": "object",
                "required": ["type", "data"],
                "properties": {"type": {"enum": types}, "data": data},
            },
        ]
    }


def _input_cloudevent(
    types: list[str], data: Schema, schemas: dict[str, Any], *, action: bool = False
) -> Schema:
    """A CloudEvent as another producer may write it: ``data``, or ``data_base64`` (the
    base64 of the data's JSON, as the CloudEvents JSON format allows), never both. Only an
    ``action`` carries the extensions the ingress sets on actions."""
    properties: dict[str, Schema] = {
        "type": {"enum": types},
        "data": data,
        DATA_BASE64: {
            **STR,
            "contentEncoding": "base64",
            "contentMediaType": "application/json",
            "description": "the data's JSON, base64-encoded; only when the "
            "datacontenttype is JSON (absent, application/json, */*+json)",
        },
    }
    if action:
        properties |= ACTION_EXTENSIONS
    return {
        "allOf": [
            _schema(CloudEvent, schemas),
            {
                "type": "object",
                "required": ["type"],
                "oneOf": [{"required": ["data"]}, {"required": [DATA_BASE64]}],
                "properties": properties,
            },
        ]
    }


ACTION_EXTENSIONS: dict[str, Schema] = {
    RULES_CHECKED: {
        **STR,
        "description": "set by the ingress on an action naming a queue: the "
        "version of the rules it found the queue in; a router whose rules "
        "lack the queue yet takes the action when this names other rules",
    },
    AUTH_TYPE: {
        **STR,
        "description": "CloudEvents authcontext, set by the ingress on every "
        "action it takes: api_key (absent on actions written to Kafka "
        "directly)",
    },
    AUTH_ID: {
        **STR,
        "description": "CloudEvents authcontext, set by the ingress: which API "
        "token sent the action (the first 12 hex digits of its SHA-256)",
    },
}


def _any_case(pattern: str) -> str:
    """``pattern`` matching its letters in either case: JSON Schema's patterns (ECMA-262)
    have no flag for it, so each letter becomes a class (``json`` -> ``[jJ][sS]...``)."""
    return re.sub(r"[a-z]", lambda m: f"[{m[0]}{m[0].upper()}]", pattern)


def _binary_headers(types: list[str]) -> Schema:
    """The headers of a binary-mode record: its CloudEvents attributes."""
    return {
        **_headers(
            {
                SPECVERSION_HEADER: {"const": "1.0"},
                f"{BINARY_PREFIX}id": {**STR, "minLength": 1},
                f"{BINARY_PREFIX}source": {**STR, "minLength": 1},
                f"{BINARY_PREFIX}type": {"enum": types},
            },
            {
                f"{BINARY_PREFIX}subject": STR,
                f"{BINARY_PREFIX}time": {**TIME, "description": "RFC 3339"},
                "content-type": {
                    **STR,
                    "pattern": _any_case(r"^(application/json|text/json|[^;]*\+json)(;.*)?$"),
                    "description": "the data's type: JSON (the default when absent); media "
                    "types are case-insensitive (RFC 9110), so is this",
                },
            },
        ),
        "additionalProperties": {**STR, "description": "extension attributes, ce_<name>"},
    }


def _input_messages(
    name: str,
    types: list[str],
    data: Schema,
    key: str,
    schemas: dict[str, Any],
    *,
    action: bool = False,
) -> list[dict[str, Any]]:
    """A topic other producers write to: the event in structured mode, and in binary."""
    return [
        _message(
            name,
            _input_cloudevent(types, data, schemas, action=action),
            key,
            _headers({}, {"content-type": INPUT_CONTENT_TYPE}),
            description=STRUCTURED_INPUT,
        ),
        _message(
            f"{name} (binary mode)",
            data,
            key,
            _binary_headers(types),
            content_type="application/json",
            description=BINARY_INPUT,
        ),
    ]


def _action_types(full: str) -> list[str]:
    """An action's type as it may be written: with or without the ``switchboard.`` prefix."""
    return [full, full.removeprefix(PREFIX)]


def _headers(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **(optional or {})},
    }


def _cloudevent_headers(**more: Schema) -> Schema:
    return _headers({"content-type": {"const": CONTENT_TYPE}, **more})


def _message(
    name: str,
    payload: Schema,
    key: str,
    headers: Schema,
    *,
    content_type: str = ENVELOPE_CONTENT_TYPE,
    description: str | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "name": name,
        "contentType": content_type,
        "headers": headers,
        "payload": payload,
        "bindings": {"kafka": {"key": {"type": "string", "description": key}}},
    }
    if description:
        message["description"] = description
    return message


def lifecycle_data(etype: EventType, schemas: dict[str, Any]) -> Schema:
    """The ``data`` schema of one lifecycle type, from ``LIFECYCLE_DATA``."""
    always, sometimes = LIFECYCLE_DATA[etype]
    interaction = {
        "allOf": [
            _schema(Interaction, schemas),
            {
                "type": "object",
                "required": ["event_id"],
                "properties": {"event_id": STR, "language_source": STR},
            },
        ],
        "description": "the customer message; event_id: its inbound event",
    }
    fields = {
        name: interaction if name == INTERACTION else schema
        for name, schema in {**always, **sometimes}.items()
    }
    return {
        "type": "object",
        "required": ["ticket", *always],
        "properties": {"ticket": _schema(Ticket, schemas), **fields},
    }


def _lifecycle_messages(schemas: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        _message(
            t,
            _cloudevent([t], lifecycle_data(EventType(t), schemas), schemas),
            "ticket id",
            _cloudevent_headers(**{TYPE_HEADER: {"const": t, "description": TYPE_HEADER_TEXT}}),
            description=LIFECYCLE_TEXT,
        )
        for t in LIFECYCLE
    ]


def _messages(schemas: dict[str, Any]) -> dict[Topic, list[dict[str, Any]]]:
    ticket = {
        "type": "object",
        "required": ["ticket"],
        "properties": {"ticket": _schema(Ticket, schemas)},
    }
    snapshot = EventType.TICKET_SNAPSHOT.value
    received = EventType.INTERACTION_RECEIVED.value
    messages: dict[Topic, list[dict[str, Any]]] = {
        Topic.INBOUND: _input_messages(
            received,
            [received],
            _schema(Interaction, schemas),
            "sender identity, e.g. email:alice@example.com",
            schemas,
        ),
        Topic.ACTIONS: [
            message
            for t, model in sorted(ACTIONS.items())
            for message in _input_messages(
                t,
                _action_types(t),
                _schema(model, schemas),
                "ticket id, agent:<id> or customer:<id>",
                schemas,
                action=True,
            )
        ],
        Topic.TICKETS: _lifecycle_messages(schemas),
        Topic.TICKET_STATE: [
            _message(
                snapshot,
                _cloudevent([snapshot], ticket, schemas),
                "ticket id (compacted: the latest snapshot)",
                _cloudevent_headers(),
            ),
            _message(
                "tombstone",
                {"type": "null"},
                "ticket id",
                _headers({}),
                description="No value and no headers: written by `switchboard forget` (a "
                "customer's erasure) for each of their tickets; compaction then removes the "
                "ticket's snapshots.",
            ),
        ],
        Topic.DEADLETTER: [
            _message(
                "dead letter",
                {
                    "description": "the original record value, unchanged (any bytes; null "
                    "when the original was a tombstone), or its first bytes when cut: see "
                    "dlq.truncated"
                },
                "the original key",
                {
                    **_headers(DEADLETTER_HEADERS, DEADLETTER_TRUNCATED),
                    "description": "dlq.* say where the record came from and why it was set "
                    "aside; dlq.truncated, dlq.original_bytes, dlq.original_digest and "
                    "dlq.original_content_type only when the value was cut. The original "
                    "record's headers come first, kept while they fit in a small budget.",
                },
                content_type="application/octet-stream",
            )
        ],
    }
    metric = _schema(MetricRecord, schemas)
    for topic in (
        Topic.METRICS_SLA,
        Topic.METRICS_FCR,
        Topic.METRICS_SATISFACTION,
        Topic.METRICS_WORKLOAD,
    ):
        messages[topic] = [
            _message(
                topic.value,
                metric,
                "<metric>/<window start>/<dimension=value,...>",
                _headers({"content-type": {"const": METRIC_CONTENT_TYPE}}),
                content_type=METRIC_CONTENT_TYPE,
                description="A window's latest revision; never a tombstone (no value is null).",
            )
        ]
    return messages


def _readers() -> dict[Topic, list[str]]:
    readers: dict[Topic, list[str]] = {}
    for role, topics in CONSUMED.items():
        for topic in topics:
            readers.setdefault(topic, []).append(role)
    return readers


def build(prefix: str = "switchboard") -> dict[str, Any]:
    names = TopicNames(prefix)
    schemas: dict[str, Any] = {}
    messages = _messages(schemas)
    readers = _readers()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for name, spec in names.all().items():
        cid = spec.topic.name.lower()
        read_by = readers.get(spec.topic, [])
        channel_messages = {f"m{i}": m for i, m in enumerate(messages[spec.topic])}
        description = f"{spec.content}; written by {spec.written_by}"
        description += f"; read by {', '.join(read_by)}" if read_by else ""
        description += "; compacted" if spec.compacted else ""
        if spec.topic is Topic.TICKET_STATE:
            description += "; tombstones (null values) from `switchboard forget`"
        channels[cid] = {
            "address": name,
            "description": description,
            "messages": channel_messages,
            "bindings": {
                "kafka": {
                    "topicConfiguration": {
                        "cleanup.policy": ["compact" if spec.compacted else "delete"]
                    }
                }
            },
        }
        refs = [{"$ref": f"#/channels/{cid}/messages/{m}"} for m in channel_messages]
        operations[f"send_{cid}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{cid}"},
            "summary": f"written by {spec.written_by}",
            "messages": refs,
        }
        if read_by:
            operations[f"receive_{cid}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{cid}"},
                "summary": f"read by {', '.join(read_by)}",
                "messages": refs,
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Switchboard topics",
            "version": "1",
            "description": "Every record on the Switchboard topics. Values are CloudEvents 1.0 in "
            "structured JSON mode except metric and dead-letter records; on the inbound and "
            "actions topics, which other producers may write, binary mode (attributes in "
            "ce_* headers) is read too, and actions' types may leave out `switchboard.`. "
            "Operations are Switchboard's: send where it writes, receive where its roles read.",
        },
        "defaultContentType": ENVELOPE_CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas},
    }
