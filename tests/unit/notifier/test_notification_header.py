"""The notifier tells a notification from the rest of the tickets topic by the type
header, under this version's name (``switchboard_type``) and an older one's (``ce_type``),
so that after an upgrade the records already on the topic are still skipped unread."""

from __future__ import annotations

import pytest
from aiokafka.structs import ConsumerRecord

from consumers.notify.records import is_notification
from router.codec import LEGACY_TYPE_HEADER, TYPE_HEADER

pytestmark = pytest.mark.unit

STRUCTURED = ("content-type", b"application/cloudevents+json; charset=utf-8")


def record(*headers: tuple[str, bytes]) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord("tickets", 0, 0, 0, 0, b"T-1", b"{}", None, 0, 2, headers)


@pytest.mark.parametrize("name", [TYPE_HEADER, LEGACY_TYPE_HEADER])
def test_either_header_name_says_what_the_record_is(name: str) -> None:
    assert is_notification(record(STRUCTURED, (name, b"switchboard.ticket.notification")))
    assert is_notification(record(STRUCTURED, (name, b"switchboard.ticket.routed"))) is False


def test_without_a_type_header_the_value_must_say() -> None:
    assert is_notification(record(STRUCTURED)) is None
