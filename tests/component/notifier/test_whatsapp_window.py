"""WhatsApp takes a free-form message only within 24 hours of the customer's last one
(its customer service window); after it, Twilio accepts the message and fails it later
(error 63016), unseen. An auto-reply parked during an outage and retried after the
window is therefore not sent but recorded as skipped; within it, or by SMS, it goes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from structlog.testing import capture_logs

from router.app.embedded import EmbeddedServices
from router.ids import derived_id
from tests.component.notifier.test_backlog import START, Notifier, notifier_on

pytestmark = pytest.mark.component

DAY = 86_400


@pytest.fixture
async def notifier(services: EmbeddedServices) -> AsyncIterator[Notifier]:
    async with notifier_on(services, "window") as made:
        yield made


async def test_a_whatsapp_auto_reply_retried_after_the_window_is_not_sent(
    notifier: Notifier,
) -> None:
    await notifier.park("+15550001111", 60.0, channel="whatsapp")
    await notifier.park("+15550002222", 60.0, channel="sms")
    notifier.now[0] = START + DAY + 60
    with capture_logs() as logs:
        while await notifier.handler.retry_due():
            pass
    assert notifier.transport.to() == ["+15550002222"]  # an SMS knows no window
    ledger = notifier.handler._ledger  # noqa: SLF001 - what the ledger recorded
    state = await ledger.state(derived_id("e-0", "deliver", "whatsapp", "+15550001111"))
    assert state["state"] == "skipped"
    assert "24-hour" in state["answer"]
    assert await notifier.schedule.waiting() == 0
    assert "notification_expired" in {e["event"] for e in logs}


async def test_a_whatsapp_auto_reply_retried_within_the_window_is_sent(
    notifier: Notifier,
) -> None:
    await notifier.park("+15550001111", 60.0, channel="whatsapp")
    notifier.now[0] = START + DAY - 60
    await notifier.handler.retry_due()
    assert notifier.transport.to() == ["+15550001111"]


async def test_a_whatsapp_auto_reply_read_after_the_window_is_not_sent(notifier: Notifier) -> None:
    """Read late, not parked: a dead letter replayed by ``deadletter replay`` a day on, or
    a notifier with ``SWITCHBOARD_NOTIFY_MAX_AGE_S`` 0 (never too old) or above a day,
    had sent it in line, past the window."""
    late = await notifier.record("+15550001111", channel="whatsapp")
    on_time = await notifier.record("+15550002222", channel="whatsapp")
    notifier.now[0] = START + DAY + 60
    await notifier.handler.handle([late])
    notifier.now[0] = START + DAY - 60
    await notifier.handler.handle([on_time])
    assert notifier.transport.to() == ["+15550002222"]
