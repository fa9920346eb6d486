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
    schemas = doc["components"]["schemas"]
    channels = doc["channels"]
    for ref in refs(doc):
        kind, _, name = ref.removeprefix("#/").partition("/")
        target = schemas if ref.startswith("#/components/schemas/") else channels
        key = ref.rsplit("/", 1)[-1]
        assert key in target, f"dangling {ref} ({kind}, {name})"
    assert {"Interaction", "Ticket", "MetricRecord", "CloudEvent"} <= set(schemas)


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
