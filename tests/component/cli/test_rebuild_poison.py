"""``switchboard state rebuild`` over a ``tickets`` topic that holds poison: the live
roles dead-letter it (once each, when they read it), the rebuild does not do it again."""

from __future__ import annotations

import asyncio
import os

import pytest
from aiokafka import AIOKafkaProducer

from router.app.embedded import EmbeddedServices, free_port
from router.settings import Settings
from router.topic_admin import ensure_topics
from router.topics import Topic, TopicNames
from tests.component.cli.test_rebuild_running import rebuild_cli
from tests.conftest import make_settings, read_topic

pytestmark = pytest.mark.component


async def _one_poison_record(settings: Settings) -> None:
    await ensure_topics(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        topic = TopicNames(settings.topic_prefix)(Topic.TICKETS)
        await producer.send_and_wait(topic, b'{"specversion": "1.0", "id": ', key=b"T-1")
    finally:
        await producer.stop()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_rebuild_skips_poison_without_deadlettering_it_again(services: EmbeddedServices) -> None:
    prefix = f"rbpoison{os.getpid()}x{free_port()}"
    settings = make_settings(services, prefix)
    asyncio.run(_one_poison_record(settings))
    outputs = []
    for _ in range(2):  # every run the same: nothing written to the dead-letter topic
        result = rebuild_cli(settings)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout + result.stderr)
    dead = asyncio.run(read_topic(settings, Topic.DEADLETTER, expect=0, timeout=2, settle=1))
    assert len(dead) == 0
    for output in outputs:
        [said] = [line for line in output.splitlines() if "unreadable_records_skipped" in line]
        assert "records=1" in said, said
        assert f"{prefix}.deadletter" in said, said
        assert "1 unreadable records skipped (see the dead-letter topic)" in output
