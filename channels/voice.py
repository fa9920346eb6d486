"""Call events from the phone system (a CTI connector or the telephony provider's hook).

Every state change is published; the router decides that ``missed`` and ``voicemail``
open a ticket, and the metric consumers read talk/hold/wrap seconds for handle time.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

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
from channels.models import AcceptedBody, problem_responses
from channels.shared_secret import openapi_parameters, require_secret
from router.actions import ClaimedTime, Clean, HandleSeconds, NoControls
from router.events import Customer, Interaction, ThreadRef
from router.identity import normalize_phone

SOURCE = "/switchboard/channels/voice"

Ident = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NoControls
]
CallerId = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), NoControls]
CallEvent = Literal["ringing", "answered", "ended", "missed", "voicemail"]
WITHHELD = frozenset(
    {
        "",
        "anonymous",
        "restricted",
        "unknown",
        "private",
        "unavailable",
        "withheld",
        "blocked",
        # as displays spell them
        "anonymouscaller",
        "privatenumber",
        "privatecaller",
        "unknowncaller",
        "unknownnumber",
        "nocallerid",
        "callerunknown",
        "numberwithheld",
        "withheldnumber",
        "notavailable",
        "outofarea",
        "+266696687",  # Twilio: anonymous
        "+7378742833",  # Twilio: restricted
        "+2562533",  # Twilio: blocked
        "+8656696",  # Twilio: unavailable
    }
)
"""Caller ids that name nobody: the words phone systems put for a withheld number (read
without case, spaces or punctuation: "Private Number", "Unknown Caller"), and the
pseudo-numbers Twilio sends in their place. A SIP caller id names nobody when its user
is one of these words or its host is ``anonymous.invalid`` (RFC 3323's
``sip:anonymous@anonymous.invalid``)."""
SIP_SCHEMES = ("sip:", "sips:", "tel:")
NOT_A_NAME = re.compile(r"[^0-9a-z+]")


def withheld(caller_id: str) -> bool:
    """Whether ``caller_id`` names nobody (``WITHHELD``)."""
    text = caller_id.strip().strip("<>").lower()
    for scheme in SIP_SCHEMES:
        if text.startswith(scheme):
            text = text[len(scheme) :]
            break
    user, _, host = text.partition("@")
    host = host.split(";")[0].split(">")[0]
    return host == "anonymous.invalid" or NOT_A_NAME.sub("", user) in WITHHELD


class CallEventBody(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    call_id: Ident
    event: CallEvent
    from_: Annotated[CallerId, Field(alias="from")]  # "" when the number is withheld
    to: Ident
    at: ClaimedTime
    agent_id: Ident | None = None
    # each one bounded like a reply's: their sum is added to the ticket's handle time
    talk_seconds: HandleSeconds | None = None
    hold_seconds: HandleSeconds | None = None
    wrap_seconds: HandleSeconds | None = None
    queue: Ident | None = None
    # a link, as chat's page_url: one holding a control character leads nowhere
    recording_url: Annotated[str, StringConstraints(max_length=2048), NoControls] | None = None
    transcript: Annotated[str, Field(max_length=100_000), Clean] | None = None


def _phone(raw: str) -> str | None:
    try:
        return normalize_phone(raw)
    except ValueError:
        return None


def caller(call: CallEventBody) -> Customer:
    """Who called: the caller's number in E.164, else the caller id as a ``voice`` handle.
    A withheld number identifies nobody, so each such call is a customer of its own
    (``voice`` handle ``call:<call_id>``): the missed call and voicemail of one call stay
    on one ticket, and two callers who both hid their number never share one."""
    if withheld(call.from_):
        return Customer(handles={"voice": f"call:{call.call_id}"})
    phone = _phone(call.from_)
    # a non-numeric caller id (a SIP user) is kept as a handle, never guessed into E.164
    return Customer(phone=phone, handles={} if phone else {"voice": call.from_})


def to_interaction(call: CallEventBody) -> Interaction:
    metadata: dict[str, Any] = {"call_event": call.event}
    for name in (
        "agent_id",
        "talk_seconds",
        "hold_seconds",
        "wrap_seconds",
        "queue",
        "recording_url",
    ):
        value = getattr(call, name)
        if value is not None:
            metadata[name] = value
    return Interaction(
        channel="voice",
        customer=caller(call),
        inbox=_phone(call.to) or call.to,
        thread=ThreadRef(call_id=call.call_id),
        text=call.transcript or "",
        sent_at=call.at,
        metadata=metadata,
    )


def build_router() -> APIRouter:
    router = APIRouter(tags=["channels"])

    @router.post(
        "/v1/channels/voice",
        status_code=202,
        response_model=AcceptedBody,
        responses=problem_responses(400, 401, 413, 415, 503),
        summary="A call event: ringing, answered, ended, missed or voicemail",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": CallEventBody.model_json_schema(by_alias=True)}},
            },
            "parameters": openapi_parameters("SWITCHBOARD_VOICE_SECRET"),
        },
    )
    async def voice(request: Request, ingress: Ingress) -> AcceptedBody:
        require_media_type(request, JSON)
        raw = await read_body(request, message_body_limit(ingress.settings))
        require_secret(request, raw, ingress.settings.voice_secret)
        call = validate(CallEventBody, await parse_json_off_loop(raw, own=True))
        accepted = await ingress.publisher.interaction(
            SOURCE, f"{call.call_id}\x1f{call.event}", to_interaction(call)
        )
        return AcceptedBody(id=accepted.id, duplicate=accepted.duplicate)

    return router
