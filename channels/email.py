"""Inbound email: one raw ``message/rfc822`` per request, as an MTA pipe or a mail
provider's "raw MIME" webhook delivers it."""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from channels.body import JSON, read_body, require_media_type
from channels.deps import Ingress, IngressContext
from channels.mime import HTML_CUT, ParsedEmail, parse_email
from channels.models import AcceptedBody, problem_responses
from channels.problems import Problem
from channels.replies import split_reply
from channels.shared_secret import openapi_parameters, require_secret
from router.events import Customer, Interaction, ThreadRef, utcnow

SOURCE = "/switchboard/channels/email"
PATH = "/v1/channels/email"
MEDIA_TYPES = ("message/rfc822", "message/global")
THREADPOOL_ABOVE_BYTES = 256 * 1024


def provider_id(parsed: ParsedEmail, raw: bytes) -> str:
    """The Message-ID with its sender, so a redelivered mail is a duplicate while another
    sender's mail under the same id (a shop system that stamps one fixed Message-ID on
    every message) is not lost as one; the bytes' hash when there is no Message-ID."""
    if parsed.message_id:
        sender = parsed.sender.email if parsed.sender else ""
        return f"message-id:{parsed.message_id}\x1f{sender}"
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def to_interaction(parsed: ParsedEmail, size: int) -> Interaction:
    reply = split_reply(parsed.text)
    quoted = "\n\n".join(q for q in (reply.quoted, parsed.quoted) if q) or None
    metadata: dict[str, Any] = {"size": size}
    groups = (
        ("to", parsed.to),
        ("cc", parsed.cc),
        ("reply_to", parsed.reply_to),
        ("delivered_to", parsed.delivered_to),
    )
    for name, group in groups:
        if group:
            metadata[name] = [box.email for box in group]
    if parsed.auto_reply_reason:
        metadata["auto_reply_reason"] = parsed.auto_reply_reason
    if parsed.html_only:
        metadata["html_only"] = True
    if parsed.warnings:
        metadata["parse_warnings"] = parsed.warnings
    sender = parsed.sender
    return Interaction(
        channel="email",
        customer=Customer(email=sender.email, name=sender.name) if sender else Customer(),
        inbox=parsed.inbox,
        thread=ThreadRef(
            message_id=parsed.message_id,
            in_reply_to=parsed.in_reply_to,
            references=parsed.references,
        ),
        subject=parsed.subject,
        text=reply.text,
        quoted_text=quoted,
        attachments=parsed.attachments,
        auto_reply=parsed.auto_reply_reason is not None,
        truncated=True if HTML_CUT in parsed.warnings else None,
        sent_at=parsed.date,
        metadata=metadata,
    )


def interpret(raw: bytes) -> tuple[ParsedEmail, Interaction | None]:
    """Parse and normalise; no interaction when there is no sender to answer, unless it
    is machine mail (a bounce from ``<>`` or a bare ``MAILER-DAEMON``): that is published
    flagged, so it is recorded and never opens a ticket, instead of being refused."""
    parsed = parse_email(raw)
    if parsed.sender is None and parsed.auto_reply_reason is None:
        return parsed, None
    return parsed, to_interaction(parsed, len(raw))


async def accept(ingress: IngressContext, request: Request) -> Response:
    """``POST /v1/channels/email``; also served without FastAPI (``channels.app``)."""
    require_media_type(request, *MEDIA_TYPES)
    raw = await read_body(request, ingress.settings.max_body_bytes)
    require_secret(request, raw, ingress.settings.email_secret)
    if not raw.strip():
        raise Problem(400, "empty message", slug="invalid", errors=[_error("", "empty")])
    if len(raw) > THREADPOOL_ABOVE_BYTES:
        parsed, interaction = await run_in_threadpool(interpret, raw)
    else:
        parsed, interaction = interpret(raw)
    if interaction is None:
        raise Problem(
            400,
            "not an email with a sender: no address in From",
            slug="invalid",
            errors=[_error("/headers/from", "no sender address")],
        )
    # The Date header is the sender's clock; the event time is when it reached us.
    accepted = await ingress.publisher.interaction(
        SOURCE, provider_id(parsed, raw), interaction, time=utcnow()
    )
    return Response(accepted.json(), 202, media_type=JSON)


def build_router() -> APIRouter:
    router = APIRouter(tags=["channels"])

    @router.post(
        PATH,
        status_code=202,
        response_model=AcceptedBody,
        responses=problem_responses(400, 401, 413, 415, 503),
        summary="One inbound email as raw MIME",
        description=(
            "The whole message, headers and body, exactly as received. The Message-ID "
            "names the event, so a redelivery is answered `duplicate: true`."
        ),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    t: {"schema": {"type": "string", "format": "binary"}} for t in MEDIA_TYPES
                },
            },
            "parameters": openapi_parameters("SWITCHBOARD_EMAIL_SECRET"),
        },
    )
    async def email(request: Request, ingress: Ingress) -> Response:
        return await accept(ingress, request)

    return router


def _error(pointer: str, detail: str) -> dict[str, str]:
    return {"pointer": pointer, "detail": detail}
