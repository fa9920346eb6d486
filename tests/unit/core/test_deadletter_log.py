"""What the log says about a dead-lettered record: where it was and why, never the value
that made it poison (a customer's phone number, address or words). The dead-letter
record itself keeps the full reason beside the original bytes."""

from __future__ import annotations

import orjson
import pytest
from aiokafka import ConsumerRecord
from pydantic import ValidationError
from structlog.testing import capture_logs

from consumers import deadletter
from consumers.deadletter import parked, redacted
from consumers.work import parse_record
from router.actions import PREFIX, validate_data
from router.errors import InvalidEvent
from router.events import Interaction
from router.logs import Sampled
from tests.budget import cpu_budget

pytestmark = pytest.mark.unit

POISON = "garbage-phone-POISON3"


@pytest.fixture(autouse=True)
def every_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's lines, whatever the tests before it logged (the log is sampled)."""
    monkeypatch.setattr(deadletter, "LOGGED", Sampled())


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


def inbound_with_handle(key: str) -> ConsumerRecord[bytes, bytes]:
    value = orjson.dumps(
        {
            "specversion": "1.0",
            "id": "ev-1",
            "source": "/v1/channels/email",
            "type": "switchboard.interaction.received",
            "data": {
                "channel": "email",
                "customer": {"email": "ada@example.com", "handles": {key: 5}},
                "text": "hello",
            },
        }
    )
    return ConsumerRecord("t.inbound", 0, 7, 0, 0, b"k", value, None, 1, len(value), [])


@pytest.mark.parametrize("key", ["Hans Handle secret", "hanshandle", "Hans: secret"])
def test_a_key_the_sender_chose_in_a_field_path_is_not_logged(key: str) -> None:
    poison = inbound_with_handle(key)
    with pytest.raises(InvalidEvent) as raised:
        parse_record(poison)
    with capture_logs() as logs:
        out = parked(poison, "router", raised.value)
    [line] = [e for e in logs if e["event"] == "deadlettered"]
    assert line["error"] == "invalid interaction: /data/customer/handles/*: " + (
        "Input should be a valid string"
    )
    reason = dict(out.headers or [])["dlq.error"].decode()
    assert f"/data/customer/handles/{key}: Input should be a valid string" in reason


def test_a_validation_errors_path_is_logged_with_schema_names_and_indexes_only() -> None:
    with pytest.raises(ValidationError) as raised:
        Interaction.model_validate(
            {
                "channel": "email",
                "customer": {"email": "ada@example.com", "handles": {"Hans Beispiel": 5}},
                "attachments": [{"size": -1}],
            }
        )
    with capture_logs() as logs:
        out = parked(record(b"{}"), "router", raised.value)
    [line] = [e for e in logs if e["event"] == "deadlettered"]
    assert "/customer/handles/*: " in line["error"]
    assert "/attachments/0/size: " in line["error"]
    assert "Hans" not in line["error"]
    assert "/customer/handles/Hans Beispiel: " in dict(out.headers or [])["dlq.error"].decode()


def test_a_long_answer_without_an_address_is_redacted_in_linear_time() -> None:
    """65,536 letters without "@" took 6.5 s of CPU when every position began an address."""
    with cpu_budget(0.3):
        assert redacted("B" * 65_536) == "B" * 65_536


def test_a_flood_of_the_same_poison_is_one_line_every_few_seconds_with_a_count() -> None:
    """2,000 garbage records on ``inbound`` had written 2,000 warnings."""
    with pytest.raises(InvalidEvent) as raised:
        validate_data(PREFIX + "customer.upserted", {"email": "ada@example.com", "phone": POISON})
    with capture_logs() as logs:
        for _ in range(500):
            parked(record(b"{}"), "router", raised.value)
    [line] = [e for e in logs if e["event"] == "deadlettered"]
    assert line["held_back"] == 0
    assert deadletter.LOGGED.take(("router", "t.actions", line["error"])) is None  # 499 held
