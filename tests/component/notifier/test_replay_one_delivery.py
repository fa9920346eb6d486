"""A replayed notification that had two deliveries, one sent and one refused for good,
sends only the refused one again, even days later, when the ledger no longer remembers
the sent one (its entries expire after the dedupe TTL, the dead letter may be older)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from aiokafka import ConsumerRecord

from consumers.notify.transports import SendFailed
from router.app.embedded import EmbeddedServices
from router.kafka import REPLAY_DELIVERY, REPLAY_FOR
from tests.component.notifier.test_backlog import START, notifier_on

pytestmark = pytest.mark.component


async def test_a_replay_sends_only_the_delivery_that_failed(services: EmbeddedServices) -> None:
    async with notifier_on(services, "replay-one") as n:
        dead: list[object] = []

        async def kept(records: list[object]) -> None:
            dead.extend(records)

        n.handler._send = kept  # type: ignore[method-assign]  # noqa: SLF001 - keep the dead letters
        n.transport.refuse = lambda out: (
            SendFailed("550 5.1.1 no such user", retriable=False)
            if out.delivery.medium == "email"
            else None
        )
        record = await n.record("x@example.com", template="oncall", kind="notify")
        value = orjson.loads(record.value)
        value["time"] = datetime.fromtimestamp(START, UTC).isoformat()
        record = ConsumerRecord(
            record.topic, 0, 1, 0, 0, record.key, orjson.dumps(value), None, 1, 1, record.headers
        )
        await n.handler.handle([record])
        assert sorted(o.delivery.medium for o in n.transport.sent) == ["sms"]
        [letter] = dead
        failed = dict(letter.headers)["dlq.delivery"]  # type: ignore[attr-defined]

        for key in await n.redis.keys(f"{n.keys.prefix}:notify:*"):  # the ledger expired
            await n.redis.delete(key)
        n.now[0] = START + 8 * 86400
        n.transport.refuse = lambda _: None
        n.transport.sent.clear()
        headers = [*record.headers, (REPLAY_FOR, b"notifier"), (REPLAY_DELIVERY, failed)]
        copy = ConsumerRecord(
            record.topic, 0, 9, 0, 0, record.key, record.value, None, 1, 1, headers
        )
        await n.handler.handle([copy])
    assert [o.delivery.medium for o in n.transport.sent] == ["email"]
