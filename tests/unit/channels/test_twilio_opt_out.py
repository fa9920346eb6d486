"""Twilio's opt-out keywords: the kind a customer sent (STOP, START, HELP) is kept, so a
helpdesk sees that the customer opted out or back in, and the router sends no auto-reply
Twilio would refuse (21610) or that would answer a keyword Twilio answers itself. With
Advanced Opt-Out Twilio names it (``OptOutType``); without, its default handling of an SMS
acts on the same keywords, so they are read from the message."""

from __future__ import annotations

import pytest

from channels.twilio import TwilioMessage, to_interaction

pytestmark = pytest.mark.unit

FORM = {
    "MessageSid": "SM0123456789abcdef0123456789abcdef",
    "From": "+14158675309",
    "To": "+18005551212",
    "Body": "STOP",
    "NumMedia": "0",
}


@pytest.mark.parametrize("kind", ["STOP", "START", "HELP"])
def test_opt_out_type_is_kept_as_metadata(kind: str) -> None:
    fields = {**FORM, "Body": kind, "OptOutType": kind}
    interaction = to_interaction("sms", TwilioMessage.model_validate(fields), fields)
    assert interaction.metadata["opt_out_type"] == kind
    assert interaction.text == kind


def test_no_opt_out_type_for_a_message_that_is_no_keyword() -> None:
    for body in ("Where is my parcel?", "STOP please", "please stop", "STOPP", ""):
        fields = {**FORM, "Body": body}
        interaction = to_interaction("sms", TwilioMessage.model_validate(fields), fields)
        assert "opt_out_type" not in interaction.metadata, body


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("STOP", "STOP"),
        ("stop", "STOP"),
        ("  Stop \n", "STOP"),
        ("STOPALL", "STOP"),
        ("unsubscribe", "STOP"),
        ("Cancel", "STOP"),
        ("END", "STOP"),
        ("quit", "STOP"),
        ("START", "START"),
        ("yes", "START"),
        ("Unstop", "START"),
        ("HELP", "HELP"),
        ("info", "HELP"),
    ],
)
def test_a_keyword_sms_without_advanced_opt_out_is_marked_as_twilio_reads_it(
    body: str, kind: str
) -> None:
    """Twilio's default handling acts on these one-word messages with no ``OptOutType``:
    a STOP had opened a ticket whose auto-reply Twilio refused (21610), dead-lettered."""
    fields = {**FORM, "Body": body}
    interaction = to_interaction("sms", TwilioMessage.model_validate(fields), fields)
    assert interaction.metadata["opt_out_type"] == kind
    assert interaction.text == body.strip()


def test_twilios_own_opt_out_type_wins_over_the_keyword() -> None:
    """Advanced Opt-Out may define its own keywords: what Twilio says is kept."""
    fields = {**FORM, "Body": "ARRET", "OptOutType": "STOP"}
    interaction = to_interaction("sms", TwilioMessage.model_validate(fields), fields)
    assert interaction.metadata["opt_out_type"] == "STOP"
    fields = {**FORM, "Body": "yes", "OptOutType": "HELP"}
    interaction = to_interaction("sms", TwilioMessage.model_validate(fields), fields)
    assert interaction.metadata["opt_out_type"] == "HELP"


def test_a_whatsapp_keyword_is_a_message() -> None:
    """Twilio filters no keywords on WhatsApp (a customer blocks the business there): a
    WhatsApp STOP is answered as any message, and Twilio does not refuse the answer."""
    fields = {**FORM, "From": "whatsapp:+14158675309", "To": "whatsapp:+18005551212"}
    interaction = to_interaction("whatsapp", TwilioMessage.model_validate(fields), fields)
    assert "opt_out_type" not in interaction.metadata
