"""Two shapes of a From header the audit found read as written: control characters in
the display name (kept, where Subject and the other channels' names drop them) and
RFC 5322's obsolete source route before the address (``<@relay.test:alice@...>``, which
became the customer's address)."""

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


@pytest.mark.parametrize(
    "sender",
    [
        b"Alice <@relay.test:alice@example.com>",
        b"Alice <@one.test,@two.test:alice@example.com>",
        b"Alice <@relay.test: alice@example.com>",
    ],
)
def test_a_source_route_is_no_part_of_the_address(sender: bytes) -> None:
    interaction = event(sender, to=b"<@relay.test:support@acme.test>")
    assert (interaction.customer.email, interaction.customer.name) == ("alice@example.com", "Alice")
    assert interaction.inbox == "support@acme.test"
    assert "from: source route before the address removed" in interaction.metadata["parse_warnings"]
