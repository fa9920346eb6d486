"""Identity normalisation: one spelling per email address and phone number."""

from __future__ import annotations

import pytest

from channels import chat, webform
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
    ],
)
def test_normalize_email(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize("raw", ["", "nobody", "@example.com", "a@", "a b@example.com"])
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
    ],
)
def test_normalize_phone(raw: str, region: str | None, expected: str) -> None:
    assert normalize_phone(raw, region) == expected


@pytest.mark.parametrize("raw", ["", "VERIFY", "12", "whatsapp:", "+1 234", "not a number 5"])
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
