"""What a third-party producer writing CloudEvents straight to ``inbound`` or ``actions``
gets: ``data_base64`` read as the JSON format allows, ``time`` only as RFC 3339, binary
headers that are not quite binary mode named as such, and dead letters that keep the
original key."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from consumers.deadletter import deadletter_record
from consumers.work import parse_action_record, parse_record
from router.codec import CONTENT_TYPE_HEADER, decode_record
from router.errors import InvalidEvent
from router.events import CloudEvent
from router.limits import Limits
from router.topics import OutRecord, Topic
from router.vocabulary import EventType
from tests.unit.core.test_binary_mode import Headers, binary_headers, record

pytestmark = pytest.mark.unit

INTERACTION = {"channel": "webform", "customer": {"email": "ada@example.com"}, "text": "hi"}
RESOLVED = {"ticket_id": "T-1", "agent_id": "a-7"}


def envelope(kind: str, **fields: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "id": "e-1", "source": "/desk", "type": kind, **fields}


def b64(value: object) -> str:
    return base64.b64encode(orjson.dumps(value)).decode()


def inbound(value: dict[str, Any], headers: Headers = (CONTENT_TYPE_HEADER,)) -> Any:
    return parse_record(record(Topic.INBOUND, orjson.dumps(value), list(headers)))


def action(value: dict[str, Any]) -> Any:
    return parse_action_record(record(Topic.ACTIONS, orjson.dumps(value), [CONTENT_TYPE_HEADER]))


# --- data_base64 --------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [None, "application/json", "application/vnd.x+json"])
def test_json_data_given_as_data_base64_is_read_as_the_data(content_type: str | None) -> None:
    extra = {"datacontenttype": content_type} if content_type else {}
    kind = EventType.INTERACTION_RECEIVED
    message = inbound(envelope(kind, data_base64=b64(INTERACTION), **extra))
    assert message.interaction.customer.email == "ada@example.com"
    assert message.interaction.text == "hi"
    assert "data_base64" not in (message.event.model_extra or {})
    done = action(envelope("ticket.resolved", data_base64=b64(RESOLVED), **extra))
    assert done.action.ticket_id == "T-1"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"data_base64": "not base64!"}, "/data_base64: not base64-encoded JSON"),
        ({"data_base64": base64.b64encode(b"hi").decode()}, "/data_base64: not base64-encoded"),
        ({"data_base64": b64([1, 2])}, "/data_base64: the data it encodes is not a JSON object"),
        (
            {"data_base64": b64(RESOLVED), "datacontenttype": "text/plain"},
            "/data_base64: data of content type 'text/plain' is not JSON",
        ),
        (
            {"data_base64": b64(RESOLVED), "data": RESOLVED},
            "/data_base64: data and data_base64 are both present",
        ),
    ],
)
def test_data_base64_that_cannot_be_read_is_refused_naming_it(
    fields: dict[str, Any], reason: str
) -> None:
    with pytest.raises(InvalidEvent, match=reason):
        inbound(envelope(EventType.INTERACTION_RECEIVED, **fields))
    with pytest.raises(InvalidEvent, match=reason):
        action(envelope("ticket.resolved", **fields))


def test_both_data_members_are_refused_on_the_routers_fast_path_too() -> None:
    """The inbound fast path validates the whole value at once: a valid ``data`` beside a
    ``data_base64`` must not slip through as an extension attribute."""
    both = envelope(EventType.INTERACTION_RECEIVED, data=INTERACTION, data_base64=b64({}))
    with pytest.raises(InvalidEvent, match="data and data_base64 are both present"):
        inbound(both)


# --- time ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "time", ["1700000000", "2026-11-23", "2026-11-23T10:05:00", "2026-13-01T10:00:00Z", "now"]
)
def test_a_time_that_is_not_rfc_3339_is_refused_in_both_modes(time: str) -> None:
    reason = "/time: not an RFC 3339 timestamp"
    with pytest.raises(InvalidEvent, match=reason):
        inbound(envelope(EventType.INTERACTION_RECEIVED, time=time, data=INTERACTION))
    with pytest.raises(InvalidEvent, match=reason):
        action(envelope("ticket.resolved", time=time, data=RESOLVED))
    headers = binary_headers("switchboard.ticket.resolved", time=time)
    with pytest.raises(InvalidEvent, match="header ce_time: not an RFC 3339 timestamp"):
        decode_record(orjson.dumps(RESOLVED), headers)


@pytest.mark.parametrize("time", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_time_with_no_instant_in_utc_is_refused_not_a_crash(time: str) -> None:
    """Valid RFC 3339 text, but no UTC time Python can hold: one such action on the
    actions topic had stopped the router (an OverflowError nobody caught)."""
    reason = "outside the years 0001 to 9999 once in UTC"
    with pytest.raises(InvalidEvent, match=f"/time: {reason}"):
        action(envelope("ticket.resolved", time=time, data=RESOLVED))
    with pytest.raises(InvalidEvent, match=f"/data/until: {reason}"):
        action(envelope("ticket.postponed", data={"ticket_id": "T-1", "until": time}))
    with pytest.raises(InvalidEvent, match=f"/time: {reason}"):
        inbound(envelope(EventType.INTERACTION_RECEIVED, time=time, data=INTERACTION))


def test_an_epoch_number_as_time_is_refused() -> None:
    with pytest.raises(InvalidEvent, match="/time: not an RFC 3339 timestamp"):
        action(envelope("ticket.resolved", time=1700000000, data=RESOLVED))


@pytest.mark.parametrize(
    ("time", "meant"),
    [
        ("2026-11-23T10:05:00Z", datetime(2026, 11, 23, 10, 5, tzinfo=UTC)),
        ("2026-11-23t10:05:00z", datetime(2026, 11, 23, 10, 5, tzinfo=UTC)),
        ("2026-11-23 10:05:00Z", datetime(2026, 11, 23, 10, 5, tzinfo=UTC)),
        ("2026-11-23T10:05:00-00:00", datetime(2026, 11, 23, 10, 5, tzinfo=UTC)),
        (
            "2026-11-23T11:35:00+01:30",
            datetime(2026, 11, 23, 11, 35, tzinfo=timezone(timedelta(hours=1, minutes=30))),
        ),
        ("2026-11-23T10:05:00.123456789Z", datetime(2026, 11, 23, 10, 5, 0, 123456, tzinfo=UTC)),
        ("2016-12-31T23:59:60Z", datetime(2016, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ],
)
def test_rfc_3339_times_are_read_in_both_modes(time: str, meant: datetime) -> None:
    structured = action(envelope("ticket.resolved", time=time, data=RESOLVED))
    assert structured.event.time == meant
    binary = decode_record(orjson.dumps(RESOLVED), binary_headers("t", time=time))
    assert binary.time == meant


def test_events_built_in_python_keep_their_datetimes() -> None:
    """The HTTP adapters build envelopes from datetimes: those are not text to parse."""
    at = datetime(2026, 11, 23, 10, 5, tzinfo=UTC)
    assert CloudEvent(id="1", source="/x", type="t", time=at).time == at


# --- binary-looking headers ---------------------------------------------------------------


def test_ce_headers_without_specversion_are_named_as_the_problem() -> None:
    headers = [h for h in binary_headers("switchboard.ticket.resolved") if h[0] != "ce_specversion"]
    with pytest.raises(InvalidEvent) as caught:
        decode_record(orjson.dumps(RESOLVED), headers)
    assert str(caught.value).startswith("binary-mode ce_* headers without ce_specversion")
    assert "/id: Field required" in str(caught.value)  # what structured mode found


def test_upper_case_ce_headers_are_named_as_the_problem() -> None:
    headers = [(k.upper(), v) for k, v in binary_headers("switchboard.ticket.resolved")]
    with pytest.raises(InvalidEvent, match="binary-mode headers must be lower case"):
        decode_record(orjson.dumps(RESOLVED), headers)
    with pytest.raises(InvalidEvent, match="binary-mode headers must be lower case"):
        parse_record(record(Topic.INBOUND, orjson.dumps(INTERACTION), headers))


def test_switchboards_own_type_header_is_no_sign_of_binary_mode() -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode_record(b"{}", [CONTENT_TYPE_HEADER, ("ce_type", b"t")])
    assert str(caught.value).startswith("not a CloudEvent: /")


# --- dead letters keep the original key ---------------------------------------------------


@pytest.mark.parametrize("key", [None, b"\xff\xfeT-1", b"customer:ada@example.com", b""])
def test_a_dead_letter_keeps_the_original_key_bytes(key: bytes | None) -> None:
    poison = dataclasses.replace(record(Topic.ACTIONS, b"{}", []), key=key)
    dead = deadletter_record(poison, "router", InvalidEvent("bad"))
    assert dead.key == key
    assert dead.key_bytes == key  # what is produced


def test_an_outrecords_text_key_is_produced_as_utf8() -> None:
    assert OutRecord(Topic.TICKETS, "T-ü", None).key_bytes == "T-ü".encode()


def test_a_key_beyond_any_record_is_cut_and_says_so() -> None:
    limits = Limits(record_bytes=4096)
    key = b"k" * 2000
    poison = dataclasses.replace(record(Topic.ACTIONS, b"{}", []), key=key)
    dead = deadletter_record(poison, "router", InvalidEvent("bad"), limits)
    assert dead.key == key[: limits.inbound_bytes]
    assert dict(dead.headers)["dlq.key_truncated"] == b"2000"


# --- the customer ---------------------------------------------------------------------------


@pytest.mark.parametrize("email", ["Theodora Krumholz", "theodora@", "@example.com", "a@b c.de"])
def test_a_customer_email_that_is_no_address_is_refused_naming_it(email: str) -> None:
    """Another producer's record whose customer email is a name, not an address, had
    opened a ticket, and the notifier then tried to mail "Theodora Krumholz"."""
    data = {**INTERACTION, "customer": {"email": email}}
    with pytest.raises(InvalidEvent, match="/data/customer/email"):
        inbound(envelope(EventType.INTERACTION_RECEIVED, data=data))


@pytest.mark.parametrize("email", ["ada@example.com", "x@localhost", '"ada lovelace"@example.com'])
def test_a_customer_email_of_any_address_form_is_taken(email: str) -> None:
    data = {**INTERACTION, "customer": {"email": email}}
    work = inbound(envelope(EventType.INTERACTION_RECEIVED, data=data))
    assert work.interaction.customer.email == email


# --- nesting ------------------------------------------------------------------------------


def deep_json(value: dict[str, Any], levels: int = 600) -> bytes:
    """``value`` as JSON, its ``"DEEP"`` an array nested ``levels`` deep (more than
    orjson writes)."""
    return orjson.dumps(value).replace(b'"DEEP"', b"[" * levels + b"]" * levels)


DEEP_UPSERT = {"email": "ada@example.com", "attributes": {"a": "DEEP"}}
DEEP_INTERACTION = {**INTERACTION, "metadata": {"a": "DEEP"}}


@pytest.mark.parametrize("mode", ["structured", "binary", "data_base64"])
def test_data_nested_deeper_than_the_router_reads_is_an_invalid_event(mode: str) -> None:
    """Read by orjson (binary mode, ``data_base64``), such data had gone on to a
    RecursionError, or an encoder's refusal as the router wrote its records."""
    upsert = "switchboard.customer.upserted"
    cases = [(Topic.INBOUND, EventType.INTERACTION_RECEIVED, DEEP_INTERACTION, parse_record)]
    cases.append((Topic.ACTIONS, upsert, DEEP_UPSERT, parse_action_record))
    for topic, kind, data, parse in cases:
        headers: Headers = []
        if mode == "binary":
            value, headers = deep_json(data), binary_headers(kind)
        elif mode == "data_base64":
            encoded = base64.b64encode(deep_json(data)).decode()
            value = orjson.dumps(envelope(kind, data_base64=encoded))
        else:
            value = deep_json(envelope(kind, data=data))
        with pytest.raises(InvalidEvent, match=r"nested deeper than 200 levels|recursion limit"):
            parse(record(topic, value, headers))
