"""``ensure_topics`` against a broker that allows AlterConfigs (real Kafka does; the embedded
one does not, see tests/component/cli/test_topics_ensure.py): a wrong cleanup policy is
altered, the topic's own other settings are kept, and a refusal is reported, not hidden."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka.admin.config_resource import ConfigResource
from aiokafka.protocol.admin import AlterConfigsResponse_v1, DescribeConfigsResponse_v2

from router import topic_admin
from router.settings import Settings
from router.topics import Topic, TopicNames

pytestmark = pytest.mark.unit

PREFIX = "unit"
NAMES = TopicNames(PREFIX)
TOPIC_CONFIG, DEFAULT_CONFIG = 1, 5


class Broker:
    """Every registry topic exists with 2 partitions and ``policies`` (missing: no setting)."""

    def __init__(self, policies: dict[str, str], *, refuse: int = 0) -> None:
        self.policies = policies
        self.refuse = refuse
        self.altered: dict[str, dict[str, str]] = {}

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def list_topics(self) -> list[str]:
        return list(NAMES.all())

    async def describe_topics(self, names: list[str]) -> list[dict[str, Any]]:
        parts = [{"partition": p} for p in range(2)]
        return [{"topic": n, "error_code": 0, "partitions": parts} for n in names]

    async def describe_configs(self, resources: list[ConfigResource]) -> list[Any]:
        described = []
        for r in resources:
            entries = [("retention.bytes", "1048576", False, TOPIC_CONFIG, False, [])]
            entries.append(("segment.ms", "604800000", False, DEFAULT_CONFIG, False, []))
            if r.name in self.policies:
                entries.append(
                    ("cleanup.policy", self.policies[r.name], False, TOPIC_CONFIG, False, [])
                )
            described.append((0, "", 2, r.name, entries))
        return [DescribeConfigsResponse_v2(throttle_time_ms=0, resources=described)]

    async def alter_configs(self, resources: list[ConfigResource]) -> list[Any]:
        for r in resources:
            self.altered[r.name] = dict(r.configs)
        answer = [(self.refuse, "not allowed" if self.refuse else "", 2, r.name) for r in resources]
        return [AlterConfigsResponse_v1(throttle_time_ms=0, resources=answer)]


def settings() -> Settings:
    return Settings(
        kafka={"bootstrap_servers": "127.0.0.1:1", "partitions": 2},  # type: ignore[arg-type]
        topic_prefix=PREFIX,
    )


def right_policies() -> dict[str, str]:
    return {name: "compact" if spec.compacted else "delete" for name, spec in NAMES.all().items()}


async def test_a_wrong_policy_is_altered_keeping_the_topics_own_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sla, tickets = NAMES(Topic.METRICS_SLA), NAMES(Topic.TICKETS)
    broker = Broker({**right_policies(), sla: "delete", tickets: "compact"})
    monkeypatch.setattr(topic_admin, "make_admin", lambda _: broker)

    checks = await topic_admin.ensure_topics(settings())

    assert broker.altered == {
        sla: {"retention.bytes": "1048576", "cleanup.policy": "compact"},
        tickets: {"retention.bytes": "1048576", "cleanup.policy": "delete"},
    }
    assert (checks[sla].outcome, checks[sla].found_policy, checks[sla].policy) == (
        "altered",
        "delete",
        "compact",
    )
    assert checks[tickets].outcome == "altered"
    others = set(checks) - {sla, tickets}
    assert {checks[name].outcome for name in others} == {"exists"}


async def test_no_policy_set_is_the_default_delete_and_a_refusal_is_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = NAMES(Topic.TICKET_STATE)
    policies = right_policies()
    del policies[state]
    broker = Broker(policies, refuse=44)  # POLICY_VIOLATION
    monkeypatch.setattr(topic_admin, "make_admin", lambda _: broker)

    checks = await topic_admin.ensure_topics(settings())

    check = checks[state]
    assert (check.outcome, check.found_policy, check.policy) == ("refused", "delete", "compact")
    assert "PolicyViolationError" in check.reason
    assert "not allowed" in check.reason


class ReplicatedBroker(Broker):
    """Every topic replicated 3 times, with the broker's default min.insync.replicas."""

    async def describe_topics(self, names: list[str]) -> list[dict[str, Any]]:
        parts = [{"partition": p, "replicas": [1, 2, 3]} for p in range(2)]
        return [{"topic": n, "error_code": 0, "partitions": parts} for n in names]


async def test_a_replicated_topic_taking_acks_from_one_replica_is_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broker = ReplicatedBroker(right_policies())
    monkeypatch.setattr(topic_admin, "make_admin", lambda _: broker)

    checks = await topic_admin.ensure_topics(settings())

    assert {check.min_insync for check in checks.values()} == {"1"}
    assert broker.altered == {}  # reported, not changed behind the operator's back
