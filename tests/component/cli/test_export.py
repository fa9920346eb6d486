"""``switchboard export inbound`` against the real embedded broker: a day of inbound
events (and some outside it) produced to the topic, exported as JSONL in time order,
plain and pseudonymized; both exports simulate to the same result as the day itself."""

from __future__ import annotations

import asyncio
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from channels import chat, twilio
from channels import email as email_channel
from router.app.export import export_inbound
from router.app.report.windows import Period
from router.app.simulate.day import read_day
from router.app.simulate.engine import simulate
from router.app.simulate.roster import loads_roster
from router.events import Interaction
from router.settings import Settings
from router.topics import Topic, TopicNames
from rules import load_ruleset
from tests.conftest import settings_env

pytestmark = pytest.mark.component

ROOT = Path(__file__).resolve().parents[3]
DAY = datetime(2026, 11, 24, tzinfo=UTC)
ROSTER = """
version: 1
timezone: UTC
seed: 2
agents:
  - {group: desk, count: 2, skills: [billing, tech, sales], shifts: {tue: ["08:00-18:00"]}}
handling: [{exponential: {mean: 20m}}]
"""


def inbound(i: int, minutes: float, who: str, *, reply_to: int | None = None) -> dict[str, Any]:
    thread: dict[str, Any] = {"message_id": f"<m{i}@mail.example>"}
    if reply_to is not None:
        thread["in_reply_to"] = f"<m{reply_to}@mail.example>"
    return {
        "specversion": "1.0",
        "id": f"export-{i}",
        "source": "/v1/channels/email",
        "type": "switchboard.interaction.received",
        "subject": f"email:{who}@customer.example",
        "time": (DAY + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z"),
        "data": {
            "channel": "email",
            "customer": {"email": f"{who}@customer.example", "name": f"Name {who}"},
            "inbox": "billing@acme.example" if i % 2 else "support@acme.example",
            "thread": thread,
            "subject": "Invoice" if i % 2 else "Login error",
            "text": "my invoice" if i % 2 else "I get an error",
        },
    }


def a_day() -> list[dict[str, Any]]:
    """60 messages from 20 customers between 08:00 and 12:00 (every third a reply), one
    the day before and one the day after."""
    events = [
        inbound(
            i, 8 * 60 + i * 4, f"c{i % 20}", reply_to=i - 20 if i >= 20 and i % 3 == 0 else None
        )
        for i in range(60)
    ]
    events.append(inbound(100, -60, "early"))
    events.append(inbound(101, 25 * 60, "late"))
    return events


async def produce(settings: Settings, events: list[dict[str, Any]]) -> None:
    topic = TopicNames(settings.topic_prefix)(Topic.INBOUND)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        for event in reversed(events):  # out of order on purpose: the export sorts
            await producer.send_and_wait(topic, orjson.dumps(event), key=event["subject"].encode())
    finally:
        await producer.stop()


def outcome(path: Path) -> dict[str, Any]:
    rules = load_ruleset(ROOT / "rules" / "examples")
    result = asyncio.run(simulate(rules, loads_roster(ROSTER), read_day(path)))
    return {k: v for k, v in result.report["overall"].items() if k != "intervals"}


async def pseudonymized_export(settings: Settings, out: Path) -> subprocess.CompletedProcess[str]:
    """``switchboard export inbound`` of 2026-11-24, pseudonymized with a fixed salt."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "router.app", "export", "inbound", "--from", "2026-11-24",
         "--to", "2026-11-24", "--out", str(out), "--pseudonymize", "--salt", "s3cret"],
        env=settings_env(settings), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


async def test_export_round_trip_plain_and_pseudonymized(
    settings: Settings, tmp_path: Path
) -> None:
    events = a_day()
    await produce(settings, events)
    plain = tmp_path / "day.jsonl"
    done = await export_inbound(settings, Period(DAY, DAY + timedelta(days=1)), plain)
    assert (done.read, done.written) == (62, 60)
    lines = [orjson.loads(line) for line in plain.read_bytes().splitlines()]
    assert lines == events[:60]  # the day's events, byte for byte the same data, in order
    assert stat.S_IMODE(plain.stat().st_mode) == 0o600  # customers' data: the owner's alone
    plain.chmod(0o644)  # an export an earlier version wrote, readable by all
    await export_inbound(settings, Period(DAY, DAY + timedelta(days=1)), plain)
    assert stat.S_IMODE(plain.stat().st_mode) == 0o600

    hidden = tmp_path / "hidden.jsonl"
    cli = await pseudonymized_export(settings, hidden)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "wrote 60 to" in cli.stderr
    text = hidden.read_text()
    assert "customer.example" not in text
    assert "mail.example" not in text
    assert "Name c" not in text
    masked = [orjson.loads(line) for line in text.splitlines()]
    ids = [m["id"] for m in masked]  # no key back to the original in tickets or Redis
    assert len(set(ids)) == 60
    assert not set(ids) & {e["id"] for e in events}
    senders = {e["data"]["customer"]["email"] for e in events[:60]}
    assert len({m["data"]["customer"]["email"] for m in masked}) == len(senders) == 20

    # the original day, its export and its pseudonymized export route and staff alike
    original = tmp_path / "original.jsonl"
    original.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events[:60]))
    expected = await asyncio.to_thread(outcome, original)
    assert expected["offered"] < 60  # replies joined their tickets
    assert await asyncio.to_thread(outcome, plain) == expected
    assert await asyncio.to_thread(outcome, hidden) == expected


REALISTIC_EMAIL = b"""From: Erika Mustermann <erika.mustermann@kunde.example>
To: support@acme.example
Cc: Hans Beispiel <hans.beispiel@kunde.example>
Reply-To: erika.private@mail.example
Subject: Re: invoice 4711 for Erika Mustermann
Message-ID: <CAF1234567@mail.kunde.example>
In-Reply-To: <prev-987@acme.example>
References: <prev-987@acme.example>
Date: Tue, 24 Nov 2026 09:00:00 +0100
Content-Type: text/plain; charset=utf-8

Hello, my invoice is wrong. Call me at +49 30 1234567.

Erika

On Mon, 23 Nov 2026 at 17:02, Hans Beispiel <hans.beispiel@kunde.example> wrote:
> Erika, the support line said to call Hans on 0171 9876543.
> Regards, Hans
"""
SMS_SID = "SM" + "0123456789abcdef" * 2
ACCOUNT_SID = "AC" + "fedcba9876543210" * 2
MEDIA_URL = (
    f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{SMS_SID}/Media/ME"
    + "a1" * 16
)


def envelope_of(interaction: Interaction, n: int) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"pii-{n}",
        "source": f"/v1/channels/{interaction.channel}",
        "type": "switchboard.interaction.received",
        "subject": interaction.sender_key(),
        "time": (DAY + timedelta(hours=9, minutes=n)).isoformat().replace("+00:00", "Z"),
        "data": interaction.model_dump(mode="json", exclude_none=True),
    }


def realistic_messages() -> list[dict[str, Any]]:
    """An email with Cc, Reply-To and quoted history, a chat from a page whose URL holds
    the visitor's address, and an SMS with its Twilio SIDs: built by the real adapters."""
    _, email = email_channel.interpret(REALISTIC_EMAIL)
    assert email is not None
    message = chat.ChatMessage.model_validate(
        {
            "conversation_id": "conv-8812",
            "visitor": {"id": "visitor-5521", "email": "max@web.example", "name": "Max Muster"},
            "text": "Hi, I am Max Muster, my order is late",
            "message_id": "msg-1",
            "page_url": "https://shop.example/account?email=max%40web.example&ref=mail#top",
        }
    )
    fields = {
        "MessageSid": SMS_SID,
        "From": "+4915112345678",
        "To": "+15005550006",
        "Body": "Where is my order? Reach me on +49 151 12345678",
        "AccountSid": ACCOUNT_SID,
        "FromCity": "BERLIN",
        "NumMedia": "1",
        "MediaUrl0": MEDIA_URL,
        "MediaContentType0": "image/jpeg",
    }
    sms = twilio.to_interaction("sms", twilio.TwilioMessage.model_validate(fields), fields)
    interactions = (email, chat.to_interaction(message), sms)
    return [envelope_of(interaction, n) for n, interaction in enumerate(interactions)]


async def test_pseudonymized_export_leaves_no_identity_or_provider_id_in_clear(
    settings: Settings, tmp_path: Path
) -> None:
    messages = realistic_messages()
    assert messages[0]["data"]["quoted_text"]  # the adapter did split the history off
    await produce(settings, messages)
    files = []
    for n in range(2):
        hidden = tmp_path / f"hidden-{n}.jsonl"
        cli = await pseudonymized_export(settings, hidden)
        assert cli.returncode == 0, cli.stdout + cli.stderr
        files.append(hidden.read_text())
    text = files[0]
    assert files[1] == text  # deterministic: the same salt gives the same file
    for clear in (
        "erika", "Erika", "Mustermann", "kunde.example", "hans", "Hans", "mail.example",
        "1234567", "9876543", "prev-987", "CAF1234567",  # the email, its Cc, Reply-To, history
        "max@", "max%40", "web.example", "Max", "visitor-5521", "conv-8812",  # the chat
        SMS_SID, ACCOUNT_SID, "0123456789abcdef", "fedcba9876543210", "a1a1a1a1",  # Twilio
        "4915112345678", "12345678", "BERLIN",
    ):  # fmt: skip
        assert clear not in text, clear
    email, chat_line, sms = (orjson.loads(line) for line in text.splitlines())
    assert "quoted_text" not in email["data"]
    assert email["data"]["metadata"]["to"] == ["support@acme.example"]  # our inbox: kept
    assert email["data"]["text"].startswith("Hello, my invoice is wrong. Call me at +999")
    page = chat_line["data"]["metadata"]["page_url"]
    assert page.startswith("https://shop.example/account?email=")  # routable: site and page
    # the Twilio message id is the thread's message id: both hashed to the same token
    assert sms["data"]["metadata"]["message_sid"] == sms["data"]["thread"]["message_id"]


async def test_a_record_the_router_dead_letters_for_size_is_left_out_and_counted(
    settings: Settings, tmp_path: Path
) -> None:
    too_large = inbound(1, 9 * 60, "big")
    too_large["data"]["text"] = "x" * 400_000  # over a quarter of the 1 MiB record limit
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        for event in (inbound(0, 8 * 60, "small"), too_large):
            at = datetime.fromisoformat(event["time"])  # the period counts it by this
            await producer.send_and_wait(
                TopicNames(settings.topic_prefix)(Topic.INBOUND),
                orjson.dumps(event),
                timestamp_ms=int(at.timestamp() * 1000),
            )
    finally:
        await producer.stop()
    out = tmp_path / "day.jsonl"
    done = await export_inbound(settings, Period(DAY, DAY + timedelta(days=1)), out)
    assert (done.read, done.written, done.skipped) == (2, 1, 1)
    assert [orjson.loads(line)["id"] for line in out.read_bytes().splitlines()] == ["export-0"]


async def test_a_customer_named_before_their_own_message_is_pseudonymized_everywhere(
    settings: Settings, tmp_path: Path
) -> None:
    """A colleague's message names Bartholomew an hour before Bartholomew writes himself,
    and another producer's record carries fields of its own: the export reads the period
    once for the people in it, then writes every event scrubbed of all of them."""
    named = inbound(1, 8 * 60, "cornelius")
    named["data"]["customer"]["name"] = "Cornelius Pennyfeather"
    named["data"]["subject"] = "Invoice problem for Bartholomew Featherstonehaugh"
    named["data"]["text"] = "Bartholomew asked me to write"
    own = inbound(2, 9 * 60, "bart")
    own["data"]["customer"]["name"] = "Featherstonehaugh, Bartholomew (Accounts)"
    own["data"]["customer"]["birthday"] = "1961-04-01"
    own["data"]["sender_ip"] = "198.51.100.23"
    own["bartholomewsclient"] = "crm-bridge"
    await produce(settings, [named, own])
    hidden = tmp_path / "hidden.jsonl"
    cli = await pseudonymized_export(settings, hidden)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "read 2 inbound records" in cli.stderr  # said once: read within a second
    assert "wrote 2 to" in cli.stderr
    text = hidden.read_text()
    for clear in ("Bartholomew", "bartholomew", "Featherstonehaugh", "1961", "198.51.100.23"):
        assert clear not in text, clear
    first, second = (orjson.loads(line) for line in text.splitlines())
    pseudonym = second["data"]["customer"]["name"]
    assert first["data"]["subject"] == f"Invoice problem for {pseudonym}"
    assert set(second["data"]["customer"]) == {"email", "name"}


async def test_a_copy_of_an_event_already_written_is_left_out_and_counted(
    settings: Settings, tmp_path: Path
) -> None:
    """A replayed dead letter or a producer's retry puts an event on ``inbound`` twice;
    the router routes it once, and the export had written it twice, so a simulation of
    the day counted the message twice."""
    first, second = inbound(0, 8 * 60, "a"), inbound(1, 9 * 60, "b")
    await produce(settings, [first, second, first])
    out = tmp_path / "day.jsonl"
    done = await export_inbound(settings, Period(DAY, DAY + timedelta(days=1)), out)
    assert (done.read, done.written, done.copies) == (3, 2, 1)
    lines = out.read_bytes().splitlines()
    assert [orjson.loads(line)["id"] for line in lines] == ["export-0", "export-1"]


def test_a_salt_without_pseudonymize_is_a_usage_error(tmp_path: Path) -> None:
    """A salt asks for pseudonyms; the export had written every address in clear."""
    out = tmp_path / "day.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "router.app", "export", "inbound", "--from", "2026-11-24",
         "--to", "2026-11-24", "--out", str(out), "--salt", "s3cret"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (result.returncode, result.stderr) == (2, "error: --salt goes with --pseudonymize\n")
    assert not out.exists()
