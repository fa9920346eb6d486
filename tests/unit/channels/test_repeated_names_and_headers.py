"""A JSON member, a form field or a single-value header given twice is refused (400 at
it) on our own endpoints: a gateway in front reading the first copy would see another
request than the one we act on. Served over ASGI with nothing behind it: every refusal
comes before anything is published."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from channels.body import parse_json, repeated_members
from channels.problems import Problem
from router.settings import Settings
from tests.problems import assert_problem
from tests.unit.channels.support import Remembering, ingress_client

pytestmark = pytest.mark.unit

JSON = {"content-type": "application/json"}
AUTH = {"authorization": "Bearer t", **JSON}


async def every_ticket_exists(ticket_ids: list[str]) -> list[str | None]:
    return ["C-1"] * len(ticket_ids)


@pytest.fixture
def published() -> Remembering:
    return Remembering()


@pytest.fixture
async def client(published: Remembering) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(api_tokens=SecretStr("t"))
    async with ingress_client(
        settings, published, every_ticket_exists, raise_app_exceptions=False
    ) as c:
        yield c


CSAT_TWO_TICKETS = (
    b'{"type": "feedback.csat", "data": {"ticket_id": "T-nope", "ticket_id": "T-real", "score": 5}}'
)


async def test_an_action_naming_two_tickets_is_refused_at_the_repeated_member(
    client: httpx.AsyncClient,
) -> None:
    """Was 202, acting on the last ``ticket_id`` (T-real)."""
    resp = await client.post("/v1/actions", content=CSAT_TWO_TICKETS, headers=AUTH)
    problem = assert_problem(resp, 400, "/data/ticket_id")
    assert problem["detail"].startswith("/data/ticket_id: ")


async def test_a_repeated_member_in_a_list_of_actions_points_at_its_item(
    client: httpx.AsyncClient,
) -> None:
    body = (
        b'[{"type": "ticket.resolved", "data": {"ticket_id": "T-1"}},'
        b' {"type": "ticket.resolved", "type": "ticket.closed", "data": {"ticket_id": "T-1"}}]'
    )
    resp = await client.post("/v1/actions", content=body, headers=AUTH)
    problem = assert_problem(resp, 400, "/1/type")
    assert [e["pointer"] for e in problem["errors"]] == ["/1/type"]


@pytest.mark.parametrize(
    ("path", "body", "pointer"),
    [
        (
            "/v1/channels/chat",
            b'{"conversation_id": "c-1", "visitor": {"id": "v-1", "id": "v-2"}, "text": "hi"}',
            "/visitor/id",
        ),
        (
            "/v1/channels/voice",
            b'{"call_id": "c-1", "event": "missed", "from": "+15551234567",'
            b' "from": "+15557654321", "to": "+15550000000", "at": "2026-11-22T10:00:00Z"}',
            "/from",
        ),
        (
            "/v1/channels/webform",
            b'{"email": "a@example.com", "email": "b@example.com", "message": "hi"}',
            "/email",
        ),
    ],
)
async def test_a_repeated_member_is_refused_on_every_json_channel_of_ours(
    client: httpx.AsyncClient, published: Remembering, path: str, body: bytes, pointer: str
) -> None:
    assert_problem(await client.post(path, content=body, headers=JSON), 400, pointer)
    assert published.published == []


@pytest.mark.parametrize(
    "body",
    [
        b"email=a%40example.com&email=b%40example.com&message=hi",
        b"email=a%40example.com&message=hi&message=bye",
    ],
)
async def test_a_web_form_field_given_twice_is_refused_at_it(
    client: httpx.AsyncClient, published: Remembering, body: bytes
) -> None:
    headers = {"content-type": "application/x-www-form-urlencoded"}
    resp = await client.post("/v1/channels/webform", content=body, headers=headers)
    name = "email" if body.count(b"email=") > 1 else "message"
    assert_problem(resp, 400, f"/{name}")
    assert published.published == []


async def test_a_multipart_web_form_field_given_twice_is_refused_at_it(
    client: httpx.AsyncClient, published: Remembering
) -> None:
    resp = await client.post(
        "/v1/channels/webform",
        data={"email": ["a@example.com", "b@example.com"], "message": "hi"},
        files={"attachment": ("a.txt", b"x", "text/plain")},
    )
    assert_problem(resp, 400, "/email")
    assert published.published == []


async def test_a_page_field_the_form_does_not_read_may_repeat(
    client: httpx.AsyncClient, published: Remembering
) -> None:
    """A page's own checkboxes (``tags=a&tags=b``) are no field of the web form."""
    resp = await client.post(
        "/v1/channels/webform",
        data={"email": "a@example.com", "message": "hi", "tags": ["a", "b"]},
    )
    assert resp.status_code == 202, resp.text
    assert len(published.published) == 1


async def test_two_idempotency_keys_are_refused_at_the_header(
    client: httpx.AsyncClient, published: Remembering
) -> None:
    """Was 202 under the first key."""
    resp = await client.post(
        "/v1/channels/webform",
        json={"email": "a@example.com", "message": "hi"},
        headers=[("idempotency-key", "k-1"), ("idempotency-key", "k-2")],
    )
    assert_problem(resp, 400, "/header/idempotency-key")
    assert published.published == []


async def test_two_authorization_headers_are_refused_at_the_header(
    client: httpx.AsyncClient,
) -> None:
    """Was let through on the first (right) token, whatever the second said."""
    resp = await client.post(
        "/v1/actions",
        content=b'{"type": "ticket.resolved", "data": {"ticket_id": "T-1"}}',
        headers=[
            ("authorization", "Bearer t"),
            ("authorization", "Bearer wrong"),
            ("content-type", "application/json"),
        ],
    )
    assert_problem(resp, 400, "/header/authorization")


def test_the_same_name_in_different_objects_is_no_repetition() -> None:
    assert parse_json(b'{"a": {"x": 1}, "b": [{"x": 2}, {"x": 3}]}', own=True)
    assert repeated_members(b'{"a": {"x": 1}, "b": [{"x": 2}, {"x": 3}]}') == []


def test_every_repeated_name_is_pointed_at_in_document_order() -> None:
    raw = b'{"a/b": 1, "a/b": 2, "list": [0, {"k": 1, "k": 2, "j": 0, "j": 1}], "z": 1, "z": 2}'
    assert repeated_members(raw) == ["/a~1b", "/list/1/k", "/list/1/j", "/z"]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"email": "a@example.com", "email": "b@example.com", "message": "hi"}',
        b'{"a" \n\t: 1, "a"\r\n:2}',  # whitespace between a name and its colon
        b'{"message": "he said \\"x\\": no", "m": 1, "m": 2}',  # a value ending a "name" too
        b'[{"x": [1, {"y": 1, "y": 1}]}]',
        b'{"": 1, "": 2}',
    ],
)
def test_a_repeated_name_is_found_whatever_else_the_body_holds(raw: bytes) -> None:
    with pytest.raises(Problem) as caught:
        parse_json(raw, own=True)
    assert caught.value.status == 400
    assert repeated_members(raw)


def test_a_string_value_that_reads_like_a_name_repeats_nothing() -> None:
    raw = b'{"message": "the field \\"email\\": was empty", "email": "a@example.com"}'
    assert parse_json(raw, own=True)["email"] == "a@example.com"
