"""``export inbound --pseudonymize``: identities and thread references are replaced by
keyed hashes, the same input always by the same output, so a pseudonymized day routes
into the same tickets as the original one."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiokafka import ConsumerRecord

from channels.meta_payloads import Envelope, from_messenger, from_whatsapp
from channels.twilio import TwilioMessage, to_interaction
from router.app.export import Pseudonyms, export_line
from router.app.simulate.day import parse_line
from router.events import Interaction
from router.limits import Limits
from tests.budget import cpu_budget
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


# --- what the channel adapters publish, as the export reads it back ------------------------

SID = "SM" + "0123456789abcdef" * 2


def published(interaction: Interaction, i: int = 1) -> dict[str, Any]:
    """The envelope the ingress publishes for an adapter's interaction."""
    return {
        "specversion": "1.0",
        "id": f"ev-{i}",
        "source": f"/v1/channels/{interaction.channel}",
        "type": "switchboard.interaction.received",
        "subject": interaction.sender_key(),
        "time": (START + timedelta(minutes=i)).isoformat().replace("+00:00", "Z"),
        "data": interaction.model_dump(mode="json", exclude_none=True),
    }


def twilio_whatsapp(**fields: str) -> Interaction:
    form = {
        "MessageSid": SID,
        "From": "whatsapp:+4915112345678",
        "To": "whatsapp:+14155550100",
        "WaId": "4915112345678",
        "Body": "",
        **fields,
    }
    return to_interaction("whatsapp", TwilioMessage.model_validate(form), form)


def cloud_whatsapp(*messages: dict[str, Any]) -> list[Interaction]:
    """WhatsApp Cloud API messages from one customer, through the Meta adapter."""
    value = {
        "metadata": {"display_phone_number": "14155550100", "phone_number_id": "1055"},
        "contacts": [{"wa_id": "4915112345678", "profile": {"name": "Erika Mustermann"}}],
        "messages": [{"from": "4915112345678", "timestamp": "1795000000", **m} for m in messages],
    }
    hook = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "7001", "changes": [{"field": "messages", "value": value}]}],
    }
    return [i for _, i in from_whatsapp(Envelope.model_validate(hook)).messages]


def clear_text(value: dict[str, Any]) -> str:
    return orjson.dumps(value).decode()


@pytest.mark.parametrize(
    ("fields", "rendered"),
    [
        ({"Label": "Home", "Address": "Invalidenstr. 117, 10115 Berlin"}, "{label}, {address}"),
        ({}, "{latitude}, {longitude}"),
    ],
)
def test_a_twilio_location_is_replaced_in_the_text_as_in_the_metadata(
    fields: dict[str, str], rendered: str
) -> None:
    shared = twilio_whatsapp(Latitude="52.531207", Longitude="13.384619", **fields)
    assert shared.text == rendered.format_map(shared.metadata["location"])  # as published
    out = Pseudonyms(b"key").envelope(published(shared))
    for secret in ("Home", "Invalidenstr", "10115", "Berlin", "52.531207", "13.384619"):
        assert secret not in clear_text(out), secret
    # the same tokens as the location's fields in the metadata, in the adapter's layout
    assert out["data"]["text"] == rendered.format_map(out["data"]["metadata"]["location"])


def test_a_whatsapp_cloud_location_is_replaced_line_by_line() -> None:
    place = {
        "latitude": 52.531207,
        "longitude": 13.384619,
        "name": "Praxis Dr. Weber",
        "address": "Invalidenstr. 117, 10115 Berlin",
        "url": "https://praxis-weber.example",
    }
    (shared,) = cloud_whatsapp({"id": "wamid.A1", "type": "location", "location": place})
    assert "52.531207, 13.384619" in shared.text  # what the adapter publishes
    out = Pseudonyms(b"key").envelope(published(shared))
    for secret in ("Weber", "Invalidenstr", "Berlin", "praxis", "52.531207", "13.384619"):
        assert secret not in clear_text(out), secret
    assert out["data"]["text"].splitlines() == [
        Pseudonyms(b"key").place(line) for line in shared.text.splitlines()
    ]


def test_a_messenger_location_is_replaced_in_the_text() -> None:
    event = {
        "sender": {"id": "6001"},
        "recipient": {"id": "7001"},
        "timestamp": 1_795_000_000_000,
        "message": {
            "mid": "m_AbCdEfGhIjKlMnOpQrStUv",
            "attachments": [
                {
                    "type": "location",
                    "title": "Erika's Location",
                    "payload": {"coordinates": {"lat": 52.531207, "long": 13.384619}},
                }
            ],
        },
    }
    hook = {"object": "page", "entry": [{"id": "7001", "messaging": [event]}]}
    ((_, shared),) = from_messenger(Envelope.model_validate(hook)).messages
    assert shared.text == "52.531207, 13.384619"  # what the adapter publishes
    out = Pseudonyms(b"key").envelope(published(shared))
    for secret in ("52.531207", "13.384619", "Erika"):
        assert secret not in clear_text(out), secret
    assert out["data"]["text"] == Pseudonyms(b"key").place("52.531207, 13.384619")


@pytest.mark.parametrize(
    "number",
    [
        "030 1234567",
        "(415) 555-0177",
        "415.555.0132",
        "0151 12345678",
        "054-777-8899",
        "+49 (0)30 1234567",
        "88123456",  # a bare long number, say an order number: taken for a phone number
        "0151\u20132345\u20136789",  # en dashes, as a word processor writes them
        "030/12345678",
        "4111111111111111",  # a card number: 16 digits had been left whole
    ],
)
def test_phone_numbers_are_replaced_in_any_form(number: str) -> None:
    names = Pseudonyms(b"key")
    value = envelope(1, "erika@example.com")
    value["data"]["text"] = f"Hello, please call me back on {number}."
    value["data"]["subject"] = f"Call {number}"
    out = names.envelope(value)["data"]
    digits = "".join(c for c in number if c.isdigit())
    for field in ("text", "subject"):
        assert digits[-5:] not in out[field], out[field]
    pseudonym = out["subject"].removeprefix("Call ")
    assert pseudonym.startswith("+999")
    assert out["text"] == f"Hello, please call me back on {pseudonym}."  # the same number
    assert names.envelope(value)["data"]["subject"] == out["subject"]  # stable in the run


def test_one_number_written_two_ways_gets_one_pseudonym() -> None:
    value = envelope(1, "erika@example.com")
    value["data"]["text"] = "(415) 555-0177 or 415.555.0177"
    first, _, second = Pseudonyms(b"key").envelope(value)["data"]["text"].split()
    assert first == second != "415.555.0177"


def test_dates_times_prices_and_short_numbers_in_the_text_are_kept() -> None:
    text = (
        "Order 123456 from 2026-12-05 10:30 (05.12.2026), open 09.30-17.30, "
        "total 1,299.00 USD or 1.299.000 COP or 12345.67 EUR, room 42, PLZ 10115"
    )
    value = envelope(1, "erika@example.com")
    value["data"]["text"] = text
    assert Pseudonyms(b"key").envelope(value)["data"]["text"] == text


def test_a_shared_contact_card_keeps_no_name_or_number() -> None:
    cards = [
        {
            "name": {"formatted_name": "Yossi Levi", "first_name": "Yossi"},
            "phones": [{"phone": "054-777-8899", "type": "CELL"}, {"phone": "+972 3 555 1234"}],
        },
        {"name": {"formatted_name": "Dana"}, "phones": [{"phone": "03-5551299"}]},
    ]
    (shared,) = cloud_whatsapp({"id": "wamid.C1", "type": "contacts", "contacts": cards})
    assert shared.text.splitlines()[0] == "Yossi Levi 054-777-8899 +972 3 555 1234"
    names = Pseudonyms(b"key")
    out = names.envelope(published(shared))
    for secret in ("Yossi", "Levi", "Dana", "8899", "555 1234", "5551299"):
        assert secret not in clear_text(out), secret
    yossi, dana = out["data"]["text"].splitlines()
    assert re.fullmatch(r"Contact [0-9a-f]{6} \+999\d+ \+999\d+", yossi)  # name, 2 numbers
    assert re.fullmatch(r"Contact [0-9a-f]{6} \+999\d+", dana)
    assert yossi.split()[1] != dana.split()[1]
    assert names.envelope(published(shared)) == out  # the same card, the same pseudonyms


def test_a_pseudonymized_whatsapp_day_threads_and_routes_like_the_original() -> None:
    """Texts the export now rewrites (numbers, places, cards) must not change a ticket:
    the replies still join their threads and "invoice" still routes to billing."""
    values = []
    for i in range(30):
        customer = f"49151{i % 5:08d}"
        reply = {"context": {"id": f"wamid.{i - 5}"}} if i >= 5 else {}
        kind = i % 3
        message: dict[str, Any] = {"id": f"wamid.{i}", "from": customer, **reply}
        if kind == 0:
            message |= {"type": "text", "text": {"body": f"invoice? call 030 12345{i:02d}"}}
        elif kind == 1:
            place = {"latitude": 52.5 + i / 1000, "longitude": 13.4, "name": f"Shop {i}"}
            message |= {"type": "location", "location": place}
        else:
            card = {"name": {"formatted_name": "Yossi Levi"}, "phones": [{"phone": "0547778899"}]}
            message |= {"type": "contacts", "contacts": [card]}
        (interaction,) = cloud_whatsapp(message)
        values.append(published(interaction, i))
    names = Pseudonyms(b"k")
    original = [parse_line(orjson.dumps(v), "o") for v in values]
    hidden = [parse_line(orjson.dumps(names.envelope(v)), "p") for v in values]
    agents = f"  - {{group: g, count: 2, skills: [billing], shifts: {ALL_WEEK}}}\n"
    text = roster(agents, "{exponential: {mean: 9m}}")
    plain, masked = run(text, original), run(text, hidden)
    assert plain.report["overall"]["offered"] < 30  # replies joined their threads

    def strip(figures: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in figures.items() if k != "intervals"}

    assert strip(plain.report["overall"]) == strip(masked.report["overall"])
    assert masked.report["queues"]["billing"]["offered"] > 0  # routed on the kept text
    assert plain.report["queues"] == masked.report["queues"]


def test_email_addresses_in_any_script_are_replaced_whole() -> None:
    value = envelope(1, "erika@example.com")
    value["data"]["text"] = (
        "Mail me at jürgen@müller.example or JÜRGEN.MÜLLER@example.com or ana@例子.example"
    )
    text = Pseudonyms(b"key").envelope(value)["data"]["text"]
    for secret in ("jürgen", "JÜRGEN", "MÜ", "müller", "ana", "例子"):
        assert secret not in text, text
    assert re.fullmatch(r"Mail me at (u-[0-9a-f]{16}@pseudonymized\.invalid(?: or |$)){3}", text)


@pytest.mark.parametrize(
    "written",
    [
        "https://acme.example/reset?u=jdoe77%40probe.example",  # a link's query
        "jdoe77\uff20probe.example",  # full width
        "jdoe77 (at) probe.example",
        "jdoe77[at]probe[dot]example",
        "jdoe77 at probe dot example",
    ],
)
def test_an_address_written_so_that_harvesters_miss_it_is_replaced(written: str) -> None:
    value = envelope(1, "erika@example.com")
    value["data"]["text"] = f"Write to {written} please, I was at home."
    text = Pseudonyms(b"key").envelope(value)["data"]["text"]
    assert "jdoe77" not in text, text
    assert "probe" not in text, text
    assert text.endswith(" please, I was at home.")  # "at" alone is no address


def test_a_long_text_without_an_address_is_scrubbed_in_linear_time() -> None:
    """65,536 letters without "@" took 2.1 s of CPU when every position began an address."""
    value = envelope(1, "erika@example.com")
    value["data"]["text"] = "B" * 65_536
    with cpu_budget(0.3):
        out = Pseudonyms(b"key").envelope(value)
    assert out["data"]["text"] == "B" * 65_536


def test_the_customers_name_joined_by_underscores_dashes_or_dots_is_replaced() -> None:
    names = Pseudonyms(b"key")
    value = envelope(1, "z@example.com")
    value["data"]["customer"]["name"] = "Zebulon Quimby"
    value["data"]["text"] = "See Zebulon_Quimby_passport.pdf, zebulon.quimby.jpg, Quimby-2.png"
    value["data"]["attachments"] = [{"name": "Zebulon_Quimby_passport.pdf"}]
    out = names.envelope(value)["data"]
    assert "zebulon" not in clear_text(out).lower()
    assert "quimby" not in clear_text(out).lower()
    spaced = dict(value, data={**value["data"], "attachments": [{"name": "Zebulon Quimby.pdf"}]})
    whole = names.envelope(spaced)["data"]["attachments"][0]["name"].removesuffix(".pdf")
    assert out["attachments"] == [{"name": f"{whole}_passport.pdf"}]  # as if spaced
    assert out["text"].startswith(f"See {whole}_passport.pdf, {whole}.jpg, ")


def test_a_dotted_phone_number_in_groups_of_three_is_replaced_not_kept_as_an_amount() -> None:
    value = envelope(1, "erika@example.com")
    value["data"]["text"] = "Spanish mobile 612.345.678, call me"
    text = Pseudonyms(b"key").envelope(value)["data"]["text"]
    assert "345" not in text
    assert re.fullmatch(r"Spanish mobile \+999\d+, call me", text)
    amounts = "1.234,56 or € 1.234.567 or 12.50 or 1.234.567.890 € or 1.234.567.890,00 EUR"
    value["data"]["text"] = amounts
    assert Pseudonyms(b"key").envelope(value)["data"]["text"] == amounts


def test_a_record_over_the_routers_inbound_limit_is_left_out() -> None:
    """The router dead-letters it before reading it, so no simulation may see it."""
    value = envelope(1, "erika@example.com")
    value["data"]["text"] = "x" * 400_000
    assert export_line(record(value), None) is None
    assert export_line(record(value), None, Limits(record_bytes=2 * 1024 * 1024)) is not None


# --- what another producer adds, other customers' names, display names, IBANs -------------

ULRIKE_SECRETS = (
    "Ulrike", "ulrike", "Pfaff", "pfaff", "Rosenweg", "50667", "1975-02-03",
    "5557777", "198.51.100.23", "ulrikepfaff", "crm-4711",
)  # fmt: skip


def foreign(**data: Any) -> dict[str, Any]:
    """An interaction another producer (a CRM bridge) wrote, with fields of its own."""
    value = envelope(1, "ulrike.pfaff@pfaff.example")
    value["data"]["customer"] = {
        "email": "ulrike.pfaff@pfaff.example",
        "name": "Ulrike Pfaff",
        "address": "Rosenweg 9, 50667 Köln",
        "birthday": "1975-02-03",
        "secondary_email": "ulrike.private@pfaff-home.example",
        "mobile": "+49 160 5557777",
        "crm_id": 4711,
    }
    value["data"] |= data
    value |= {"ulrikepfaff": "yes", "crmcontact": "crm-4711", "crmscore": 42}
    return value


def test_fields_the_export_does_not_know_are_left_out() -> None:
    """A customer's address, birthday, second email and mobile, a sender IP, a contact
    person and extension attributes (whose very name may be personal) were copied word
    for word."""
    value = foreign(
        sender_ip="198.51.100.23",
        contact_person={"name": "Ulrike Pfaff", "mail": "ulrike.private@pfaff-home.example"},
        notes=["Rosenweg 9"],
        language="de",
        auto_reply=False,
        attachments=[{"name": "scan.pdf", "content_type": "application/pdf", "size": 12,
                      "owner": "Ulrike Pfaff", "path": "/home/upfaff/Rosenweg"}],
        thread={"message_id": "<m1@pfaff.example>", "crm_thread": "crm-4711"},
    )  # fmt: skip
    line = export_line(record(value), Pseudonyms(b"key"))
    assert line is not None
    out = orjson.loads(line[1])
    for secret in ULRIKE_SECRETS:
        assert secret not in clear_text(out), secret
    assert set(out) == {"specversion", "id", "source", "type", "subject", "time", "data"}
    data = out["data"]
    assert set(data["customer"]) == {"email", "name"}
    assert set(data) == {
        "channel", "customer", "thread", "text", "language", "auto_reply", "attachments",
    }  # fmt: skip
    assert set(data["thread"]) == {"message_id"}
    assert data["attachments"] == [
        {"name": "scan.pdf", "content_type": "application/pdf", "size": 12}  # known: kept
    ]
    assert (data["language"], data["auto_reply"]) == ("de", False)
    assert export_line(record(out), None) is not None  # the router still takes it


def test_a_name_written_by_another_customer_is_replaced_wherever_it_appears() -> None:
    """Cornelius' reply named Bartholomew in clear while Bartholomew's own message named
    him by his pseudonym: the file linked the two. A customer seen anywhere in the export
    is replaced in every event, also in one before his own (the export sees them all
    first)."""
    bart = envelope(1, "bart.feather@oldmail.example")
    bart["data"]["customer"]["name"] = "Bartholomew Featherstonehaugh"
    bart["data"]["subject"] = "Invoice problem for Bartholomew Featherstonehaugh"
    reply = envelope(2, "cornelius@firm.example", reply_to=1)
    reply["data"]["customer"]["name"] = "Cornelius Pennyfeather"
    reply["data"]["subject"] = "Re: Invoice problem for Bartholomew Featherstonehaugh"
    reply["data"]["text"] = "Adding info. Reach Bartholomew at his desk."
    names = Pseudonyms(b"key")
    hidden_bart, hidden_reply = names.envelope(bart), names.envelope(reply)
    for secret in ("Bartholomew", "Featherstonehaugh"):
        assert secret not in clear_text(hidden_reply), secret
    pseudonym = hidden_bart["data"]["customer"]["name"]
    assert hidden_bart["data"]["subject"] == f"Invoice problem for {pseudonym}"
    assert hidden_reply["data"]["subject"] == f"Re: Invoice problem for {pseudonym}"
    assert hidden_reply["data"]["text"].startswith("Adding info. Reach Customer ")

    first = Pseudonyms(b"key")  # the reply written first: seen in the first pass
    for value in (reply, bart):
        first.see(value)
    assert first.envelope(reply) == hidden_reply


@pytest.mark.parametrize(
    "display", ["QUIMBY, Zebulon", "Quimby, Zebulon (Sales)", "zebulon quimby", '"Quimby" Zebulon']
)
def test_a_surname_first_display_name_is_the_same_person(display: str) -> None:
    """ "QUIMBY, Zebulon" left "Mr. Quimby" in clear and got another pseudonym than
    "Zebulon Quimby"; a bracketed department is no part of the name."""
    names = Pseudonyms(b"key")
    value = envelope(1, "zebulon.quimby@quimbymail.example")
    value["data"]["customer"]["name"] = display
    value["data"]["subject"] = "Fwd: Quimby account / Z. Quimby"
    value["data"]["text"] = "Hi, this is Mr. Quimby, Zebulon of Sales. Sign: QUIMBY, Zebulon"
    out = names.envelope(value)["data"]
    assert "quimby" not in clear_text(out).lower()
    assert "zebulon" not in clear_text(out).lower()
    assert out["customer"]["name"] == names.name("Zebulon Quimby")
    whole = out["customer"]["name"]
    assert out["text"].endswith(f"of Sales. Sign: {whole}")  # "Sales" is no name word
    assert out["text"].startswith(f"Hi, this is Mr. {whole} of Sales")  # "Quimby, Zebulon"
    alone = out["subject"].removeprefix("Fwd: ").split(" account")[0]
    assert out["subject"] == f"Fwd: {alone} account / Z. {alone}"  # the surname alone


@pytest.mark.parametrize(
    "written", ["Jose Muller", "Jose Mueller", "JOSE MÜLLER", "José Müller", "Müller, José"]
)
def test_a_name_written_without_its_accents_or_with_umlauts_spelled_out_is_replaced(
    written: str,
) -> None:
    """ "José Müller" had been replaced only as spelled with its accents: "Jose Mueller"
    in the text and ``Jose_Mueller_passport.pdf`` left the export with his name."""
    names = Pseudonyms(b"key")
    value = envelope(1, "jose.mueller@example.de")
    value["data"]["customer"]["name"] = "Müller, José"
    value["data"]["text"] = f"Regards, {written}"
    value["data"]["attachments"] = [{"name": f"{written.replace(' ', '_')}_passport.pdf"}]
    out = names.envelope(value)["data"]
    whole = out["customer"]["name"]
    assert out["text"] == f"Regards, {whole}"
    assert out["attachments"] == [{"name": f"{whole}_passport.pdf"}]


def test_accent_folding_leaves_short_names_whole_and_ordinary_words_alone() -> None:
    """Spelled-out umlauts had been folded in every word: "Joe" became "jo", too short
    to be replaced alone, and "does" became the "dos" of Maria dos Santos."""
    names = Pseudonyms(b"key")
    joe = envelope(1, "joe@example.com")
    joe["data"]["customer"]["name"] = "Joe Smith"
    maria = envelope(2, "maria@example.com")
    maria["data"]["customer"]["name"] = "Maria dos Santos"
    maria["data"]["text"] = "It does not work. Thanks Joe, and Zoë"
    for value in (joe, maria):
        names.see(value)
    text = names.envelope(maria)["data"]["text"]
    assert text.startswith("It does not work. Thanks ")
    assert "Joe" not in text


@pytest.mark.parametrize(
    "iban",
    [
        "DE89 3704 0044 0532 0130 00",
        "DE89370400440532013000",
        "GB29 NWBK 6016 1331 9268 19",
        "NO93 8601 1117 947",
        "de89 3704 0044 0532 0130 00",
        "DE89-3704-0044-0532-0130-00",
    ],
)
def test_an_iban_is_replaced_whole(iban: str) -> None:
    """ "DE89 +999630022563664 0130 00": its digit groups passed for a phone number."""
    value = envelope(1, "erika@example.com")
    value["data"]["text"] = f"My IBAN is {iban}. Call 030 1234567."
    text = Pseudonyms(b"key").envelope(value)["data"]["text"]
    assert re.fullmatch(r"My IBAN is iban-[0-9a-f]{16}\. Call \+999\d+\.", text), text
    compact = "".join(iban.replace("-", " ").split()).upper()
    value["data"]["text"] = f"My IBAN is {compact}. Call 030 1234567."
    assert Pseudonyms(b"key").envelope(value)["data"]["text"] == text  # one IBAN, one token
