"""structlog setup: JSON via orjson (for shipping) or a console renderer (for people)."""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal

import orjson
import structlog

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}


def configure_logging(
    fmt: Literal["json", "console"] = "json", level: str = "info", stream: Any = None
) -> None:
    """Configure once per process. Logs go to stderr so stdout stays for command output."""
    numeric = LEVELS.get(level, logging.ERROR)
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    out: Any = stream or sys.stderr
    if fmt == "json":
        structlog.configure(
            processors=[*shared, structlog.processors.JSONRenderer(serializer=orjson.dumps)],
            wrapper_class=structlog.make_filtering_bound_logger(numeric),
            logger_factory=structlog.BytesLoggerFactory(getattr(out, "buffer", out)),
            cache_logger_on_first_use=True,
        )
    else:
        structlog.configure(
            processors=[*shared, structlog.dev.ConsoleRenderer(colors=out.isatty())],
            wrapper_class=structlog.make_filtering_bound_logger(numeric),
            logger_factory=structlog.PrintLoggerFactory(out),
            cache_logger_on_first_use=True,
        )
    # Quiet chatty libraries at info level: their connection logs are not ours to ship.
    for name in ("aiokafka", "uvicorn.access"):
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
