"""Compaction on a real Apache Kafka: ``switchboard topics ensure`` makes the metric topics and
the ticket-state topic compacted and every other topic time-retained, and the broker then
keeps only the latest revision of each metric window."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from router.codec import JSON_HEADER
from router.events import MetricRecord, Window
from router.kafka import make_admin
from router.settings import Settings
from router.topics import Topic, TopicNames
from tests.component.cli.test_processes import clean_env
from tests.component.cli.test_processes import switchboard as switchboard_cli
from tests.conftest import read_topic
from tests.integration.conftest import TIMEOUT_S, WAIT_S, produce

pytestmark = [pytest.mark.integration, pytest.mark.timeout(TIMEOUT_S)]

# Spelled out from the contract rather than read from the registry, so that the test and the
# registry can disagree.
COMPACTED = {
    Topic.TICKET_STATE,
    Topic.METRICS_SLA,
    Topic.METRICS_FCR,
    Topic.METRICS_SATISFACTION,
    Topic.METRICS_WORKLOAD,
}
TIME_RETAINED = {Topic.INBOUND, Topic.ACTIONS, Topic.TICKETS, Topic.DEADLETTER}


def _resources(responses: list[Any]) -> list[tuple[Any, ...]]:
    """(error_code, error_message, resource_type, resource_name, ...) of every resource."""
    return [tuple(r) for response in responses for r in response.get_item("resources")]


async def topic_configs(settings: Settings, names: list[str]) -> dict[str, dict[str, str]]:
    admin = make_admin(settings)
    await admin.start()
    try:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        )
    finally:
        await admin.close()
    configs: dict[str, dict[str, str]] = {}
    for error_code, error_message, _, name, entries, *_ in _resources(responses):
        assert error_code == 0, f"describe_configs {name}: {error_message}"
        configs[name] = {entry[0]: entry[1] for entry in entries}
    return configs


async def set_topic_configs(settings: Settings, name: str, configs: dict[str, str]) -> None:
    """Replace the topic's overrides with ``configs`` (AlterConfigs sets the whole set) and
    wait until the broker reports them."""
    admin = make_admin(settings)
    await admin.start()
    try:
        responses = await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name, configs)]
        )
    finally:
        await admin.close()
    for error_code, error_message, *_ in _resources(responses):
        assert error_code == 0, f"alter_configs {name}: {error_message}"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while True:
        current = (await topic_configs(settings, [name]))[name]
        if all(current.get(k) == v for k, v in configs.items()):
            return
        assert loop.time() < deadline, f"{name} does not report {configs}: {current}"
        await asyncio.sleep(0.2)


def outcomes(stdout: str) -> dict[str, str]:
    """``topics ensure`` prints one line per topic: outcome, name, and "compacted" or nothing."""
    return {line.split()[1]: line.split()[0] for line in stdout.splitlines() if line.strip()}


async def test_topics_ensure_compacts_the_metric_and_state_topics_and_only_those(
    bare_settings: Settings,
) -> None:
    settings = bare_settings
    names = TopicNames(settings.topic_prefix)
    assert set(Topic) == COMPACTED | TIME_RETAINED
    env = clean_env(
        SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS=str(settings.kafka.bootstrap_servers),
        SWITCHBOARD_TOPIC_PREFIX=settings.topic_prefix,
        SWITCHBOARD_KAFKA_PARTITIONS=str(settings.kafka.partitions),
    )

    first = await asyncio.to_thread(switchboard_cli, "topics", "ensure", env=env)
    assert first.returncode == 0, first.stderr
    assert outcomes(first.stdout) == {names(t): "created" for t in Topic}
    for line in first.stdout.splitlines():
        assert line.endswith(" compacted") == (line.split()[1] in {names(t) for t in COMPACTED})
    again = await asyncio.to_thread(switchboard_cli, "topics", "ensure", env=env)
    assert again.returncode == 0, again.stderr
    assert outcomes(again.stdout) == {names(t): "exists" for t in Topic}

    configs = await topic_configs(settings, [names(t) for t in Topic])
    for topic in COMPACTED:
        assert configs[names(topic)]["cleanup.policy"] == "compact", topic
    for topic in TIME_RETAINED:
        assert configs[names(topic)]["cleanup.policy"] == "delete", topic
        assert configs[names(topic)]["retention.ms"] == str(settings.kafka.retention_ms), topic


def metric(start: datetime, queue: str, revision: int) -> MetricRecord:
    return MetricRecord(
        metric="workload",
        window=Window(start=start, end=start + timedelta(minutes=1)),
        dimensions={"queue": queue, "channel": "webform"},
        counters={"created": revision},
        revision=revision,
        emitted_at=start + timedelta(seconds=revision),
    )


async def test_a_compacted_metric_topic_keeps_the_latest_revision_of_each_window(
    settings: Settings,
) -> None:
    name = TopicNames(settings.topic_prefix)(Topic.METRICS_WORKLOAD)
    # Roll segments after 100 ms and clean at any dirt, so compaction shows within seconds.
    # The policy is repeated because AlterConfigs replaces every override of the topic.
    await set_topic_configs(
        settings,
        name,
        {"cleanup.policy": "compact", "segment.ms": "100", "min.cleanable.dirty.ratio": "0.01"},
    )
    start = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    revisions = [metric(start, "billing", n) for n in (1, 2, 3)]
    key = revisions[0].key()
    # One partition, so the later record below rolls the segment holding the revisions.
    records = [(r.key(), r.model_dump_json().encode()) for r in revisions]
    await produce(settings, Topic.METRICS_WORKLOAD, *records, partition=0, headers=[JSON_HEADER])
    await asyncio.sleep(1.0)  # past segment.ms: the next append starts a new segment
    other = metric(start, "general", 1)
    await produce(
        settings,
        Topic.METRICS_WORKLOAD,
        (other.key(), other.model_dump_json().encode()),
        partition=0,
        headers=[JSON_HEADER],
    )

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while True:
        kept = await read_topic(settings, Topic.METRICS_WORKLOAD, expect=2, timeout=WAIT_S)
        seen = [orjson.loads(r.value)["revision"] for r in kept if r.key == key.encode()]
        if seen == [3]:
            break
        assert loop.time() < deadline, f"not compacted within 60 s: revisions {seen} remain"
        await asyncio.sleep(0.5)
    assert [r.key for r in kept] == [key.encode(), other.key().encode()]


async def test_topics_ensure_alters_a_metric_topic_found_time_retained(
    settings: Settings,
) -> None:
    """A metric topic created earlier with ``cleanup.policy=delete`` is made compacted,
    and the topic's own other settings survive (AlterConfigs replaces them all)."""
    name = TopicNames(settings.topic_prefix)(Topic.METRICS_SLA)
    await set_topic_configs(
        settings, name, {"cleanup.policy": "delete", "retention.bytes": "1048576"}
    )
    env = clean_env(
        SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS=str(settings.kafka.bootstrap_servers),
        SWITCHBOARD_TOPIC_PREFIX=settings.topic_prefix,
        SWITCHBOARD_KAFKA_PARTITIONS=str(settings.kafka.partitions),
    )

    result = await asyncio.to_thread(switchboard_cli, "topics", "ensure", env=env)

    assert result.returncode == 0, result.stderr
    assert f"altered  {name} cleanup.policy delete -> compact" in result.stdout.splitlines()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while (configs := (await topic_configs(settings, [name]))[name])["cleanup.policy"] != "compact":
        assert loop.time() < deadline, f"{name} still reports {configs}"
        await asyncio.sleep(0.2)
    assert configs["retention.bytes"] == "1048576"
