"""WhatsApp Cloud API payloads from pywa's test data: which are customer messages, and
what each becomes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from channels.meta import extract

pytestmark = pytest.mark.unit

DIR = Path(__file__).resolve().parents[2] / "fixtures" / "webhooks" / "meta-whatsapp-cloud"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads((DIR / f"pywa-{name}.json").read_bytes())
    return data


MESSAGES = load("message")
NOT_PUBLISHED = {"reaction", "unreaction_empty", "unreaction_no_emoji"}


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_every_message_payload_extracts(name: str) -> None:
    kind, found = extract(MESSAGES[name])
    assert kind == "whatsapp_business_account"
    if name in NOT_PUBLISHED:
        assert (found.messages, found.ignored) == ([], 1)
        return
    [(provider_id, interaction)] = found.messages
    assert provider_id.startswith("wamid.")
    assert interaction.channel == "whatsapp"
    assert interaction.customer.phone == "+972987654321"
    assert interaction.customer.handles == {"whatsapp": "972987654321"}  # as Twilio's WaId
    assert interaction.inbox == "+972123456789"
    assert interaction.sent_at is not None


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("text", "Body Text"),
        ("reply", "replied text"),
        ("document", "caption"),
        ("chosen_location", "Facebook HQ\n1 Hacker Way, Menlo Park, CA 94025"),
        ("contacts", "Chandler Bing +1 555-555-5555"),
    ],
)
def test_text_per_type(name: str, text: str) -> None:
    [(_, interaction)] = extract(MESSAGES[name])[1].messages
    assert interaction.text.startswith(text)


def test_media_is_metadata_only() -> None:
    [(_, interaction)] = extract(MESSAGES["document"])[1].messages
    assert [(a.name, a.content_type) for a in interaction.attachments] == [
        ("filename.pdf", "application/pdf")
    ]
    assert interaction.metadata["media"][0]["id"] == "1234567890987654321"
    assert interaction.metadata["forwarded"] is True


def test_reply_context_threads() -> None:
    [(_, interaction)] = extract(MESSAGES["reply"])[1].messages
    assert interaction.thread.in_reply_to == "wamid.xyzxyz=="


@pytest.mark.parametrize("name", sorted(load("message_status")))
def test_statuses_are_not_messages(name: str) -> None:
    _, found = extract(load("message_status")[name])
    assert found.messages == []
    assert found.ignored >= 1


@pytest.mark.parametrize("name", sorted(load("system")))
def test_system_notices_are_not_messages(name: str) -> None:
    assert extract(load("system")[name])[1].messages == []


@pytest.mark.parametrize(
    ("file", "name"), [("callback_button", "button"), ("callback_selection", "callback")]
)
def test_button_and_list_replies_are_messages(file: str, name: str) -> None:
    [(_, interaction)] = extract(load(file)[name])[1].messages
    assert interaction.text


@pytest.mark.parametrize(
    ("file", "name", "ids"),
    [
        ("callback_button", "button", {"reply_id": "callback_data"}),
        ("callback_button", "quick_reply", {"button_payload": "callback_data"}),
        ("callback_selection", "callback", {"reply_id": "callback_data"}),
        ("callback_selection", "description", {"reply_id": "callback_data"}),
    ],
)
def test_the_id_behind_a_tapped_button_or_list_row_is_kept(
    file: str, name: str, ids: dict[str, str]
) -> None:
    """The title is what the customer saw; the id is what the business's bot acts on."""
    [(_, interaction)] = extract(load(file)[name])[1].messages
    assert interaction.text.startswith("title")
    assert {k: interaction.metadata.get(k) for k in ids} == ids
