"""The AsyncAPI 3.0 document of the topics, generated from the topic registry and the
event models: the Kafka-side twin of the ingress's OpenAPI document."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from router.actions import ACTIONS
from router.events import CloudEvent, Interaction, MetricRecord, Ticket
from router.topics import Topic, TopicNames
from router.vocabulary import EventType

REF = "#/components/schemas/"
ENVELOPE_CONTENT_TYPE = "application/cloudevents+json"
LIFECYCLE = [t.value for t in EventType if t.value.startswith("switchboard.ticket.")]


def _schema(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, str]:
    """Add ``model`` (and the models it uses) to ``schemas``; return a $ref to it."""
    doc = model.model_json_schema(ref_template=REF + "{model}")
    for name, sub in doc.pop("$defs", {}).items():
        schemas.setdefault(name, sub)
    schemas.setdefault(model.__name__, doc)
    return {"$ref": REF + model.__name__}


def _cloudevent(types: list[str], data: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
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


def _message(
    name: str, payload: dict[str, Any], key: str, *, cloudevent: bool = True
) -> dict[str, Any]:
    return {
        "name": name,
        "contentType": ENVELOPE_CONTENT_TYPE if cloudevent else "application/json",
        "payload": payload,
        "bindings": {"kafka": {"key": {"type": "string", "description": key}}},
    }


def build(prefix: str = "switchboard") -> dict[str, Any]:
    names = TopicNames(prefix)
    schemas: dict[str, Any] = {}
    ticket = {
        "type": "object",
        "required": ["ticket"],
        "properties": {"ticket": _schema(Ticket, schemas)},
    }
    metric = _schema(MetricRecord, schemas)
    actions = [
        _message(
            t,
            _cloudevent([t], _schema(model, schemas), schemas),
            "ticket id, agent:<id> or customer:<id>",
        )
        for t, model in sorted(ACTIONS.items())
    ]
    messages: dict[Topic, list[dict[str, Any]]] = {
        Topic.INBOUND: [
            _message(
                EventType.INTERACTION_RECEIVED.value,
                _cloudevent(
                    [EventType.INTERACTION_RECEIVED.value], _schema(Interaction, schemas), schemas
                ),
                "sender identity, e.g. email:alice@example.com",
            )
        ],
        Topic.ACTIONS: actions,
        Topic.TICKETS: [
            _message("ticket lifecycle", _cloudevent(LIFECYCLE, ticket, schemas), "ticket id")
        ],
        Topic.TICKET_STATE: [
            _message(
                EventType.TICKET_SNAPSHOT.value,
                _cloudevent([EventType.TICKET_SNAPSHOT.value], ticket, schemas),
                "ticket id (compacted: the latest snapshot)",
            )
        ],
        Topic.DEADLETTER: [
            _message(
                "dead letter",
                {
                    "description": "the original record value, unchanged; headers dlq.topic, "
                    "dlq.partition, dlq.offset, dlq.consumer, dlq.error say where and why"
                },
                "the original key",
                cloudevent=False,
            )
        ],
    }
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
                cloudevent=False,
            )
        ]
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for name, spec in names.all().items():
        cid = spec.topic.name.lower()
        channels[cid] = {
            "address": name,
            "description": f"{spec.content}; written by {spec.written_by}"
            + ("; compacted" if spec.compacted else ""),
            "messages": {f"m{i}": m for i, m in enumerate(messages[spec.topic])},
            "bindings": {
                "kafka": {
                    "topicConfiguration": {
                        "cleanup.policy": ["compact" if spec.compacted else "delete"]
                    }
                }
            },
        }
        operations[f"receive_{cid}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{cid}"},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Switchboard topics",
            "version": "1",
            "description": "Every record on the Switchboard topics. Values are CloudEvents 1.0 in "
            "structured JSON mode except metric and dead-letter records.",
        },
        "defaultContentType": ENVELOPE_CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas},
    }
