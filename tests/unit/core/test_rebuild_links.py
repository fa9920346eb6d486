"""``state rebuild``'s identity links: customer ids are random, so the links it writes
back are all that names a returning customer; a colleague's reply on someone's thread
must link the colleague's address to the colleague, not to the ticket's owner."""

from __future__ import annotations

from typing import Any, cast

import orjson
import pytest
from aiokafka import ConsumerRecord

from router.app.rebuild import _snapshots

pytestmark = pytest.mark.unit

AT = "2026-11-23T10:00:00Z"


def lifecycle(kind: str, sender: str, participants: list[str]) -> ConsumerRecord[bytes, bytes]:
    """A record of ``tickets`` on Bob's ticket: the snapshot after ``sender``'s message."""
    ticket = {
        "id": "T-bob",
        "channel": "email",
        "customer_id": "C-bob",
        "created_at": AT,
        "updated_at": AT,
        "participants": participants,
    }
    data = {"ticket": ticket, "interaction": {"channel": "email", "customer": {"email": sender}}}
    value = orjson.dumps({"type": f"switchboard.ticket.{kind}", "data": data})
    record: Any = type("Record", (), {"key": b"T-bob", "value": value})()
    return cast("ConsumerRecord[bytes, bytes]", record)


def test_a_reply_that_adds_a_participant_links_its_sender_to_that_participant() -> None:
    records = [
        lifecycle("created", "bob@example.com", []),
        lifecycle("message_added", "ada@example.com", ["C-ada"]),
        lifecycle("message_added", "ada@example.com", ["C-ada"]),
        lifecycle("message_added", "bob@example.com", ["C-ada"]),
    ]
    _, _, links = _snapshots(records, [])
    assert links == {"email:bob@example.com": "C-bob", "email:ada@example.com": "C-ada"}


def test_a_later_reply_of_a_known_participant_does_not_take_them_for_the_owner() -> None:
    """Ada's first reply aged out: her next one adds no participant, so it proves nothing
    (linked to the owner, as a guess); Carol's first reply does."""
    records = [
        lifecycle("message_added", "ada@example.com", ["C-ada"]),
        lifecycle("message_added", "carol@example.com", ["C-ada", "C-carol"]),
    ]
    _, _, links = _snapshots(records, [])
    assert links["email:carol@example.com"] == "C-carol"
    assert links["email:ada@example.com"] == "C-bob"  # a guess: nothing says otherwise
