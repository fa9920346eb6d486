"""Web forms: JSON or form-encoded ``{email, name?, subject?, message, category?}``."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.concurrency import run_in_threadpool

from channels.body import (
    FORM,
    JSON,
    MULTIPART,
    OFF_LOOP_BYTES,
    check_form_fields,
    declared_charset,
    malformed,
    message_body_limit,
    parse_json_off_loop,
    parse_multipart,
    read_body,
    refuse_repeated_fields,
    require_media_type,
    text_codec,
    validate,
)
from channels.deps import Ingress, IngressContext
from channels.email_address import EmailAddress
from channels.models import (
    AcceptedBody,
    idempotency_key,
    idempotency_key_parameter,
    problem_responses,
)
from channels.publish import fingerprint_of
from channels.visible_text import Visible
from router.actions import Clean, Name
from router.events import Customer, Interaction, ThreadRef
from router.identity import normalize_email

SOURCE = "/switchboard/channels/webform"
PATH = "/v1/channels/webform"
NO_THREAD = ThreadRef()

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class WebForm(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    email: EmailAddress
    name: Name | None = None
    subject: Annotated[str, StringConstraints(max_length=998), Clean] | None = None
    message: Annotated[NonEmpty, Clean, Visible]
    category: Annotated[str, StringConstraints(max_length=100), Clean] | None = Field(
        default=None,
        description="At most 100 characters once control characters are removed (as for "
        "`name`, `subject` and `message`: they are removed first, and the limit judges "
        "what is kept).",
    )


FIELDS = frozenset(WebForm.model_fields)
"""The fields the form is read for: each may be given once."""


def to_interaction(form: WebForm, inbox: str) -> Interaction:
    metadata = {"category": form.category} if form.category else {}
    return Interaction(
        channel="webform",
        thread=NO_THREAD,  # given, not defaulted: pydantic deep-copies a model default
        customer=Customer(email=normalize_email(form.email), name=form.name),
        inbox=inbox,
        subject=form.subject,
        text=form.message,
        metadata=metadata,
    )


def form_charset(content_type: str) -> str:
    """The codec a form body's percent-escapes are decoded with: the declared charset (a
    page in ISO-8859-1 sends ``caf%E9``), else UTF-8 as browsers send today; unknown: 415."""
    return text_codec(declared_charset(content_type) or "utf-8")


def parse_form_in(raw: bytes, charset: str) -> dict[str, str]:
    """The fields of a form body in ``charset``; bytes that are not text in it are 400,
    never replaced with U+FFFD behind the sender's back, and so is a field of the form
    given twice (``FIELDS``)."""
    check_form_fields(raw)
    try:
        text = raw.decode(charset)
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=bool(text),
            encoding=charset,
            errors="strict",
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise malformed(f"form body (charset {charset}; declare the one it is in)", exc) from None
    refuse_repeated_fields(pairs, FIELDS)
    return dict(pairs)


async def accept(ingress: IngressContext, request: Request) -> Response:
    """``POST /v1/channels/webform``; also served without FastAPI (``channels.app``)."""
    kind = require_media_type(request, JSON, FORM, MULTIPART)
    # a browser's FormData may carry a file (never read into the event): the body limit
    limit = ingress.settings.max_body_bytes if kind == MULTIPART else None
    raw = await read_body(request, limit or message_body_limit(ingress.settings))
    if kind == MULTIPART:
        data: Any = await parse_multipart(raw, request.headers["content-type"], once=FIELDS)
    elif kind == FORM:
        charset = form_charset(request.headers["content-type"])
        if len(raw) > OFF_LOOP_BYTES:
            data = await run_in_threadpool(parse_form_in, raw, charset)
        else:
            data = parse_form_in(raw, charset)
    else:
        data = await parse_json_off_loop(raw, own=True)
    form = validate(WebForm, data)
    # A form has no provider message id: an Idempotency-Key header makes retries
    # safe; without one the same sender and content within the window are one event.
    key = idempotency_key(request.headers)
    accepted = await ingress.publisher.interaction(
        SOURCE,
        f"key:{key}" if key else None,
        to_interaction(form, inbox=PATH),
        text_pointer="/message",
        fingerprint=fingerprint_of(form.model_dump(mode="json")) if key else None,
    )
    return Response(accepted.json(), 202, media_type=JSON)


def build_router() -> APIRouter:
    router = APIRouter(tags=["channels"])

    @router.post(
        PATH,
        status_code=202,
        response_model=AcceptedBody,
        responses=problem_responses(400, 413, 415, 422, 503),
        summary="A web form submission",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    JSON: {"schema": WebForm.model_json_schema()},
                    FORM: {"schema": WebForm.model_json_schema()},
                    MULTIPART: {"schema": WebForm.model_json_schema()},
                },
            },
            "parameters": [
                idempotency_key_parameter(
                    "the submission's event (without one, the same sender and content "
                    "within a short window are one event)"
                )
            ],
        },
    )
    async def webform(request: Request, ingress: Ingress) -> Response:
        return await accept(ingress, request)

    return router
