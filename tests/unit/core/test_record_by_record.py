"""A batch that fails for good (a record the code cannot handle, however often it is
tried) is handled again record by record, and only the record that fails alone is
dead-lettered: the rest of the batch, before and after it, is handled, in the order it
arrived, and the consumer goes on instead of failing on that record at every start."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import ConsumerRecord
from structlog.testing import capture_logs

from consumers.runner import _handle_with_retry
from router.errors import BackendUnavailable, Unrecoverable

pytestmark = pytest.mark.unit


def record(topic: str, offset: int, timestamp: int, value: bytes) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic, 0, offset, timestamp, 0, b"k", value, None, 1, len(value), ())


class Handler:
    """Fails on any batch holding ``poison``; the Kafka write of the dead letter fails
    ``park_outages`` times first (the broker away for a moment)."""

    name = "router"

    def __init__(self, park_outages: int = 0) -> None:
        self.handled: list[bytes] = []
        self.parked: list[tuple[bytes, str]] = []
        self.park_outages = park_outages

    async def handle(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        if any(r.value == b"poison" for r in records):
            raise TypeError("Integer exceeds 64-bit range")
        self.handled += [r.value or b"" for r in records]

    async def tick(self) -> None:
        """The handler's own work, without records: fine here."""

    async def park(self, record: ConsumerRecord[bytes, bytes], error: Exception) -> None:
        if self.park_outages:
            self.park_outages -= 1
            raise BackendUnavailable("kafka", "broker away")
        self.parked.append((record.value or b"", type(error).__name__))


async def handled(handler: object, records: list[ConsumerRecord[bytes, bytes]]) -> bool:
    return await _handle_with_retry(
        handler,  # type: ignore[arg-type]
        records,
        asyncio.Event(),
        None,
        0.01,
        guard=None,
    )


async def test_only_the_record_that_fails_alone_is_dead_lettered() -> None:
    handler = Handler(park_outages=2)
    batch = [
        record("inbound", 0, 10, b"m1"),
        record("inbound", 1, 30, b"poison"),
        record("inbound", 2, 50, b"m3"),
        record("actions", 0, 20, b"a1"),  # between m1 and the poison, by time
        record("actions", 1, 60, b"a2"),
    ]
    with capture_logs() as logs:
        assert await handled(handler, batch) is True
    assert handler.handled == [b"m1", b"a1", b"m3", b"a2"]
    assert handler.parked == [(b"poison", "TypeError")]
    [failed] = [e for e in logs if e["event"] == "record_failed"]
    assert (failed["topic"], failed["offset"], failed["log_level"]) == ("inbound", 1, "error")


async def test_a_role_that_must_stop_still_stops() -> None:
    class Lost(Handler):
        async def handle(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
            del records
            raise Unrecoverable("state lost", "run switchboard state rebuild")

    handler = Lost()
    with pytest.raises(Unrecoverable):
        await handled(handler, [record("inbound", 0, 1, b"m1"), record("inbound", 1, 2, b"m2")])
    assert handler.parked == []


async def test_a_failure_that_is_not_the_records_stops_the_role_and_parks_nothing() -> None:
    """The timers and metrics roles do their own work (timers due, windows to publish) at
    the end of each batch: when that fails, every record fails with it, and none of them
    is to blame."""

    class OwnWorkBroken(Handler):
        async def handle(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
            await super().handle(records)
            await self.tick()

        async def tick(self) -> None:
            raise TypeError("a due timer the code cannot fire")

    handler = OwnWorkBroken()
    with pytest.raises(TypeError, match="due timer"):
        await handled(handler, [record("tickets", 0, 1, b"t1"), record("tickets", 1, 2, b"t2")])
    assert handler.parked == []
