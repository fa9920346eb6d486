"""With SWITCHBOARD_LOG_FORMAT=json a role's stderr is JSON lines only: the libraries'
own standard-library lines (uvicorn, aiokafka) included. The lines written while the
role runs name it (``role``), the libraries' too."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from router.app.embedded import free_port
from router.settings import Settings
from tests.conftest import settings_env
from tests.faults.harness import start_role

pytestmark = pytest.mark.component


@pytest.mark.slow
async def test_every_stderr_line_of_a_role_is_a_json_object(
    settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    env = settings_env(
        settings,
        SWITCHBOARD_HTTP_PORT=str(port),
        SWITCHBOARD_LOG_FORMAT="json",
        SWITCHBOARD_LOG_LEVEL="info",
    )
    metrics = start_role(["metrics"], env, port, tmp_path / "metrics.stderr")
    try:
        await metrics.wait_ready(45)
        # uvicorn logs through the standard library; our consumer through structlog
        await metrics.wait_log(lambda line: line.get("logger") == "uvicorn.error", 10)
        await metrics.wait_log(lambda line: line.get("event") == "consumer_started", 10)
    finally:
        assert metrics.terminate() == 0, metrics.describe()
    lines = metrics.stderr_lines()
    assert lines
    for line in lines:
        record = orjson.loads(line)  # raises on any line that is not JSON
        assert isinstance(record, dict), line
        assert {"event", "level", "timestamp", "logger"} <= record.keys(), line
    records = [orjson.loads(line) for line in lines]
    ran = [r for r in records if r["event"] == "consumer_started" or r["logger"] == "uvicorn.error"]
    assert {r["event"] for r in ran} >= {"consumer_started"}
    assert {r["logger"] for r in ran} >= {"uvicorn.error"}
    assert all(r.get("role") == "metrics" for r in ran), ran
