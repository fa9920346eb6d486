"""Meta webhook payloads (Messenger, Instagram messaging, WhatsApp Cloud API) and the
customer messages in them.

Only the fields Switchboard reads are declared; everything else Meta sends is allowed
and ignored. One delivery can carry many entries, changes and messages; statuses,
echoes, deliveries, reads, reactions and system notices are not customer messages.

The envelope and its entries are read loosely and each event on its own: an event of a
shape Switchboard does not know is counted in ``ignored`` and logged with its JSON
pointer, never a 400 for the whole delivery, which Meta cannot fix and only redelivers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import structlog
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from router.actions import NoControls, json_pointer
from router.events import Attachment, Customer, Interaction, ThreadRef
from router.identity import normalize_phone
from router.vocabulary import Channel

Ident = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=400), NoControls
]
MEDIA_TYPES = ("image", "video", "audio", "voice", "document", "sticker")
NOT_MESSAGES = ("reaction", "system", "request_welcome")
MESSENGER_OBJECTS = ("page", "instagram")
WHATSAPP_OBJECT = "whatsapp_business_account"
Path = tuple[int | str, ...]

log = structlog.get_logger("switchboard.ingress.meta")


class Loose(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Envelope(Loose):
    """A delivery: any subscribed ``object`` (``page``, ``instagram``,
    ``whatsapp_business_account``; ``user``, ``application``... are answered with all
    their entries ignored) and its entries, each read on its own."""

    object: str = Field(examples=["page", "instagram", "whatsapp_business_account"])
    entry: list[Any]


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
    """An entry's lists, each event in them validated on its own."""

    messaging: list[Any] = Field(default_factory=list)
    # events of a thread another app owns (handover protocol): never ours to publish
    standby: list[Any] = Field(default_factory=list)
    # Page and Instagram ``changes`` (feed, comments, mentions...): not messages
    changes: list[Any] = Field(default_factory=list)


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
    # Meta documents a string of seconds; a JSON number means the same
    timestamp: int | str | None = None
    context: dict[str, Any] | None = None


class WaValue(Loose):
    metadata: dict[str, Any] | None = None
    contacts: list[Any] = Field(default_factory=list)
    messages: list[Any] = Field(default_factory=list)
    statuses: list[Any] = Field(default_factory=list)


class WaChange(Loose):
    field: str
    value: WaValue


class WaEntry(Loose):
    id: Ident
    changes: list[Any] = Field(default_factory=list)


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


M = TypeVar("M", bound=BaseModel)


def ignored(at: Path, exc: ValidationError, *, built: bool = False) -> None:
    """Log, once, an event that is counted in ``ignored`` for its shape: its JSON pointer
    in the delivery and what was wrong where, never a value (names, texts and ids are
    personal). ``built``: the event was read but made no valid interaction, and
    ``field`` names the interaction's field."""
    first = exc.errors(include_url=False, include_input=False, include_context=False)[0]
    field = json_pointer(first["loc"]) if built else json_pointer((*at, *first["loc"]))
    log.info("meta_event_ignored", pointer=json_pointer(at), error=first["type"], field=field)


def read(model: type[M], data: object, at: Path) -> M | None:
    """``data`` as ``model``; None (logged) when it does not fit, so that it is only
    ignored and the rest of the delivery is still read."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        ignored(at, exc)
        return None


def events_in(data: object, *lists: str) -> int:
    """How many events an unreadable or unknown container holds: the items of its event
    lists, at least one (the container itself)."""
    if not isinstance(data, dict):
        return 1
    return max(1, sum(len(v) for k in lists if isinstance(v := data.get(k), list)))


def extract_any(envelope: Envelope) -> Extracted:
    """The customer messages of a delivery of any ``object``; every event of an object
    Switchboard does not read (``user``, ``application``, ``permissions``...) ignored."""
    if envelope.object in MESSENGER_OBJECTS:
        return from_messenger(envelope)
    if envelope.object == WHATSAPP_OBJECT:
        return from_whatsapp(envelope)
    log.info("meta_object_ignored", pointer="/object", entries=len(envelope.entry))
    return Extracted(ignored=sum(events_in(e, "changes", "messaging") for e in envelope.entry))


def from_messenger(hook: Envelope) -> Extracted:
    out = Extracted()
    for i, raw_entry in enumerate(hook.entry):
        entry = read(MessengerEntry, raw_entry, ("entry", i))
        if entry is None:
            out.ignored += events_in(raw_entry, "messaging", "standby", "changes")
            continue
        out.ignored += len(entry.standby) + len(entry.changes)
        for j, raw_event in enumerate(entry.messaging):
            at = ("entry", i, "messaging", j)
            event = read(MessagingEvent, raw_event, at)
            found = _messenger_message(event, hook.object, at) if event is not None else None
            if found is None:
                out.ignored += 1
            else:
                out.messages.append(found)
    return out


def _messenger_message(
    event: MessagingEvent, platform: str, at: Path
) -> tuple[str, Interaction] | None:
    """The customer message in one messaging event, or None for anything else."""
    msg, postback = event.message, event.postback
    sender = event.sender.handle() if event.sender is not None else None
    if sender is None:  # e.g. a checkbox plugin opt-in: nobody to answer
        return None
    if msg is not None and not msg.is_echo:
        mid = msg.mid
        attachments = [_messenger_attachment(a) for a in msg.attachments]
        attachments = [a for a in attachments if a is not None]
        places = [p for a in msg.attachments if (p := _messenger_place(a))]
        text = (msg.text or "").strip() or "\n".join(places)
        metadata: dict[str, Any] = {"provider": "meta", "platform": platform}
        if msg.attachments:
            metadata["media"] = [_messenger_media(a) for a in msg.attachments]
        if msg.quick_reply:
            metadata["quick_reply"] = msg.quick_reply
        in_reply_to = (msg.reply_to or {}).get("mid")
    elif postback is not None and postback.mid:
        mid, text, attachments, in_reply_to = postback.mid, postback.title or "", [], None
        metadata = {"provider": "meta", "platform": platform, "postback": postback.payload}
    else:
        return None
    ms = event.timestamp
    channel_handle = "instagram" if platform == "instagram" else "messenger"
    try:
        interaction = Interaction(
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
        )
    except ValidationError as exc:
        ignored(at, exc, built=True)
        return None
    return mid, interaction


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


def from_whatsapp(hook: Envelope) -> Extracted:
    out = Extracted()
    for i, raw_entry in enumerate(hook.entry):
        entry = read(WaEntry, raw_entry, ("entry", i))
        if entry is None:
            out.ignored += events_in(raw_entry, "changes")
            continue
        for k, raw_change in enumerate(entry.changes):
            at: Path = ("entry", i, "changes", k)
            change = read(WaChange, raw_change, at)
            if change is None:
                out.ignored += 1
                continue
            value = change.value
            out.ignored += len(value.statuses)
            if change.field != "messages":
                out.ignored += 1
                continue
            contacts = (
                read(WaContact, c, (*at, "value", "contacts", n))
                for n, c in enumerate(value.contacts)
            )
            names = {
                key: (c.profile or {}).get("name")
                for c in contacts
                if c is not None
                for key in (c.wa_id, c.user_id)
                if key
            }
            meta = value.metadata or {}
            inbox = _phone(str(meta.get("display_phone_number") or "")) or meta.get(
                "phone_number_id"
            )
            for m, raw_msg in enumerate(value.messages):
                msg_at = (*at, "value", "messages", m)
                msg = read(WaMessage, raw_msg, msg_at)
                if msg is None or msg.type in NOT_MESSAGES or not (msg.from_ or msg.from_user_id):
                    out.ignored += 1
                    continue
                try:
                    out.messages.append((msg.id, _wa_interaction(msg, names, inbox, entry.id)))
                except ValidationError as exc:
                    ignored(msg_at, exc, built=True)
                    out.ignored += 1
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
        sent_at=_when(float(ts)) if isinstance(ts, int) or (ts and ts.isdigit()) else None,
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
