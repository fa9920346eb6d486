"""Form bodies of too many fields over HTTP: 413 naming the limit, nothing written."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from channels.body import FORM, MAX_FORM_FIELDS
from router.settings import Settings
from tests.budget import cpu_budget
from tests.component.channels.support import assert_nothing_written, assert_problem, client_for

pytestmark = pytest.mark.component

HOSTILE = b"email=k%40example.com&message=hi&" + b"a=1&" * 2_000_000
# the web form's body limit (1 MiB) refuses the 8 MB form first: fields enough within it
HOSTILE_WEBFORM = b"email=k%40example.com&message=hi&" + b"a=1&" * 200_000


@pytest.mark.parametrize(
    ("path", "body"), [("/v1/channels/webform", HOSTILE_WEBFORM), ("/v1/channels/sms", HOSTILE)]
)
async def test_a_form_of_two_million_fields_is_413(
    ingress_client: httpx.AsyncClient, settings: Settings, path: str, body: bytes
) -> None:
    with cpu_budget(2.0):
        resp = await ingress_client.post(path, content=body, headers={"content-type": FORM})
    problem = assert_problem(resp, 413, pointer="")
    assert f"{MAX_FORM_FIELDS:,} fields" in problem["detail"]
    await assert_nothing_written(settings)


async def test_a_signed_twilio_endpoint_answers_401_to_such_a_form_before_parsing_it(
    settings: Settings,
) -> None:
    """Who cannot prove to be Twilio hears 401 whatever they sent; Twilio never sends
    a thousand fields, so the signature is not checked over two million."""
    signed = settings.model_copy(update={"twilio_auth_token": SecretStr("twilio-token")})
    async with client_for(signed) as client:
        with cpu_budget(2.0):
            resp = await client.post(
                "/v1/channels/sms",
                content=HOSTILE,
                headers={"content-type": FORM, "X-Twilio-Signature": "forged"},
            )
    assert_problem(resp, 401)
    await assert_nothing_written(settings)
