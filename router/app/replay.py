"""``switchboard deadletter replay``: send dead letters back where they came from.

A dead letter keeps the original key and bytes, the original headers and, in ``dlq.*``
headers, the topic, partition, offset and consumer it came from and why it was set
aside. Once the cause is fixed (rules that refused an event, a notifier's SMTP settings),
a replay writes each chosen dead letter to its topic again: the original key, value and
headers (to the partition the key chooses; a record without a key to its original one),
plus these headers:

- ``switchboard.replay_for``: the consumer that dead-lettered a record it had read. Only
  that role takes the copy; the other readers of the topic skip it
  (``consumers.runner.addressed``): they took the original. A record of ``tickets`` the
  notifier could not deliver is sent again to the notifier, and the metrics and timers
  roles, which counted it the first time, do not count it twice. A record the broker
  refused to take as a role wrote it (``dlq.offset`` -1: an output too large) never
  reached any reader, so its copy has no such header: every reader takes it;
- ``switchboard.replay_of``: ``<partition>:<offset>`` of the dead letter. A copy that is
  dead-lettered again carries it, so its history can be followed;
- ``switchboard.replay_delivery``: for the notifier's dead letters, the one delivery
  (``dlq.delivery``) that failed: only it is tried again.

Each dead letter is replayed once: as its copy is acknowledged (a chunk at a time), its
place and time are marked in Redis (``Keys.replayed``), and a later run leaves it out
unless ``again`` is set. A copy that fails again is a new dead letter naming the one it
was a copy of (``replay_of``): a later run leaves it out too, and ``again`` sends only
the newest dead letter of each original record. A run stopped between an
acknowledgement and its mark sends that copy again next time; the role drops it by its
event id while its dedupe marker lives, as it drops any redelivery. Marks of dead
letters the topic no longer holds are dropped; a mark whose time is not the dead
letter's (the topic was made anew and the offset counts again) is no mark.

Not replayed, and counted: a dead letter whose value was kept as a prefix
(``dlq.truncated``) or whose key was cut, one whose topic is not there, one for a
compacted topic (``ticket-state``, the metric topics: a copy written now would replace
the newer value, or bring back a snapshot ``forget`` tombstoned; the roles write the
latest again anyway), and one for a topic of no installation of this prefix. A copy the
broker refuses is counted and left unmarked, so a later run tries it again.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaError

from router.app.reading import Progress, read_through
from router.app.report.windows import Period
from router.app.roles import CONSUMED
from router.kafka import (
    REPLAY_DELIVERY,
    REPLAY_FOR,
    REPLAY_OF,
    kafka_unavailable,
    make_producer,
)
from router.keys import Keys
from router.redis import RedisClient, make_redis, redis_errors, text
from router.settings import Settings
from router.topic_admin import missing_topics
from router.topics import SPECS, Topic, TopicNames

#: Headers of a dead letter that say where and why; not part of the original record.
_OURS = ("dlq.", REPLAY_FOR, REPLAY_OF, REPLAY_DELIVERY)
CHUNK = 100
#: Why a chosen dead letter was not replayed (the summary's columns, in this order).
SKIPS = (
    "replayed before",
    "failed again after a replay",
    "an older dead letter of the same record",
    "value cut",
    "key cut",
    "topic gone",
    "compacted topic",
    "not this installation's topic",
    "refused",
)


@dataclass(frozen=True, slots=True)
class Letter:
    """One dead letter: where it is, where it came from, and the original record."""

    partition: int
    offset: int
    timestamp_ms: int
    topic: str
    source_partition: int
    source_offset: int  # -1: an output the broker refused, never on its topic
    consumer: str
    error: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    cut: str | None  # "value cut" / "key cut": the original is not all there
    delivery: str | None = None  # the notifier's: the one delivery that failed
    replay_of: str | None = None  # the dead letter this one's record was a replayed copy of

    @property
    def place(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)


def letter_of(record: ConsumerRecord[bytes, bytes]) -> Letter | None:
    """The dead letter a record of the dead-letter topic holds; None when it has no
    ``dlq.topic`` header (written there by something else)."""
    found: dict[str, str] = {}
    kept: list[tuple[str, bytes]] = []
    for name, raw in record.headers or ():
        if name.startswith(_OURS):
            found.setdefault(name, (raw or b"").decode("utf-8", "replace"))
        else:
            kept.append((name, raw or b""))
    topic = found.get("dlq.topic")
    if not topic:
        return None
    cut = None
    if found.get("dlq.truncated") == "true":
        cut = "value cut"
    elif "dlq.key_truncated" in found:
        cut = "key cut"
    return Letter(
        partition=record.partition,
        offset=record.offset,
        timestamp_ms=record.timestamp,
        topic=topic,
        source_partition=_number(found.get("dlq.partition")),
        source_offset=_number(found.get("dlq.offset")),
        consumer=found.get("dlq.consumer", ""),
        error=found.get("dlq.error", ""),
        key=record.key,
        value=record.value,
        headers=tuple(kept),
        cut=cut,
        delivery=found.get("dlq.delivery"),
        replay_of=found.get(REPLAY_OF) or None,
    )


def _number(value: str | None) -> int:
    try:
        return int(value) if value is not None else -1
    except ValueError:
        return -1


@dataclass(frozen=True, slots=True)
class Choice:
    """Which dead letters to replay: every one given is required (None: any)."""

    topic: str | None = None  # the full name of the topic it came from
    consumer: str | None = None
    error: str | None = None  # a part of ``dlq.error``, any case
    period: Period | None = None  # when it was dead-lettered

    def takes(self, letter: Letter) -> bool:
        return (
            (self.topic is None or letter.topic == self.topic)
            and (self.consumer is None or letter.consumer == self.consumer)
            and (self.error is None or self.error.casefold() in letter.error.casefold())
            and (self.period is None or self.period.holds(letter.at))
        )


@dataclass
class Replayed:
    """What a run found and did, per (topic, consumer) the dead letters came from."""

    read: int = 0
    foreign: int = 0  # records on the dead-letter topic without ``dlq.topic``
    chosen: Counter[tuple[str, str]] = field(default_factory=Counter)
    sent: Counter[tuple[str, str]] = field(default_factory=Counter)
    skipped: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)
    reasons: Counter[str] = field(default_factory=Counter)  # dlq.error of the chosen ones

    def skip(self, letter: Letter, why: str) -> None:
        self.skipped.setdefault((letter.topic, letter.consumer), Counter())[why] += 1

    @property
    def total_sent(self) -> int:
        return sum(self.sent.values())

    @property
    def refused(self) -> int:
        return sum(c["refused"] for c in self.skipped.values())


Sending = Callable[[int, int], None]


async def replay(
    settings: Settings,
    choice: Choice,
    *,
    dry_run: bool = False,
    again: bool = False,
    progress: Progress | None = None,
    sending: Sending | None = None,
) -> Replayed:
    """Replay the dead letters ``choice`` takes (``dry_run``: count them, send nothing).
    Raises MissingTopics without the dead-letter topic, BackendUnavailable when Kafka or
    Redis fails midway (what was acknowledged by then is marked, but for the chunk in
    flight)."""
    done = Replayed()
    letters, first = await _read(settings, choice, done, progress)
    if not letters:
        return done
    keys = Keys(settings.topic_prefix)
    redis = make_redis(settings)
    try:
        with redis_errors():
            marked = {} if again else await _marked(redis, keys, letters)
            gone = set(await missing_topics(settings))
            names = TopicNames(settings.topic_prefix)
            todo: list[tuple[Letter, str | None]] = []
            latest = _latest_of_each_record(letters)
            for letter in letters:
                why, reader = _target(letter, names, gone, marked)
                if why is None and not again and letter.replay_of:
                    why = "failed again after a replay"
                elif why is None and again and letter.place not in latest:
                    why = "an older dead letter of the same record"
                if why:
                    done.skip(letter, why)
                else:
                    todo.append((letter, reader))
            if dry_run:
                done.sent.update((x.topic, x.consumer) for x, _ in todo)
                return done
            if todo:
                await _forget_expired(redis, keys, first)
                await _send(settings, redis, keys, todo, done, sending)
    except KafkaError as exc:
        raise kafka_unavailable(exc) from None
    finally:
        await redis.aclose()
    return done


async def _read(
    settings: Settings, choice: Choice, done: Replayed, progress: Progress | None
) -> tuple[list[Letter], dict[int, int]]:
    """The dead letters ``choice`` takes, and the earliest offset of each partition
    still on the topic."""
    letters: list[Letter] = []
    first: dict[int, int] = {}
    async for records in read_through(settings, Topic.DEADLETTER, progress):
        done.read += len(records)
        for record in records:
            first.setdefault(record.partition, record.offset)
            letter = letter_of(record)
            if letter is None:
                done.foreign += 1
            elif choice.takes(letter):
                letters.append(letter)
                done.chosen[letter.topic, letter.consumer] += 1
                done.reasons[_reason(letter.error)] += 1
    return letters, first


def _latest_of_each_record(letters: list[Letter]) -> set[str]:
    """The places of the newest dead letter of each original record: a copy a replay
    sent that failed again is a dead letter of its own (``replay_of`` names the one it
    was a copy of). Without this, every run sent each such copy again, and ``--again``
    all of them at once: 1, 2, 3, then 6 dead letters of one poison record."""
    parent = {letter.place: letter.replay_of for letter in letters if letter.replay_of}

    def original(place: str) -> str:
        seen = {place}
        while (up := parent.get(place)) is not None and up not in seen:
            seen.add(up)
            place = up
        return place

    newest: dict[str, Letter] = {}
    for letter in letters:
        root = original(letter.place)
        if root not in newest or (letter.timestamp_ms, letter.offset) > (
            newest[root].timestamp_ms,
            newest[root].offset,
        ):
            newest[root] = letter
    return {letter.place for letter in newest.values()}


def _target(
    letter: Letter, names: TopicNames, gone: set[str], marked: dict[str, int]
) -> tuple[str | None, str | None]:
    """Why the letter is not sent (None: it is), and the role its copy is for (None:
    every reader of the topic)."""
    if marked.get(letter.place) == letter.timestamp_ms:
        return "replayed before", None
    if letter.cut:
        return letter.cut, None
    topic = names.parse(letter.topic)
    if topic is None or topic is Topic.DEADLETTER:
        return "not this installation's topic", None
    if any(spec.topic is topic and spec.compacted for spec in SPECS):
        return "compacted topic", None
    if letter.topic in gone:
        return "topic gone", None
    read = letter.source_offset >= 0 and topic in CONSUMED.get(letter.consumer, ())
    return None, letter.consumer if read else None


def _reason(error: str) -> str:
    """A dead letter's reason without its details: the exception's name and the first
    words, so one cause counts as one line."""
    head = error.split(":", 2)
    return ":".join(head[:2]).strip()[:80] if len(head) > 1 else error[:80]


async def _marked(redis: RedisClient, keys: Keys, letters: list[Letter]) -> dict[str, int]:
    """The marks of these letters' places: the time of the dead letter each was for."""
    places = [letter.place for letter in letters]
    found: dict[str, int] = {}
    for start in range(0, len(places), 1000):
        part = places[start : start + 1000]
        values = await redis.hmget(keys.replayed(), part)
        for place, value in zip(part, values, strict=True):
            if value:
                found[place] = _number(text(value).split(" ", 1)[0])
    return found


async def _forget_expired(redis: RedisClient, keys: Keys, first: dict[int, int]) -> None:
    """Drop the marks of dead letters the topic no longer holds (retention aged them
    out), so the marks stay as many as the dead letters."""
    expired: list[str] = []
    async for raw, _ in redis.hscan_iter(keys.replayed(), count=1000):
        place = text(raw)
        partition, _, offset = place.partition(":")
        try:
            kept = first.get(int(partition))
            if kept is None or int(offset) < kept:
                expired.append(place)
        except ValueError:
            expired.append(place)
    for start in range(0, len(expired), 1000):
        await redis.hdel(keys.replayed(), *expired[start : start + 1000])


async def _send(  # noqa: PLR0917 - the run's parts, one call
    settings: Settings,
    redis: RedisClient,
    keys: Keys,
    todo: list[tuple[Letter, str | None]],
    done: Replayed,
    sending: Sending | None,
) -> None:
    """Send a chunk at a time; mark each acknowledged copy before the next chunk."""
    producer = make_producer(settings)
    await producer.start()
    try:
        partitions = {t: await _partitions(producer, t) for t in {x.topic for x, _ in todo}}
        for start in range(0, len(todo), CHUNK):
            chunk = todo[start : start + CHUNK]
            queued: list[tuple[Letter, asyncio.Future[Any]]] = []
            for letter, reader in chunk:  # in the dead letters' order: one await each
                try:
                    copy = _record(letter, reader, partitions[letter.topic])
                    queued.append((letter, await producer.send(**copy)))
                except KafkaError:  # refused before sending: too large, no such partition
                    done.skip(letter, "refused")
            acks = await asyncio.gather(*(f for _, f in queued), return_exceptions=True)
            acked: list[Letter] = []
            for (letter, _), ack in zip(queued, acks, strict=True):
                if isinstance(ack, BaseException):
                    done.skip(letter, "refused")
                else:
                    acked.append(letter)
                    done.sent[letter.topic, letter.consumer] += 1
            await _mark(redis, keys, acked)
            if sending:
                sending(start + len(chunk), len(todo))
    finally:
        await producer.stop()


async def _partitions(producer: AIOKafkaProducer, topic: str) -> int:
    try:
        return len(await producer.partitions_for(topic))
    except KafkaError:
        return 0


def _record(letter: Letter, reader: str | None, partitions: int) -> dict[str, Any]:
    """``producer.send``'s arguments for the copy of a dead letter: to the partition its
    key chooses now (the one newer records of that key go to), or, without a key, to
    the one it came from."""
    headers = [*letter.headers, (REPLAY_OF, letter.place.encode())]
    if reader is not None:
        headers.append((REPLAY_FOR, reader.encode()))
        if letter.delivery:
            headers.append((REPLAY_DELIVERY, letter.delivery.encode()))
    keep = letter.key is None and 0 <= letter.source_partition < partitions
    return {
        "topic": letter.topic,
        "key": letter.key,
        "value": letter.value,
        "headers": headers,
        "partition": letter.source_partition if keep else None,
    }


async def _mark(redis: RedisClient, keys: Keys, letters: Iterable[Letter]) -> None:
    """Mark each letter's place with its time (and when it was replayed, for people)."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    flat: list[str] = []
    for letter in letters:
        flat += [letter.place, f"{letter.timestamp_ms} {now}"]
    if flat:
        await redis.hset(keys.replayed(), items=flat)


def summary(done: Replayed, deadletter: str, *, dry_run: bool = False) -> list[str]:
    """What a run says: the dead letters read and chosen, then per topic and consumer
    they came from how many were (or, with ``dry_run``, would be) replayed and why the
    others were not, then the reasons they were dead-lettered for."""
    chosen = sum(done.chosen.values())
    lines = [
        f"read {done.read:,} records of {deadletter}: "
        f"{chosen:,} dead letter{'' if chosen == 1 else 's'} chosen"
        + (f" ({done.foreign:,} records without dlq.* headers left out)" if done.foreign else "")
    ]
    verb = "would replay" if dry_run else "replayed"
    for (topic, consumer), count in sorted(done.chosen.items()):
        skipped = done.skipped.get((topic, consumer), Counter())
        parts = [f"{verb} {done.sent[topic, consumer]:,}"]
        parts += [f"{skipped[why]:,} {why}" for why in SKIPS if skipped[why]]
        lines.append(
            f"  from {topic} set aside by {consumer or '?'}: {count:,}: " + ", ".join(parts)
        )
    if done.reasons:
        lines.append("reasons:")
        lines += [f"  {n:,} × {why}" for why, n in done.reasons.most_common(10)]
        if len(done.reasons) > 10:
            lines.append(f"  ... and {len(done.reasons) - 10:,} more")
    total = done.total_sent
    if dry_run:
        lines.append(f"dry run: {total:,} would be replayed; nothing was sent")
    else:
        lines.append(f"replayed {total:,} dead letter{'' if total == 1 else 's'}")
    before = sum(c["replayed before"] for c in done.skipped.values())
    if before:
        lines.append(f"{before:,} replayed before were left out (--again sends them again)")
    if done.refused:
        lines.append(f"{done.refused:,} refused by the broker: run it again to retry them")
    return lines
