"""Topic administration: ``switchboard topics ensure`` creates the registry's topics that
are missing and checks those that exist (cleanup policy, partitions); the roles ask
which are missing before they start."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from router.kafka import make_admin
from router.settings import KafkaSettings, Settings
from router.topics import TopicNames, TopicSpec

TOPIC_CONFIG_SOURCE = 1  # DescribeConfigs: a setting made on the topic itself
MAX_COMPACTION_LAG_MS = 86_400_000
"""A compacted topic is created with ``max.compaction.lag.ms`` of a day: without it Kafka
compacts a segment only once it is closed and its cleaner picks it, with no upper bound,
and the earlier snapshots of a ticket ``forget`` erased stay readable on ``ticket-state``
as long."""
MIN_INSYNC_FROM = 3
MIN_INSYNC = 2
"""A topic replicated 3 times or more is created with ``min.insync.replicas=2``: with the
broker's default of 1, an ``acks=all`` write is acknowledged by the leader alone when its
followers lag, and a leader lost then loses a record the ingress answered 202 for."""


@dataclass(frozen=True, slots=True)
class TopicCheck:
    """What ``ensure_topics`` did to one registry topic, or found wrong with it.

    ``outcome`` is ``created``, ``exists`` (its cleanup policy is the registry's),
    ``altered`` (its policy was ``found_policy`` and is now the registry's), ``refused``
    (the broker would not create it, or, with a ``found_policy``, not change that policy:
    ``reason``) or ``unchecked`` (its configuration could not be read: ``reason``).
    ``partitions`` is set when the topic has fewer partitions than configured,
    ``retention_ms`` when a topic kept by time keeps its records for another time than
    configured (never changed here: a shorter one would delete records at once)."""

    name: str
    outcome: str
    compacted: bool
    found_policy: str = ""
    reason: str = ""
    partitions: int | None = None
    retention_ms: str | None = None
    min_insync: str | None = None
    """Set when a topic replicated ``MIN_INSYNC_FROM`` times or more takes an ``acks=all``
    write with fewer than ``MIN_INSYNC`` replicas in sync (``min.insync.replicas``)."""

    @property
    def policy(self) -> str:
        return _policy(self.compacted)


async def ensure_topics(settings: Settings) -> dict[str, TopicCheck]:
    """Create every registry topic that is missing and check the ones that exist: a topic
    created earlier by someone else (auto-created by a producer, say) may have another
    cleanup policy, and ``forget``'s tombstones only erase anything on a compacted topic.
    A wrong policy is altered where the broker allows it. Partitions are never added:
    that would move keys to other partitions. Idempotent."""
    specs = TopicNames(settings.topic_prefix).all()
    admin = make_admin(settings)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        fresh: dict[str, TopicCheck] = {}
        for name, spec in specs.items():
            made = None if name in existing else await _create(admin, name, spec, settings.kafka)
            if made is not None:
                fresh[name] = made
        found = {n: s for n, s in specs.items() if n not in fresh}
        kafka = settings.kafka
        checks = await _check_existing(admin, found, kafka.partitions, kafka.retention_ms)
    finally:
        await admin.close()
    return {name: fresh.get(name) or checks[name] for name in specs}


def _policy(compacted: bool) -> str:
    return "compact" if compacted else "delete"


async def _create(
    admin: AIOKafkaAdminClient, name: str, spec: TopicSpec, kafka: KafkaSettings
) -> TopicCheck | None:
    """Create one topic: ``created``, ``refused`` with the broker's reason, or None when a
    concurrent creator was first (then it is checked as any existing topic). The client
    raises for no refusal: each topic's error is in the answer, and was once taken for a
    success (``created``, exit 0, with no topic made)."""
    configs = {"cleanup.policy": _policy(spec.compacted)}
    if spec.compacted:  # an erased ticket's earlier snapshots go within about a day
        configs["max.compaction.lag.ms"] = str(MAX_COMPACTION_LAG_MS)
    else:
        configs["retention.ms"] = str(kafka.retention_ms)
    if kafka.replication_factor >= MIN_INSYNC_FROM:
        configs["min.insync.replicas"] = str(MIN_INSYNC)
    topic = NewTopic(name, kafka.partitions, kafka.replication_factor, None, configs)
    try:
        response = await admin.create_topics([topic])
    except TopicAlreadyExistsError:
        return None
    for answered, code, *message in response.topic_errors:  # version 0 has no message
        if answered != name or not code:
            continue
        if code == TopicAlreadyExistsError.errno:
            return None
        reason = _refusal(code, message[0] if message else None)
        return TopicCheck(name, "refused", spec.compacted, reason=reason)
    return TopicCheck(name, "created", spec.compacted)


def _refusal(code: int, message: str | None) -> str:
    """A broker's error code and message as one reason: ``PolicyViolationError: ...``."""
    return f"{for_code(code).__name__}: {message or ''}".rstrip(": ")


async def _check_existing(
    admin: AIOKafkaAdminClient, specs: dict[str, TopicSpec], partitions: int, retention_ms: int
) -> dict[str, TopicCheck]:
    if not specs:
        return {}
    described = await admin.describe_topics(list(specs))
    counts = {t["topic"]: len(t["partitions"]) for t in described if not t["error_code"]}
    replicas = {  # the replication factor each topic has: its first partition's
        t["topic"]: len(t["partitions"][0].get("replicas", ()))
        for t in described
        if not t["error_code"] and t["partitions"]
    }
    try:
        configs = await _topic_configs(admin, list(specs))
    except KafkaError as exc:
        configs = {name: f"{type(exc).__name__}: {exc}" for name in specs}
    checks = {}
    for name, spec in specs.items():
        check = await _reconcile(admin, name, spec.compacted, configs[name])
        few = counts.get(name, partitions)
        if few < partitions:
            check = replace(check, partitions=few)
        found = configs[name]
        if not spec.compacted and isinstance(found, dict):
            kept = found.get("retention.ms", (None, False))[0]
            if kept is not None and kept != str(retention_ms):
                check = replace(check, retention_ms=kept)
        if replicas.get(name, 0) >= MIN_INSYNC_FROM and isinstance(found, dict):
            insync = found.get("min.insync.replicas", ("1", False))[0]  # Kafka's default
            if insync is not None and insync.isdigit() and int(insync) < MIN_INSYNC:
                check = replace(check, min_insync=insync)
        checks[name] = check
    return checks


async def _topic_configs(
    admin: AIOKafkaAdminClient, names: list[str]
) -> dict[str, dict[str, tuple[str, bool]] | str]:
    """Each topic's configuration, ``name -> (value, set on the topic itself)``, or the
    broker's error for that topic. A setting left out is the broker's default."""
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    found: dict[str, dict[str, tuple[str, bool]] | str] = {}
    for response in await admin.describe_configs(resources):
        for resource in response.to_object()["resources"]:
            name = resource["resource_name"]
            if resource["error_code"]:
                found[name] = _refusal(resource["error_code"], resource["error_message"])
                continue
            found[name] = {
                entry["config_names"]: (entry["config_value"], _own(entry))
                for entry in resource["config_entries"]
            }
    return found


def _own(entry: dict[str, Any]) -> bool:
    """Whether a described setting is the topic's own, not a broker or built-in default
    (version 0 of the answer says ``is_default``, later ones the ``config_source``)."""
    if "config_source" in entry:
        return bool(entry["config_source"] == TOPIC_CONFIG_SOURCE)
    return not entry["is_default"]


async def _reconcile(
    admin: AIOKafkaAdminClient,
    name: str,
    compacted: bool,
    configs: dict[str, tuple[str, bool]] | str,
) -> TopicCheck:
    if isinstance(configs, str):
        return TopicCheck(name, "unchecked", compacted, reason=configs)
    found = configs.get("cleanup.policy", ("delete", False))[0]  # Kafka's default
    if found == _policy(compacted):
        return TopicCheck(name, "exists", compacted)
    # AlterConfigs replaces every setting of the topic: keep its own ones besides the policy.
    keep = {key: value for key, (value, own) in configs.items() if own}
    wanted = {**keep, "cleanup.policy": _policy(compacted)}
    refused = await _alter(admin, name, wanted)
    outcome = "refused" if refused else "altered"
    return TopicCheck(name, outcome, compacted, found_policy=found, reason=refused)


async def _alter(admin: AIOKafkaAdminClient, name: str, configs: dict[str, str]) -> str:
    """Set a topic's configuration; the broker's reason when it refuses, else ""."""
    try:
        responses = await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name, configs=configs)]
        )
    except (KafkaError, OSError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}".rstrip(": ")
    for response in responses:
        for resource in response.to_object()["resources"]:
            if resource["error_code"]:
                return _refusal(resource["error_code"], resource["error_message"])
    return ""


async def missing_topics(settings: Settings) -> list[str]:
    names = TopicNames(settings.topic_prefix)
    admin = make_admin(settings)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
    finally:
        await admin.close()
    return sorted(set(names.all()) - existing)
