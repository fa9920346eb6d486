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

import hashlib
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import structlog
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from channels.body import MAX_JSON_DEPTH
from channels.whatsapp_content import wa_content, wa_edited, wa_flow_reply, wa_reply_ids
from router.actions import NoControls, json_pointer
from router.codec import nested_too_deep
from router.events import Attachment, Customer, Interaction, ThreadRef
from router.identity import normalize_phone
from router.vocabulary import Channel

Ident = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=400), NoControls
]
# a deletion ("delete for everyone", ``revoke``) takes a message back: nothing to answer
NOT_MESSAGES = ("reaction", "system", "request_welcome", "revoke")
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
    # Instagram's "unsend": the customer took the message back, nothing to answer
    is_deleted: bool = False
    reply_to: dict[str, Any] | None = None
    quick_reply: dict[str, Any] | None = None


class Postback(Loose):
    mid: str | None = None
    title: str | None = None
    payload: str | None = None


class MessageEdit(Loose):
    """A Messenger customer's edit of a message they sent: its new text."""

    mid: Ident
    text: str | None = None
    num_edit: int | None = None


class MessagingEvent(Loose):
    sender: Sender | None = None
    recipient: Party
    timestamp: int | None = None
    message: MessengerMessage | None = None
    postback: Postback | None = None
    message_edit: MessageEdit | None = None

    @field_validator("timestamp", mode="before")
    @classmethod
    def _lenient_timestamp(cls, value: Any) -> int | None:
        """Meta's milliseconds, as a number or digits; a time of another shape (an ISO
        string a relay wrote) leaves ``sent_at`` empty: it had lost the whole message."""
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float) and math.isfinite(value) and abs(value) < 1e16:
            return int(value)
        if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 17:
            return int(value)
        return None


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


MAX_ENTRIES = 1000
"""Entries of one delivery read. Meta batches at most 1,000 updates in a delivery: a
genuine one is read whole, while a forged one of a million entries (one validation
each) held the process for seconds."""
MAX_DELIVERY_EVENTS = 5000
"""Events (messaging events, WhatsApp messages) read of one delivery in all: five times
Meta's batch, as many as deliveries of thousands of messages were tested with
(``tests/component/channels/test_meta_large_batch.py``)."""
MAX_EVENTS = MAX_DELIVERY_EVENTS
"""Items read of one list (an entry's ``messaging`` or ``changes``, a change's
``messages`` or ``contacts``)."""


@dataclass
class Extracted:
    """Customer messages, each with the provider id that names its event; ``unread``:
    events past the limits above, counted in ``ignored`` too (``finish``)."""

    messages: list[tuple[str, Interaction]] = field(default_factory=list)
    ignored: int = 0
    unread: int = 0
    budget: int = field(default=MAX_DELIVERY_EVENTS, repr=False)

    def take(self, items: list[Any], *, events: bool = True) -> list[Any]:
        """The first of ``items`` that are read: at most ``MAX_EVENTS`` and, for
        ``events``, what is left of the delivery's budget; the rest is ``unread``."""
        n = min(len(items), MAX_EVENTS, self.budget if events else MAX_EVENTS)
        if events:
            self.budget -= n
        self.unread += len(items) - n
        return items[:n]

    def entries(self, entries: list[Any]) -> list[Any]:
        """The first ``MAX_ENTRIES`` entries; each of the rest is one ``unread`` event,
        its lists not looked into (counting them cost a second per million entries)."""
        self.unread += max(0, len(entries) - MAX_ENTRIES)
        return entries[:MAX_ENTRIES]

    def finish(self, pointer: str = "/entry") -> Extracted:
        """Counts what was left unread in ``ignored``, with one warning for the delivery:
        more than Meta sends in one is no delivery of Meta's, or a very unusual one."""
        if self.unread:
            self.ignored += self.unread
            log.warning(
                "meta_delivery_over_limits",
                pointer=pointer,
                unread=self.unread,
                max_entries=MAX_ENTRIES,
                max_events=MAX_EVENTS,
                max_delivery_events=MAX_DELIVERY_EVENTS,
            )
            self.unread = 0
        return self


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


def read(model: type[M], data: object, at: Path, *, event: bool = False) -> M | None:
    """``data`` as ``model``; None (logged) when it does not fit, so that it is only
    ignored and the rest of the delivery is still read. An ``event`` (a messaging event,
    a WhatsApp message) nested deeper than ``MAX_JSON_DEPTH`` does not fit either: what
    it carries as sent (a ``referral``) would reach the router deeper than it reads, or
    fail the delivery's encoding with a 500. Its entry is not judged so: its other
    events are still read."""
    deep = nested_too_deep(data, MAX_JSON_DEPTH) if event else None
    if deep is not None:
        field = json_pointer((*at, *deep))
        log.info("meta_event_ignored", pointer=json_pointer(at), error="too_deep", field=field)
        return None
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
    out = Extracted()
    entries = out.entries(envelope.entry)
    out.ignored = sum(events_in(e, "changes", "messaging") for e in entries)
    return out.finish()


def from_messenger(hook: Envelope) -> Extracted:
    out = Extracted()
    lists = ("messaging", "standby", "changes")
    for i, raw_entry in enumerate(out.entries(hook.entry)):
        entry = read(MessengerEntry, raw_entry, ("entry", i))
        if entry is None:
            out.ignored += events_in(raw_entry, *lists)
            continue
        out.ignored += len(entry.standby) + len(entry.changes)
        for j, raw_event in enumerate(out.take(entry.messaging)):
            at = ("entry", i, "messaging", j)
            event = read(MessagingEvent, raw_event, at, event=True)
            found = _messenger_message(event, hook.object, at) if event is not None else None
            if found is None:
                out.ignored += 1
            else:
                out.messages.append(found)
    return out.finish()


def _messenger_message(
    event: MessagingEvent, platform: str, at: Path
) -> tuple[str, Interaction] | None:
    """The customer message in one messaging event, or None for anything else."""
    msg, postback = event.message, event.postback
    sender = event.sender.handle() if event.sender is not None else None
    if sender is None:  # e.g. a checkbox plugin opt-in: nobody to answer
        return None
    message_id: str | None
    references: list[str] = []
    if msg is not None and (msg.is_echo or msg.is_deleted):
        return None
    if msg is not None:
        mid = message_id = msg.mid
        attachments = [_messenger_attachment(a) for a in msg.attachments]
        attachments = [a for a in attachments if a is not None]
        shared = [p for a in msg.attachments if (p := _messenger_place(a) or _messenger_link(a))]
        text = (msg.text or "").strip() or "\n".join(shared)
        metadata: dict[str, Any] = {"provider": "meta", "platform": platform}
        if msg.attachments:
            metadata["media"] = [_messenger_media(a) for a in msg.attachments]
        if msg.quick_reply:
            metadata["quick_reply"] = msg.quick_reply
        metadata.update(_message_context(msg))
        in_reply_to = (msg.reply_to or {}).get("mid")
    elif postback is not None:
        # without a mid the event names no message of Meta's: its id is derived
        message_id = postback.mid
        derived = message_id or postback_id(event, sender, postback)
        if derived is None:
            log.debug("meta_postback_without_id", pointer=json_pointer(at))
            return None
        mid = derived
        # an older delivery's postback may have no title: its payload says what was tapped
        text, attachments, in_reply_to = postback.title or postback.payload or "", [], None
        metadata = {"provider": "meta", "platform": platform, "postback": postback.payload}
        # a "Get Started" tap's referral: the link or ad that brought the customer
        if isinstance(referral := (postback.model_extra or {}).get("referral"), dict):
            metadata["referral"] = referral
    elif (edit := event.message_edit) is not None and (edit.text or "").strip():
        # published as the message reads now, as a WhatsApp edit is; Meta gives the edit
        # no id of its own, so its id is the message's and the edit's count
        message_id, in_reply_to, references = None, None, [edit.mid]
        mid = f"{edit.mid}:edit:{edit.num_edit if edit.num_edit is not None else 0}"
        text, attachments = (edit.text or "").strip(), []
        metadata = {"provider": "meta", "platform": platform, "edited_message_id": edit.mid}
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
                message_id=message_id,
                in_reply_to=in_reply_to,
                # the edited message, so that the edit finds its ticket as a reply does
                references=references,
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


def postback_id(event: MessagingEvent, sender: str, postback: Postback) -> str | None:
    """The id of a postback Meta sent without ``mid`` (older and replayed deliveries, a
    "Get Started" tap among them): a hash of page, sender, Meta's timestamp, payload and
    title, which a redelivery of the same event repeats, so the retry is a duplicate and
    a second tap (a later timestamp) is not. None without a timestamp: then nothing
    tells a retry from a second tap, and the event is ignored."""
    if event.timestamp is None:
        return None
    parts = (event.recipient.id, sender, str(event.timestamp))
    basis = "\x1f".join((*parts, postback.payload or "", postback.title or ""))
    return "postback:sha256:" + hashlib.sha256(basis.encode()).hexdigest()


def _message_context(msg: MessengerMessage) -> dict[str, Any]:
    """What a message says about itself beside its text: the ad or link that started the
    conversation (``referral``, as a postback's and a WhatsApp message's are kept), the
    Instagram story it answers (``story``: its id and link), and that Instagram could not
    pass it on (``unsupported``: a message type the API does not deliver, which came in
    empty)."""
    extra = msg.model_extra or {}
    found: dict[str, Any] = {}
    if isinstance(referral := extra.get("referral"), dict):
        found["referral"] = referral
    story = (msg.reply_to or {}).get("story")
    if isinstance(story, dict):
        found["story"] = {k: story[k] for k in ("id", "url") if isinstance(story.get(k), str)}
    if extra.get("is_unsupported") is True:
        found["unsupported"] = True
    return found


#: Attachments that are a link to something on Meta, not a file: shown as their title (or
#: what they are) above their URL. A link (``fallback``) has always a title; Instagram's
#: shared posts, reels and stories may not.
LINKS = {
    "fallback": "Link",
    "share": "Shared post",
    "ig_post": "Shared post",
    "ig_reel": "Shared reel",
    "reel": "Shared reel",
    "ig_story": "Shared story",
}
#: Media that say something beyond the file: kept as attachments, and told in the text.
TOLD = {"story_mention": "Mentioned you in their story"}


def _messenger_attachment(att: MessengerAttachment) -> Attachment | None:
    """The attachment's metadata; None for a location or a shared link, which are text
    (a location as on WhatsApp)."""
    if att.type == "location" or (att.type in LINKS and _messenger_link(att)):
        return None
    kind = att.type if att.type in ("image", "video", "audio") else None
    return Attachment(content_type=f"{kind}/*" if kind else "application/octet-stream")


def _messenger_media(att: MessengerAttachment) -> dict[str, Any]:
    """Meta's type of an attachment (image, file, fallback, location, template,
    story_mention...) and its link, in ``metadata.media`` as WhatsApp's media are."""
    # a fallback (shared link) has carried its title and URL beside an empty payload
    found = {**{k.lower(): v for k, v in (att.model_extra or {}).items()}, **(att.payload or {})}
    media: dict[str, Any] = {"type": att.type}
    if "url" not in found and isinstance(story := found.get("story_media_url"), str):
        found["url"] = story  # an Instagram story shared (``ig_story``)
    media.update({k: found[k] for k in ("url", "title") if isinstance(found.get(k), str)})
    return media


def _messenger_link(att: MessengerAttachment) -> str:
    """A shared link (``fallback``), post, reel or story as text, its title (or what it
    is) above its URL, and a story mention told; empty for anything else. A link is no
    file: as an attachment it had neither name nor type, and the ticket no text."""
    if att.type not in LINKS and att.type not in TOLD:
        return ""
    media = _messenger_media(att)
    if att.type == "fallback" or not media.get("url"):
        return "\n".join(media[k] for k in ("title", "url") if media.get(k))
    return f"{media.get('title') or LINKS.get(att.type) or TOLD[att.type]}\n{media['url']}"


def _messenger_place(att: MessengerAttachment) -> str:
    """A shared location as text, ``"52.52, 13.405"``; empty for anything else."""
    coords = (att.payload or {}).get("coordinates")
    if att.type != "location" or not isinstance(coords, dict):
        return ""
    lat, long = coords.get("lat"), coords.get("long")
    return f"{lat}, {long}" if lat is not None and long is not None else ""


def _text(value: object) -> str:
    """A string or number Meta sent, as text; anything else as empty (``str`` of an array
    nested a thousand deep is a RecursionError)."""
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""


def _phone(raw: str | None) -> str | None:
    if not raw:
        return None
    try:
        return normalize_phone(raw)
    except ValueError:
        return None


def from_whatsapp(hook: Envelope) -> Extracted:
    out = Extracted()
    for i, raw_entry in enumerate(out.entries(hook.entry)):
        entry = read(WaEntry, raw_entry, ("entry", i))
        if entry is None:
            out.ignored += events_in(raw_entry, "changes")
            continue
        for k, raw_change in enumerate(out.take(entry.changes, events=False)):
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
                for n, c in enumerate(value.contacts[:MAX_EVENTS])
            )
            names = {
                key: (c.profile or {}).get("name")
                for c in contacts
                if c is not None
                for key in (c.wa_id, c.user_id)
                if key
            }
            meta = value.metadata or {}
            inbox = _phone(_text(meta.get("display_phone_number"))) or meta.get("phone_number_id")
            for m, raw_msg in enumerate(out.take(value.messages)):
                msg_at = (*at, "value", "messages", m)
                msg = read(WaMessage, raw_msg, msg_at, event=True)
                if msg is not None and msg.type in NOT_MESSAGES:
                    log.debug("meta_not_a_message", pointer=json_pointer(msg_at), type=msg.type)
                if msg is None or msg.type in NOT_MESSAGES or not (msg.from_ or msg.from_user_id):
                    out.ignored += 1
                    continue
                try:
                    out.messages.append((msg.id, _wa_interaction(msg, names, inbox, entry.id)))
                except ValidationError as exc:
                    ignored(msg_at, exc, built=True)
                    out.ignored += 1
    return out.finish()


def _wa_interaction(
    msg: WaMessage, names: dict[str, Any], inbox: str | None, account: str
) -> Interaction:
    kind, body, edited = wa_edited(msg.type, msg.model_extra or {})
    text, attachments, media = wa_content(kind, body)
    # the phone when Meta gives it (as ever), else the business-scoped user id of a user
    # whose username hides the phone, as a ``whatsapp`` handle (``whatsapp:US.134...``)
    sender = msg.from_ or msg.from_user_id or ""
    phone = _phone(msg.from_)
    # Both given: the phone stays the customer's phone and the user id becomes the
    # handle, so this message links ``phone:+...`` and ``whatsapp:US...`` and a later
    # message naming only the user id (phone withheld) finds the same customer.
    handle = msg.from_user_id if phone and msg.from_user_id else sender
    name = names.get(sender) or names.get(msg.from_user_id or "")
    metadata: dict[str, Any] = {"provider": "meta", "platform": "whatsapp", "type": kind}
    metadata["account_id"] = account
    if msg.from_ and msg.from_user_id:
        metadata["user_id"] = msg.from_user_id
    if edited:
        metadata["edited_message_id"] = edited
    if media:
        metadata["media"] = media
    metadata.update(wa_reply_ids(kind, body))
    metadata.update(wa_flow_reply(kind, body))
    for key in ("referral", "errors", "order"):  # an order's items and catalog, as sent
        if key in body:
            metadata[key] = body[key]
    for key in ("forwarded", "frequently_forwarded"):
        if (msg.context or {}).get(key):
            metadata[key] = True
    if isinstance(product := (msg.context or {}).get("referred_product"), dict):
        metadata["referred_product"] = product  # the catalog item the customer asks about
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
            # the edited message, so that the edit finds its ticket as a reply does
            references=[edited] if edited else [],
            conversation_id=sender,
        ),
        text=text,
        attachments=attachments,
        sent_at=_when(float(ts)) if isinstance(ts, int) or (ts and ts.isdigit()) else None,
        metadata=metadata,
    )
