"""Live chat: one visitor message per request, from the site's chat widget or its vendor."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from channels.body import (
    JSON,
    message_body_limit,
    parse_json_off_loop,
    read_body,
    require_media_type,
    validate,
)
from channels.deps import Ingress
from channels.email_address import EmailAddress
from channels.models import (
    AcceptedBody,
    idempotency_key,
    idempotency_key_parameter,
    problem_responses,
    request_schema,
)
from channels.publish import fingerprint_of
from channels.shared_secret import openapi_parameters, require_secret
from channels.visible_text import Visible
from router.actions import ClaimedTime, Clean, Ident, Name, NoControls
from router.events import Customer, Interaction, ThreadRef, in_utc_if_any
from router.identity import normalize_email

SOURCE = "/switchboard/channels/chat"

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1), Clean, Visible]


class Visitor(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: Ident
    email: EmailAddress | None = None
    name: Name | None = None


class ChatMessage(BaseModel):
    """``message_id``, when the widget has one, makes a resend a recognised duplicate."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    conversation_id: Ident
    visitor: Visitor
    text: NonEmpty = Field(
        description="At most SWITCHBOARD_MAX_TEXT_BYTES (64 KiB by default) as JSON-encoded "
        "UTF-8 bytes, escapes included: a longer text is 413, as the web form's message."
    )
    message_id: Ident | None = None
    sent_at: ClaimedTime | None = None
    page_url: Annotated[str, StringConstraints(max_length=2048), NoControls] | None = None
    locale: str | None = Field(
        default=None, max_length=35, pattern=r"^[A-Za-z]{2,8}([-_][A-Za-z0-9]{1,8})*$"
    )


def provider_id(msg: ChatMessage, idempotency_key: str | None) -> str | None:
    """The widget's message id; else a hash of what identifies the message; else the
    caller's Idempotency-Key; else None (same sender and content within a short window
    count as one message)."""
    if msg.message_id:
        return f"{msg.conversation_id}\x1f{msg.message_id}"
    if msg.sent_at is not None:
        # in UTC, so a retry that writes the same instant in local time is the same
        # message; a time sent in UTC (``Z``) hashes as it always has (``+00:00``)
        sent_at = in_utc_if_any(msg.sent_at).isoformat()
        basis = f"{msg.conversation_id}\x1f{sent_at}\x1f{msg.text}"
        return "sha256:" + hashlib.sha256(basis.encode()).hexdigest()
    # None: the publisher derives the id from sender and content within a short window
    return f"key:{idempotency_key}" if idempotency_key else None


def to_interaction(msg: ChatMessage) -> Interaction:
    metadata = {k: v for k, v in (("page_url", msg.page_url), ("locale", msg.locale)) if v}
    language = msg.locale.replace("_", "-").split("-")[0].lower() if msg.locale else None
    visitor = msg.visitor
    return Interaction(
        channel="chat",
        customer=Customer(
            email=normalize_email(visitor.email) if visitor.email else None,
            name=visitor.name,
            handles={"chat": visitor.id},
        ),
        inbox=_inbox(msg.page_url),
        thread=ThreadRef(conversation_id=msg.conversation_id, message_id=msg.message_id),
        text=msg.text,
        language=language,
        sent_at=msg.sent_at,
        metadata=metadata,
    )


def _inbox(page_url: str | None) -> str:
    """The site the widget runs on, so rules can route per site; ``chat`` without one."""
    if page_url and "://" in page_url:
        host = page_url.split("://", 1)[1].split("/", 1)[0].split("@")[-1]
        return host.lower() or "chat"
    return "chat"


PATH = "/v1/channels/chat"


def build_router() -> APIRouter:
    router = APIRouter(tags=["channels"])

    @router.post(
        PATH,
        status_code=202,
        response_model=AcceptedBody,
        responses=problem_responses(400, 401, 413, 415, 422, 503),
        summary="A chat message from a site visitor",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": request_schema(ChatMessage)}},
            },
            "parameters": [
                *openapi_parameters("SWITCHBOARD_CHAT_SECRET"),
                idempotency_key_parameter(
                    "the message's event when the body has neither `message_id` nor "
                    "`sent_at` (those name it first)"
                ),
            ],
        },
    )
    async def chat(request: Request, ingress: Ingress) -> AcceptedBody:
        require_media_type(request, JSON)
        raw = await read_body(request, message_body_limit(ingress.settings))
        require_secret(request, raw, ingress.settings.chat_secret)
        msg = validate(ChatMessage, await parse_json_off_loop(raw, own=True))
        named = provider_id(msg, idempotency_key(request.headers))
        by_key = named is not None and named.startswith("key:")
        accepted = await ingress.publisher.interaction(
            SOURCE,
            named,
            to_interaction(msg),
            text_pointer="/text",
            # a key reused for another message is 422, as for the web form and actions
            fingerprint=fingerprint_of(msg.model_dump(mode="json")) if by_key else None,
        )
        return AcceptedBody(id=accepted.id, duplicate=accepted.duplicate)

    return router
