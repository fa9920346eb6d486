"""SMS and WhatsApp through Twilio's messaging webhook (form-encoded).

The MessageSid names the event, so Twilio's retries are duplicates. With an auth token
set, ``X-Twilio-Signature`` is checked against ``SWITCHBOARD_PUBLIC_URL`` + path (or the
request's own URL when no public URL is set) before anything else is looked at.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from channels.body import (
    FORM,
    MAX_FORM_FIELDS,
    form_fields,
    parse_form_pairs,
    read_body,
    require_media_type,
    single_header,
    validate,
)
from channels.deps import Ingress
from channels.models import AcceptedBody, IgnoredBody, problem_responses
from channels.problems import signature_problem
from channels.signatures import TWILIO_HEADER, verify_twilio
from router.actions import Clean, Ident, Name, NoControls, strip_controls
from router.events import Attachment, Customer, Interaction, ThreadRef
from router.identity import normalize_phone
from router.settings import Settings

MAX_MEDIA = 10
OPTIONAL_EXTRAS = ("AccountSid", "MessagingServiceSid", "FromCity", "FromState", "FromCountry")
LOCATION = ("Latitude", "Longitude", "Label", "Address")  # a WhatsApp location message
INBOUND_STATUSES = frozenset({"received", "receiving"})
BUTTON = {"ButtonPayload": "button_payload", "ButtonText": "button_text"}  # a tapped button
# Advanced Opt-Out: the customer sent a STOP, START or HELP keyword (Twilio answers it)
OPT_OUT = {"OptOutType": "opt_out_type"}
#: Twilio's default opt-out handling of an SMS (no Advanced Opt-Out, so no ``OptOutType``):
#: a message that is one of these words, in any case, blocks the number (STOP: Twilio
#: refuses any later message to it, error 21610), unblocks it, or is answered by Twilio
KEYWORDS = {
    **dict.fromkeys(("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"), "STOP"),
    **dict.fromkeys(("START", "YES", "UNSTOP"), "START"),
    **dict.fromkeys(("HELP", "INFO"), "HELP"),
}
#: A WhatsApp conversation started from an ad (Click to WhatsApp): the ad, named as Meta's
#: ``referral`` object names it, so a message keeps the same fields through either provider
REFERRAL = {
    "ReferralBody": "body",
    "ReferralHeadline": "headline",
    "ReferralSourceId": "source_id",
    "ReferralSourceType": "source_type",
    "ReferralSourceUrl": "source_url",
    "ReferralMediaId": "media_id",
    "ReferralMediaUrl": "media_url",
    "ReferralMediaContentType": "media_type",
    "ReferralCtwaClid": "ctwa_clid",
}
SidOrBlank = Annotated[str, StringConstraints(max_length=200), NoControls]


class TwilioMessage(BaseModel):
    """The fields Switchboard reads; a few more are kept as metadata (OPTIONAL_EXTRAS)."""

    model_config = ConfigDict(extra="ignore")

    MessageSid: Ident
    From: Ident
    To: Ident
    # no length limit: text over SWITCHBOARD_MAX_TEXT_BYTES is cut and marked
    # ``truncated`` by the publisher (Twilio cannot shorten a message it relays)
    Body: Annotated[str, Clean] = ""
    NumMedia: int = Field(default=0, ge=0, le=MAX_MEDIA)
    ProfileName: Name | None = None
    WaId: Annotated[str, StringConstraints(max_length=40), NoControls] | None = None
    # ids read from the form as they are (see to_interaction): checked here
    AccountSid: SidOrBlank | None = None
    MessagingServiceSid: SidOrBlank | None = None
    OriginalRepliedMessageSid: SidOrBlank | None = None
    #: WhatsApp's business-scoped user id (``IN.2081...``), sent beside the phone or, for a
    #: user who hides their number, instead of it (``From=whatsapp:IN.2081...``)
    ExternalUserId: SidOrBlank | None = None


def _phone(raw: str) -> str | None:
    try:
        return normalize_phone(raw)
    except ValueError:
        return None


def media(fields: dict[str, str], count: int) -> tuple[list[Attachment], list[dict[str, str]]]:
    """Attachment metadata and the media URLs (Twilio keeps the files; we keep pointers)."""
    attachments: list[Attachment] = []
    urls: list[dict[str, str]] = []
    for n in range(count):
        url = fields.get(f"MediaUrl{n}")
        ctype = fields.get(f"MediaContentType{n}") or "application/octet-stream"
        attachments.append(Attachment(content_type=ctype))
        if url:
            urls.append({"url": url, "content_type": ctype})
    return attachments, urls


def status_callback(fields: dict[str, str]) -> str | None:
    """The status of an outbound message when this is Twilio's status callback (sent,
    delivered, read, failed...), which a Messaging Service may post to the same URL as
    inbound messages: it is no customer message. None for an inbound message."""
    status = (fields.get("MessageStatus") or fields.get("SmsStatus") or "").strip().lower()
    return status if status and status not in INBOUND_STATUSES else None


def legacy_sid(fields: dict[str, str]) -> dict[str, str]:
    """The form with ``MessageSid`` taken from ``SmsMessageSid`` or ``SmsSid`` when it has
    only those (the names Twilio's older webhooks and some relays post the same id
    under), so such a message is not refused and its retries stay duplicates."""
    if "MessageSid" in fields:
        return fields
    legacy = fields.get("SmsMessageSid") or fields.get("SmsSid")
    return fields if legacy is None else {**fields, "MessageSid": legacy}


def location(fields: dict[str, str]) -> tuple[str, dict[str, str]]:
    """A shared location as text ("label, address" or "lat, long") and its fields."""
    shared = {k.lower(): fields[k].strip() for k in LOCATION if fields.get(k, "").strip()}
    if "latitude" not in shared or "longitude" not in shared:
        return "", {}
    named = [shared[k] for k in ("label", "address") if k in shared]
    return ", ".join(named or [shared["latitude"], shared["longitude"]]), shared


def to_interaction(
    channel: Literal["sms", "whatsapp"], msg: TwilioMessage, fields: dict[str, str]
) -> Interaction:
    phone = _phone(msg.From)
    # the other fields Twilio sends, read as they are (city, button, location, media):
    # text, so without control characters, as the declared text fields are
    fields = {name: strip_controls(value) for name, value in fields.items()}
    attachments, media_urls = media(fields, msg.NumMedia)
    metadata: dict[str, Any] = {"provider": "twilio", "message_sid": msg.MessageSid}
    metadata.update({k: fields[k] for k in OPTIONAL_EXTRAS if fields.get(k)})
    # the id behind a tapped quick-reply button, named as for WhatsApp through Meta
    metadata.update({name: fields[k] for k, name in BUTTON.items() if fields.get(k)})
    metadata.update({name: fields[k] for k, name in OPT_OUT.items() if fields.get(k)})
    word = msg.Body.strip()
    if channel == "sms" and word.isascii() and (keyword := KEYWORDS.get(word.upper())):
        metadata.setdefault("opt_out_type", keyword)
    if referral := {name: fields[k] for k, name in REFERRAL.items() if fields.get(k)}:
        metadata["referral"] = referral
    if fields.get("Forwarded", "").lower() == "true":  # as Meta's ``context.forwarded``
        metadata["forwarded"] = True
    if fields.get("FrequentlyForwarded", "").lower() == "true":
        metadata["frequently_forwarded"] = True
    if media_urls:
        metadata["media"] = media_urls
    text = msg.Body.strip() or fields.get("ButtonText", "").strip()
    place, shared = location(fields)
    if shared:
        metadata["location"] = shared
        text = text or place
    handles = {} if phone else {channel: msg.From.removeprefix("whatsapp:")}
    # the user id, when given, as Meta's ``from_user_id``: beside the phone it links
    # ``phone:+...`` and ``whatsapp:IN...``, so a later message naming only the user id
    # (the number hidden) finds the same customer
    if channel == "whatsapp" and (user_id := (msg.ExternalUserId or "").strip() or msg.WaId):
        handles["whatsapp"] = user_id
        if phone and msg.ExternalUserId:
            metadata["user_id"] = user_id
    return Interaction(
        channel=channel,
        customer=Customer(phone=phone, name=msg.ProfileName or None, handles=handles),
        inbox=_phone(msg.To) or msg.To,
        # the message the customer replied to, as Meta's context.id
        thread=ThreadRef(
            message_id=msg.MessageSid, in_reply_to=fields.get("OriginalRepliedMessageSid") or None
        ),
        text=text,
        attachments=attachments,
        metadata=metadata,
    )


def not_signed_at(public_url: str | None) -> str:
    """Why a signature that is there does not sign the request. Twilio signs the URL it
    called, so the answer says which URL it was checked against: the public one when
    ``SWITCHBOARD_PUBLIC_URL`` names it, else only that the request's own was used (behind
    a proxy that rewrites the host or the scheme, the usual cause; the request's own URL
    may name an internal host, so it is not told to whoever sent it). Twilio's debugger
    shows this answer."""
    if public_url:
        return (
            f"invalid {TWILIO_HEADER}: it does not sign this request at {public_url} "
            "(SWITCHBOARD_PUBLIC_URL: the URL Twilio calls)"
        )
    return (
        f"invalid {TWILIO_HEADER}: it does not sign this request at the URL it reached us "
        "by (behind a proxy, set SWITCHBOARD_PUBLIC_URL to the URL Twilio calls)"
    )


def signed_pairs(raw: bytes) -> list[tuple[str, str]]:
    """The form as the signature covers it, read without refusing anything: who cannot
    prove to be Twilio hears 401 whatever they sent, never how their body is malformed.
    A body Twilio signed is UTF-8 and well formed, so it reads the same as when parsed;
    and it has far fewer than ``MAX_FORM_FIELDS`` fields: more are not parsed at all."""
    if form_fields(raw) > MAX_FORM_FIELDS:
        raise signature_problem(TWILIO_HEADER, f"invalid {TWILIO_HEADER}")
    return parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)


def signed_url(settings: Settings, request: Request) -> str:
    if settings.public_url:
        url = settings.public_url.rstrip("/") + request.url.path
        return f"{url}?{request.url.query}" if request.url.query else url
    return str(request.url)


def build_router() -> APIRouter:
    router = APIRouter(tags=["channels"])
    schema = TwilioMessage.model_json_schema()

    def endpoint(channel: Literal["sms", "whatsapp"]) -> None:
        source = f"/switchboard/channels/{channel}"

        @router.post(
            f"/v1/channels/{channel}",
            status_code=202,
            response_model=AcceptedBody | IgnoredBody,
            responses=problem_responses(400, 401, 413, 415, 503),
            summary=f"An inbound {'SMS/MMS' if channel == 'sms' else 'WhatsApp'} via Twilio",
            description=(
                "A status callback of an outbound message (`MessageStatus`/`SmsStatus` "
                "other than `received`) is accepted and ignored: "
                '`{"id": null, "duplicate": false, "ignored": 1}`.'
            ),
            operation_id=f"twilio_{channel}",
            openapi_extra={
                "requestBody": {"required": True, "content": {FORM: {"schema": schema}}},
                "parameters": [
                    {
                        "name": TWILIO_HEADER,
                        "in": "header",
                        "required": False,
                        "description": "Required when SWITCHBOARD_TWILIO_AUTH_TOKEN is set.",
                        "schema": {"type": "string"},
                    }
                ],
            },
        )
        async def receive(request: Request, ingress: Ingress) -> AcceptedBody | IgnoredBody:
            settings = ingress.settings
            require_media_type(request, FORM)
            raw = await read_body(request, settings.max_body_bytes)
            if settings.twilio_auth_token is not None:
                token = settings.twilio_auth_token.get_secret_value()
                signature = single_header(request.headers, TWILIO_HEADER)
                if signature is None:
                    raise signature_problem(TWILIO_HEADER, f"missing {TWILIO_HEADER}")
                url = signed_url(settings, request)
                if not verify_twilio(token, url, signed_pairs(raw), signature, raw):
                    why = not_signed_at(url if settings.public_url else None)
                    raise signature_problem(TWILIO_HEADER, why)
            fields = dict(parse_form_pairs(raw))
            if status_callback(fields):
                return IgnoredBody()
            msg = validate(TwilioMessage, legacy_sid(fields))
            accepted = await ingress.publisher.interaction(
                source, msg.MessageSid, to_interaction(channel, msg, fields)
            )
            return AcceptedBody(id=accepted.id, duplicate=accepted.duplicate)

    endpoint("sms")
    endpoint("whatsapp")
    return router
