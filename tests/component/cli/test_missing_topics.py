"""The tools that read whole topics (``metrics verify``, ``report`` live and recomputed,
``export inbound``) on the real embedded broker, under a topic prefix nobody created (a
wrong ``SWITCHBOARD_TOPIC_PREFIX``, or before ``topics ensure``): one line naming the
missing topics and the setting, exit 2, no output file; and no topic is created by the
asking (the embedded broker creates a topic a metadata request names)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from router.app.embedded import EmbeddedServices
from router.app.reading import MissingTopics
from router.app.rebuild import read_all
from router.app.report import period_of
from router.app.verify import verify
from router.settings import Settings
from router.topics import METRIC_TOPICS, Topic, TopicNames
from tests.conftest import make_settings, settings_env

pytestmark = pytest.mark.component

ROOT = Path(__file__).resolve().parents[3]
DAY = ["--from", "2026-11-24", "--to", "2026-11-24"]


@pytest.fixture
def uncreated(services: EmbeddedServices) -> Settings:
    return make_settings(services, f"absent{os.getpid()}x{uuid4().hex[:8]}")


def switchboard(settings: Settings, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "router.app", *map(str, args)],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )


async def topics_of(settings: Settings) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    await admin.start()
    try:
        return sorted(t for t in await admin.list_topics() if t.startswith(settings.topic_prefix))
    finally:
        await admin.close()


COMMANDS = {
    "metrics verify": (["metrics", "verify", *DAY], [*METRIC_TOPICS.values(), Topic.TICKETS]),
    "report": (["report", *DAY], list(METRIC_TOPICS.values())),
    "report --recompute": (["report", *DAY, "--recompute"], [Topic.TICKETS]),
    "export inbound": (["export", "inbound", *DAY], [Topic.INBOUND]),
}


@pytest.mark.parametrize("command", COMMANDS)
async def test_a_tool_under_a_prefix_nobody_created_names_the_topics_and_creates_none(
    uncreated: Settings, tmp_path: Path, command: str
) -> None:
    args, read = COMMANDS[command]
    out = tmp_path / "out.file"
    with_out = [*args, "--out", out] if command != "metrics verify" else args
    result = await asyncio.to_thread(switchboard, uncreated, *with_out)

    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "SWITCHBOARD_TOPIC_PREFIX" in line
    names = TopicNames(uncreated.topic_prefix)
    for topic in read:
        assert repr(names(topic)) in line, line
    assert "topics ensure" in line
    assert not out.exists()  # no empty page, no empty file
    assert result.stdout == ""  # no "0 differences"
    assert await topics_of(uncreated) == []


async def test_verify_names_only_the_topic_that_is_missing(uncreated: Settings) -> None:
    names = TopicNames(uncreated.topic_prefix)
    admin = AIOKafkaAdminClient(bootstrap_servers=uncreated.kafka.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(names(t), 1, 1) for t in METRIC_TOPICS.values()], validate_only=False
        )
    finally:
        await admin.close()
    period = period_of("2026-11-24", "2026-11-24")
    with pytest.raises(MissingTopics) as raised:
        await verify(uncreated, period)
    assert raised.value.names == [names(Topic.TICKETS)]
    assert str(raised.value).startswith(
        f"SWITCHBOARD_TOPIC_PREFIX: no topic '{names(Topic.TICKETS)}'"
    )
    assert names(Topic.TICKETS) not in await topics_of(uncreated)


async def test_reading_a_topic_that_is_not_there_raises_and_creates_it_not(
    uncreated: Settings,
) -> None:
    with pytest.raises(MissingTopics):
        await read_all(uncreated, Topic.TICKET_STATE)
    assert await topics_of(uncreated) == []
