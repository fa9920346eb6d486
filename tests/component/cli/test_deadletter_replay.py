"""``switchboard deadletter replay`` against the real broker, valkey and a running router:
a helpdesk's transfer to a queue the rules did not have yet is dead-lettered; once the
rule author adds the queue, a dry run counts it, the replay applies it once, and a second
replay sends nothing again (``--again`` would)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
import structlog
from aiokafka import AIOKafkaProducer

from router.codec import CONTENT_TYPE_HEADER, encode_event
from router.events import CloudEvent
from router.kafka import REPLAY_FOR
from router.settings import Settings
from router.topics import Topic, TopicNames
from router.vocabulary import EventType
from tests.component.pipeline.conftest import run_switchboard
from tests.component.pipeline.test_dropped_queue import (
    WITH_VIP,
    WITHOUT_VIP,
    post,
    tickets_until,
    until_logged,
)
from tests.conftest import read_topic, settings_env, values

pytestmark = pytest.mark.component


async def switchboard_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "router.app", "deadletter", "replay", *args],
        env=settings_env(settings), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


async def transfer(settings: Settings, ticket_id: str, queue: str) -> None:
    """A transfer written to ``actions`` directly, as a helpdesk that speaks Kafka does."""
    event = CloudEvent(
        id="transfer-1",
        source="/helpdesk",
        type="switchboard.ticket.transferred",
        data={"ticket_id": ticket_id, "queue": queue},
    )
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(
            TopicNames(settings.topic_prefix)(Topic.ACTIONS),
            encode_event(event),
            key=ticket_id.encode(),
            headers=[CONTENT_TYPE_HEADER, ("x-helpdesk", b"desk-7")],
        )
    finally:
        await producer.stop()


def moved_to_vip(events: list[dict[str, object]]) -> list[dict[str, object]]:
    return [
        e
        for e in events
        if e["type"] == EventType.TICKET_QUEUED and e["data"]["queue"] == "vip"  # type: ignore[index]
    ]


@pytest.mark.slow
async def test_a_dead_letter_is_replayed_once_after_its_cause_is_fixed(
    settings: Settings, tmp_path: Path
) -> None:
    from pydantic import SecretStr

    rules = tmp_path / "rules.yaml"
    rules.write_text(WITHOUT_VIP)
    update = {"rules_path": rules, "api_tokens": SecretStr("tok")}
    run = frozenset({"ingress", "router"})
    async with run_switchboard(settings.model_copy(update=update), run) as desk:
        await post(desk, "/v1/channels/webform", {"email": "ada@example.com", "message": "hi"})
        events = await tickets_until(
            settings, lambda ev: any(e["type"] == EventType.TICKET_CREATED for e in ev)
        )
        ticket_id = str(events[0]["data"]["ticket"]["id"])

        await transfer(settings, ticket_id, "vip")  # no such queue yet: dead-lettered
        [dead] = await read_topic(settings, Topic.DEADLETTER, expect=1, timeout=20)
        headers = dict(dead.headers)
        assert headers["dlq.consumer"] == b"router"
        assert b"vip" in headers["dlq.error"]

        nothing = await switchboard_cli(settings, "--consumer", "timers")
        assert nothing.returncode == 0, nothing.stderr
        assert "0 dead letters chosen" in nothing.stdout

        with structlog.testing.capture_logs() as logs:
            rules.write_text(WITH_VIP)
            await until_logged(logs, "rules.reloaded")

        dry = await switchboard_cli(settings, "--topic", "actions", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "dry run: 1 would be replayed; nothing was sent" in dry.stdout
        assert f"from {settings.topic_prefix}.actions set aside by router: 1" in dry.stdout
        await asyncio.sleep(1)
        assert moved_to_vip(values(await read_topic(settings, Topic.TICKETS, expect=1))) == []

        first = await switchboard_cli(settings, "--error", "VIP", "--topic", "actions")
        assert first.returncode == 0, first.stderr
        assert "replayed 1 dead letter" in first.stdout
        events = await tickets_until(settings, lambda ev: bool(moved_to_vip(ev)))
        [moved] = moved_to_vip(events)
        assert moved["data"]["ticket"]["id"] == ticket_id  # type: ignore[index]

        again = await switchboard_cli(settings)
        assert again.returncode == 0, again.stderr
        assert "replayed 0 dead letters" in again.stdout
        assert "1 replayed before were left out (--again sends them again)" in again.stdout

    actions = await read_topic(settings, Topic.ACTIONS, expect=2)
    copy = actions[-1]
    assert (copy.key, copy.value, copy.partition) == (dead.key, dead.value, dead.partition)
    kept = dict(copy.headers)
    assert kept["x-helpdesk"] == b"desk-7"  # the original headers, no dlq.* ones
    assert not [name for name in kept if name.startswith("dlq.")]
    assert kept[REPLAY_FOR] == b"router"
    assert kept["switchboard.replay_of"] == f"{dead.partition}:{dead.offset}".encode()
    assert len(moved_to_vip(values(await read_topic(settings, Topic.TICKETS, expect=1)))) == 1


async def test_without_the_dead_letter_topic_it_names_the_prefix(settings: Settings) -> None:
    wrong = settings.model_copy(update={"topic_prefix": "nosuchprefix"})
    done = await switchboard_cli(wrong, "--dry-run")
    assert done.returncode == 2
    assert "SWITCHBOARD_TOPIC_PREFIX" in done.stderr
    assert "nosuchprefix.deadletter" in done.stderr


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--consumer", "notifer"], "error: --consumer: one of router, timers, metrics, notifier"),
        (["--topic", "tikets"], "error: --topic: no topic 'tikets'"),
        (["--from", "2026-12-01"], "error: --from and --to go together"),
    ],
)
async def test_a_misspelt_choice_is_one_line_and_exit_2(
    settings: Settings, args: list[str], said: str
) -> None:
    """A typo must not read as "0 dead letters chosen", as if nothing was wrong."""
    done = await switchboard_cli(settings, *args, "--dry-run")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith(said), done.stderr


@pytest.mark.slow
async def test_a_copy_that_fails_again_is_not_sent_again_and_again_sends_one(
    settings: Settings,
) -> None:
    """A replayed copy that fails again is a new dead letter: every later run had sent it
    once more, and ``--again`` every copy at once (1, 2, 3, then 6 dead letters of one
    poison record)."""
    async with run_switchboard(settings, frozenset({"router"})):
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
        await producer.start()
        try:
            await producer.send_and_wait(
                TopicNames(settings.topic_prefix)(Topic.INBOUND),
                b'{"specversion": "1.0", "id": ',
                key=b"email:p@example.com",
                headers=[CONTENT_TYPE_HEADER],
            )
        finally:
            await producer.stop()
        await read_topic(settings, Topic.DEADLETTER, expect=1, timeout=20)

        first = await switchboard_cli(settings)
        assert "replayed 1 dead letter" in first.stdout, first.stdout + first.stderr
        await read_topic(settings, Topic.DEADLETTER, expect=2, timeout=20)

        second = await switchboard_cli(settings)
        assert "replayed 0 dead letters" in second.stdout, second.stdout
        assert "1 replayed before, 1 failed again after a replay" in second.stdout

        again = await switchboard_cli(settings, "--again")
        assert "replayed 1 dead letter" in again.stdout, again.stdout
        assert "1 an older dead letter of the same record" in again.stdout
        dead = await read_topic(settings, Topic.DEADLETTER, expect=3, timeout=20, settle=2)
    assert len(dead) == 3
