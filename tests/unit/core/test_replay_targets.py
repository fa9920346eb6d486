"""Where ``deadletter replay`` sends each dead letter, and for whom: a record a role read
and set aside goes back for that role alone; an output the broker refused (it reached
no reader) for every reader; nothing goes to a compacted topic (it would replace a newer
value or bring back an erased snapshot), the dead-letter topic or another prefix's; a
mark counts only for the dead letter it was written for."""

from __future__ import annotations

import pytest
from aiokafka import ConsumerRecord

from router.app.replay import Letter, _record, _target, letter_of
from router.kafka import REPLAY_DELIVERY, REPLAY_FOR, REPLAY_OF
from router.topics import TopicNames

pytestmark = pytest.mark.unit

NAMES = TopicNames("switchboard")


def letter(
    topic: str, consumer: str, *, offset: int = 7, key: bytes | None = b"T-1", **more: str
) -> Letter:
    headers = [
        ("content-type", b"application/cloudevents+json"),
        ("dlq.topic", f"switchboard.{topic}".encode()),
        ("dlq.partition", b"2"),
        ("dlq.offset", str(offset).encode()),
        ("dlq.consumer", consumer.encode()),
        ("dlq.error", b"Undeliverable: email to a@example.com: 535"),
        *((name, value.encode()) for name, value in more.items()),
    ]
    record = ConsumerRecord(
        "switchboard.deadletter", 1, 40, 1_700_000_000_000, 0, key, b"{}", None, 1, 1, headers
    )
    found = letter_of(record)
    assert found is not None
    return found


def target(
    one: Letter, marked: dict[str, int] | None = None, gone: set[str] | None = None
) -> tuple[str | None, str | None]:
    return _target(one, NAMES, gone or set(), marked or {})


def test_a_record_a_role_read_goes_back_for_that_role() -> None:
    assert target(letter("tickets", "notifier")) == (None, "notifier")
    assert target(letter("actions", "router")) == (None, "router")


def test_an_output_the_broker_refused_goes_to_every_reader() -> None:
    # written by the router, which reads no `tickets`; never on the topic
    assert target(letter("tickets", "router", offset=-1)) == (None, None)
    assert target(letter("tickets", "timers", offset=-1)) == (None, None)


def test_compacted_foreign_and_dead_letter_topics_are_left_out() -> None:
    assert target(letter("ticket-state", "router", offset=-1)) == ("compacted topic", None)
    assert target(letter("metrics.sla", "metrics", offset=-1)) == ("compacted topic", None)
    assert target(letter("deadletter", "notifier", offset=-1))[0] == "not this installation's topic"
    other = letter("tickets", "timers")
    other = Letter(**{**{f: getattr(other, f) for f in other.__slots__}, "topic": "acme.tickets"})
    assert target(other)[0] == "not this installation's topic"
    assert target(letter("tickets", "timers"), gone={"switchboard.tickets"})[0] == "topic gone"


def test_a_mark_counts_only_for_the_dead_letter_it_was_written_for() -> None:
    one = letter("actions", "router")
    assert target(one, {one.place: one.timestamp_ms})[0] == "replayed before"
    # the topic was made anew: the same place holds another dead letter
    assert target(one, {one.place: one.timestamp_ms - 86_400_000}) == (None, "router")


def test_the_copy_keeps_the_original_and_says_what_it_is() -> None:
    one = letter("tickets", "notifier", **{"dlq.delivery": "d-42"})
    copy = _record(one, "notifier", partitions=6)
    assert (copy["topic"], copy["key"], copy["value"]) == ("switchboard.tickets", b"T-1", b"{}")
    assert copy["partition"] is None  # the key chooses, as for newer records of the key
    assert copy["headers"] == [
        ("content-type", b"application/cloudevents+json"),
        (REPLAY_OF, b"1:40"),
        (REPLAY_FOR, b"notifier"),
        (REPLAY_DELIVERY, b"d-42"),
    ]
    everyone = _record(letter("tickets", "router", offset=-1, key=None), None, partitions=6)
    assert everyone["partition"] == 2  # no key: where it came from
    assert [name for name, _ in everyone["headers"]] == ["content-type", REPLAY_OF]
    assert _record(letter("tickets", "router", key=None), None, partitions=2)["partition"] is None
