"""Web forms: JSON or form-encoded ``{email, name?, subject?, message, category?}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from channels.body import (
    FORM,
    JSON,
    parse_form,
    parse_json,
    read_body,
    require_media_type,
    validate,
)
from channels.deps import Ingress
from channels.models import AcceptedBody, problem_responses
from router.events import Customer, Interaction

SOURCE = "/switchboard/channels/webform"

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class WebForm(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    email: EmailStr
    name: str | None = Field(default=None, max_length=200)
    subject: str | None = Field(default=None, max_length=998)
    message: NonEmpty
    category: str | None = Field(default=None, max_length=100)


def to_interaction(form: WebForm, inbox: str) -> Interaction:
    metadata = {"category": form.category} if form.category else {}
    return Interaction(
        channel="webform",
        customer=Customer(email=form.email.lower(), name=form.name),
        inbox=inbox,
        subject=form.subject,
        text=form.message,
        metadata=metadata,
    )


def build_router() -> APIRouter:
    router = APIRouter(tags=["channels"])

    @router.post(
        "/v1/channels/webform",
        status_code=202,
        response_model=AcceptedBody,
        responses=problem_responses(400, 413, 415, 503),
        summary="A web form submission",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    JSON: {"schema": WebForm.model_json_schema()},
                    FORM: {"schema": WebForm.model_json_schema()},
                },
            }
        },
    )
    async def webform(request: Request, ingress: Ingress) -> AcceptedBody:
        kind = require_media_type(request, JSON, FORM)
        raw = await read_body(request, ingress.settings.max_body_bytes)
        data = parse_json(raw) if kind == JSON else parse_form(raw)
        form = validate(WebForm, data)
        # A form has no provider message id: an Idempotency-Key header makes retries
        # safe; without one the same sender and content within the window are one event.
        key = request.headers.get("idempotency-key")
        accepted = await ingress.publisher.interaction(
            SOURCE,
            f"key:{key}" if key else None,
            to_interaction(form, inbox=request.url.path),
            text_pointer="/message",
        )
        return AcceptedBody(id=accepted.id, duplicate=accepted.duplicate)

    return router
