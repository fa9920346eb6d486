"""``switchboard topics ensure`` on topics that already exist with the wrong settings, on the
real embedded broker: it reads their configuration instead of repeating the registry's, and
the embedded broker refuses AlterConfigs, so a wrong cleanup policy is an error (exit 1)."""

from __future__ import annotations

import os
import re

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import NewTopic

from router.app.embedded import EmbeddedServices
from router.kafka import make_admin
from router.topic_admin import ensure_topics
from router.topics import Topic, TopicNames
from tests.component.cli.test_processes import clean_env, switchboard
from tests.conftest import make_settings

pytestmark = pytest.mark.component


async def test_a_delete_policy_metric_topic_is_an_error_not_reported_compacted(
    services: EmbeddedServices,
) -> None:
    prefix = f"wrongpolicy{os.getpid()}"
    settings = make_settings(services, prefix)
    names = TopicNames(prefix)
    sla, state = names(Topic.METRICS_SLA), names(Topic.TICKET_STATE)
    admin = make_admin(settings)
    await admin.start()
    try:  # created earlier by hand, one partition, time-retained
        await admin.create_topics([NewTopic(sla, 1, 1, None, {"cleanup.policy": "delete"})])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=services.bootstrap_servers)
    await producer.start()
    try:  # auto-created by a producer: the broker's default policy, delete
        await producer.send_and_wait(state, b"{}", key=b"T-1")
    finally:
        await producer.stop()
    env = clean_env(
        SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS=services.bootstrap_servers,
        SWITCHBOARD_TOPIC_PREFIX=prefix,
        SWITCHBOARD_KAFKA_PARTITIONS="2",
    )

    result = switchboard("topics", "ensure", env=env)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert f"{sla} compacted" not in result.stdout
    assert f"{state} compacted" not in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2, result.stderr
    for name in (sla, state):
        [line] = [e for e in errors if f"topic {name} " in e]
        assert "cleanup.policy=delete, expected compact" in line
        assert "refused" in line
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert any(
        re.search(rf"{re.escape(sla)} has 1 partitions, fewer than the 2 configured", w)
        for w in warnings
    ), result.stderr
    # the topics that were missing are created as before, compacted where the registry says
    assert f"created  {names(Topic.METRICS_FCR)} compacted" in result.stdout
    assert re.search(rf"^created  {re.escape(names(Topic.TICKETS))}$", result.stdout, re.M)


async def test_ensure_topics_reports_what_it_found(services: EmbeddedServices) -> None:
    prefix = f"found{os.getpid()}"
    settings = make_settings(services, prefix)
    names = TopicNames(prefix)
    first = await ensure_topics(settings)
    assert {check.outcome for check in first.values()} == {"created"}
    again = await ensure_topics(settings)
    assert {check.outcome for check in again.values()} == {"exists"}
    assert all(check.partitions is None for check in again.values())
    assert again[names(Topic.METRICS_WORKLOAD)].compacted


async def test_a_retention_changed_since_the_topics_were_made_is_reported_not_applied(
    services: EmbeddedServices,
) -> None:
    """``topics ensure`` had said ``exists`` and nothing more: the operator believed the
    new retention in force. It is not changed (a shorter one deletes records at once)."""
    prefix = f"retention{os.getpid()}"
    settings = make_settings(services, prefix)
    names = TopicNames(prefix)
    await ensure_topics(settings)
    hour = settings.model_copy(
        update={"kafka": settings.kafka.model_copy(update={"retention_ms": 3_600_000})}
    )
    again = await ensure_topics(hour)
    inbound, sla = again[names(Topic.INBOUND)], again[names(Topic.METRICS_SLA)]
    assert (inbound.outcome, inbound.retention_ms) == ("exists", str(settings.kafka.retention_ms))
    assert sla.retention_ms is None  # compacted: kept by key, not by time
    assert (await ensure_topics(settings))[names(Topic.INBOUND)].retention_ms is None
