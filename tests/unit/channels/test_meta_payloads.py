"""WhatsApp Cloud API payloads from pywa's test data: which are customer messages, and
what each becomes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from structlog.testing import capture_logs

from channels.meta import extract
from channels.whatsapp_content import FLOW_ANSWERS, FLOW_VALUE_CHARS

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


# --- edits, deletions and Flow submissions (pywa edit_message, delete_message,
# deleted_message, flow_completion) ---------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "attachments"),
    [("edit_text", "Text was edited", []), ("edit_caption", "caption", ["image/jpeg"])],
)
def test_an_edit_is_published_as_its_new_content_naming_the_message_it_replaces(
    name: str, text: str, attachments: list[str]
) -> None:
    """Once an event with empty text: the edited words lost."""
    [(provider_id, interaction)] = extract(load("edit_message")[name])[1].messages
    assert provider_id == "wamid.yyyyyy"  # the edit's own id: Meta's retry is a duplicate
    assert interaction.text == text
    assert [a.content_type for a in interaction.attachments] == attachments
    assert interaction.metadata["edited_message_id"] == "wamid.zzzzzz"
    assert interaction.thread.references == ["wamid.zzzzzz"]  # finds the original's ticket
    assert interaction.customer.phone == "+972987654321"


def test_an_edited_caption_keeps_its_media_reference() -> None:
    [(_, interaction)] = extract(load("edit_message")["edit_caption"])[1].messages
    assert interaction.metadata["type"] == "image"
    assert interaction.metadata["media"] == [
        {"id": "65463453", "sha256": "4654+8g=", "content_type": "image/jpeg"}
    ]


def test_an_edit_echoed_from_the_business_app_is_not_a_customer_message() -> None:
    _, found = extract(load("edit_message")["coexistence_edit_text"])
    assert (found.messages, found.ignored) == ([], 1)


@pytest.mark.parametrize(
    ("file", "name"),
    [
        ("delete_message", "original_id"),
        ("delete_message", "coexistence_delete_message"),
        ("deleted_message", "revoke"),
    ],
)
def test_a_deletion_is_ignored_not_published(file: str, name: str) -> None:
    """Once an empty customer message, which opened or joined a ticket."""
    _, found = extract(load(file)[name])
    assert (found.messages, found.ignored) == ([], 1)


def test_a_deletion_is_logged_at_debug_with_its_pointer() -> None:
    with capture_logs() as logs:
        extract(load("delete_message")["original_id"])
    [entry] = [e for e in logs if e["event"] == "meta_not_a_message"]
    assert (entry["log_level"], entry["type"]) == ("debug", "revoke")
    assert entry["pointer"] == "/entry/0/changes/0/value/messages/0"
    assert "wamid.zzzzzz" not in str(logs)


FLOW_TEXT = (
    "Sent\ncomment_text: Comment Text\ndelivery_rating: 4\npurchase_rating: 2\n"
    "recommend_radio: 0\ncs_rating: 0"
)
ANSWERS = {
    "comment_text": "Comment Text",
    "delivery_rating": "4",
    "purchase_rating": "2",
    "recommend_radio": "0",
    "cs_rating": "0",
}


@pytest.mark.parametrize("name", ["completion", "without_flow_token"])
def test_a_flow_submission_reads_as_its_answers(name: str) -> None:
    """Once an event with empty text: what the customer filled in was lost."""
    [(provider_id, interaction)] = extract(load("flow_completion")[name])[1].messages
    assert provider_id == "wamid.wegrchytvwcggt=="
    assert interaction.text == FLOW_TEXT
    assert interaction.metadata["flow_name"] == "flow"
    assert interaction.metadata["flow_response"] == ANSWERS
    assert interaction.thread.in_reply_to == "wamid.gvwegfretge=="


def test_a_flow_token_is_kept_for_the_bot_and_left_out_of_the_text() -> None:
    [(_, interaction)] = extract(load("flow_completion")["completion"])[1].messages
    assert interaction.metadata["flow_token"] == "AQAAAAACS5FpgQ_cAAAAAD0QI3s."
    assert "flow_token" not in interaction.text
    [(_, without)] = extract(load("flow_completion")["without_flow_token"])[1].messages
    assert "flow_token" not in without.metadata


def with_response(response_json: object) -> dict[str, Any]:
    hook: dict[str, Any] = load("flow_completion")["completion"]
    [message] = hook["entry"][0]["changes"][0]["value"]["messages"]
    message["interactive"]["nfm_reply"]["response_json"] = response_json
    return hook


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", "42"])
def test_a_flow_response_that_is_no_json_object_is_kept_as_raw_text(raw: str) -> None:
    [(_, interaction)] = extract(with_response(raw))[1].messages
    assert interaction.text == f"Sent\n{raw}"
    assert "flow_response" not in interaction.metadata
    assert interaction.metadata["flow_name"] == "flow"


def test_a_large_flow_response_is_bounded() -> None:
    answers: dict[str, Any] = {f"q{i}": "x" * 10_000 for i in range(FLOW_ANSWERS + 7)}
    answers["nested"] = {"a": "y" * 10_000}
    [(_, interaction)] = extract(with_response(orjson.dumps(answers).decode()))[1].messages
    lines = interaction.text.split("\n")
    assert lines[0] == "Sent"
    assert len(lines) == 1 + FLOW_ANSWERS + 1
    assert lines[1] == "q0: " + "x" * FLOW_VALUE_CHARS
    assert lines[-1] == "(8 more answers)"
    response = interaction.metadata["flow_response"]
    assert len(response) == FLOW_ANSWERS
    assert {len(v) for v in response.values()} == {FLOW_VALUE_CHARS}


def test_flow_answers_that_are_not_strings_read_as_json() -> None:
    raw = orjson.dumps({"agree": True, "count": 3, "picked": ["a", "b"], "note": None})
    [(_, interaction)] = extract(with_response(raw.decode()))[1].messages
    assert interaction.text == 'Sent\nagree: true\ncount: 3\npicked: ["a","b"]\nnote: null'
    assert interaction.metadata["flow_response"] == {
        "agree": True,
        "count": 3,
        "picked": '["a","b"]',
        "note": None,
    }
