"""Third-party Meta payloads an outside audit sent, end to end through the ingress:
a WhatsApp edit, a "delete for everyone", a Flow submission (pywa's test data) and a
Messenger postback without ``mid`` (bottender's). Each once published an empty message,
or (the postback) nothing at all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from channels.signatures import meta_signature
from router.settings import Settings
from router.topics import Topic
from tests.component.channels.support import assert_nothing_written, client_for
from tests.conftest import read_topic, values

pytestmark = pytest.mark.component

SECRET = "meta-app-secret"
URL = "/v1/channels/messenger"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "webhooks"


def load(path: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = orjson.loads((FIXTURES / path).read_bytes())[name]
    return found


@pytest.fixture
def meta_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"meta_app_secret": SecretStr(SECRET)})


async def post_twice(settings: Settings, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The delivery and Meta's redelivery of it."""
    raw = orjson.dumps(payload)
    headers = {
        "content-type": "application/json",
        "X-Hub-Signature-256": meta_signature(SECRET, raw),
    }
    answers = []
    async with client_for(settings) as client:
        for _ in range(2):
            resp = await client.post(URL, content=raw, headers=headers)
            assert resp.status_code == 202, resp.text
            answers.append(resp.json())
    return answers


async def test_an_edit_is_published_once_with_its_new_text(
    meta_settings: Settings, settings: Settings
) -> None:
    payload = load("meta-whatsapp-cloud/pywa-edit_message.json", "edit_text")
    first, retry = await post_twice(meta_settings, payload)
    assert (first["duplicate"], retry["duplicate"], retry["id"]) == (False, True, first["id"])
    [record] = await read_topic(settings, Topic.INBOUND, expect=1)
    data = values([record])[0]["data"]
    assert data["text"] == "Text was edited"
    assert data["metadata"]["edited_message_id"] == "wamid.zzzzzz"
    assert data["thread"]["references"] == ["wamid.zzzzzz"]


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("meta-whatsapp-cloud/pywa-delete_message.json", "original_id"),
        ("meta-whatsapp-cloud/pywa-deleted_message.json", "revoke"),
    ],
)
async def test_a_deletion_is_accepted_and_publishes_nothing(
    meta_settings: Settings, settings: Settings, path: str, name: str
) -> None:
    """A deleted message is no customer contact: it must not open or join a ticket."""
    first, _ = await post_twice(meta_settings, load(path, name))
    assert first == {"id": None, "duplicate": False, "events": [], "ignored": 1}
    await assert_nothing_written(settings)


async def test_a_flow_submission_is_published_with_its_answers(
    meta_settings: Settings, settings: Settings
) -> None:
    payload = load("meta-whatsapp-cloud/pywa-flow_completion.json", "completion")
    first, retry = await post_twice(meta_settings, payload)
    assert (len(first["events"]), retry["duplicate"]) == (1, True)
    [record] = await read_topic(settings, Topic.INBOUND, expect=1)
    data = values([record])[0]["data"]
    assert data["text"].startswith("Sent\ncomment_text: Comment Text\ndelivery_rating: 4")
    assert data["metadata"]["flow_response"]["purchase_rating"] == "2"


async def test_a_flow_response_that_is_no_json_is_published_as_text(
    meta_settings: Settings, settings: Settings
) -> None:
    payload = load("meta-whatsapp-cloud/pywa-flow_completion.json", "completion")
    [message] = payload["entry"][0]["changes"][0]["value"]["messages"]
    message["interactive"]["nfm_reply"]["response_json"] = '{"comment_text": "cut off'
    first, _ = await post_twice(meta_settings, payload)
    assert len(first["events"]) == 1
    [record] = await read_topic(settings, Topic.INBOUND, expect=1)
    assert values([record])[0]["data"]["text"] == 'Sent\n{"comment_text": "cut off'


async def test_a_get_started_postback_without_mid_is_published_once(
    meta_settings: Settings, settings: Settings
) -> None:
    tap = load("meta-messenger/bottender-postbacks.json", "postbackReferral")
    payload = {
        "object": "page",
        "entry": [{"id": "707356222221168", "time": 1, "messaging": [tap]}],
    }
    first, retry = await post_twice(meta_settings, payload)
    assert (len(first["events"]), first["ignored"]) == (1, 0)
    assert (retry["id"], retry["duplicate"]) == (first["id"], True)
    [record] = await read_topic(settings, Topic.INBOUND, expect=1)
    assert record.key == b"messenger:1476077422222289"
    data = values([record])[0]["data"]
    assert (data["text"], data["metadata"]["postback"]) == ("Get Started", "__GET_STARTED__")
