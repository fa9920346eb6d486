"""A WhatsApp message through Twilio keeps what Meta's webhook would have said of it: the
ad that started the conversation, and whether it was forwarded (field names from
Twilio's WhatsApp webhook reference, values made up)."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from channels.twilio import TwilioMessage, to_interaction

pytestmark = pytest.mark.unit

FORM = (
    "AccountSid=AC00000000000000000000000000000000&SmsStatus=received&NumSegments=1"
    "&From=whatsapp%3A%2B115005550006&To=whatsapp%3A%2B14155238886&ProfileName=Jane+Doe"
    "&WaId=15005550006&MessageSid=SMffffffffffffffffffffffffffffffff"
    "&Body=Hi%2C+I+saw+your+ad&NumMedia=0&MessageType=text&ReferralBody=Get+20%25+off"
    "&ReferralHeadline=Spring+sale&ReferralSourceId=1234567890&ReferralSourceType=ad"
    "&ReferralSourceUrl=https%3A%2F%2Ffb.me%2Fabc&ReferralNumMedia=0"
    "&ReferralCtwaClid=ARAkLkA8rmlFeiCk&Forwarded=true"
)


def interaction(form: str) -> dict[str, object]:
    fields = dict(parse_qsl(form))
    return to_interaction("whatsapp", TwilioMessage.model_validate(fields), fields).metadata


def test_the_ad_behind_a_conversation_is_kept_as_meta_names_it() -> None:
    metadata = interaction(FORM)
    assert metadata["referral"] == {
        "body": "Get 20% off",
        "headline": "Spring sale",
        "source_id": "1234567890",
        "source_type": "ad",
        "source_url": "https://fb.me/abc",
        "ctwa_clid": "ARAkLkA8rmlFeiCk",
    }
    assert metadata["forwarded"] is True
    assert "frequently_forwarded" not in metadata


def test_an_ordinary_message_has_neither() -> None:
    plain = "&".join(p for p in FORM.split("&") if not p.startswith(("Referral", "Forwarded")))
    metadata = interaction(plain + "&Forwarded=false")
    assert "referral" not in metadata
    assert "forwarded" not in metadata
