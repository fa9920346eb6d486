from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from router.app.asyncapi import build
from router.topics import TopicNames

pytestmark = pytest.mark.unit


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def test_every_topic_is_a_channel_with_its_compaction() -> None:
    doc = build("acme")
    assert doc["asyncapi"] == "3.0.0"
    addresses = {c["address"]: c for c in doc["channels"].values()}
    assert set(addresses) == set(TopicNames("acme").all())
    policy = addresses["acme.metrics.workload"]["bindings"]["kafka"]["topicConfiguration"]
    assert policy["cleanup.policy"] == ["compact"]
    assert addresses["acme.inbound"]["messages"]["m0"]["name"] == (
        "switchboard.interaction.received"
    )


def test_every_reference_resolves() -> None:
    doc = build()
    for ref in refs(doc):
        node: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            assert isinstance(node, dict), f"dangling {ref}"
            assert part in node, f"dangling {ref}"
            node = node[part]
    schemas = doc["components"]["schemas"]
    assert {"Interaction", "Ticket", "MetricRecord", "CloudEvent"} <= set(schemas)


def test_every_message_documents_its_headers_and_each_operation_its_messages() -> None:
    doc = build()
    for channel in doc["channels"].values():
        for message in channel["messages"].values():
            assert message["headers"]["type"] == "object", message["name"]
    for name, operation in doc["operations"].items():
        assert operation["action"] in {"send", "receive"}
        assert name.startswith(operation["action"])
        assert operation["messages"], name


def test_cli_prints_the_document() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "router.app", "asyncapi"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert json.loads(result.stdout)["channels"]["tickets"]["address"] == "switchboard.tickets"


def test_the_published_shapes_require_what_the_contract_lists() -> None:
    """Generated as the models read, every field with a default had been optional: a
    CloudEvent without specversion (which the router dead-letters) and a snapshot
    without status or assignee validated against the published document."""
    schemas = build()["components"]["schemas"]
    assert {"specversion", "id", "source", "type"} <= set(schemas["CloudEvent"]["required"])
    snapshot = set(schemas["Ticket"]["required"])
    assert {"status", "priority", "queue", "tags", "assignee", "sla", "contacts"} <= snapshot
    assert {"agent_replies", "reopen_count", "rules_version", "follow_up_of"} <= snapshot
    assert {"handle_seconds", "language"} <= snapshot
    assert {"due", "breached"} <= set(schemas["SlaClock"]["required"])
    assert {"values", "final"} <= set(schemas["MetricRecord"]["required"])
