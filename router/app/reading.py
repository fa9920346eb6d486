"""Reading a whole topic once, from its beginning to the end it had when the read began:
what ``state rebuild``, ``report``, ``metrics verify`` and ``export`` are built on.

The end is where every partition's position reached the end offset the broker reported at
the start. A broker may report an end past the last record it can hand out (an offset it
counted but cannot serve); such a partition would be waited for forever, so a read that
gets nothing new for ``STALL_S`` seconds ends with a warning naming the partitions and
how far they got, and the caller works with what was there.

A topic that does not exist is an error (``MissingTopics``: one line naming it and
``SWITCHBOARD_TOPIC_PREFIX``, exit 2), never an empty topic: with a wrong prefix, or
before ``topics ensure``, a report of nothing would look like a quiet day. Nothing here
creates a topic: existence is read from the metadata of *every* topic (a metadata request
naming a topic asks a broker with ``auto.create.topics.enable`` to create it), and a
consumer is assigned only partitions that metadata showed.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from router.errors import ConfigError
from router.kafka import client_options, kafka_unavailable
from router.settings import Settings
from router.topic_admin import missing_topics
from router.topics import Topic, TopicNames

Progress = Callable[[str, int], None]
STALL_S = 10.0
log = structlog.get_logger("switchboard.reading")
PREFIX_SETTING = "SWITCHBOARD_TOPIC_PREFIX"


class MissingTopics(ConfigError):
    """Topics a tool reads are not on the cluster: a wrong ``SWITCHBOARD_TOPIC_PREFIX``,
    or topics never created. Not retriable; the CLI prints it as one line, exit 2."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = sorted(names)
        listed = ", ".join(repr(name) for name in self.names)
        noun = "topic" if len(self.names) == 1 else "topics"
        super().__init__(PREFIX_SETTING, f"no {noun} {listed} (run `switchboard topics ensure`?)")


async def require_topics(settings: Settings, *topics: Topic) -> None:
    """Raise MissingTopics naming every one of ``topics`` the cluster does not have, before
    any is read: one line names them all. ``missing_topics`` lists every topic, so this
    creates none."""
    names = TopicNames(settings.topic_prefix)
    missing = {names(topic) for topic in topics} & set(await missing_topics(settings))
    if missing:
        raise MissingTopics(missing)


async def read_through(
    settings: Settings,
    topic: Topic,
    progress: Progress | None = None,
    *,
    max_records: int = 5000,
    stall_s: float = STALL_S,
) -> AsyncIterator[list[ConsumerRecord[bytes, bytes]]]:
    """The records of ``topic``, a batch at a time, in offset order per partition; raises
    MissingTopics when there is no such topic."""
    name = TopicNames(settings.topic_prefix)(topic)
    consumer = AIOKafkaConsumer(**client_options(settings.kafka), enable_auto_commit=False)
    try:
        await consumer.start()
        if name not in await consumer.topics():  # every topic's metadata: creates none
            raise MissingTopics([name])
        tps = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or ())]
        if not tps:
            return
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        read = 0
        moved = time.monotonic()
        while True:
            batch = await consumer.getmany(timeout_ms=300, max_records=max_records)
            records = [r for recs in batch.values() for r in recs]
            if records:
                moved = time.monotonic()
                read += len(records)
                yield records
            if progress:
                progress(name, read)
            if records:
                continue
            behind = {}
            for tp, end in ends.items():
                position = await consumer.position(tp)
                if position < end:
                    behind[tp.partition] = f"{position} of {end}"
            if not behind:
                return
            if time.monotonic() - moved > stall_s:
                log.warning(
                    "topic_read_incomplete",
                    topic=name,
                    partitions=behind,
                    reason=f"the broker reported records it did not deliver for {stall_s:g} s",
                )
                return
    except KafkaError as exc:  # the broker went away after the start-up check
        raise kafka_unavailable(exc) from None
    finally:
        await consumer.stop()
