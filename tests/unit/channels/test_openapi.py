"""The generated OpenAPI document lists every ingress endpoint as the app serves it."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
import pytest

from channels.app import create_app
from channels.deps import IngressContext
from router.observability import Telemetry
from router.settings import Settings

pytestmark = pytest.mark.unit

ENDPOINTS = {
    ("post", "/v1/channels/email"),
    ("post", "/v1/channels/chat"),
    ("post", "/v1/channels/sms"),
    ("post", "/v1/channels/whatsapp"),
    ("get", "/v1/channels/messenger"),
    ("post", "/v1/channels/messenger"),
    ("post", "/v1/channels/voice"),
    ("post", "/v1/channels/webform"),
    ("post", "/v1/actions"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
}


IDEMPOTENT = {"/v1/channels/webform", "/v1/channels/chat", "/v1/actions"}
"""The endpoints that read an ``Idempotency-Key`` header (and answer 422 when it is reused)."""


async def served_document() -> dict[str, Any]:
    """Served by the app itself (no broker needed: nothing is published)."""
    ctx = IngressContext(
        settings=Settings(),
        publisher=None,  # type: ignore[arg-type]
        telemetry=Telemetry(),
        ticket_owners=None,  # type: ignore[arg-type]
    )
    transport = httpx.ASGITransport(app=create_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://ingress") as client:
        document: dict[str, Any] = (await client.get("/openapi.json")).json()
    return document


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, path, op) for path, ops in doc["paths"].items() for m, op in ops.items()]


async def test_every_endpoint_is_in_the_served_openapi_document() -> None:
    doc = await served_document()
    served = {(method, path) for path, ops in doc["paths"].items() for method in ops}
    assert served >= ENDPOINTS
    email = doc["paths"]["/v1/channels/email"]["post"]
    assert "message/rfc822" in email["requestBody"]["content"]
    assert "202" in email["responses"]
    assert "application/problem+json" in email["responses"]["400"]["content"]
    assert "HTTPBearer" in doc["components"]["securitySchemes"]
    # what the app answers to a request it cannot validate: 400 problem+json, never
    # FastAPI's validation 422 (only a reused Idempotency-Key is 422)
    statuses = {
        code
        for _, path, op in operations(doc)
        if path not in IDEMPOTENT
        for code in op["responses"]
    }
    assert "422" not in statuses
    assert "HTTPValidationError" not in str(doc)
    assert "ValidationError" not in doc["components"]["schemas"]
    handshake = doc["paths"]["/v1/channels/messenger"]["get"]["responses"]
    assert "application/problem+json" in handshake["400"]["content"]
    assert "503" in doc["paths"]["/readyz"]["get"]["responses"]


async def test_the_idempotency_key_and_its_422_are_documented_where_they_are_read() -> None:
    """webform, chat and actions read ``Idempotency-Key`` and answer 422
    ``idempotency-key-reused`` when a key comes back with another body: their operations
    say so; no other operation claims the header."""
    doc = await served_document()
    for method, path, op in operations(doc):
        headers = {p["name"].lower(): p for p in op.get("parameters", []) if p["in"] == "header"}
        if path in IDEMPOTENT:
            assert method == "post"
            problem = op["responses"]["422"]
            assert "application/problem+json" in problem["content"]
            assert "idempotency-key-reused" in problem["description"]
            key = headers["idempotency-key"]
            assert key["required"] is False
            assert key["schema"] == {"type": "string"}
            assert "422" in key["description"]
            assert "duplicate" in key["description"]
        else:
            assert "idempotency-key" not in headers, (method, path)
            assert "422" not in op["responses"], (method, path)


def resolves(doc: dict[str, Any], ref: str) -> bool:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


async def test_the_document_stays_well_formed() -> None:
    """The structure OpenAPI 3.1 asks of what we post-process (openapi-spec-validator
    is not a dependency): every reference resolves, responses are keyed by status code
    with a description, parameters are unique per operation and say where they go."""
    doc = await served_document()
    assert doc["openapi"].startswith("3.1")
    dangling = [r for r in refs(doc) if not resolves(doc, r)]
    assert dangling == []
    for method, path, op in operations(doc):
        for code, response in op["responses"].items():
            assert code.isdigit(), (method, path, code)
            assert len(code) == 3, (method, path, code)
            assert response["description"], (method, path, code)
        params = [(p["name"].lower(), p["in"]) for p in op.get("parameters", [])]
        assert len(params) == len(set(params)), (method, path, params)
        for param in op.get("parameters", []):
            assert param["in"] in {"query", "header", "path", "cookie"}
            assert "schema" in param


async def test_the_operations_routes_document_the_media_types_they_answer() -> None:
    """A scraper or a generated client reads ``/metrics`` as Prometheus text, and the
    body of a ``/readyz`` 503 as the JSON it is (which check failed)."""
    doc = await served_document()
    metrics = doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]
    readyz = doc["paths"]["/readyz"]["get"]["responses"]
    for status in ("200", "503"):
        schema = readyz[status]["content"]["application/json"]["schema"]
        body = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        assert set(body["required"]) == {"status", "checks"}
        assert body["properties"]["status"]["enum"] == ["ready", "not ready"]


async def test_ids_declare_the_control_characters_they_refuse() -> None:
    """An id holding a control character is 400 at its field; the document says so in a
    pattern, so a client built from it does not send what the server refuses."""
    doc = await served_document()
    chat = doc["paths"]["/v1/channels/chat"]["post"]["requestBody"]["content"]
    props = chat["application/json"]["schema"]["properties"]
    assert props["conversation_id"]["pattern"] == "^[^\\u0000-\\u001f\\u007f]*$"
    assert "pattern" not in props["text"]  # text loses its control characters instead


@pytest.mark.parametrize(
    ("action", "valid"),
    [
        ({"type": "ticket.resolved", "data": {"ticket_id": "T-1"}}, True),
        ({"type": "switchboard.feedback.csat", "data": {"ticket_id": "T-1", "score": 5}}, True),
        ({"type": "ticket.resolved", "data": {}}, False),  # no ticket_id
        ({"type": "ticket.exploded", "data": {"ticket_id": "T-1"}}, False),  # no such type
        ({"type": "feedback.csat", "data": {"ticket_id": "T-1", "score": 42}}, False),
        ({"type": "agent.presence", "data": {"agent_id": "a-1", "status": "busy"}}, False),
        # the rules the models check across fields, said in the document too
        ({"type": "ticket.transferred", "data": {"ticket_id": "T-1"}}, False),
        ({"type": "ticket.transferred", "data": {"ticket_id": "T-1", "queue": "billing"}}, True),
        ({"type": "customer.upserted", "data": {"tier": "gold"}}, False),
        ({"type": "customer.upserted", "data": {"email": "a@example.org"}}, True),
        # a member the action does not have is 400 at it ("/data/agentid: unknown member")
        ({"type": "ticket.resolved", "data": {"ticket_id": "T-1", "agentid": "a-1"}}, False),
        ({"type": "customer.upserted", "data": {"email": "a@example.org", "tire": 1}}, False),
    ],
)
async def test_the_document_says_what_each_action_takes(
    action: dict[str, Any], valid: bool
) -> None:
    """Each action type with the data it takes, as the server judges it: a client built
    from the document had seen ``data`` as any object and ``type`` as any string."""
    doc = await served_document()
    body = doc["paths"]["/v1/actions"]["post"]["requestBody"]["content"]["application/json"]
    schema = {**body["schema"], "components": doc["components"]}
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid(action) is valid
    assert validator.is_valid([action]) is valid  # a list of actions too
