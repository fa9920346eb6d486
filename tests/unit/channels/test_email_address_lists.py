"""A mail to very many addresses is accepted: the event lists the first 100 of each
address header and counts the rest (``cc_omitted``), and an address header of
thousands of addresses is parsed only up to 64 KiB. The audit: 200,000 Cc (3.9 MiB) was
answered 413 after 5 s, the event being 4,289,528 bytes where the limit is 262,144."""

from __future__ import annotations

import orjson
import pytest

from channels.email import MAX_LISTED_ADDRESSES, interpret
from router.limits import Limits

pytestmark = pytest.mark.unit


def mail(cc: int, to: int = 1) -> bytes:
    addresses = ", ".join(f"user{i}@example.com" for i in range(cc))
    recipients = ", ".join(["support@example.com", *(f"t{i}@example.com" for i in range(to - 1))])
    return (
        f"From: Ann <ann@example.org>\r\nTo: {recipients}\r\nCc: {addresses}\r\n"
        "Subject: hi\r\nMessage-ID: <m1@example.org>\r\n\r\nhello\r\n"
    ).encode()


def test_a_mail_to_200_000_addresses_makes_an_event_that_fits() -> None:
    _, interaction = interpret(mail(200_000))
    assert interaction is not None
    metadata = interaction.metadata
    assert metadata["cc"] == [f"user{i}@example.com" for i in range(MAX_LISTED_ADDRESSES)]
    assert metadata["cc_omitted"] == 200_000 - MAX_LISTED_ADDRESSES
    assert any(w.startswith("cc: ") and "not read" in w for w in metadata["parse_warnings"])
    assert interaction.inbox == "support@example.com"
    Limits().check_inbound(orjson.dumps(interaction.model_dump(mode="json")))


def test_lists_over_100_are_cut_and_counted() -> None:
    _, interaction = interpret(mail(150, to=101))
    assert interaction is not None
    metadata = interaction.metadata
    assert len(metadata["cc"]) == len(metadata["to"]) == MAX_LISTED_ADDRESSES
    assert (metadata["cc_omitted"], metadata["to_omitted"]) == (50, 1)
    assert "parse_warnings" not in metadata  # every address was read


def test_a_short_list_is_whole_with_no_count() -> None:
    _, interaction = interpret(mail(3))
    assert interaction is not None
    assert interaction.metadata["cc"] == [f"user{i}@example.com" for i in range(3)]
    assert "cc_omitted" not in interaction.metadata
