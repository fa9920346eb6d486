"""Meta webhook payloads (Messenger, Instagram messaging, WhatsApp Cloud API) and the
customer messages in them.

Only the fields Switchboard reads are declared; everything else Meta sends is allowed
and ignored. One delivery can carry many entries, changes and messages; statuses,
echoes, deliveries, reads, reactions and system notices are not customer messages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from router.actions import NoControls
from router.events import Attachment, Customer, Interaction, ThreadRef
from router.identity import normalize_phone
from router.vocabulary import Channel

Ident = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=400), NoControls
]
MEDIA_TYPES = ("image", "video", "audio", "voice", "document", "sticker")
NOT_MESSAGES = ("reaction", "system", "request_welcome")


class Loose(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Envelope(Loose):
    object: Literal["page", "instagram", "whatsapp_business_account"]
    entry: list[dict[str, Any]]


# --- Messenger / Instagram ---------------------------------------------------------------


class Party(Loose):
    id: Ident


class Sender(Loose):
    """Who wrote: a page-scoped id, or for a guest of the chat plugin only ``user_ref``;
    Meta leaves the sender out of a checkbox plugin's opt-in."""

    id: Ident | None = None
    user_ref: Ident | None = None

    def handle(self) -> str | None:
        """The customer's handle: the PSID/IGSID, else ``user_ref:<ref>`` (a chat plugin
        guest, prefixed so that it can never be taken for a PSID); None when neither."""
        if self.id:
            return self.id
        return f"user_ref:{self.user_ref}" if self.user_ref else None


class MessengerAttachment(Loose):
    type: str = "file"
    payload: dict[str, Any] | None = None


class MessengerMessage(Loose):
    mid: Ident
    text: str | None = None
    attachments: list[MessengerAttachment] = Field(default_factory=list)
    is_echo: bool = False
    reply_to: dict[str, Any] | None = None
    quick_reply: dict[str, Any] | None = None


class Postback(Loose):
    mid: str | None = None
    title: str | None = None
    payload: str | None = None


class MessagingEvent(Loose):
    sender: Sender | None = None
    recipient: Party
    timestamp: int | None = None
    message: MessengerMessage | None = None
    postback: Postback | None = None


class MessengerEntry(Loose):
    id: Ident
    messaging: list[MessagingEvent] = Field(default_factory=list)
    # events of a thread another app owns (handover protocol): never ours to publish
    standby: list[Any] = Field(default_factory=list)


class MessengerWebhook(Loose):
    object: Literal["page", "instagram"]
    entry: list[MessengerEntry]


# --- WhatsApp Cloud API ------------------------------------------------------------------


class WaContact(Loose):
    """A sender's profile, named by phone (``wa_id``) and/or business-scoped user id
    (``user_id``): a user with a username may withhold the phone."""

    wa_id: Ident | None = None
    user_id: Ident | None = None
    profile: dict[str, Any] | None = None


class WaMessage(Loose):
    from_: Annotated[Ident | None, Field(alias="from")] = None
    from_user_id: Ident | None = None
    id: Ident
    type: str = "text"
    timestamp: str | None = None
    context: dict[str, Any] | None = None


class WaValue(Loose):
    metadata: dict[str, Any] | None = None
    contacts: list[WaContact] = Field(default_factory=list)
    messages: list[WaMessage] = Field(default_factory=list)
    statuses: list[dict[str, Any]] = Field(default_factory=list)


class WaChange(Loose):
    field: str
    value: WaValue


class WaEntry(Loose):
    id: Ident
    changes: list[WaChange] = Field(default_factory=list)


class WhatsAppWebhook(Loose):
    object: Literal["whatsapp_business_account"]
    entry: list[WaEntry]


# --- extraction ----------------------------------------------------------------------------


@dataclass
class Extracted:
    """Customer messages, each with the provider id that names its event."""

    messages: list[tuple[str, Interaction]] = field(default_factory=list)
    ignored: int = 0


def _when(seconds: float | None) -> datetime | None:
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def from_messenger(hook: MessengerWebhook) -> Extracted:
    out = Extracted()
    channel_handle = "instagram" if hook.object == "instagram" else "messenger"
    for entry in hook.entry:
        out.ignored += len(entry.standby)
        for event in entry.messaging:
            msg, postback = event.message, event.postback
            sender = event.sender.handle() if event.sender is not None else None
            if sender is None:  # e.g. a checkbox plugin opt-in: nobody to answer
                out.ignored += 1
                continue
            if msg is not None and not msg.is_echo:
                mid = msg.mid
                attachments = [_messenger_attachment(a) for a in msg.attachments]
                attachments = [a for a in attachments if a is not None]
                places = [p for a in msg.attachments if (p := _messenger_place(a))]
                text = (msg.text or "").strip() or "\n".join(places)
                metadata: dict[str, Any] = {"provider": "meta", "platform": hook.object}
                if msg.attachments:
                    metadata["media"] = [_messenger_media(a) for a in msg.attachments]
                if msg.quick_reply:
                    metadata["quick_reply"] = msg.quick_reply
                in_reply_to = (msg.reply_to or {}).get("mid")
            elif postback is not None and postback.mid:
                mid, text, attachments, in_reply_to = postback.mid, postback.title or "", [], None
                metadata = {
                    "provider": "meta",
                    "platform": hook.object,
                    "postback": postback.payload,
                }
            else:
                out.ignored += 1
                continue
            ms = event.timestamp
            out.messages.append(
                (
                    mid,
                    Interaction(
                        channel="messenger",
                        customer=Customer(handles={channel_handle: sender}),
                        inbox=event.recipient.id,
                        thread=ThreadRef(
                            message_id=mid,
                            in_reply_to=in_reply_to,
                            conversation_id=f"{event.recipient.id}:{sender}",
                        ),
                        text=text,
                        attachments=attachments,
                        sent_at=_when(ms / 1000 if ms is not None else None),
                        metadata=metadata,
                    ),
                )
            )
    return out


def _messenger_attachment(att: MessengerAttachment) -> Attachment | None:
    """The attachment's metadata; None for a location, which is text (as on WhatsApp)."""
    if att.type == "location":
        return None
    kind = att.type if att.type in ("image", "video", "audio") else None
    return Attachment(content_type=f"{kind}/*" if kind else "application/octet-stream")


def _messenger_media(att: MessengerAttachment) -> dict[str, Any]:
    """Meta's type of an attachment (image, file, fallback, location, template,
    story_mention...) and its link, in ``metadata.media`` as WhatsApp's media are."""
    # a fallback (shared link) has carried its title and URL beside an empty payload
    found = {**{k.lower(): v for k, v in (att.model_extra or {}).items()}, **(att.payload or {})}
    media: dict[str, Any] = {"type": att.type}
    media.update({k: found[k] for k in ("url", "title") if isinstance(found.get(k), str)})
    return media


def _messenger_place(att: MessengerAttachment) -> str:
    """A shared location as text, ``"52.52, 13.405"``; empty for anything else."""
    coords = (att.payload or {}).get("coordinates")
    if att.type != "location" or not isinstance(coords, dict):
        return ""
    lat, long = coords.get("lat"), coords.get("long")
    return f"{lat}, {long}" if lat is not None and long is not None else ""


def _phone(raw: str | None) -> str | None:
    if not raw:
        return None
    try:
        return normalize_phone(raw)
    except ValueError:
        return None


def from_whatsapp(hook: WhatsAppWebhook) -> Extracted:
    out = Extracted()
    for entry in hook.entry:
        for change in entry.changes:
            value = change.value
            out.ignored += len(value.statuses)
            if change.field != "messages":
                out.ignored += 1
                continue
            names = {
                key: (c.profile or {}).get("name")
                for c in value.contacts
                for key in (c.wa_id, c.user_id)
                if key
            }
            meta = value.metadata or {}
            inbox = _phone(str(meta.get("display_phone_number") or "")) or meta.get(
                "phone_number_id"
            )
            for msg in value.messages:
                if msg.type in NOT_MESSAGES or not (msg.from_ or msg.from_user_id):
                    out.ignored += 1
                    continue
                out.messages.append((msg.id, _wa_interaction(msg, names, inbox, entry.id)))
    return out


def _wa_interaction(
    msg: WaMessage, names: dict[str, Any], inbox: str | None, account: str
) -> Interaction:
    body = msg.model_extra or {}
    text, attachments, media = wa_content(msg.type, body)
    # the phone when Meta gives it (as ever), else the business-scoped user id of a user
    # whose username hides the phone, as a ``whatsapp`` handle (``whatsapp:US.134...``)
    sender = msg.from_ or msg.from_user_id or ""
    phone = _phone(msg.from_)
    # Both given: the phone stays the customer's phone and the user id becomes the
    # handle, so this message links ``phone:+...`` and ``whatsapp:US...`` and a later
    # message naming only the user id (phone withheld) finds the same customer.
    handle = msg.from_user_id if phone and msg.from_user_id else sender
    name = names.get(sender) or names.get(msg.from_user_id or "")
    metadata: dict[str, Any] = {"provider": "meta", "platform": "whatsapp", "type": msg.type}
    metadata["account_id"] = account
    if msg.from_ and msg.from_user_id:
        metadata["user_id"] = msg.from_user_id
    if media:
        metadata["media"] = media
    metadata.update(wa_reply_ids(msg.type, body))
    for key in ("referral", "errors"):
        if key in body:
            metadata[key] = body[key]
    if (msg.context or {}).get("forwarded"):
        metadata["forwarded"] = True
    channel: Channel = "whatsapp"
    ts = msg.timestamp
    return Interaction(
        channel=channel,
        customer=Customer(
            phone=phone,
            name=name if isinstance(name, str) else None,
            handles={"whatsapp": handle},  # the WhatsApp id, as Twilio's WaId
        ),
        inbox=inbox,
        thread=ThreadRef(
            message_id=msg.id,
            in_reply_to=(msg.context or {}).get("id"),
            conversation_id=sender,
        ),
        text=text,
        attachments=attachments,
        sent_at=_when(float(ts)) if ts and ts.isdigit() else None,
        metadata=metadata,
    )


def wa_content(kind: str, body: dict[str, Any]) -> tuple[str, list[Attachment], list[Any]]:
    """Readable text, attachment metadata and media references for one message type."""
    part = body.get(kind)
    part = part if isinstance(part, dict) else {}
    if kind in MEDIA_TYPES:
        ctype = str(part.get("mime_type") or "application/octet-stream")
        name = part.get("filename")
        attachment = Attachment(name=name if isinstance(name, str) else None, content_type=ctype)
        ref = {k: part[k] for k in ("id", "url", "sha256") if k in part}
        return str(part.get("caption") or "").strip(), [attachment], [ref | {"content_type": ctype}]
    render = WA_TEXT.get(kind)
    return (render(part, body).strip() if render else ""), [], []


def wa_reply_ids(kind: str, body: dict[str, Any]) -> dict[str, str]:
    """What the business set behind the button or list row the customer tapped, the one
    thing its bot can act on (the title shown is only the text): a template's quick-reply
    button as ``button_payload``, an interactive button or list row as ``reply_id`` (as
    Messenger's ``postback`` and ``quick_reply``)."""
    part = body.get(kind)
    if not isinstance(part, dict):
        return {}
    if kind == "button":
        found, name = part.get("payload"), "button_payload"
    elif kind == "interactive":
        reply = part.get("button_reply") or part.get("list_reply")
        found, name = (reply.get("id") if isinstance(reply, dict) else None), "reply_id"
    else:
        return {}
    return {name: found} if isinstance(found, str) and found else {}


def _location(part: dict[str, Any], body: dict[str, Any]) -> str:
    del body
    lines = [part.get("name"), part.get("address"), part.get("url")]
    coords = f"{part.get('latitude')}, {part.get('longitude')}"
    return "\n".join(str(x) for x in (*lines, coords) if x)


def _contacts(part: dict[str, Any], body: dict[str, Any]) -> str:
    del part
    cards = body.get("contacts")
    cards = cards if isinstance(cards, list) else []
    return "\n".join(_contact_line(c) for c in cards if isinstance(c, dict))


def _interactive(part: dict[str, Any], body: dict[str, Any]) -> str:
    del body
    reply = part.get("button_reply") or part.get("list_reply") or {}
    title = [reply.get("title"), reply.get("description")] if isinstance(reply, dict) else []
    return "\n".join(str(x) for x in title if x)


def _order(part: dict[str, Any], body: dict[str, Any]) -> str:
    del body
    items = part.get("product_items")
    count = len(items) if isinstance(items, list) else 0
    return f"Order with {count} item(s). {part.get('text') or ''}"


WA_TEXT: dict[str, Callable[[dict[str, Any], dict[str, Any]], str]] = {
    "text": lambda part, _: str(part.get("body") or ""),
    "button": lambda part, _: str(part.get("text") or ""),
    "location": _location,
    "contacts": _contacts,
    "interactive": _interactive,
    "order": _order,
}


def _contact_line(card: dict[str, Any]) -> str:
    name = (card.get("name") or {}).get("formatted_name") or ""
    phones = [p.get("phone") for p in card.get("phones") or [] if isinstance(p, dict)]
    return " ".join(str(x) for x in (name, *phones) if x)
