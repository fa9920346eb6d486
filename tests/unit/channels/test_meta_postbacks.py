"""Messenger postbacks without ``mid``, as older and replayed deliveries carry them
(bottender's MessengerEvent test events ``postback`` and ``postbackReferral``, a "Get
Started" tap): once ignored, so the customer's first contact was lost; now published
under an id derived from page, sender, timestamp and payload, which Meta's redelivery
of the same event repeats."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from structlog.testing import capture_logs

from channels.meta import extract

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "webhooks"
FILE = FIXTURES / "meta-messenger" / "bottender-postbacks.json"


def event(name: str, **changes: Any) -> dict[str, Any]:
    found: dict[str, Any] = orjson.loads(FILE.read_bytes())[name]
    return {**found, **changes}


def page(*events: dict[str, Any]) -> dict[str, Any]:
    return {"object": "page", "entry": [{"id": "P", "time": 1, "messaging": list(events)}]}


def test_a_get_started_tap_without_mid_is_published_as_a_customer_message() -> None:
    _, found = extract(page(event("postbackReferral")))
    [(provider_id, interaction)] = found.messages
    assert found.ignored == 0
    assert provider_id.startswith("postback:sha256:")
    assert interaction.channel == "messenger"
    assert interaction.customer.handles == {"messenger": "1476077422222289"}
    assert interaction.inbox == "707356222221168"
    assert interaction.text == "Get Started"
    assert interaction.metadata["postback"] == "__GET_STARTED__"
    assert interaction.metadata["referral"] == {
        "source": "SHORTLINK",
        "type": "OPEN_THREAD",
        "ref": "aaaa",
    }
    assert interaction.thread.conversation_id == "707356222221168:1476077422222289"
    assert interaction.thread.message_id is None  # no id of Meta's to refer to
    assert interaction.sent_at is not None
    assert interaction.sent_at.isoformat() == "2018-03-28T07:41:34.827000+00:00"


def test_a_postback_without_title_is_published_with_its_payload() -> None:
    [(_, interaction)] = extract(page(event("postback")))[1].messages
    assert interaction.metadata["postback"] == "USER_DEFINED_PAYLOAD"
    assert interaction.customer.handles == {"messenger": "1423587017700273"}


def test_the_derived_id_is_the_same_on_redelivery_and_differs_for_another_tap() -> None:
    def provider_id(hook: dict[str, Any]) -> str:
        [(pid, _)] = extract(hook)[1].messages
        return pid

    first = provider_id(page(event("postbackReferral")))
    assert provider_id(page(event("postbackReferral"))) == first
    later = event("postbackReferral", timestamp=1522222899999)
    other_sender = event("postbackReferral", sender={"id": "999"})
    other_payload = event("postbackReferral", postback={"payload": "MENU", "title": "Menu"})
    others = {provider_id(page(e)) for e in (later, other_sender, other_payload)}
    assert first not in others
    assert len(others) == 3


def test_a_postback_with_a_mid_keeps_meta_s_id() -> None:
    tap = event("postbackReferral")
    tap["postback"] = {**tap["postback"], "mid": "m_tap"}
    [(provider_id, interaction)] = extract(page(tap))[1].messages
    assert (provider_id, interaction.thread.message_id) == ("m_tap", "m_tap")


def test_a_postback_without_mid_or_timestamp_is_ignored_and_logged_at_debug() -> None:
    """Nothing tells Meta's retry of it from a second tap: no id to publish it under."""
    no_time = {k: v for k, v in event("postbackReferral").items() if k != "timestamp"}
    with capture_logs() as logs:
        _, found = extract(page(no_time))
    assert (found.messages, found.ignored) == ([], 1)
    [entry] = [e for e in logs if e["event"] == "meta_postback_without_id"]
    assert (entry["log_level"], entry["pointer"]) == ("debug", "/entry/0/messaging/0")
