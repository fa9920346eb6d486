"""What ``switchboard tail`` writes for a record anyone could have written to a topic:
no control character reaches the terminal as it is (the audit's record cleared the
screen, retitled the window and coloured the output), the ``--json`` lines stay JSON
with the same values, and a metric topic's table says how many records it could not
read."""

from __future__ import annotations

import base64
import io
import re
from typing import Any

import orjson
import pytest
from aiokafka import ConsumerRecord
from rich.console import Console

from router.app.tail import dump_line, metric_view, show

pytestmark = pytest.mark.unit

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
HOSTILE_KEY = b"T-\x1b[2Jx"
HOSTILE_VALUE = b"\x1b]0;PWNED\x07\x1b[31mRED\x1b[0m"


def record(
    value: bytes | None, key: bytes = b"T-1", headers: tuple[tuple[str, bytes], ...] = ()
) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic="switchboard.actions",
        partition=0,
        offset=7,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key),
        serialized_value_size=len(value or b""),
        headers=headers,
    )


def shown(
    rec: ConsumerRecord[bytes, bytes],
    latest: dict[str, dict[str, Any]] | None = None,
    *,
    full: bool = False,
) -> tuple[bool, str]:
    """What ``show`` returns and writes to a terminal console."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=300, color_system=None, force_terminal=True)
    read = show(console, rec, latest, full=full)
    return read, buffer.getvalue()


def controls(text: str, allowed: str = "\n") -> list[str]:
    return [c for c in CONTROL.findall(text) if c not in allowed]


def test_a_hostile_key_and_text_value_print_escaped_on_one_line() -> None:
    _, output = shown(record(HOSTILE_VALUE, key=HOSTILE_KEY))
    assert controls(output) == []
    assert output == ("[p0:7] T-\\x1b[2Jx  \\x1b]0;PWNED\\x07\\x1b[31mRED\\x1b[0m\n")


def test_a_value_that_is_not_utf8_prints_no_nul() -> None:
    _, output = shown(record(b"\xff\xfe garbage \x00"))
    assert controls(output) == []
    assert output == "[p0:7] T-1  \ufffd\ufffd garbage \\x00\n"


def test_escapes_in_json_strings_of_an_event_are_escaped_on_the_summary_line() -> None:
    event = {
        "specversion": "1.0",
        "type": "switchboard.\x1b[2J",
        "time": "\x1b]0;PWNED\x07",
        "data": {"ticket": {"status": "open\u009b31m", "tags": ["a\nb"]}},
    }
    _, output = shown(record(orjson.dumps(event)))
    assert controls(output) == []
    assert "switchboard.\\x1b[2J" in output
    assert "\\x1b]0;PWNED\\x07" in output
    assert "status=open\\x9b31m" in output
    assert output.count("\n") == 1  # a newline in a tag cannot forge a second record line


def test_full_escapes_headers_and_keeps_the_value_json() -> None:
    value = {"text": "\x1b[31mred\x7f\u009b", "n": 1}
    headers = (("dlq.reason\x1b[2J", b"bad \x1b]0;x\x07"),)
    _, output = shown(record(orjson.dumps(value), headers=headers), full=True)
    assert controls(output) == []
    _, header, body = output.split("\n", 2)
    assert header == "  dlq.reason\\x1b[2J: bad \\x1b]0;x\\x07"
    assert orjson.loads(body) == value


def test_full_text_value_keeps_its_lines_and_escapes_the_rest() -> None:
    _, output = shown(record(b"line one\n\tline two \x1b[2J"), full=True)
    assert controls(output, allowed="\n\t") == []
    summary, first, second = output.splitlines()
    assert summary == "[p0:7] T-1  line one\\x0a\\x09line two \\x1b[2J"
    assert (first, second.strip()) == ("line one", "line two \\x1b[2J")  # rich expands tabs


def test_json_lines_stay_json_with_the_same_values_and_no_raw_controls() -> None:
    value = {"text": "\x1b[31mred\x00\x7f\u009b"}
    line = dump_line(record(orjson.dumps(value), key=HOSTILE_KEY, headers=(("h", b"\x1b"),)))
    assert controls(line, allowed="") == []
    parsed = orjson.loads(line)
    assert (parsed["key"], parsed["value"], parsed["headers"]) == (
        HOSTILE_KEY.decode(),
        value,
        {"h": "\x1b"},
    )
    text = orjson.loads(dump_line(record(HOSTILE_VALUE)))["value"]
    assert text == HOSTILE_VALUE.decode()


def window(dimension: str) -> dict[str, Any]:
    return {
        "metric": "sla",
        "window": {"start": "2026-12-03T10:00:00Z"},
        "dimensions": {"queue": dimension},
        "counters": {"breached": 1},
        "values": {},
        "revision": 1,
        "final": True,
    }


def rendered(latest: dict[str, dict[str, Any]], unread: int) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=300, color_system=None).print(metric_view(latest, 40, unread))
    return buffer.getvalue()


def test_a_metric_topic_counts_the_records_it_cannot_read_under_the_table() -> None:
    latest: dict[str, dict[str, Any]] = {}
    results = [
        shown(record(orjson.dumps(window("billing")), key=b"w1"), latest),
        shown(record(b"\xff\xfe garbage \x00", key=b"w2"), latest),
        shown(record(b"[1, 2]", key=b"w3"), latest),
    ]
    assert [read for read, _ in results] == [True, False, False]
    assert all(output == "" for _, output in results)  # no lines among the table's
    table = rendered(latest, unread=2)
    assert "queue=billing" in table
    assert table.rstrip().endswith(
        "note: 2 records could not be read as metric windows (see --json)"
    )
    assert "could not be read" not in rendered(latest, unread=0)


def test_metric_table_cells_are_escaped() -> None:
    table = rendered({"w": window("billing\x1b]0;PWNED\x07")}, unread=0)
    assert controls(table) == []
    assert "queue=billing\\x1b]0;PWNED\\x07" in table


# --- the bytes as they were: --json and --full lose nothing ----------------------------

NOT_UTF8 = b"\xff\xfenot json{"


def test_json_gives_bytes_that_are_no_utf8_as_base64_exactly() -> None:
    headers = (("dlq.error", b"bad"), ("x-raw", b"\x80\x00"))
    line = orjson.loads(dump_line(record(NOT_UTF8, key=b"\xc3(", headers=headers)))
    assert "value" not in line
    assert "key" not in line
    assert base64.b64decode(line["value_b64"]) == NOT_UTF8
    assert base64.b64decode(line["key_b64"]) == b"\xc3("
    assert line["headers"] == {"dlq.error": "bad"}
    assert {k: base64.b64decode(v) for k, v in line["headers_b64"].items()} == {
        "x-raw": b"\x80\x00"
    }


def test_json_tells_an_empty_value_from_a_tombstone() -> None:
    assert orjson.loads(dump_line(record(b"")))["value"] == ""
    assert orjson.loads(dump_line(record(None)))["value"] is None
    assert orjson.loads(dump_line(record(b"", key=b"")))["key"] == ""


def test_full_gives_bytes_that_are_no_utf8_as_base64_and_names_an_empty_value() -> None:
    _, output = shown(record(NOT_UTF8, headers=(("x-raw", b"\x80"),)), full=True)
    assert controls(output) == []
    _, header, body = output.splitlines()
    assert header == "  x-raw (base64, not UTF-8): gA=="
    assert base64.b64decode(body.removeprefix("base64 (not UTF-8): ")) == NOT_UTF8
    assert shown(record(b""), full=True)[1] == "[p0:7] T-1  (empty value)\n"
    assert shown(record(None), full=True)[1] == "[p0:7] T-1  (tombstone)\n"


def test_full_on_a_metric_topic_leads_each_record_with_its_line() -> None:
    """``tail metrics.workload --full`` had printed each record's headers and value with
    no line naming its partition, offset and key, so a block could not be told apart."""
    window = {"metric": "backlog", "queue": "billing", "value": 3}
    key = b"backlog|billing|2026-12-07T10:00Z"
    latest: dict[str, dict[str, Any]] = {}
    headers = (("content-type", b"application/json"),)
    read, output = shown(record(orjson.dumps(window), key, headers), latest, full=True)
    lead, header, body = output.split("\n", 2)
    assert read
    assert key.decode() in latest
    assert lead.startswith("[p0:7]")
    assert key.decode() in lead
    assert header == "  content-type: application/json"
    assert orjson.loads(body) == window
    _, quiet = shown(record(orjson.dumps(window), key), {}, full=False)
    assert quiet == ""  # without --full, only the table shows it
