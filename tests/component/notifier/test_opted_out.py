"""A number that sent STOP to Twilio: Twilio refuses any message to it (error 21610,
"unsubscribed recipient"). Its auto-reply is not sent, and that is the customer's
choice, not a failure: recorded as skipped, logged as a warning, never dead-lettered (it
had been an error-level line and a dead letter for every later message of that
customer)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from structlog.testing import capture_logs

from consumers.notify.transports import TwilioTransport
from router.app.embedded import EmbeddedServices
from router.ids import derived_id
from tests.component.notifier.test_backlog import START, Notifier, notifier_on

pytestmark = pytest.mark.component

STOPPED = "+15550003333"


def twilio(answers: list[int]) -> TwilioTransport:
    """Twilio answering each send with the next status: 400 is its 21610 answer."""

    def answer(_: httpx.Request) -> httpx.Response:
        status = answers.pop(0)
        if status == 400:
            body = {"code": 21610, "message": "Attempt to send to unsubscribed recipient"}
            return httpx.Response(400, json={**body, "status": 400})
        return httpx.Response(status, json={"code": 20503, "message": "busy"})

    transport = TwilioTransport("https://api.twilio.test", "AC1", "token", "+15550000000", 5.0)
    transport._client = httpx.AsyncClient(  # noqa: SLF001 - the same client, answered here
        base_url="https://api.twilio.test", transport=httpx.MockTransport(answer)
    )
    return transport


@pytest.fixture
async def notifier(services: EmbeddedServices) -> AsyncIterator[Notifier]:
    async with notifier_on(services, "opted-out") as made:  # a dead letter fails the test
        yield made


async def state_of(n: Notifier, number: str) -> dict[str, str]:
    ledger = n.handler._ledger  # noqa: SLF001 - what the ledger recorded
    return await ledger.state(derived_id("e-0", "deliver", "sms", number))


async def test_an_auto_reply_to_a_number_that_sent_stop_is_skipped(notifier: Notifier) -> None:
    notifier.handler._transports = {"sms": twilio([400])}  # noqa: SLF001
    with capture_logs() as logs:
        await notifier.notify(STOPPED, channel="sms")
    state = await state_of(notifier, STOPPED)
    assert state["state"] == "skipped"
    assert "opted out" in state["answer"]
    assert await notifier.schedule.waiting() == 0
    levels = {e["event"]: e["log_level"] for e in logs}
    assert "notification_deadlettered" not in levels
    assert levels["notification_opted_out"] == "warning"


async def test_a_parked_auto_reply_to_a_number_that_sent_stop_meanwhile_is_skipped(
    notifier: Notifier,
) -> None:
    notifier.handler._transports = {"sms": twilio([503, 400])}  # noqa: SLF001
    await notifier.notify(STOPPED, channel="sms")
    assert await notifier.schedule.waiting() == 1
    notifier.now[0] = START + 600
    with capture_logs() as logs:
        await notifier.handler.retry_due()
    assert (await state_of(notifier, STOPPED))["state"] == "skipped"
    assert await notifier.schedule.waiting() == 0
    assert "notification_deadlettered" not in {e["event"] for e in logs}
