"""With JSON logging every line is one JSON object, whether structlog or a library's
standard-library logger wrote it."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import structlog

from router.logs import QUIET_AT_INFO, _Repeats, configure_logging

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state: put everything back afterwards."""
    config = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in QUIET_AT_INFO}
    hook = sys.excepthook
    yield
    structlog.configure(**config)
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, lvl in levels.items():
        logging.getLogger(name).setLevel(lvl)
    sys.excepthook = hook
    logging.captureWarnings(False)


def lines(buffer: io.BytesIO) -> list[dict[str, Any]]:
    raw = buffer.getvalue().decode().splitlines()
    assert raw, "something was logged"
    return [orjson.loads(line) for line in raw]  # raises on any line that is not JSON


def test_library_and_structlog_lines_are_all_json() -> None:
    buffer = io.BytesIO()
    configure_logging("json", "info", buffer)
    logging.getLogger("aiokafka").warning("Unable connect to node with id %s", 1)
    logging.getLogger("aiokafka").info("connection chatter stays quiet at info")
    structlog.get_logger("switchboard.router").info("batch_done", records=3)
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("asyncio").exception("Task exception was never retrieved")

    records = lines(buffer)
    for record in records:
        assert {"event", "level", "timestamp", "logger"} <= record.keys(), record
    assert [(r["logger"], r["level"], r["event"]) for r in records] == [
        ("aiokafka", "warning", "Unable connect to node with id 1"),
        ("switchboard.router", "info", "batch_done"),
        ("asyncio", "error", "Task exception was never retrieved"),
    ]
    assert records[1]["records"] == 3
    assert "ValueError: boom" in records[2]["exception"]


def test_a_library_line_repeated_during_an_outage_is_shown_once_per_window() -> None:
    """A broker outage makes aiokafka log the same line hundreds of times a second; the
    log shows it once, then once per window with how many were held back."""
    buffer = io.BytesIO()
    configure_logging("json", "info", buffer)
    kafka = logging.getLogger("aiokafka.conn")
    for node in range(500):
        kafka.error("Unable connect to node with id %s: %s", node % 3, "refused")
    kafka.error("Unable to update metadata from [%s]", 111)
    for n in range(3):
        structlog.get_logger("switchboard.consumer").warning("batch_retry", attempt=n)
    events = [(r["logger"], r["event"]) for r in lines(buffer)]
    assert events == [
        ("aiokafka.conn", "Unable connect to node with id 0: refused"),
        ("aiokafka.conn", "Unable to update metadata from [111]"),
        *[("switchboard.consumer", "batch_retry")] * 3,  # ours are never held back
    ]

    held = _Repeats(window_s=10)
    at = [0.0, 1.0, 2.0, 11.0]
    shown = []
    for created in at:
        record = logging.LogRecord("aiokafka", logging.ERROR, "", 0, "down %s", (1,), None)
        record.created = created
        if held.filter(record):
            shown.append(record.getMessage())
    assert shown == ["down 1", "down 1 (2 more like this in the last 10 s)"]


def raised(exc: Exception) -> Any:
    try:
        raise exc
    except Exception:  # noqa: BLE001 - any, for its traceback
        return sys.exc_info()


def failing_at_one_place(message: str) -> Any:
    return raised(KeyError(message))


def test_a_different_error_under_the_same_library_message_is_always_logged() -> None:
    """uvicorn logs every application error as "Exception in ASGI application": the
    second bug's 500 within the window had left no line, though its answer says "the
    server log says why". The exception's type and where it was raised are part of
    what repeats; the same bug again, whatever its message, is still held back."""
    held = _Repeats(window_s=30)
    errors = [
        failing_at_one_place("a"),
        raised(ValueError("another bug")),
        failing_at_one_place("a"),  # the same error again
        failing_at_one_place("b"),  # the same bug with another request's data
        raised(TypeError("a third bug")),
    ]
    shown = []
    for n, exc_info in enumerate(errors):
        record = logging.LogRecord(
            "uvicorn.error", logging.ERROR, "", 0, "Exception in ASGI application", (), exc_info
        )
        record.created = float(n)
        if held.filter(record):
            shown.append(record.exc_info[1] if record.exc_info else None)
    assert [repr(exc) for exc in shown] == [
        "KeyError('a')",
        "ValueError('another bug')",
        "TypeError('a third bug')",
    ]


def test_library_retries_are_warnings_and_a_message_of_many_lines_keeps_its_first() -> None:
    """aiokafka logs ``error`` for retries it makes itself: an alert on errors would page
    for a blip. asyncio's "Task exception was never retrieved" names the task on its
    second line: the event keeps the first, so lines group by it."""
    buffer = io.BytesIO()
    configure_logging("json", "info", buffer)
    logging.getLogger("aiokafka.consumer.group_coordinator").error(
        "Heartbeat session expired - marking coordinator dead"
    )
    logging.getLogger("asyncio").error(
        "Task exception was never retrieved\nfuture: <Task finished name='Task-29411'>"
    )
    said = [(r["logger"], r["level"], r["event"], r.get("detail")) for r in lines(buffer)]
    assert said == [
        (
            "aiokafka.consumer.group_coordinator",
            "warning",
            "Heartbeat session expired - marking coordinator dead",
            None,
        ),
        (
            "asyncio",
            "error",
            "Task exception was never retrieved",
            "future: <Task finished name='Task-29411'>",
        ),
    ]


def test_reconfiguring_replaces_the_handler_instead_of_adding_one() -> None:
    first, second = io.BytesIO(), io.BytesIO()
    configure_logging("json", "info", first)
    configure_logging("json", "warning", second)
    logging.getLogger("uvicorn.error").warning("one line")
    logging.getLogger("uvicorn.error").info("below the level")
    structlog.get_logger().info("below the level too")
    assert first.getvalue() == b""
    assert [r["event"] for r in lines(second)] == ["one line"]
    assert lines(second)[0]["logger"] == "uvicorn.error"


def test_text_streams_and_console_format() -> None:
    text = io.StringIO()
    configure_logging("json", "info", text)
    logging.getLogger("redis").warning("text stream")
    structlog.get_logger().info("ours")
    parsed = [orjson.loads(line) for line in text.getvalue().splitlines()]
    assert [(p["logger"], p["event"]) for p in parsed] == [
        ("redis", "text stream"),
        ("switchboard", "ours"),
    ]

    console = io.StringIO()
    configure_logging("console", "info", console)
    logging.getLogger("aiokafka").warning("for people")
    assert "for people" in console.getvalue()
    assert "[aiokafka]" in console.getvalue()


def test_an_uncaught_exception_is_one_json_line() -> None:
    buffer = io.BytesIO()
    configure_logging("json", "info", buffer)
    try:
        raise RuntimeError("crashed")
    except RuntimeError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    [record] = lines(buffer)
    assert record["level"] == "critical"
    assert record["event"] == "uncaught_exception"
    assert "RuntimeError: crashed" in record["exception"]


LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical", "msg"}
RESERVED = {"event"}  # structlog's message argument: a keyword of that name is a TypeError


def test_no_log_call_passes_a_keyword_structlog_reserves() -> None:
    """``log.warning("x", event=...)`` raises at the moment it runs, which for a rare
    path (a stale notification) means a role dies in production, not in a test."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    offenders = []
    for package in ("channels", "consumers", "router", "rules"):
        for path in (root / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in LOG_METHODS
                    and any(k.arg in RESERVED for k in node.keywords)
                ):
                    offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert offenders == []


def test_one_bug_with_each_requests_data_in_its_message_is_held_back() -> None:
    """A bug whose message carries the request's data (an address) had written one
    traceback per request: a flood any client could cause."""
    held = _Repeats(window_s=30)
    shown = 0
    for n in range(500):
        exc_info = raised(ValueError(f"not an email address: 'u {n}@example.com'"))
        record = logging.LogRecord(
            "uvicorn.error", logging.ERROR, "", 0, "Exception in ASGI application", (), exc_info
        )
        record.created = n / 100
        shown += held.filter(record)
    assert shown == 1
