"""A Redis or Kafka connection failure nobody awaits any more is one warning line, not an
asyncio error with a traceback (redis-py's per-node calls of a cluster pipeline left behind
by a deadline; aiokafka's requests in flight on a connection to a broker that died)."""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest
from aiokafka.errors import KafkaConnectionError
from redis.exceptions import ConnectionError as RedisConnectionError
from structlog.testing import capture_logs

from router.app.console import quiet_abandoned

pytestmark = pytest.mark.unit


def _abandon(error: BaseException) -> None:
    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(quiet_abandoned)
        future = asyncio.get_running_loop().create_future()
        future.set_exception(error)
        del future
        gc.collect()  # the loop reports an unretrieved exception when the future goes

    asyncio.run(main())


def test_an_abandoned_redis_failure_is_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    with capture_logs() as logs, caplog.at_level(logging.ERROR, logger="asyncio"):
        _abandon(RedisConnectionError("Connection closed by server."))
    assert [(e["event"], e["log_level"]) for e in logs] == [("backend_call_abandoned", "warning")]
    assert "Connection closed by server" in logs[0]["error"]
    assert not [r for r in caplog.records if r.name == "asyncio"]


def test_an_abandoned_request_to_a_broker_that_died_is_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # what aiokafka sets on each request in flight when the broker's connection closes
    # (``AIOKafkaConnection.close``): a dev whose embedded broker was SIGKILLed once wrote
    # asyncio's report of one, ending "...closed')>", with a traceback to its stderr
    with capture_logs() as logs, caplog.at_level(logging.ERROR, logger="asyncio"):
        _abandon(KafkaConnectionError("Connection at 127.0.0.1:9092 closed"))
    assert [(e["event"], e["log_level"]) for e in logs] == [("backend_call_abandoned", "warning")]
    assert "KafkaConnectionError: Connection at 127.0.0.1:9092 closed" in logs[0]["error"]
    assert not [r for r in caplog.records if r.name == "asyncio"]


def test_any_other_abandoned_failure_is_reported_by_asyncio(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with capture_logs() as logs, caplog.at_level(logging.ERROR, logger="asyncio"):
        _abandon(ValueError("a bug"))
    assert logs == []
    [record] = [r for r in caplog.records if r.name == "asyncio"]
    assert record.getMessage().startswith("Future exception was never retrieved")
    assert "ValueError('a bug')" in record.getMessage()
