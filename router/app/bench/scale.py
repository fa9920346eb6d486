"""Scale-out: the router and the timers role with two processes each, next to the one
process of the roles-alone step, on the same events and the same partitions.

The events are pre-filled in ``inbound`` of a prefix of their own; two router processes
are started together and timed through them (``solo``: the clock starts once both are
ready, so what the first did alone is not counted), then two timers processes through
the tickets the routers wrote. The first process usually starts on the backlog before the
second joins, so the group rebalances while records are in flight. Then the audit: the
whole tickets topic read back, to show that nothing was processed twice across it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from router.app.bench.clients import running
from router.app.bench.processes import RoleProcesses
from router.app.bench.raw import produce_all
from router.app.bench.solo import QUIET_POLL_MS, QUIET_POLLS, Solo, role_alone
from router.kafka import client_options
from router.settings import Settings
from router.topics import Topic, TopicNames
from router.vocabulary import EventType

PROCESSES = 2
ANSWERS = (EventType.TICKET_CREATED, EventType.TICKET_MESSAGE_ADDED)
TIMER_TYPES = (EventType.TICKET_SLA_WARNING, EventType.TICKET_SLA_BREACHED)
Timer = tuple[str, str, str, str]
"""(ticket, type, target, due): what a timer's event id is derived from."""


@dataclass(frozen=True)
class Audit:
    """The tickets topic after both two-process runs.

    ``records`` lifecycle records carry ``distinct_ids`` CloudEvents ids; ``answered`` of
    the ``inbound`` events have their ``ticket.created``/``message_added``, and
    ``answered_twice`` of them more than one (a second ticket, a second message);
    ``timers_fired_twice`` of the ``timers_fired`` timers (ticket, kind, target, due)
    fired under more than one id. (A ticket whose priority changed gets a new clock, so a
    second warning with another due time is no duplicate.) A record written twice under
    one id counts as a duplicate too (``records`` > ``distinct_ids``)."""

    records: int
    distinct_ids: int
    inbound: int
    answered: int
    answered_twice: int
    timers_fired: int
    timers_fired_twice: int

    @property
    def duplicates(self) -> int:
        return self.records - self.distinct_ids + self.answered_twice + self.timers_fired_twice

    @property
    def missing(self) -> int:
        return self.inbound - self.answered


@dataclass(frozen=True)
class ScaleOut:
    partitions: int
    router: dict[int, Solo]
    timers: dict[int, Solo]
    audit: Audit


async def scale_out(
    settings: Settings,
    roles: RoleProcesses,
    events: list[tuple[bytes, bytes]],
    one: dict[str, Solo],
    say: Callable[[str], None],
) -> ScaleOut:
    """Two router processes, then two timers processes, each next to ``one`` (the roles
    alone, one process each, on the same events), and the audit of what they wrote."""
    names = TopicNames(settings.topic_prefix)
    await produce_all(settings, names(Topic.INBOUND), events)
    router = await role_alone(settings, roles, "router", Topic.INBOUND, say, processes=PROCESSES)
    timers = await role_alone(settings, roles, "timers", Topic.TICKETS, say, processes=PROCESSES)
    say("      reading the tickets topic back: anything processed twice?")
    ids = {orjson.loads(value)["id"] for _, value in events}
    audit, partitions = await audit_tickets(settings, ids)
    return ScaleOut(
        partitions,
        {1: one["router"], PROCESSES: router},
        {1: one["timers"], PROCESSES: timers},
        audit,
    )


async def audit_tickets(settings: Settings, inbound: set[str]) -> tuple[Audit, int]:
    """Read the whole tickets topic (nothing writes it now): the audit, and the topic's
    partition count."""
    topic = TopicNames(settings.topic_prefix)(Topic.TICKETS)
    consumer = AIOKafkaConsumer(
        **client_options(settings.kafka), enable_auto_commit=False, max_poll_records=10_000
    )
    records = 0
    ids: set[str] = set()
    answers: dict[str, set[str]] = defaultdict(set)
    fired: dict[Timer, set[str]] = defaultdict(set)
    async with running(consumer):
        # aiokafka has no public metadata refresh for a consumer without a subscription
        await consumer._client.force_metadata_update()  # noqa: SLF001
        tps = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or {0})
        ]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        quiet = 0
        while quiet < QUIET_POLLS:
            batch = await consumer.getmany(timeout_ms=QUIET_POLL_MS)
            quiet = 0 if batch else quiet + 1
            for record in (r for got in batch.values() for r in got):
                event = orjson.loads(record.value or b"{}")
                records += 1
                ids.add(event["id"])
                kind = event.get("type")
                data = event.get("data") or {}
                if kind in ANSWERS:
                    cause = (data.get("interaction") or {}).get("event_id")
                    if cause in inbound:
                        answers[cause].add(event["id"])
                elif kind in TIMER_TYPES:
                    ticket = (data.get("ticket") or {}).get("id", "")
                    timer = (ticket, kind, str(data.get("target")), str(data.get("due")))
                    fired[timer].add(event["id"])
    audit = Audit(
        records=records,
        distinct_ids=len(ids),
        inbound=len(inbound),
        answered=len(answers),
        answered_twice=sum(1 for found in answers.values() if len(found) > 1),
        timers_fired=len(fired),
        timers_fired_twice=sum(1 for found in fired.values() if len(found) > 1),
    )
    return audit, len(tps)
