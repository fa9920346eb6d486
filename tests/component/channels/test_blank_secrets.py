"""Provider secrets left blank in the environment (``""`` in the example Secret) are
unset, as documented: the webhooks are not verified, rather than verified with the key
``""``, which refused every real provider call and let anyone sign with it."""

from __future__ import annotations

import pytest

from router.settings import Settings, load_settings
from router.topics import Topic
from tests.component.channels.support import client_for
from tests.component.channels.test_twilio_meta import JSON, PUBLIC_URL, SIGNED_BODY, SMS
from tests.conftest import read_topic

pytestmark = pytest.mark.component


@pytest.mark.parametrize("blank", ["", " "])
async def test_blank_provider_secrets_leave_the_webhooks_unverified(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, blank: str
) -> None:
    for name in ("SWITCHBOARD_TWILIO_AUTH_TOKEN", "SWITCHBOARD_META_APP_SECRET"):
        monkeypatch.setenv(name, blank)
    loaded = load_settings(
        kafka=settings.kafka,
        redis=settings.redis,
        topic_prefix=settings.topic_prefix,
        consumer_group_prefix=settings.consumer_group_prefix,
        public_url=PUBLIC_URL + "/",
    )
    assert loaded.twilio_auth_token is None
    assert loaded.meta_app_secret is None
    async with client_for(loaded) as client:
        sms = await client.post("/v1/channels/sms", data=SMS)  # no X-Twilio-Signature
        meta = await client.post("/v1/channels/messenger", content=SIGNED_BODY, headers=JSON)
    assert sms.status_code == 202, sms.text
    assert meta.status_code == 202, meta.text
    await read_topic(settings, Topic.INBOUND, expect=2)
