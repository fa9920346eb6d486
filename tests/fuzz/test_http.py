"""Every HTTP endpoint of the ingress, fuzzed: JSON (arbitrary values, near-valid
objects, raw bytes declared as JSON), forms, raw MIME, path and query parameters. The
only answers allowed are a success or a documented 4xx as problem+json: never a 5xx, a
hang (the fixture's deadline) or an exception escaping the app."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

import orjson
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from tests.fuzz.conftest import FUZZ, TOKEN, Ingress

pytestmark = pytest.mark.fuzz

PROBLEM = "application/problem+json"
DOCUMENTED = {
    200: "ok (GET, a messenger challenge)",
    202: "accepted",
    400: "invalid",
    401: "missing or bad token or signature",
    403: "messenger verify token mismatch",
    404: "unknown ticket, customer, queue or agent",
    413: "over the size limit",
    415: "wrong content type",
}
AUTH = {"authorization": f"Bearer {TOKEN}"}

JSON_ENDPOINTS = ("chat", "voice", "webform", "messenger")
FORM_ENDPOINTS = ("sms", "whatsapp", "webform")
READ_PATHS = (
    "/v1/tickets/{x}",
    "/v1/customers/{x}/tickets",
    "/v1/queues",
    "/v1/queues/{x}/waiting",
    "/v1/agents",
    "/v1/agents/{x}",
)
FUZZED = {
    *(f"/v1/channels/{name}" for name in {*JSON_ENDPOINTS, *FORM_ENDPOINTS, "email"}),
    "/v1/actions",
    *READ_PATHS,
    "/healthz",
    "/readyz",
    "/metrics",
}

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=12,
)
FIELDS = {
    "chat": ["conversation_id", "visitor", "text", "sent_at", "page_url", "locale"],
    "voice": ["call_id", "event", "from", "to", "agent_id", "at", "talk_seconds",
              "hold_seconds", "wrap_seconds"],
    "webform": ["email", "name", "subject", "message", "category"],
    "messenger": ["object", "entry"],
    "actions": ["type", "data", "id", "source", "time", "specversion"],
}  # fmt: skip
NEAR = {
    "visitor": st.fixed_dictionaries({"id": scalars}, optional={"email": scalars, "name": scalars}),
    "event": st.sampled_from(["ringing", "answered", "ended", "missed", "voicemail", "x"]),
    "email": st.sampled_from(["a@example.com", "not-an-email", "", "@", "a@b"])
    | st.text(max_size=20),
    "type": st.sampled_from(
        ["agent.replied", "ticket.resolved", "ticket.postponed", "feedback.csat", "feedback.nps",
         "agent.presence", "customer.upserted", "ticket.transferred", "assignment.accepted",
         "nonsense"]
    ),
    "data": st.dictionaries(
        st.sampled_from(["ticket_id", "agent_id", "public", "score", "until", "status", "queue",
                         "email", "phone", "handle_seconds", "capacity", "skills"]),
        json_values, max_size=5,
    ),
    "entry": st.lists(
        st.fixed_dictionaries({}, optional={"id": scalars, "time": scalars,
                                            "messaging": json_values, "changes": json_values}),
        max_size=3,
    ),
}  # fmt: skip


def near_valid(endpoint: str) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with the endpoint's own field names, each present or not, near-valid or not."""
    return st.fixed_dictionaries(
        {}, optional={name: NEAR.get(name, json_values) | json_values for name in FIELDS[endpoint]}
    )


def assert_documented(resp: Any, what: str) -> None:
    status = resp.status_code
    event(f"status {status}")  # shown by --hypothesis-show-statistics
    assert status in DOCUMENTED, f"{what}: undocumented {status}: {resp.text[:500]}"
    if status >= 400:
        assert resp.headers["content-type"] == PROBLEM, (what, status, resp.text[:300])
        problem = orjson.loads(resp.content)
        assert problem["status"] == status, (what, problem)


def test_every_endpoint_in_the_openapi_document_is_fuzzed(fuzz_ingress: Ingress) -> None:
    schema = fuzz_ingress.request("GET", "/openapi.json").json()
    paths = {p.replace("{ticket_id}", "{x}") for p in schema["paths"]}
    normalised = set()
    for path in paths:
        parts = ["{x}" if part.startswith("{") else part for part in path.split("/")]
        normalised.add("/".join(parts))
    assert normalised <= FUZZED, f"not fuzzed yet: {sorted(normalised - FUZZED)}"


def json_case(endpoint: str) -> st.SearchStrategy[tuple[str, Any]]:
    bodies = near_valid(endpoint) | json_values | st.lists(near_valid(endpoint), max_size=3)
    return st.tuples(st.just(endpoint), bodies)


@FUZZ
@given(case=st.sampled_from([*JSON_ENDPOINTS, "actions"]).flatmap(json_case))
def test_json_bodies(fuzz_ingress: Ingress, case: tuple[str, Any]) -> None:
    endpoint, body = case
    path = "/v1/actions" if endpoint == "actions" else f"/v1/channels/{endpoint}"
    headers = {"content-type": "application/json", **AUTH}
    content = json.dumps(body).encode()  # stdlib: integers past 64 bits too
    resp = fuzz_ingress.request("POST", path, content=content, headers=headers)
    assert_documented(resp, f"POST {path} {body!r:.300}")


@FUZZ
@given(
    endpoint=st.sampled_from([*JSON_ENDPOINTS, *FORM_ENDPOINTS, "actions", "email"]),
    body=st.binary(max_size=2000),
    ctype=st.sampled_from(
        ["application/json", "application/x-www-form-urlencoded", "message/rfc822",
         "text/plain", "multipart/form-data; boundary=x", "application/json; charset=latin-1", ""]
    ),
)  # fmt: skip
def test_raw_bytes_under_any_content_type(
    fuzz_ingress: Ingress, endpoint: str, body: bytes, ctype: str
) -> None:
    path = "/v1/actions" if endpoint == "actions" else f"/v1/channels/{endpoint}"
    headers = {**AUTH, **({"content-type": ctype} if ctype else {})}
    resp = fuzz_ingress.request("POST", path, content=body, headers=headers)
    assert_documented(resp, f"POST {path} ({ctype}) {body!r:.300}")


form_fields = st.dictionaries(
    st.sampled_from(
        ["MessageSid", "From", "To", "Body", "NumMedia", "MediaUrl0", "MediaContentType0",
         "ProfileName", "WaId", "email", "name", "subject", "message", "category"]
    )
    | st.text(max_size=10),
    st.text(max_size=60)
    | st.sampled_from(["+15551234567", "whatsapp:+4915112345678", "3", "-1", "99999999999"]),
    max_size=8,
)  # fmt: skip


twilio_form = st.fixed_dictionaries(
    {
        "MessageSid": st.from_regex(r"SM[0-9a-f]{8}", fullmatch=True),
        "From": st.sampled_from(["+15551234567", "whatsapp:+4915112345678", "+1", "nobody"]),
        "To": st.just("+15557654321"),
        "Body": st.text(max_size=80),
    },
    optional={
        "NumMedia": st.sampled_from(["0", "1", "2", "x", "-3"]),
        "MediaUrl0": st.text(max_size=30),
        "ProfileName": st.text(max_size=20),
        "WaId": st.text(max_size=15),
    },
)
webform_form = st.fixed_dictionaries(
    {"email": st.sampled_from(["ann@example.com", "bad", ""]), "message": st.text(max_size=80)},
    optional={"name": st.text(max_size=20), "subject": st.text(max_size=20)},
)  # fmt: skip


@FUZZ
@given(
    endpoint=st.sampled_from(FORM_ENDPOINTS),
    fields=form_fields | twilio_form | webform_form,
)
def test_form_bodies(fuzz_ingress: Ingress, endpoint: str, fields: dict[str, str]) -> None:
    path = f"/v1/channels/{endpoint}"
    body = urlencode(fields).encode()
    headers = {"content-type": "application/x-www-form-urlencoded"}
    resp = fuzz_ingress.request("POST", path, content=body, headers=headers)
    assert_documented(resp, f"POST {path} {fields!r:.300}")


@FUZZ
@given(
    path=st.sampled_from(READ_PATHS),
    ident=st.text(min_size=1, max_size=30),
    query=st.dictionaries(st.text(max_size=8), st.text(max_size=20), max_size=3),
    token=st.sampled_from([TOKEN, "", "wrong"]),
)
def test_read_api_and_probes(
    fuzz_ingress: Ingress, path: str, ident: str, query: dict[str, str], token: str
) -> None:
    target = path.replace("{x}", quote(ident, safe=""))
    headers = {"authorization": f"Bearer {token}"} if token else {}
    resp = fuzz_ingress.request("GET", target, params=query, headers=headers)
    if resp.status_code == 307 and "/" in ident:
        return  # the server decodes %2F: a trailing slash is redirected away, never served
    assert_documented(resp, f"GET {target}")
    for probe in ("/healthz", "/readyz", "/metrics"):
        assert fuzz_ingress.request("GET", probe, params=query).status_code in (200, 503)


@FUZZ
@given(query=st.dictionaries(
    st.sampled_from(["hub.mode", "hub.verify_token", "hub.challenge"]) | st.text(max_size=8),
    st.text(max_size=30), max_size=4,
))  # fmt: skip
def test_messenger_verification(fuzz_ingress: Ingress, query: dict[str, str]) -> None:
    resp = fuzz_ingress.request("GET", "/v1/channels/messenger", params=query)
    assert_documented(resp, f"GET messenger {query!r}")
