"""The router logs every routed message at debug level; a simulation routes thousands.
Unconfigured structlog would print each one (and pytest keep them): these tests run with
debug logs off, and the configuration is put back afterwards."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def no_debug_logs() -> Iterator[None]:
    before = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    try:
        yield
    finally:
        structlog.configure(**before)
