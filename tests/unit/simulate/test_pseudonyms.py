"""``export inbound --pseudonymize``: identities and thread references are replaced by
keyed hashes, the same input always by the same output, so a pseudonymized day routes
into the same tickets as the original one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiokafka import ConsumerRecord

from router.app.export import Pseudonyms, export_line
from router.app.simulate.day import parse_line
from tests.unit.simulate.helpers import ALL_WEEK, roster, run

pytestmark = pytest.mark.unit

START = datetime(2026, 11, 23, 9, tzinfo=UTC)


def envelope(i: int, email: str, *, reply_to: int | None = None, **more: Any) -> dict[str, Any]:
    thread: dict[str, Any] = {"message_id": f"<m{i}@mail.example>"}
    if reply_to is not None:
        thread["in_reply_to"] = f"<m{reply_to}@mail.example>"
        thread["references"] = [f"<m{reply_to}@mail.example>"]
    customer = {"email": email, "name": "Erika Mustermann", **more}
    return {
        "specversion": "1.0",
        "id": f"ev-{i}",
        "source": "/v1/channels/email",
        "type": "switchboard.interaction.received",
        "subject": f"email:{email.lower()}",
        "time": (START + timedelta(minutes=i)).isoformat().replace("+00:00", "Z"),
        "data": {"channel": "email", "customer": customer, "thread": thread, "text": "invoice"},
    }


def record(value: dict[str, Any], timestamp_ms: int = 0) -> ConsumerRecord[bytes, bytes]:
    raw = orjson.dumps(value)
    return ConsumerRecord("inbound", 0, 0, timestamp_ms, 0, b"k", raw, None, 1, len(raw), ())


def test_identities_are_hashed_consistently_and_nothing_identifying_is_left() -> None:
    names = Pseudonyms(b"key")
    a = names.envelope(envelope(1, "Erika@Example.com", phone="+4930123456"))
    b = names.envelope(envelope(2, "erika@example.com", reply_to=1))
    text = orjson.dumps([a, b]).decode()
    for secret in ("erika", "Erika", "example.com", "4930123456", "Mustermann", "mail.example"):
        assert secret not in text
    assert a["data"]["customer"]["email"] == b["data"]["customer"]["email"]  # case folded
    assert b["data"]["thread"]["in_reply_to"] == a["data"]["thread"]["message_id"]
    assert b["data"]["thread"]["references"] == [a["data"]["thread"]["message_id"]]
    assert a["subject"] == "email:" + a["data"]["customer"]["email"]
    assert a["data"]["text"] == "invoice"  # the rules route on the text: kept
    other = Pseudonyms(b"another key").envelope(envelope(1, "erika@example.com"))
    assert other["data"]["customer"]["email"] != a["data"]["customer"]["email"]


def test_an_event_without_time_gets_its_records_timestamp() -> None:
    value = envelope(1, "a@b.example")
    del value["time"]
    at, line = export_line(record(value, timestamp_ms=1_764_000_000_000), None) or (None, b"")
    assert at == datetime.fromtimestamp(1_764_000_000, UTC)
    assert orjson.loads(line)["time"] == "2025-11-24T16:00:00Z"
    assert export_line(record({"not": "json"}), None) is None  # the router parks it
    bad = ConsumerRecord("inbound", 0, 0, 0, 0, b"k", b"{nope", None, 1, 5, ())
    assert export_line(bad, None) is None


def test_a_pseudonymized_day_simulates_like_the_original() -> None:
    values = [
        envelope(i, f"c{i % 7}@example.com", reply_to=i - 7 if i >= 7 else None) for i in range(40)
    ]
    names = Pseudonyms(b"k")
    original = [parse_line(orjson.dumps(v), "o") for v in values]
    hidden = [parse_line(orjson.dumps(names.envelope(v)), "p") for v in values]
    agents = f"  - {{group: g, count: 2, skills: [billing], shifts: {ALL_WEEK}}}\n"
    text = roster(agents, "{exponential: {mean: 9m}}")
    plain, masked = run(text, original), run(text, hidden)
    assert plain.report["overall"]["offered"] < 40  # replies joined their threads

    def strip(figures: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in figures.items() if k != "intervals"}

    assert strip(plain.report["overall"]) == strip(masked.report["overall"])


def test_metadata_ids_addresses_places_and_urls_are_hashed_wherever_they_sit() -> None:
    value = envelope(1, "erika@example.com", handles={"whatsapp": "4915112345678"})
    value["data"]["inbox"] = "support@acme.example"
    value["data"]["quoted_text"] = "> Erika wrote: call 030 1234567"
    value["data"]["metadata"] = {
        "provider": "meta",
        "to": ["support@acme.example", "Boss <boss@example.com>"],
        "mid": "m_AbCdEfGhIjKlMnOpQrStUv",
        "context": {"id": "wamid.HBgLNDkxNTExMjM0NTY3OBUCABIYFjNFQjA="},
        "referral": {"ctwa_clid": "ARAkLkA8rmlFeiCktEJQ", "source_url": "https://fb.me/x"},
        "location": {"latitude": "52.52", "longitude": "13.40", "address": "Hauptstr. 1"},
        "notes": ["reach me on +49 151 1234 5678 or erika.m@example.com"],
        "page_url": "https://user:pw@shop.example/u/erika@example.com/1234567890?q=x",
    }
    names = Pseudonyms(b"key")
    first, second = names.envelope(value), names.envelope(value)
    assert first == second  # deterministic
    text = orjson.dumps(first).decode()
    for secret in (
        "example.com", "m_AbCd", "wamid", "ARAkLkA8", "52.52", "13.40", "Hauptstr",
        "1234 5678", "4915112345678", "1234567", "Erika", "user:pw",
    ):  # fmt: skip
        assert secret not in text, secret
    metadata = first["data"]["metadata"]
    assert metadata["to"][0] == "support@acme.example"  # the inbox is ours and kept
    assert metadata["provider"] == "meta"
    assert metadata["page_url"].startswith("https://shop.example/u/u-")
    assert "quoted_text" not in first["data"]
