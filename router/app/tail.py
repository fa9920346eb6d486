"""``switchboard tail``: print a topic's records for people.

Without ``--follow`` it reads up to the end offsets it saw when it started and returns,
so ``tail tickets`` answers "what is on the topic now" and ``--limit N`` stops at N or
at the end, whichever comes first. ``--follow`` keeps reading new records until
interrupted. Each record is a summary line led by ``[p<partition>:<offset>]`` (offsets
count per partition); ``--full`` prints its value (indented JSON) under that line.
``--json`` prints each record as one compact JSON object per line instead
(``{"topic", "partition", "offset", "key", "value"}``; the value parsed when it is JSON,
else a string, ``""`` when empty, null only for a tombstone; ``"headers"`` too when the
record has any, as with ``--full``: on the dead-letter topic the ``dlq.*`` headers say
why): the dump lines ``rules simulate --events`` reads. Bytes that are no UTF-8 text (a
dead letter keeps whatever a producer wrote) are given as base64 under ``value_b64``,
``key_b64`` and ``headers_b64`` instead, never with U+FFFD in place of what they held.
Metric topics are shown as a table of the latest revision per window (the last
``windows`` of them): once at the end, or live while following, with a note under it
counting the records that are no metric window (not a JSON object: ``--json`` shows
them). Off a terminal (a pipe, a file) the table is as wide as its cells, so nothing is
cut to fit a screen.

Anyone who can write to a topic chooses its bytes, so no control character of a key, a
header or a value reaches the terminal as it is: the text outputs write it escaped
(``\\x1b``), the JSON outputs as a JSON escape (``\\u001b``), so they stay JSON and
read back to the same value.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import time
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from router.app.reading import PREFIX_SETTING
from router.errors import SwitchboardError
from router.kafka import client_options
from router.settings import Settings
from router.topics import METRIC_TOPICS, Topic, TopicNames

POLL_MS = 200
#: Without --follow, give up waiting for the last offsets after this many empty polls
#: (a transaction marker or a compacted tail can leave the position short of the end).
IDLE_POLLS_AT_END = 10
#: Metric windows shown in the table unless asked otherwise.
TABLE_WINDOWS = 40
#: Off a terminal, a table may be this wide: wide enough for any row, so no cell is cut.
UNCUT_WIDTH = 100_000
#: C0, DEL and C1: the characters a terminal may act on instead of showing.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: DEL and C1, which JSON may carry raw (it escapes C0 itself).
_RAW_IN_JSON = re.compile(r"[\x7f-\x9f]")


class UnknownTopic(SwitchboardError):
    """The topic to tail does not exist on the cluster: a wrong name, or topics not created.

    Not retriable: asking again gives the same answer until someone creates the topic.
    """

    def __init__(self, name: str, *, prefixed: bool = False) -> None:
        where = f"{PREFIX_SETTING}: " if prefixed else ""
        super().__init__(f"{where}no topic {name!r} (run `switchboard topics ensure`?)")
        self.name = name


def resolve(settings: Settings, topic: str) -> tuple[str, Topic | None]:
    names = TopicNames(settings.topic_prefix)
    if (known := names.parse(topic)) is not None:
        return topic, known
    try:
        registry = Topic(topic)
    except ValueError:
        return topic, None
    return names(registry), registry


async def _at_end(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True


async def tail_topic(
    settings: Settings,
    topic: str,
    stop: asyncio.Event,
    console: Console,
    *,
    from_beginning: bool = True,
    limit: int = 0,
    follow: bool = False,
    full: bool = False,
    as_json: bool = False,
    windows: int = TABLE_WINDOWS,
) -> int:
    """Print records until the end of the topic (or ``stop``, or ``limit`` records, or
    forever with ``follow``). Returns how many records were printed; raises UnknownTopic
    when the topic does not exist."""
    name, registry = resolve(settings, topic)
    consumer = AIOKafkaConsumer(**client_options(settings.kafka), enable_auto_commit=False)
    await consumer.start()
    seen = 0
    try:
        # aiokafka has no public metadata refresh for a manually assigned consumer
        await consumer._client.force_metadata_update()  # noqa: SLF001
        partitions = consumer.partitions_for_topic(name)
        if not partitions:
            # a registry topic under the prefix: a wrong prefix is likelier than no topics
            raise UnknownTopic(name, prefixed=registry is not None)
        tps = [TopicPartition(name, p) for p in sorted(partitions)]
        consumer.assign(tps)
        started_ms = int(time.time() * 1000)
        if from_beginning:
            await consumer.seek_to_beginning(*tps)
        else:
            await consumer.seek_to_end(*tps)
        ends = await consumer.end_offsets(tps)
        older = {} if from_beginning else dict(ends)
        metrics = registry in METRIC_TOPICS.values() and not as_json
        latest: dict[str, dict[str, Any]] = {}
        unread = 0
        tables = console if console.is_terminal else uncut(console)
        live = Live(metric_view(latest, windows, 0), console=tables, auto_refresh=False)
        idle = 0
        cut = False  # a record fetched and left unshown by the limit
        with live if metrics and follow else contextlib.nullcontext():
            while not stop.is_set() and (not limit or seen < limit):
                if not follow and await _at_end(consumer, ends):
                    break
                batch = await consumer.getmany(timeout_ms=POLL_MS)
                idle = 0 if batch else idle + 1
                if not follow and idle >= IDLE_POLLS_AT_END:
                    break
                for records in batch.values():
                    for record in fresh(records, older, started_ms):
                        if limit and seen >= limit:
                            cut = True
                            break
                        seen += 1
                        read = show(
                            console,
                            record,
                            latest if metrics else None,
                            full=full,
                            as_json=as_json,
                        )
                        unread += 0 if read else 1
                if metrics and follow and batch:
                    live.update(metric_view(latest, windows, unread), refresh=True)
        if metrics and not follow:
            cut = cut or (bool(limit) and seen >= limit and not await _at_end(consumer, ends))
            tables.print(metric_view(latest, windows, unread, cut_at=seen if cut else 0))
    finally:
        await consumer.stop()
    return seen


STALE_SPAN = 10_000
"""How far past a partition's reported end a record may still be one written before the
tail started (``fresh``): at most one producer batch."""


def fresh(
    records: list[ConsumerRecord[Any, Any]], ends: dict[TopicPartition, int], at_ms: int
) -> list[ConsumerRecord[Any, Any]]:
    """``records`` without those written before the tail started that follow a reported
    end offset, for ``--no-from-beginning``. Some brokers (embedded Tansu) report the end
    of a partition whose last write held several records as that batch's first offset
    plus one, so seeking to the end lands inside the last batch: its records follow,
    stamped before the tail started. Only the run of such records right at the end is
    dropped, and a partition is no longer looked at once a record stamped after the start
    (or past the span) is seen: a producer whose clock is behind ours loses at most its
    records of that instant, not later ones. ``ends`` is consumed as partitions settle."""
    if not ends:
        return records
    kept = []
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        end = ends.get(tp)
        if end is not None:
            if end <= record.offset < end + STALE_SPAN and 0 <= record.timestamp < at_ms:
                continue
            del ends[tp]
        kept.append(record)
    return kept


def uncut(console: Console) -> Console:
    """A console writing where ``console`` does, as wide as any table: off a terminal the
    width rich assumes (80) would cut the cells people grep and paste."""
    return Console(file=console.file, width=UNCUT_WIDTH, color_system=None, highlight=False)


def printable(text: str, keep: str = "") -> str:
    """``text`` with each control character but those in ``keep`` written as ``\\xNN``:
    a record anyone may write must not clear the screen, retitle the window or colour
    the output of whoever tails it."""
    return _CONTROL.sub(
        lambda m: m[0] if m[0] in keep else f"\\x{ord(m[0]):02x}",
        text,
    )


def json_text(value: Any, option: int = 0) -> str:
    """``value`` as JSON with DEL and C1 escaped too (``\\u009b``): orjson escapes only
    what JSON requires, and some terminals act on C1. Still JSON, the same value."""
    text = orjson.dumps(value, option=option).decode()
    return _RAW_IN_JSON.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


@dataclass(frozen=True, slots=True)
class NotText:
    """Bytes that are no UTF-8 text: the JSON output gives them as base64, so the bytes a
    dead letter kept can be read back exactly; the text output shows a preview."""

    raw: bytes

    @property
    def b64(self) -> str:
        return base64.b64encode(self.raw).decode("ascii")

    @property
    def preview(self) -> str:
        return self.raw.decode(errors="replace")


def _text(raw: bytes) -> str | NotText:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return NotText(raw)


def dump_line(record: ConsumerRecord[bytes, bytes]) -> str:
    """One record as a compact JSON object: what ``rules simulate --events`` reads back.
    A key or value that is no UTF-8 text is under ``key_b64`` / ``value_b64`` instead."""
    line: dict[str, Any] = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
    }
    _put(line, "key", _text(record.key) if record.key is not None else None)
    _put(line, "value", _value(record.value))
    headers = record_headers(record)
    if text := {name: v for name, v in headers.items() if isinstance(v, str)}:
        line["headers"] = text
    if raw := {name: v.b64 for name, v in headers.items() if isinstance(v, NotText)}:
        line["headers_b64"] = raw
    return json_text(line)


def _put(line: dict[str, Any], name: str, value: Any) -> None:
    if isinstance(value, NotText):
        line[f"{name}_b64"] = value.b64
    else:
        line[name] = value


def record_headers(record: ConsumerRecord[bytes, bytes]) -> dict[str, str | NotText]:
    """The record's headers as text (bytes that are none kept as they are): on the
    dead-letter topic they are the point (the ``dlq.*`` headers say where the record came
    from and why it was set aside, and the original's headers come first)."""
    return {name: _text(raw or b"") for name, raw in record.headers or ()}


def show(
    console: Console,
    record: ConsumerRecord[bytes, bytes],
    latest: dict[str, dict[str, Any]] | None,
    *,
    full: bool,
    as_json: bool = False,
) -> bool:
    """One record: a summary line (and its value with ``full``), or its dump line with
    ``as_json``; a metric record goes into ``latest`` for the table instead of a line.
    False for a record that should have gone there and is no metric window (not a JSON
    object): the note under the table counts those."""
    if as_json:
        console.out(dump_line(record), highlight=False)
        return True
    value = _value(record.value)
    key = (record.key or b"").decode(errors="replace")
    if latest is not None and record.value is None:  # a window deleted: compaction drops it
        latest.pop(key, None)
        if not full:
            return True
    elif latest is not None and isinstance(value, dict):
        latest[key] = value
        if not full:
            return True
    elif latest is not None and value is not None:
        return False
    # with ``--full`` a metric record is shown as every record is, its lead line first:
    # its headers and value had stood alone, with no key or offset
    line = format_record(key, value, record.partition, record.offset)
    console.print(line, highlight=False, soft_wrap=True, markup=False)
    if full:
        for name, text in record_headers(record).items():
            header = printable(_header_line(name, text))
            console.print(header, highlight=False, soft_wrap=True, markup=False)
    if full and value is not None and value != "":
        console.print(_pretty(value), highlight=False, soft_wrap=True, markup=False)
    return True


def _header_line(name: str, value: str | NotText) -> str:
    if isinstance(value, NotText):
        return f"  {name} (base64, not UTF-8): {value.b64}"
    return f"  {name}: {value}"


def _value(raw: bytes | None) -> Any:
    """The value as JSON when it is, else as text, else as ``NotText``; an empty value is
    ``""``: only a tombstone (no value at all) is None."""
    if raw is None:
        return None
    if not raw:
        return ""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _text(raw)


def _pretty(value: Any) -> str:
    """A value for ``--full``: text keeps its lines and tabs, JSON stays JSON, bytes that
    are no text are given exactly, as base64."""
    if isinstance(value, NotText):
        return f"base64 (not UTF-8): {value.b64}"
    if isinstance(value, str):
        return printable(value, keep="\t\n")
    return json_text(value, orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)


def format_record(key: str, value: Any, partition: int, offset: int) -> str:
    """A record's summary line, led by ``[p<partition>:<offset>]``: offsets count per
    partition, so on a topic of several partitions an offset alone repeats. One line,
    whatever the record holds: its control characters are escaped."""
    return printable(_summary(key, value, partition, offset))


def _summary(key: str, value: Any, partition: int, offset: int) -> str:
    where = f"[p{partition}:{offset}]"
    if value is None:
        return f"{where} {key}  (tombstone)"
    if value == "":
        return f"{where} {key}  (empty value)"
    if isinstance(value, NotText):
        return f"{where} {key}  {value.preview}"
    if isinstance(value, dict) and "type" in value and "specversion" in value:
        data = value.get("data") or {}
        ticket = data.get("ticket") or {}
        parts = [where, value.get("time", ""), value["type"], f"key={key}"]
        for field in ("status", "queue", "priority", "tags"):
            if field in ticket:
                parts.append(f"{field}={ticket[field]}")
        if "matched" in data:
            parts.append(f"matched={data['matched']}")
        return "  ".join(str(p) for p in parts)
    if isinstance(value, str):
        return f"{where} {key}  {value}"
    return f"{where} {key}  {orjson.dumps(value).decode()}"


def _ratio(value: Any) -> str:
    """A derived value as the report prints it: an en dash where there is none (``null``:
    no denominator yet, such as compliance with nothing met or breached)."""
    if value is None:
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def metric_view(
    latest: dict[str, dict[str, Any]], windows: int, unread: int, *, cut_at: int = 0
) -> RenderableType:
    """The table, with a note under it when ``unread`` records were no metric window:
    without it a topic of such records alone looks empty; and when ``--limit`` stopped
    the read at ``cut_at`` records before the topic's end: a later revision of a window
    shown may follow."""
    table = metric_table(latest, windows)
    notes = []
    if unread:
        records = "record" if unread == 1 else "records"
        notes.append(f"note: {unread} {records} could not be read as metric windows (see --json)")
    if cut_at:
        notes.append(
            f"note: the first {cut_at:,} records only (--limit): later revisions were not read"
        )
    return Group(table, *(Text(n) for n in notes)) if notes else table


def metric_table(latest: dict[str, dict[str, Any]], windows: int = TABLE_WINDOWS) -> Table:
    """The latest revision of the last ``windows`` windows (0: all), saying how many
    were left out."""
    shown = sorted(latest)[-windows:] if windows else sorted(latest)
    left_out = len(latest) - len(shown)
    caption = f"showing the last {len(shown)} of {len(latest)} windows" if left_out else None
    table = Table(title="latest revision per window", caption=caption, expand=False)
    for col in ("metric", "window start", "dimensions", "counters", "values", "rev", "final"):
        table.add_column(col, overflow="fold")
    for key in shown:
        rec = latest[key]
        dims = ",".join(f"{k}={v}" for k, v in sorted(rec.get("dimensions", {}).items()))
        counters = " ".join(f"{k}={v}" for k, v in sorted(rec.get("counters", {}).items()))
        values = " ".join(f"{k}={_ratio(v)}" for k, v in sorted(rec.get("values", {}).items()))
        cells = (
            rec.get("metric", "?"),
            rec.get("window", {}).get("start", "?"),
            dims,
            counters,
            values,
            rec.get("revision"),
            "yes" if rec.get("final") else "",
        )
        table.add_row(*(printable(str(cell)) for cell in cells))
    return table
