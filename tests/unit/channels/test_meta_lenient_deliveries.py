"""A Meta delivery holding an event of a shape Switchboard does not read: that event is
counted in ``ignored`` and logged once with its JSON pointer (never a value), and the
rest is still extracted; only a body that is no delivery at all is a 400. Once, one such
event refused the whole delivery with 400, which Meta cannot fix and only redelivers."""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs

from channels.meta import extract
from channels.problems import Problem

pytestmark = pytest.mark.unit

MESSAGE = {
    "sender": {"id": "PSID-1"},
    "recipient": {"id": "PAGE1"},
    "timestamp": 1762164000000,
    "message": {"mid": "m_1", "text": "my order"},
}


def page(*events: dict[str, Any], kind: str = "page", **entry: Any) -> dict[str, Any]:
    return {"object": kind, "entry": [{"id": "PAGE1", "messaging": list(events), **entry}]}


def whatsapp(*messages: dict[str, Any]) -> dict[str, Any]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550953877", "phone_number_id": "106"},
        "contacts": [{"profile": {"name": "Jane"}, "wa_id": "972544401243"}],
        "messages": list(messages),
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": value}]}],
    }


def wa_text(wamid: str, timestamp: object) -> dict[str, Any]:
    body = {"body": "private words"}
    return {
        "from": "972544401243",
        "id": wamid,
        "timestamp": timestamp,
        "type": "text",
        "text": body,
    }


def test_a_message_without_mid_is_ignored_and_logged_and_the_other_extracted() -> None:
    no_mid = {**MESSAGE, "sender": {"id": "PSID-2"}, "message": {"text": "private words"}}
    with capture_logs() as logs:
        _, found = extract(page(MESSAGE, no_mid))
    assert ([pid for pid, _ in found.messages], found.ignored) == (["m_1"], 1)
    [entry] = [e for e in logs if e["event"] == "meta_event_ignored"]
    assert entry["log_level"] == "info"
    assert entry["pointer"] == "/entry/0/messaging/1"
    assert entry["field"] == "/entry/0/messaging/1/message/mid"
    assert "private words" not in str(logs)
    assert "PSID-2" not in str(logs)


def test_a_messaging_event_without_recipient_is_ignored() -> None:
    no_recipient = {k: v for k, v in MESSAGE.items() if k != "recipient"}
    _, found = extract(page(no_recipient, {**MESSAGE, "message": {"mid": "m_2", "text": "x"}}))
    assert ([pid for pid, _ in found.messages], found.ignored) == (["m_2"], 1)


def test_an_entry_that_is_no_object_is_ignored_and_the_next_one_read() -> None:
    hook = page(MESSAGE)
    hook["entry"].insert(0, "junk")
    _, found = extract(hook)
    assert ([pid for pid, _ in found.messages], found.ignored) == (["m_1"], 1)


def test_a_whatsapp_timestamp_given_as_a_number_is_read() -> None:
    _, found = extract(
        whatsapp(wa_text("wamid.num", 1764942000), wa_text("wamid.str", "1764942000"))
    )
    [(first_id, first), (second_id, second)] = found.messages
    assert (first_id, second_id, found.ignored) == ("wamid.num", "wamid.str", 0)
    assert first.sent_at is not None
    assert first.sent_at == second.sent_at


def test_a_whatsapp_message_without_id_is_ignored_and_the_other_extracted() -> None:
    no_id = {k: v for k, v in wa_text("x", "1").items() if k != "id"}
    with capture_logs() as logs:
        _, found = extract(whatsapp(no_id, wa_text("wamid.ok", "1764942000")))
    assert ([pid for pid, _ in found.messages], found.ignored) == (["wamid.ok"], 1)
    [entry] = [e for e in logs if e["event"] == "meta_event_ignored"]
    assert entry["pointer"] == "/entry/0/changes/0/value/messages/0"


@pytest.mark.parametrize("kind", ["user", "application", "permissions"])
def test_a_delivery_for_another_object_is_all_ignored(kind: str) -> None:
    hook = {
        "object": kind,
        "entry": [
            {
                "id": "1",
                "uid": "1",
                "time": 1,
                "changed_fields": ["email"],
                "changes": [{"field": "email"}, {"field": "name"}],
            },
            {"id": "2", "time": 1},
        ],
    }
    got_kind, found = extract(hook)
    assert (got_kind, found.messages, found.ignored) == (kind, [], 3)


@pytest.mark.parametrize("kind", ["page", "instagram"])
def test_changes_of_page_and_instagram_are_counted_as_ignored(kind: str) -> None:
    comment = {"field": "comments", "value": {"id": "C1", "text": "nice"}}
    _, alone = extract({"object": kind, "entry": [{"id": "IG1", "time": 1, "changes": [comment]}]})
    assert (alone.messages, alone.ignored) == ([], 1)
    _, mixed = extract(page(MESSAGE, kind=kind, changes=[comment, comment]))
    assert ([pid for pid, _ in mixed.messages], mixed.ignored) == (["m_1"], 2)


@pytest.mark.parametrize(
    ("body", "where"),
    [([1, 2], ""), ("page", ""), ({"object": "page"}, "/entry"), ({"entry": []}, "/object")],
)
def test_a_body_that_is_no_delivery_is_still_400(body: object, where: str) -> None:
    with pytest.raises(Problem) as caught:
        extract(body)
    assert caught.value.status == 400
    assert caught.value.errors is not None
    assert caught.value.errors[0]["pointer"] == where
