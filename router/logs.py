"""structlog setup: JSON via orjson (for shipping) or a console renderer (for people).

Our own events go through structlog's fast path (bytes logger, orjson). Lines that
libraries log through the standard library (aiokafka, uvicorn, asyncio, warnings) are
routed through the *same* processors by a root handler with structlog's
``ProcessorFormatter``, and written to the same stream under the same lock, so with
``json`` every line on stderr is one JSON object with ``event``, ``level``,
``timestamp`` and ``logger``: a log shipper never meets a plain-text line.
"""

from __future__ import annotations

import io
import logging
import math
import sys
import time
from collections.abc import Callable, Hashable
from types import TracebackType
from typing import Any, Literal, Protocol

import orjson
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
DEFAULT_LOGGER = "switchboard"

# Libraries whose info lines are connection chatter, not ours to ship: kept at warning.
# watchfiles says "N changes detected" for any file in the rules' directory; a reload
# that follows says so itself.
QUIET_AT_INFO = ("aiokafka", "uvicorn.access", "httpx", "httpcore", "watchfiles")


REPEAT_WINDOW_S = 30.0
"""A library line (aiokafka while a broker is down) repeats at most once in this window."""


class Sampled:
    """At most one log line per key every ``every_s`` seconds; the next one counts the
    lines held back meanwhile. For what repeats hundreds of times a second while a
    backend is down (a library's retries, a refused request each): one line every few
    seconds says as much."""

    def __init__(self, every_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._every_s = every_s
        self._clock = clock
        self._seen: dict[Hashable, tuple[float, int]] = {}  # key -> (shown at, held since)

    def take(self, key: Hashable, now: float | None = None) -> int | None:
        """None: hold this line back; else log it, with this many held back before it.
        ``now``: the line's own time, when it has one (a logging record's)."""
        now = self._clock() if now is None else now
        shown, held = self._seen.get(key, (-math.inf, 0))
        if now - shown < self._every_s:
            self._seen[key] = (shown, held + 1)
            return None
        if len(self._seen) > MAX_SAMPLED_KEYS:  # many distinct lines: start over, not grow
            self._seen.clear()
        self._seen[key] = (now, 0)
        return held


MAX_SAMPLED_KEYS = 1000


class _Repeats(logging.Filter):
    """Lets the first of each library message through, then nothing of that message for
    ``REPEAT_WINDOW_S``; the next one says how many were held back. A broker outage makes
    aiokafka log the same few lines hundreds of times a second: a platform team needs
    to see that it happens, not every retry. Our own lines are never held back.

    A line carrying an exception repeats only with the same exception (``_error_key``):
    uvicorn writes every application error as "Exception in ASGI application", and a
    second bug's 500 within the window had left no line, though its answer says the log
    says why."""

    def __init__(self, window_s: float = REPEAT_WINDOW_S) -> None:
        super().__init__()
        self._window = window_s
        self._sampled = Sampled(window_s)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(DEFAULT_LOGGER) or record.levelno >= logging.CRITICAL:
            return True
        key = (record.name, record.msg, _error_key(record.exc_info))
        held = self._sampled.take(key, now=record.created)
        if held is None:
            return False
        if held:
            record.msg = f"{record.msg} ({held} more like this in the last {self._window:g} s)"
        return True


ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def _error_key(exc_info: ExcInfo | tuple[None, None, None] | None) -> Hashable:
    """What makes an exception the same error again: its type and where it was raised
    (the innermost frame's file and line); None without one. Not its message: one bug's
    message carries each request's data (an id, an address), and a flood of it would
    be a traceback per request."""
    if not exc_info or exc_info[1] is None:
        return None
    kind, _, tb = exc_info
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = (tb.tb_frame.f_code.co_filename, tb.tb_lineno) if tb is not None else None
    return (getattr(kind, "__qualname__", str(kind)), where)


class _LibraryRetries(logging.Filter):
    """aiokafka's error lines are written at warning: it logs ``error`` for the retries it
    makes itself (a broker it cannot reach, a heartbeat that expired, a coordinator to
    find again), and an alert on ``level=error`` would page for a blip that heals on its
    own. Switchboard's own lines say when it cannot go on (``role_stopped``, ``/readyz``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.ERROR and record.name.startswith("aiokafka"):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def one_line_event(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """A library's message over several lines (asyncio's "Task exception was never
    retrieved" and the task after it) keeps its first line as ``event``, so lines group
    by it; the rest goes to ``detail``."""
    del logger, method_name
    event = event_dict.get("event")
    if "_record" in event_dict and isinstance(event, str) and "\n" in event:
        event_dict["event"], _, event_dict["detail"] = event.partition("\n")
    return event_dict


class _Sink(Protocol):
    def msg(self, message: Any) -> None: ...


def add_logger_name(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """``logger``: the standard-library logger's name for foreign lines, the name given
    to ``structlog.get_logger(name)`` for ours, ``switchboard`` when none was given."""
    del method_name
    record: logging.LogRecord | None = event_dict.get("_record")
    if record is not None:
        event_dict["logger"] = record.name
    else:
        event_dict.setdefault("logger", getattr(logger, "name", None) or DEFAULT_LOGGER)
    return event_dict


class _NamedPrintLogger(structlog.PrintLogger):
    """A text logger that knows its name, as ``BytesLogger`` does, for ``add_logger_name``."""

    def __init__(self, file: Any, name: str | None) -> None:
        super().__init__(file)
        self.name = name


class _StructlogHandler(logging.Handler):
    """Root handler: formats with ``ProcessorFormatter`` and writes through a structlog
    logger, which holds the same per-file lock as our own loggers: lines never interleave."""

    def __init__(self, sink: _Sink, *, binary: bool) -> None:
        super().__init__()
        self._sink = sink
        self._binary = binary

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            self._sink.msg(line.encode() if self._binary else line)
        except Exception:  # noqa: BLE001 - logging must never take the process down
            self.handleError(record)


def _binary_stream(out: Any) -> Any | None:
    """The byte stream under ``out`` (stderr's buffer, a BytesIO), or None for a text-only
    stream such as StringIO."""
    buffer = getattr(out, "buffer", None)
    if buffer is not None:
        return buffer
    return None if isinstance(out, io.TextIOBase) else out


def _json_text(obj: Any, **kw: Any) -> str:
    return orjson.dumps(obj, default=kw.get("default")).decode()


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """A crash is one JSON line (with the traceback in ``exception``), not plain text."""
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, exc, tb)
        return
    logging.getLogger(DEFAULT_LOGGER).critical("uncaught_exception", exc_info=(kind, exc, tb))


def configure_logging(
    fmt: Literal["json", "console"] = "json", level: str = "info", stream: Any = None
) -> None:
    """Configure once per process (calling again replaces the previous setup). Logs go to
    stderr so stdout stays for command output."""
    numeric = LEVELS.get(level, logging.ERROR)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        add_logger_name,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    out: Any = stream or sys.stderr
    binary = _binary_stream(out) if fmt == "json" else None
    sink: _Sink
    if binary is not None:
        structlog.configure(
            processors=[*shared, structlog.processors.JSONRenderer(serializer=orjson.dumps)],
            wrapper_class=structlog.make_filtering_bound_logger(numeric),
            logger_factory=structlog.BytesLoggerFactory(binary),
            cache_logger_on_first_use=True,
        )
        sink = structlog.BytesLogger(binary)
    else:
        final: Processor = (
            structlog.processors.JSONRenderer(serializer=_json_text)
            if fmt == "json"
            else structlog.dev.ConsoleRenderer(colors=_isatty(out))
        )
        structlog.configure(
            processors=[*shared, final],
            wrapper_class=structlog.make_filtering_bound_logger(numeric),
            logger_factory=lambda *args: _NamedPrintLogger(out, args[0] if args else None),
            cache_logger_on_first_use=True,
        )
        sink = structlog.PrintLogger(out)
    foreign_renderer: Processor = (
        structlog.processors.JSONRenderer(serializer=_json_text)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=_isatty(out))
    )
    handler = _StructlogHandler(sink, binary=binary is not None)
    handler.addFilter(_LibraryRetries())
    handler.addFilter(_Repeats())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, one_line_event],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                foreign_renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StructlogHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in QUIET_AT_INFO:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    logging.captureWarnings(True)
    if fmt == "json":
        sys.excepthook = _log_uncaught


def _isatty(out: Any) -> bool:
    isatty = getattr(out, "isatty", None)
    return bool(isatty()) if callable(isatty) else False
