"""A batch retried because a Redis node had lost its script cache (a failover's promoted
replica) is routine: the runner says so at info, while a retry because a backend is down
stays a warning an operator sees."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from consumers.runner import _handle_with_retry
from router.errors import BackendUnavailable, ScriptsReloaded

pytestmark = pytest.mark.unit


class FailsOnce:
    name = "router"

    def __init__(self, error: Exception) -> None:
        self.error: Exception | None = error

    async def handle(self, records: list[object]) -> None:
        del records
        if self.error is not None:
            error, self.error = self.error, None
            raise error


@pytest.mark.parametrize(
    ("error", "level"),
    [
        (ScriptsReloaded("redis", "NOSCRIPT"), "info"),
        (BackendUnavailable("redis", "TimeoutError"), "warning"),
    ],
)
async def test_the_level_of_a_retry_says_whether_anything_is_wrong(
    error: Exception, level: str
) -> None:
    with capture_logs() as logs:
        done = await _handle_with_retry(
            FailsOnce(error),
            [object()],
            asyncio.Event(),
            None,
            1.0,
            guard=None,  # type: ignore[arg-type]
        )
    assert done is True
    [retry] = [e for e in logs if e["event"] == "batch_retry"]
    assert retry["log_level"] == level
