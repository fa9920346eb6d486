"""What `dev` prints is no delivery: `switchboard_notifications_total` had counted each
printed notification as `sent`, though no provider is configured (`skipped`)."""

from __future__ import annotations

import pytest

from consumers.notify.parked import recorded_as
from consumers.notify.plan import Delivery
from consumers.notify.transports import ConsoleTransport, Outgoing

pytestmark = pytest.mark.unit

OUT = Outgoing(
    Delivery("d-1", "e-1", "auto_reply", "ack", "email", "ada@example.com"),
    "We got your message",
    "Thanks!",
    "T-1",
)


@pytest.mark.parametrize("show", [True, False], ids=["dev prints", "run without a provider"])
async def test_a_notification_without_a_provider_is_skipped_not_sent(
    show: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    answer = await ConsoleTransport("support@acme.test", show=show).send(OUT)
    assert recorded_as(answer) == "skipped"
    assert ("ada@example.com" in capsys.readouterr().out) is show


def test_a_providers_answer_is_sent() -> None:
    assert recorded_as("SM0123456789abcdef") == "sent"
