"""Identity normalisation: one spelling per email address and phone number."""

from __future__ import annotations

import pytest

from channels import chat, meta, twilio, webform
from channels.email import interpret
from router.identity import normalize_email, normalize_phone

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Alice@Example.COM", "alice@example.com"),
        ("  <bob@example.com> ", "bob@example.com"),
        ("mailto:Carol@Example.com", "carol@example.com"),
        ("dora@bücher.example", "dora@xn--bcher-kva.example"),
        # a quoted local part that needs no quotes is the same address without them
        ('"John.Smith"@example.com', "john.smith@example.com"),
        ('"taro..yamada"@docomo.ne.jp', "taro..yamada@docomo.ne.jp"),
    ],
)
def test_normalize_email(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "nobody", "@example.com", "a@", "a b@example.com", '"a b"@example.com']
)
def test_normalize_email_rejects(raw: str) -> None:
    with pytest.raises(ValueError, match="not an email"):
        normalize_email(raw)


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+1 (415) 867-5309", None, "+14158675309"),
        ("whatsapp:+447700900123", None, "+447700900123"),
        ("WhatsApp:+44 7700 900123", None, "+447700900123"),
        ("tel:+15551234567", None, "+15551234567"),
        ("972544401243", None, "+972544401243"),
        ("0041 44 668 18 00", None, "+41446681800"),
        ("07700 900123", "GB", "+447700900123"),
        ("(415) 867-5309", "US", "+14158675309"),
        # Mexico's mobile "1", which WhatsApp still writes, dropped since 2019
        ("5215512345678", None, "+525512345678"),
        ("whatsapp:+5215512345678", None, "+525512345678"),
        ("+52 1 55 1234 5678", None, "+525512345678"),
        ("+525512345678", None, "+525512345678"),
        # Brazil's mobile "9", which WhatsApp leaves out for older accounts; fixed lines
        # (2 to 5 after the area code) have none
        ("554188887777", None, "+5541988887777"),
        ("whatsapp:+551198887777", None, "+5511998887777"),
        ("+5541988887777", None, "+5541988887777"),
        ("+55 41 3333 4444", None, "+554133334444"),
    ],
)
def test_normalize_phone(raw: str, region: str | None, expected: str) -> None:
    assert normalize_phone(raw, region) == expected


@pytest.mark.parametrize(
    "raw", ["", "VERIFY", "12", "whatsapp:", "+1 234", "not a number 5", "+52 1 234"]
)
def test_normalize_phone_rejects(raw: str) -> None:
    with pytest.raises(ValueError, match="phone number"):
        normalize_phone(raw)


def test_an_internationalised_address_is_one_customer_whichever_channel_wrote_it() -> None:
    raw = "From: Kunde <kunde@bücher.example>\nTo: help@acme.test\nSubject: x\n\nhallo"
    _, mail = interpret(raw.encode())
    form = webform.to_interaction(
        webform.WebForm.model_validate({"email": "Kunde@Bücher.example", "message": "hallo"}),
        "webform",
    )
    visit = chat.to_interaction(
        chat.ChatMessage.model_validate(
            {
                "conversation_id": "c-1",
                "visitor": {"id": "v-1", "email": "kunde@bücher.example"},
                "text": "hallo",
            }
        )
    )
    assert mail is not None
    keys = {i.customer.identities()[0] for i in (mail, form, visit)}
    assert keys == {"email:kunde@xn--bcher-kva.example"}


@pytest.mark.parametrize(
    ("unicode", "ascii_form", "other_owner"),
    [
        ("anna@straße.de", "anna@xn--strae-oqa.de", "anna@strasse.de"),
        ("x@σίσυφος.gr", "x@xn--kxa6ajbbmh.gr", "x@xn--kxa6akbbkh.gr"),
    ],
)
def test_a_domain_idna_2003_would_fold_is_its_owners_whichever_channel_wrote_it(
    unicode: str, ascii_form: str, other_owner: str
) -> None:
    """``straße.de`` and ``strasse.de`` are two domains of two owners (IDNA 2008): an
    email from one and a web form naming the other's A-label had been one customer (and
    the auto-reply went to the other domain)."""
    raw = f"From: Anna <{unicode}>\nTo: help@acme.test\nSubject: x\n\nhallo"
    _, mail = interpret(raw.encode())
    form = webform.to_interaction(
        webform.WebForm.model_validate({"email": ascii_form.upper(), "message": "hallo"}),
        "webform",
    )
    assert mail is not None
    keys = {i.customer.identities()[0] for i in (mail, form)}
    assert keys == {f"email:{ascii_form}"}
    assert normalize_email(other_owner) != ascii_form


def test_a_domain_idna_2008_refuses_keeps_its_idna_2003_a_labels() -> None:
    """An emoji domain (registered under IDNA 2003) is one customer, written as Unicode
    or as the A-labels its registry issued, as earlier versions stored it."""
    assert normalize_email("a@i❤.ws") == normalize_email("A@XN--I-7IQ.WS") == "a@xn--i-7iq.ws"


def test_a_mexican_whatsapp_sender_is_the_customer_who_texts_from_the_same_phone() -> None:
    """WhatsApp (through Meta or Twilio) names a Mexican mobile ``521...``; SMS and voice
    name it ``+52...``: one phone identity, so the chats and the texts share a ticket."""
    _, hook = meta.extract(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "WABA1",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {"phone_number_id": "106"},
                                "contacts": [{"wa_id": "5215512345678"}],
                                "messages": [
                                    {
                                        "from": "5215512345678",
                                        "id": "wamid.MX1",
                                        "timestamp": "1764942000",
                                        "type": "text",
                                        "text": {"body": "hola"},
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        }
    )
    [(_, cloud)] = hook.messages
    fields = {"MessageSid": "SM1", "From": "whatsapp:+5215512345678", "To": "whatsapp:+1555"}
    via_twilio = twilio.to_interaction(
        "whatsapp", twilio.TwilioMessage.model_validate({**fields, "Body": "hola"}), fields
    )
    fields = {"MessageSid": "SM2", "From": "+525512345678", "To": "+15550001111"}
    sms = twilio.to_interaction(
        "sms", twilio.TwilioMessage.model_validate({**fields, "Body": "hola"}), fields
    )
    assert {i.customer.phone for i in (cloud, via_twilio, sms)} == {"+525512345678"}
    assert {i.sender_key() for i in (cloud, via_twilio, sms)} == {"phone:+525512345678"}
