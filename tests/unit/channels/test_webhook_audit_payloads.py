"""Third-party webhook payloads (tests/fixtures/webhooks/audit, sources in SOURCE.md) that
an outside audit found read wrongly: Instagram shares with no text, a WhatsApp call
permission answer as a blank message, the product of an enquiry dropped, Brazil's old
mobile numbers and a hidden WhatsApp number split from their customer, and a postback
with no title blank."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl

import orjson
import pytest

from channels import twilio
from channels.meta import extract
from router.events import Interaction

pytestmark = pytest.mark.unit

AUDIT = Path(__file__).resolve().parents[2] / "fixtures" / "webhooks" / "audit"


def messages(name: str) -> list[Interaction]:
    return [i for _, i in extract(orjson.loads((AUDIT / name).read_bytes()))[1].messages]


def twilio_form(name: str) -> Interaction:
    fields = dict(parse_qsl((AUDIT / name).read_text().strip(), keep_blank_values=True))
    message = twilio.TwilioMessage.model_validate(twilio.legacy_sid(fields))
    return twilio.to_interaction("whatsapp", message, fields)


@pytest.mark.parametrize(
    ("name", "text", "attachments"),
    [
        (
            "cw-ig-ig-post.json",
            "Shared Instagram post\nhttps://lookaside.fbsbx.com/ig_messaging_cdn/"
            "?asset_id=18091626484740369&signature=test",
            0,
        ),
        ("cw-ig-reel.json", "Reel title\nhttps://www.example.com/test.jpeg", 0),
        (
            "cw-ig-ig-story.json",
            "Shared story\nhttps://lookaside.fbsbx.com/ig_messaging_cdn/"
            "?asset_id=17949487764033669&signature=test",
            0,
        ),
        (
            "cw-ig-story-mention.json",
            "Mentioned you in their story\nhttps://www.example.com/test.jpeg",
            1,
        ),
    ],
)
def test_an_instagram_share_or_story_mention_has_text(
    name: str, text: str, attachments: int
) -> None:
    """Each had been a blank message with one nameless binary attachment."""
    [message] = messages(name)
    assert message.text == text
    assert len(message.attachments) == attachments


def test_an_instagram_share_without_a_title_says_what_it_is() -> None:
    [message] = messages("cw-ig-share.json")
    assert message.text.splitlines()[0] == "Shared post"
    assert message.text.splitlines()[1].startswith("https://")


def test_a_whatsapp_call_permission_answer_is_told_and_kept() -> None:
    [message] = messages("pywa-call-permission-accept.json")
    assert message.text == "Call permission: accept"
    assert message.metadata["call_permission"]["response"] == "accept"


def test_the_product_a_whatsapp_enquiry_is_about_is_kept() -> None:
    [message] = messages("netflie-button-referred-product.json")
    assert message.metadata["referred_product"] == {
        "catalog_id": "CATALOG_ID",
        "product_retailer_id": "PRODUCT_ID",
    }


def test_a_brazilian_mobile_in_its_old_form_is_the_same_phone_as_in_its_new() -> None:
    """WhatsApp names older Brazilian accounts without the mobile 9 (chatwoot #5840)."""
    [message] = messages("cw-wa-brazil-old.json")
    assert message.customer.phone is not None
    national = message.customer.phone.removeprefix("+55")
    assert (len(national), national[2]) == (11, "9")


def test_a_postback_without_a_title_shows_its_payload() -> None:
    [message] = messages("botman-postback-notitle.json")
    assert message.text == "MY_PAYLOAD"


def test_a_hidden_whatsapp_number_finds_the_customer_its_user_id_was_seen_with() -> None:
    """Twilio sends WhatsApp's user id as ExternalUserId beside the phone, and as From
    alone when the user hides their number: both must name one customer handle."""
    with_phone = twilio_form("cw-tw-phone-plus-bsuid-whatsapp-full.form")
    hidden = twilio_form("cw-tw-bsuid-only-whatsapp-full.form")
    assert with_phone.customer.phone == "+919745786257"
    assert with_phone.customer.handles == {"whatsapp": "IN.2081978709342942"}
    assert hidden.customer.phone is None
    assert hidden.customer.handles == {"whatsapp": "IN.2081978709342942"}
