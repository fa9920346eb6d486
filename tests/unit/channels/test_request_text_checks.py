"""What a client is told about a body it got wrong: JSON that is not UTF-8 is refused
naming the byte where it stops being UTF-8, and a web form whose message holds no
visible character (only bidi overrides and zero-width spaces) is refused as a blank one
is, at ``/message``, instead of opening a ticket nobody can read."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from channels.body import parse_json
from channels.problems import Problem
from router.settings import Settings
from tests.problems import assert_problem
from tests.unit.channels.support import Remembering, ingress_client

pytestmark = pytest.mark.unit

WEBFORM = "/v1/channels/webform"
JSON = {"content-type": "application/json"}
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
def publisher() -> Remembering:
    return Remembering()


@pytest.fixture
async def client(publisher: Remembering) -> AsyncIterator[httpx.AsyncClient]:
    async with ingress_client(Settings(api_tokens=SecretStr("t")), publisher) as c:
        yield c


# --- JSON that is not UTF-8 --------------------------------------------------------------

PREFIX = b'{"email":"a@example.com","message":"caf'


@pytest.mark.parametrize(
    ("bad", "shown"),
    [(b"\xe9", "0xE9"), (b"\xc0\xaf", "0xC0"), (b"\xed\xa0\x80", "0xED"), (b"\xff", "0xFF")],
    ids=["latin1-e-acute", "overlong-slash", "encoded-surrogate", "ff"],
)
async def test_json_that_is_not_utf8_names_the_byte(
    client: httpx.AsyncClient, publisher: Remembering, bad: bytes, shown: str
) -> None:
    body = PREFIX + bad + b'"}'
    problem = assert_problem(await client.post(WEBFORM, content=body, headers=JSON), 400, "")
    assert problem["type"].endswith("/malformed")
    where = f"the body is not valid UTF-8 at byte {len(PREFIX)} ({shown})"
    assert problem["detail"] == f"malformed JSON: {where}"
    assert problem["errors"] == [{"pointer": "", "detail": where}]
    assert "surrogates" not in problem["detail"]
    assert not publisher.published


def test_the_offset_counts_bytes_not_characters() -> None:
    """Valid multi-byte characters before the bad byte count as their bytes."""
    body = '{"message":"日本'.encode() + b"\x80" + b'"}'
    with pytest.raises(Problem) as caught:
        parse_json(body)
    assert "not valid UTF-8 at byte 18 (0x80)" in caught.value.detail


def test_other_malformed_json_keeps_the_parsers_reason() -> None:
    with pytest.raises(Problem) as caught:
        parse_json(b'{"message": caf\xc3\xa9}')
    assert caught.value.detail.startswith("malformed JSON: ")
    assert "UTF-8" not in caught.value.detail


# --- a message with no visible character -------------------------------------------------


@pytest.mark.parametrize(
    "message",
    ["\u202e\u200b", "\u200b", " \u2060 \ufeff ", "\u200d\u200c\u00a0", "\u3164", "\u2800\ufe0f"],
    ids=["rlo-zwsp", "zwsp", "word-joiner-bom", "joiners-nbsp", "hangul-filler", "braille-blank"],
)
async def test_a_message_of_invisible_characters_is_refused_like_a_blank_one(
    client: httpx.AsyncClient, publisher: Remembering, message: str
) -> None:
    blank = await client.post(WEBFORM, json={"email": "a@example.com", "message": "   "})
    blank_problem = assert_problem(blank, 400, "/message")
    resp = await client.post(WEBFORM, json={"email": "a@example.com", "message": message})
    problem = assert_problem(resp, 400, "/message")
    assert problem["type"] == blank_problem["type"]
    assert problem["detail"] == "/message: String should have at least 1 visible character"
    assert not publisher.published


async def test_a_form_encoded_invisible_message_is_refused_too(
    client: httpx.AsyncClient, publisher: Remembering
) -> None:
    body = "email=a%40example.com&message=%E2%80%AE%E2%80%8B"
    assert_problem(await client.post(WEBFORM, content=body, headers=FORM), 400, "/message")
    assert not publisher.published


@pytest.mark.parametrize(
    "message",
    ["\u202eok", "\u200bhi\u200b", "👍", "?", "\u05e9\u05dc\u05d5\u05dd", "e\u0301"],
    ids=["rlo-text", "zwsp-around", "emoji", "question-mark", "hebrew", "combining"],
)
async def test_a_message_with_a_visible_character_is_accepted_as_written(
    client: httpx.AsyncClient, publisher: Remembering, message: str
) -> None:
    resp = await client.post(WEBFORM, json={"email": "a@example.com", "message": message})
    assert resp.status_code == 202, resp.text
    assert publisher.published[-1][1].text == message


@pytest.mark.parametrize(
    "text", ["\u200b\u202e", "\u3164", " \u2060 \ufeff ", "\u2800\ufe0f"], ids=repr
)
async def test_a_chat_text_of_invisible_characters_is_refused_as_the_web_form_s(
    client: httpx.AsyncClient, publisher: Remembering, text: str
) -> None:
    """It had opened a ticket with nothing an agent can read."""
    chat = {"conversation_id": "c-1", "visitor": {"id": "v-1"}, "text": text}
    problem = assert_problem(await client.post("/v1/channels/chat", json=chat), 400, "/text")
    assert problem["detail"] == "/text: String should have at least 1 visible character"
    assert not publisher.published
