"""The generated OpenAPI document lists every ingress endpoint."""

from __future__ import annotations

import httpx
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


async def test_every_endpoint_is_in_the_served_openapi_document() -> None:
    """Served by the app itself (no broker needed: nothing is published)."""
    ctx = IngressContext(
        settings=Settings(),
        publisher=None,  # type: ignore[arg-type]
        telemetry=Telemetry(),
        ticket_owners=None,  # type: ignore[arg-type]
    )
    transport = httpx.ASGITransport(app=create_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://ingress") as client:
        doc = (await client.get("/openapi.json")).json()
    served = {(method, path) for path, ops in doc["paths"].items() for method in ops}
    assert served >= ENDPOINTS
    email = doc["paths"]["/v1/channels/email"]["post"]
    assert "message/rfc822" in email["requestBody"]["content"]
    assert "202" in email["responses"]
    assert "application/problem+json" in email["responses"]["400"]["content"]
    assert "HTTPBearer" in doc["components"]["securitySchemes"]
    # what the app answers to a request it cannot validate: 400 problem+json, never 422
    statuses = {
        code for ops in doc["paths"].values() for op in ops.values() for code in op["responses"]
    }
    assert "422" not in statuses
    assert "HTTPValidationError" not in str(doc)
    handshake = doc["paths"]["/v1/channels/messenger"]["get"]["responses"]
    assert "application/problem+json" in handshake["400"]["content"]
    assert "503" in doc["paths"]["/readyz"]["get"]["responses"]
