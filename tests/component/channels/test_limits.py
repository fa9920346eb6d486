"""Every endpoint: 413 over the size limit (declared or streamed), 415 on the wrong
content type, 400 on malformed bodies, and nothing written on any topic."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from router.settings import Settings
from tests.component.channels.support import assert_nothing_written, assert_problem, client_for
from tests.endpoints import POST_ENDPOINTS

pytestmark = pytest.mark.component

AUTH = {"Authorization": "Bearer t"}
LIMIT = 2048


async def chunks(total: int) -> AsyncIterator[bytes]:
    for _ in range(total // 512):
        yield b"x" * 512


async def test_limits_and_content_types_on_every_endpoint(settings: Settings) -> None:
    local = settings.model_copy(update={"max_body_bytes": LIMIT, "api_tokens": SecretStr("t")})
    async with client_for(local) as client:
        for path, ctype in POST_ENDPOINTS.items():
            declared = await client.post(
                path, content=b"x" * (LIMIT + 1), headers={**AUTH, "content-type": ctype}
            )
            assert assert_problem(declared, 413)["type"].endswith("/payload-too-large")
            streamed = await client.post(
                path, content=chunks(LIMIT * 4), headers={**AUTH, "content-type": ctype}
            )
            assert "content-length" not in streamed.request.headers
            assert_problem(streamed, 413)
            wrong = await client.post(
                path, content=b"{}", headers={**AUTH, "content-type": "text/plain"}
            )
            assert_problem(wrong, 415)
            if ctype == "application/json":
                bad = await client.post(
                    path, content=b'{"a": ', headers={**AUTH, "content-type": ctype}
                )
                assert_problem(bad, 400, "")
    await assert_nothing_written(settings)


async def test_meta_events_of_another_shape_are_ignored_and_a_non_delivery_is_400(
    settings: Settings,
) -> None:
    async with client_for(settings) as client:
        url = "/v1/channels/messenger"
        # an event without a sender (a checkbox-plugin opt-in) is no message: counted, 2xx
        no_sender = {
            "object": "page",
            "entry": [{"id": "P", "messaging": [{"recipient": {"id": "P"}}]}],
        }
        skipped = await client.post(url, json=no_sender)
        assert (skipped.status_code, skipped.json()["ignored"]) == (202, 1)
        no_recipient = {
            "object": "page",
            "entry": [{"id": "P", "messaging": [{"sender": {"id": "U"}}]}],
        }
        # an event or a message of a shape not read is ignored, never a 400 Meta redelivers
        skipped = await client.post(url, json=no_recipient)
        assert (skipped.status_code, skipped.json()["ignored"]) == (202, 1)
        wa = {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "W",
                    "changes": [{"field": "messages", "value": {"messages": [{"from": "1"}]}}],
                }
            ],
        }
        skipped = await client.post(url, json=wa)
        assert (skipped.status_code, skipped.json()["ignored"]) == (202, 1)
        other = await client.post(url, json={"object": "email", "entry": [{"id": "1"}]})
        assert (other.status_code, other.json()["ignored"]) == (202, 1)
        # a body that is no delivery at all is a broken request
        assert_problem(await client.post(url, json=[1, 2]), 400)
        assert_problem(await client.post(url, json={"object": "page"}), 400, "/entry")
    await assert_nothing_written(settings)
