"""Twilio Advanced Opt-Out: the keyword a customer sent (STOP, START, HELP) is kept, so a
helpdesk sees that the customer opted out or back in."""

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


def test_no_opt_out_type_without_the_field() -> None:
    interaction = to_interaction("sms", TwilioMessage.model_validate(FORM), FORM)
    assert "opt_out_type" not in interaction.metadata
