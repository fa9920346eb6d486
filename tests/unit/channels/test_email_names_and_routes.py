"""A From header's display name holding control characters: kept, where Subject and
the other channels' names drop them."""

from __future__ import annotations

import pytest

from channels.email import interpret
from router.events import Interaction

pytestmark = pytest.mark.unit


def event(sender: bytes, to: bytes = b"support@acme.test") -> Interaction:
    raw = b"From: " + sender + b"\r\nTo: " + to + b"\r\nSubject: Re\x00fund\r\n\r\nhello\r\n"
    _, interaction = interpret(raw)
    assert interaction is not None
    return interaction


@pytest.mark.parametrize(
    "sender",
    [
        b"Al\x00ice <alice@example.com>",
        b"Al\x1bice <alice@example.com>",
        b'"Al\x07ice" <alice@example.com>',
        b"=?utf-8?Q?Al=00ice?= <alice@example.com>",
        b"alice@example.com (Al\x00ice)",
    ],
)
def test_control_characters_are_no_part_of_a_display_name(sender: bytes) -> None:
    interaction = event(sender)
    assert (interaction.customer.name, interaction.subject) == ("Alice", "Refund")
