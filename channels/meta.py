"""Messenger, Instagram and WhatsApp Cloud API webhooks from Meta.

GET is the subscription handshake; POST carries any number of messages, verified with
``X-Hub-Signature-256`` over the raw body when the app secret is set. Each customer
message becomes its own event named after Meta's message id (``mid`` / ``wamid``), so
Meta's redelivery of the whole batch publishes nothing twice.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from channels.body import JSON, parse_json, read_body, require_media_type, validate
from channels.deps import Ingress
from channels.meta_payloads import (
    Envelope,
    Extracted,
    MessengerWebhook,
    WhatsAppWebhook,
    from_messenger,
    from_whatsapp,
)
from channels.models import AcceptedBody, problem_responses
from channels.problems import Problem
from channels.signatures import matches_any, verify_meta

PATH = "/v1/channels/messenger"
SOURCES = {
    "page": "/switchboard/channels/messenger",
    "instagram": "/switchboard/channels/instagram",
    "whatsapp_business_account": "/switchboard/channels/whatsapp-cloud",
}


class BatchAccepted(BaseModel):
    """202 for a Meta delivery: the contract's ``{id, duplicate}`` for the delivery as a
    whole, then one ``{id, duplicate}`` per customer message, in order, and how many
    entries were not customer messages (statuses, echoes, reads...)."""

    id: str | None = Field(
        description="Id of the first published event; null when no entry was a customer message."
    )
    duplicate: bool = Field(
        description="True when there was at least one event and every one was a duplicate."
    )
    events: list[AcceptedBody]
    ignored: int

    @classmethod
    def of(cls, events: list[AcceptedBody], ignored: int) -> BatchAccepted:
        return cls(
            id=events[0].id if events else None,
            duplicate=bool(events) and all(e.duplicate for e in events),
            events=events,
            ignored=ignored,
        )


def extract(data: object) -> tuple[str, Extracted]:
    envelope = validate(Envelope, data)
    if envelope.object == "whatsapp_business_account":
        return envelope.object, from_whatsapp(validate(WhatsAppWebhook, data))
    return envelope.object, from_messenger(validate(MessengerWebhook, data))


def build_router() -> APIRouter:
    router = APIRouter(tags=["channels"])

    @router.get(
        PATH,
        response_class=PlainTextResponse,
        summary="Meta webhook subscription handshake",
        responses=problem_responses(403),
    )
    async def handshake(
        ingress: Ingress,
        mode: str | None = Query(default=None, alias="hub.mode"),
        verify_token: str | None = Query(default=None, alias="hub.verify_token"),
        challenge: str | None = Query(default=None, alias="hub.challenge", max_length=512),
    ) -> PlainTextResponse:
        secret = ingress.settings.meta_verify_token
        known = [secret.get_secret_value()] if secret else []
        if mode != "subscribe" or challenge is None or not matches_any(verify_token, known):
            raise Problem(403, "hub.mode must be subscribe and hub.verify_token must match")
        return PlainTextResponse(challenge)

    @router.post(
        PATH,
        status_code=202,
        response_model=BatchAccepted,
        responses=problem_responses(400, 401, 413, 415, 503),
        summary="Meta webhook delivery: Messenger, Instagram or WhatsApp Cloud API",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": Envelope.model_json_schema()}},
            },
            "parameters": [
                {
                    "name": "X-Hub-Signature-256",
                    "in": "header",
                    "required": False,
                    "description": "Required when SWITCHBOARD_META_APP_SECRET is set.",
                    "schema": {"type": "string", "pattern": "^sha256=[0-9a-f]{64}$"},
                }
            ],
        },
    )
    async def deliver(request: Request, ingress: Ingress) -> BatchAccepted:
        settings = ingress.settings
        require_media_type(request, JSON)
        raw = await read_body(request, settings.max_body_bytes)
        if settings.meta_app_secret is not None:
            secret = settings.meta_app_secret.get_secret_value()
            if not verify_meta(secret, raw, request.headers.get("x-hub-signature-256")):
                raise Problem(401, "missing or invalid X-Hub-Signature-256", slug="signature")
        kind, found = extract(parse_json(raw))
        events: list[AcceptedBody] = []
        # In order, one at a time: a customer's messages keep their order on the partition.
        for provider_id, interaction in found.messages:
            accepted = await ingress.publisher.interaction(SOURCES[kind], provider_id, interaction)
            events.append(AcceptedBody(id=accepted.id, duplicate=accepted.duplicate))
        return BatchAccepted.of(events, found.ignored)

    return router
