"""``topics ensure`` reads the broker's answer to CreateTopics: aiokafka raises for no
per-topic error, so a refused topic had been reported ``created`` (exit 0) with no topic
made. Each answer is that of a real broker, built from aiokafka's own response classes."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka.admin import NewTopic
from aiokafka.protocol.admin import CreateTopicsResponse_v0, CreateTopicsResponse_v3
from typer.testing import CliRunner

from router import topic_admin
from router.app import cli
from router.topics import Topic
from tests.unit.core.test_topics_ensure import NAMES, PREFIX, Broker, right_policies, settings

pytestmark = pytest.mark.unit

TOO_MANY_REPLICAS = "Replication factor: 3 larger than available brokers: 1."


class CreatingBroker(Broker):
    """No topic exists; CreateTopics answers each topic with ``answers`` (else success)."""

    def __init__(self, answers: dict[str, tuple[int, str]], *, version: int = 3) -> None:
        super().__init__(right_policies())
        self.answers = answers
        self.version = version
        self.asked: list[str] = []

    async def list_topics(self) -> list[str]:
        return []

    async def create_topics(self, topics: list[NewTopic]) -> Any:
        self.asked += [topic.name for topic in topics]
        answers = [(t.name, *self.answers.get(t.name, (0, ""))) for t in topics]
        if self.version == 0:  # no message in the oldest answer
            return CreateTopicsResponse_v0(topic_errors=[(name, code) for name, code, _ in answers])
        return CreateTopicsResponse_v3(throttle_time_ms=0, topic_errors=answers)


@pytest.mark.parametrize("version", [3, 0])
async def test_a_topic_the_broker_refuses_is_refused_not_created(
    monkeypatch: pytest.MonkeyPatch, version: int
) -> None:
    inbound, raced = NAMES(Topic.INBOUND), NAMES(Topic.TICKETS)
    answers = {inbound: (38, TOO_MANY_REPLICAS), raced: (36, f"Topic '{raced}' already exists.")}
    broker = CreatingBroker(answers, version=version)
    monkeypatch.setattr(topic_admin, "make_admin", lambda _: broker)

    checks = await topic_admin.ensure_topics(settings())

    assert broker.asked == list(NAMES.all())  # every topic tried, not only up to the refusal
    refused = checks[inbound]
    assert (refused.outcome, refused.found_policy) == ("refused", "")
    expected = "InvalidReplicationFactorError"
    assert refused.reason == (f"{expected}: {TOO_MANY_REPLICAS}" if version else expected)
    assert checks[raced].outcome == "exists"  # created meanwhile: checked as found
    others = set(checks) - {inbound, raced}
    assert {checks[name].outcome for name in others} == {"created"}


def test_topics_ensure_exits_1_naming_the_refused_topic_and_the_brokers_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The command's exit status is what a deploy script sees."""
    inbound = NAMES(Topic.INBOUND)
    broker = CreatingBroker({inbound: (38, TOO_MANY_REPLICAS)})
    monkeypatch.setattr(topic_admin, "make_admin", lambda _: broker)

    async def reachable(_: object) -> None:
        pass

    monkeypatch.setattr(cli, "check_kafka", reachable)
    monkeypatch.delenv("SWITCHBOARD_LOG_FORMAT", raising=False)
    env = {"SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "SWITCHBOARD_TOPIC_PREFIX": PREFIX}

    result = CliRunner().invoke(cli.app, ["topics", "ensure"], env=env)

    assert result.exit_code == 1, result.output
    assert f"created  {inbound}" not in result.stdout
    assert inbound in result.stderr
    assert TOO_MANY_REPLICAS in result.stderr
    assert "cleanup.policy" not in result.stderr  # it was never created: no policy to blame
    assert f"created  {NAMES(Topic.TICKETS)}" in result.stdout


class RecordingBroker(CreatingBroker):
    """Keeps the configuration each topic was created with."""

    def __init__(self) -> None:
        super().__init__({})
        self.configs: dict[str, dict[str, str]] = {}

    async def create_topics(self, topics: list[NewTopic]) -> Any:
        self.configs.update({t.name: dict(t.topic_configs) for t in topics})
        return await super().create_topics(topics)


@pytest.mark.parametrize(("replication", "insync"), [(3, "2"), (1, None)])
async def test_a_replicated_topic_is_created_with_two_replicas_in_sync(
    monkeypatch: pytest.MonkeyPatch, replication: int, insync: str | None
) -> None:
    """With the broker's default of 1, an acks=all write is acknowledged by the leader
    alone when its followers lag: a leader lost then loses an event answered 202."""
    broker = RecordingBroker()
    monkeypatch.setattr(topic_admin, "make_admin", lambda _: broker)
    base = settings()
    kafka = base.kafka.model_copy(update={"replication_factor": replication})
    replicated = base.model_copy(update={"kafka": kafka})

    await topic_admin.ensure_topics(replicated)

    assert {c.get("min.insync.replicas") for c in broker.configs.values()} == {insync}


async def test_a_compacted_topic_compacts_within_a_day() -> None:
    """Without ``max.compaction.lag.ms`` the earlier snapshots of a ticket ``forget``
    erased stay readable on ``ticket-state`` with no upper bound."""
    broker = RecordingBroker()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(topic_admin, "make_admin", lambda _: broker)
        await topic_admin.ensure_topics(settings())
    lag = {
        name: configs.get("max.compaction.lag.ms")
        for name, configs in broker.configs.items()
        if configs["cleanup.policy"] == "compact"
    }
    assert NAMES(Topic.TICKET_STATE) in lag
    assert set(lag.values()) == {"86400000"}
