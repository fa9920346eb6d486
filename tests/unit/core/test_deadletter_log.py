"""What the log says about a dead-lettered record: where it was and why, never the value
that made it poison (a customer's phone number, address or words). The dead-letter
record itself keeps the full reason beside the original bytes."""

from __future__ import annotations

import pytest
from aiokafka import ConsumerRecord
from structlog.testing import capture_logs

from consumers.deadletter import parked, redacted
from router.actions import PREFIX, validate_data
from router.errors import InvalidEvent

pytestmark = pytest.mark.unit

POISON = "garbage-phone-POISON3"


def record(value: bytes) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        "t.actions", 0, 7, 0, 0, b"customer:x", value, None, len(b"customer:x"), len(value), []
    )


def test_a_poison_record_is_logged_without_the_value_that_made_it_poison() -> None:
    with pytest.raises(InvalidEvent) as raised:
        validate_data(PREFIX + "customer.upserted", {"email": "ada@example.com", "phone": POISON})
    with capture_logs() as logs:
        out = parked(record(b"{}"), "router", raised.value)
    [line] = [e for e in logs if e["event"] == "deadlettered"]
    assert line["error"].startswith("/data/phone: not a phone number: '…'")
    assert POISON not in line["error"]
    assert POISON in dict(out.headers or [])["dlq.error"].decode()


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "smtp: 550 5.1.1 <xavier.smtpvictim@example.org>: Recipient address rejected",
            "smtp: 550 5.1.1 <<redacted-email>>: Recipient address rejected",
        ),
        ("The 'To' number +1 (555) 010-9999 is bad.", "The 'To' number <redacted-phone> is bad."),
        ("to whatsapp:+15550109999.", "to whatsapp:<redacted-phone>."),
        ("twilio: 429 code 20429, host 203.0.113.55", "twilio: 429 code 20429, host 203.0.113.55"),
    ],
)
def test_provider_answers_lose_addresses_and_numbers_not_codes(text: str, shown: str) -> None:
    assert redacted(text) == shown
