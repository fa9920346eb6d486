"""The one topic registry: names, keys, compaction. Nothing else spells a topic name."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Topic(StrEnum):
    INBOUND = "inbound"
    ACTIONS = "actions"
    TICKETS = "tickets"
    TICKET_STATE = "ticket-state"
    METRICS_SLA = "metrics.sla"
    METRICS_FCR = "metrics.fcr"
    METRICS_SATISFACTION = "metrics.satisfaction"
    METRICS_WORKLOAD = "metrics.workload"
    DEADLETTER = "deadletter"


METRIC_TOPICS: dict[str, Topic] = {
    "sla": Topic.METRICS_SLA,
    "fcr": Topic.METRICS_FCR,
    "satisfaction": Topic.METRICS_SATISFACTION,
    "workload": Topic.METRICS_WORKLOAD,
}


@dataclass(frozen=True, slots=True)
class TopicSpec:
    topic: Topic
    key: str
    written_by: str
    content: str
    compacted: bool = False


SPECS: tuple[TopicSpec, ...] = (
    TopicSpec(Topic.INBOUND, "sender identity", "ingress", "switchboard.interaction.received"),
    TopicSpec(Topic.ACTIONS, "ticket id, agent:<id> or customer:<id>", "/v1/actions", "actions"),
    TopicSpec(Topic.TICKETS, "ticket id", "router, timers", "ticket lifecycle events"),
    TopicSpec(Topic.TICKET_STATE, "ticket id", "router", "latest ticket snapshot", True),
    TopicSpec(Topic.METRICS_SLA, "metric record key", "metrics", "SLA counters", True),
    TopicSpec(Topic.METRICS_FCR, "metric record key", "metrics", "FCR counters", True),
    TopicSpec(Topic.METRICS_SATISFACTION, "metric record key", "metrics", "CSAT/NPS/CES", True),
    TopicSpec(Topic.METRICS_WORKLOAD, "metric record key", "metrics", "workload counters", True),
    TopicSpec(Topic.DEADLETTER, "original key", "every consumer", "poison records + reason"),
)


@dataclass(frozen=True, slots=True)
class TopicNames:
    """Full topic names for one prefix."""

    prefix: str

    def __call__(self, topic: Topic) -> str:
        return f"{self.prefix}.{topic.value}"

    def parse(self, name: str) -> Topic | None:
        """The registry entry for a full name, or None for a foreign topic."""
        head, _, rest = name.partition(".")
        if head != self.prefix:
            return None
        try:
            return Topic(rest)
        except ValueError:
            return None

    def all(self) -> dict[str, TopicSpec]:
        return {self(spec.topic): spec for spec in SPECS}


@dataclass(frozen=True, slots=True)
class OutRecord:
    topic: Topic
    key: str
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()

    def pack(self) -> list[Any]:
        value = None if self.value is None else self.value.decode()
        return [self.topic.value, self.key, value, [[k, v.decode()] for k, v in self.headers]]

    @classmethod
    def unpack(cls, raw: list[Any]) -> OutRecord:
        topic, key, value, headers = raw
        return cls(
            Topic(topic),
            key,
            None if value is None else value.encode(),
            tuple((k, v.encode()) for k, v in headers),
        )
