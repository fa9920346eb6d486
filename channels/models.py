"""Response bodies of the ingress."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from starlette.datastructures import Headers

from channels.body import single_header
from channels.problems import TYPE_BASE


class AcceptedBody(BaseModel):
    """202: the event is durable on Kafka. ``duplicate``: a provider retry, not re-published."""

    id: str
    duplicate: bool


class IgnoredBody(BaseModel):
    """202 for a delivery that holds no customer message (a provider's status callback):
    accepted, nothing published."""

    id: None = Field(default=None, description="Always null: no event was published.")
    duplicate: bool = False
    ignored: int = Field(default=1, description="How many entries were not customer messages.")


class ProblemBody(BaseModel):
    """RFC 9457 problem details, as every error of the ingress is answered."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, str]] | None = Field(
        default=None,
        description="`{pointer, detail}` per offending field or item: a JSON Pointer into "
        'the body (`""` the whole body), or `/header/<name>`, `/path/<name>`, '
        "`/query/<name>` for a request header or parameter. Carried by every 400, and by "
        "the answers that name what they refuse: 404 (each unknown `ticket_id`), 409, 413 "
        "(what is too large) and 422 `id-reused`. At most the first 100.",
    )
    errors_omitted: int | None = Field(
        default=None,
        description="How many errors past the first 100 are not listed in `errors` "
        "(`detail` says so too); absent when all are.",
    )


PROBLEM_SCHEMA = ProblemBody.model_json_schema()
NO_STORE = {
    "Cache-Control": {
        "description": "`no-store`: the answer may name personal data; nothing keeps a copy.",
        "schema": {"type": "string", "const": "no-store"},
    }
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer", "minimum": 0},
    }
}


def challenge(value: str) -> dict[str, Any]:
    """The OpenAPI declaration of the ``WWW-Authenticate`` a ``401`` sends as ``value``."""
    return {
        "WWW-Authenticate": {
            "description": f"How to authenticate: `{value}`.",
            "schema": {"type": "string"},
        }
    }


CHALLENGE = challenge('Bearer realm="switchboard"')
LINK_NEXT = {
    "Link": {
        "description": 'The next page, `<path?limit=...&cursor=...>; rel="next"` (RFC 8288); '
        "absent on the last page.",
        "schema": {"type": "string"},
    }
}
DESCRIPTIONS = {
    400: "Invalid: `errors` names each offending field by JSON pointer",
    401: "Missing or invalid token or signature",
    403: "Forbidden",
    404: "Unknown ticket: `errors` points at each `ticket_id` that names no ticket",
    409: "An `assignment.accepted` or `.declined` from an agent the ticket is not offered to "
    f"(type `{TYPE_BASE}not-offered`): `errors` points at each such `agent_id`, the detail "
    "says whom the ticket is offered to; nothing was written",
    413: "Too large: the body (SWITCHBOARD_MAX_BODY_BYTES, 1 MiB for the JSON channels), a "
    "text (SWITCHBOARD_MAX_TEXT_BYTES) or the event it would make; the pointer names which",
    415: "Wrong content type",
    422: f"Idempotency-Key already used for a different request (type "
    f"`{TYPE_BASE}idempotency-key-reused`); nothing was written",
    429: "A wrong bearer token from an address that sent too many within a minute (type "
    f"`{TYPE_BASE}too-many-failed-tokens`); see Retry-After. A right token is never refused",
    503: "Kafka or Redis not answering, or the ingress at capacity (type "
    f"`{TYPE_BASE}overloaded`); nothing was written; see Retry-After",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the problem+json answers an endpoint can give."""
    return {status: problem_response_of(status, DESCRIPTIONS[status]) for status in statuses}


def problem_response_of(status: int, description: str) -> dict[str, Any]:
    """One problem+json answer of the app: each says ``Cache-Control: no-store``
    (``channels.problems.problem_response``), a 429 or 503 ``Retry-After`` too. (A 401's
    ``WWW-Authenticate`` depends on the endpoint: ``channels.app`` declares it.)"""
    headers = {**NO_STORE, **(RETRY_AFTER if status in (429, 503) else {})}
    return {
        "description": description,
        "headers": headers,
        "content": {"application/problem+json": {"schema": PROBLEM_SCHEMA}},
    }


HEADERS_TOO_LARGE = {
    "description": "Request line and headers over the server's limit; answered by the HTTP "
    "server before any endpoint sees the request, and the connection is closed",
    "content": {"application/problem+json": {"schema": PROBLEM_SCHEMA}},
}
SERVER_ANSWERS = {
    "400": {
        "description": "A request the HTTP server or the endpoint cannot read: a malformed "
        "request line or headers, a header sent twice that may come once (Authorization, "
        "Idempotency-Key), or a body that is not what the endpoint takes",
        "content": {"application/problem+json": {"schema": PROBLEM_SCHEMA}},
    },
    "408": {
        "description": "The headers or the body did not arrive in time; answered by the "
        "HTTP server, and the connection is closed",
        "content": {"application/problem+json": {"schema": PROBLEM_SCHEMA}},
    },
    "431": HEADERS_TOO_LARGE,
}
"""What the HTTP server (``channels.protocol``) may answer to any request, before or
beside the endpoint: every operation declares it (``channels.app``)."""


def idempotency_key(headers: Headers) -> str | None:
    """The request's ``Idempotency-Key``; an empty or blank one is none (a client
    template's default must not make every request share one key). It names one
    request: sent twice, 400 at ``/header/idempotency-key`` (``single_header``)."""
    return (single_header(headers, "Idempotency-Key") or "").strip() or None


def idempotency_key_parameter(names: str) -> dict[str, Any]:
    """The OpenAPI declaration of the ``Idempotency-Key`` header, for the endpoints that
    read it; ``names`` says which events of the request the key names."""
    return {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": f"Optional. Names {names}: a retry with the same key and the same "
        "body is answered 202 with `duplicate: true` and publishes nothing new; the same key "
        "with a different body is 422 (`idempotency-key-reused`), nothing written.",
        "schema": {"type": "string"},
    }


def request_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with its ``$defs`` written in place: embedded in the
    OpenAPI document, a ``#/$defs/...`` reference would point at the document's root,
    where there is no such thing. (The request models are not recursive.)"""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return {**inline(defs[ref.removeprefix("#/$defs/")]), **inline(rest)}
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    inlined: dict[str, Any] = inline(schema)
    return inlined
