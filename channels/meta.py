"""Messenger, Instagram and WhatsApp Cloud API webhooks from Meta.

GET is the subscription handshake; POST carries any number of messages, verified with
``X-Hub-Signature-256`` over the raw body when the app secret is set. Each customer
message becomes its own event named after Meta's message id (``mid`` / ``wamid``; a
postback without ``mid`` after its page, sender, timestamp and payload), so Meta's
redelivery of the whole batch publishes nothing twice.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from channels.body import (
    JSON,
    OFF_LOOP_BYTES,
    parse_json,
    read_body,
    require_media_type,
    single_header,
    validate,
)
from channels.deps import Ingress
from channels.meta_payloads import Envelope, Extracted, extract_any
from channels.models import AcceptedBody, problem_responses
from channels.problems import PartlyWritten, Problem, signature_problem
from channels.publish import Publisher
from channels.signatures import META_HEADER, matches_any, verify_meta
from router.actions import strip_controls
from router.errors import BackendUnavailable
from router.events import Interaction
from router.health import HeadRoute

PATH = "/v1/channels/messenger"
SOURCES = {
    "page": "/switchboard/channels/messenger",
    "instagram": "/switchboard/channels/instagram",
    "whatsapp_business_account": "/switchboard/channels/whatsapp-cloud",
}
CHUNK = 256
"""Messages of one delivery published at once: the producer batches them by its linger."""


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
    """The delivery's ``object`` and its customer messages. Only a body that is no
    delivery at all (no object with an ``object`` and an ``entry`` list) is a 400: an
    event in it that Switchboard cannot read is ignored, the rest still published."""
    envelope = validate(Envelope, data)
    return envelope.object, extract_any(envelope)


def read_delivery(raw: bytes) -> tuple[str, Extracted]:
    """``extract`` of the body ``raw``."""
    return extract(parse_json(raw))


def without_controls(data: Interaction) -> Interaction:
    """The message with control characters removed from what people wrote (text, the
    sender's name), as every channel reads text."""
    name = data.customer.name
    clean_name = strip_controls(name) if name else name
    text, subject = strip_controls(data.text), strip_controls(data.subject)
    if (text, subject, clean_name) == (data.text, data.subject, name):
        return data
    customer = data.customer.model_copy(update={"name": clean_name})
    return data.model_copy(update={"text": text, "subject": subject, "customer": customer})


async def publish_all(
    publisher: Publisher, source: str, messages: list[tuple[str, Interaction]]
) -> list[AcceptedBody]:
    """Every message of a delivery, ``CHUNK`` at a time concurrently: one at a time, a
    batch of thousands took longer than Meta waits, and Meta redelivered it while the
    first copy was still being published.

    A sender's messages still reach the partition in their order: the messages of a
    chunk are started in order, their claims go to Redis in one batch whose replies
    resume them in that order, and each hands its record to the producer without
    waiting in between (a full producer batch makes them wait in line, first come first
    served); the producer keeps a partition's records in the order handed to it, with one
    request per partition in flight, retries included. A chunk starts when the one
    before it is written. A failure answers 503 once the chunk it is in has settled,
    and no later chunk is started; Meta's redelivery names the same ids, so what was
    written is answered ``duplicate``."""
    events: list[AcceptedBody] = []
    written: list[tuple[str, str]] = []  # (Meta's message id, event id), for a 503
    for start in range(0, len(messages), CHUNK):
        chunk = messages[start : start + CHUNK]
        outcomes = await asyncio.gather(
            *(publisher.interaction(source, pid, without_controls(m)) for pid, m in chunk),
            return_exceptions=True,
        )
        failed = next((o for o in outcomes if isinstance(o, BaseException)), None)
        for (pid, _), outcome in zip(chunk, outcomes, strict=True):
            if not isinstance(outcome, BaseException):
                events.append(AcceptedBody(id=outcome.id, duplicate=outcome.duplicate))
                written.append((pid or "?", outcome.id))
        if isinstance(failed, BackendUnavailable) and written:
            raise PartlyWritten(failed, written, "messages") from failed
        if failed is not None:
            raise failed
    return events


def build_router() -> APIRouter:
    router = APIRouter(tags=["channels"], route_class=HeadRoute)  # HEAD as the handshake

    @router.get(
        PATH,
        response_class=PlainTextResponse,
        summary="Meta webhook subscription handshake",
        responses=problem_responses(400, 403),
    )
    async def handshake(
        ingress: Ingress,
        mode: str | None = Query(default=None, alias="hub.mode"),
        verify_token: str | None = Query(default=None, alias="hub.verify_token"),
        challenge: str | None = Query(default=None, alias="hub.challenge", max_length=512),
    ) -> PlainTextResponse:
        secret = ingress.settings.meta_verify_token
        known = [secret.get_secret_value()] if secret else []
        if mode != "subscribe" or not matches_any(verify_token, known):
            raise Problem(403, "hub.mode must be subscribe and hub.verify_token must match")
        if challenge is None:  # said only to a caller who knows the token
            raise Problem(
                400,
                "/query/hub.challenge: missing; Meta sends the number to answer with",
                slug="invalid",
                errors=[{"pointer": "/query/hub.challenge", "detail": "Field required"}],
            )
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
                    "name": META_HEADER,
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
            signature = single_header(request.headers, META_HEADER)
            if not verify_meta(secret, raw, signature):
                raise signature_problem(
                    META_HEADER,
                    f"missing {META_HEADER}"
                    if signature is None
                    else f"invalid {META_HEADER}: not the HMAC-SHA256 of this body with "
                    "SWITCHBOARD_META_APP_SECRET (the app's secret, as Meta signs; a proxy "
                    "must pass the body on unchanged)",
                )
        if len(raw) > OFF_LOOP_BYTES:  # one validation per event: not on the loop
            kind, found = await run_in_threadpool(read_delivery, raw)
        else:
            kind, found = read_delivery(raw)
        events = (
            await publish_all(ingress.publisher, SOURCES[kind], found.messages)
            if found.messages
            else []
        )
        return BatchAccepted.of(events, found.ignored)

    return router
