"""``switchboard export inbound``: a period of the inbound topic as JSONL, one CloudEvent
envelope per line (the record's value), in time order: the ``--events`` file of
``switchboard simulate``.

An event without a ``time`` gets its record's timestamp, so the file can be replayed in
order. A record the router would not take (over its inbound size limit, or no valid
interaction event: it dead-lettered it) is left out and counted. ``--pseudonymize``
keeps only what the export knows of an event (the contract's attributes and fields:
extension attributes, a producer's own data fields and customer fields are left out,
whatever their type, since their names and values may be personal) and replaces every
identity and every id that can be looked up by a keyed hash: the event id (the key to
the original on ``tickets`` and in Redis), anything personal in the source, the
customer's email, phone, name and channel handles, the record subject, the thread
references (message ids, In-Reply-To, References, conversation and call ids), and in
the metadata every email address, phone number, provider id (Twilio SIDs, Meta message
ids, any ``*_id``/``*Sid`` field), place and URL query. In the text, subject and
attachment names the names and handles of every customer of the period (``People``:
also in another customer's message, a name in any word order, its words also alone or
joined by ``_``, ``-``, ``.`` or ``,``, as in a file name), any email address (in any
script), IBAN, phone number (international or national; a long bare number too; 9
digits or more in groups of three joined by dots unless a currency sign or decimal part
is beside them) or provider id, and the place of a shared location (as the adapters
write it into the text) are replaced too; a shared contact card (WhatsApp ``contacts``)
keeps only its shape, each card's name and numbers replaced. The quoted history
(``quoted_text``) is dropped: it is other people's names and numbers in free form, and
the rules never read it. The same input gives the same output throughout the export, so
customers and threads keep their shape while nobody can look a person up; the rest of
the texts, subjects and metadata are kept, since the rules route on them. The key is
random per export unless ``--salt`` is given (the same salt makes two exports agree).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import orjson
from aiokafka import ConsumerRecord

from consumers.work import parse_record
from router.app.output import staged
from router.app.people import NAME_PART_MIN, People, Words, fold, name_key, name_words
from router.app.reading import Progress, read_through
from router.app.report.windows import Period
from router.codec import encode_event, is_binary
from router.errors import InvalidEvent
from router.events import Interaction
from router.limits import Limits
from router.settings import Settings
from router.topics import Topic
from router.vocabulary import Channel

PSEUDONYM_DOMAIN = "pseudonymized.invalid"
THREAD_FIELDS = ("message_id", "in_reply_to", "conversation_id", "call_id")
#: A letter of an address in any script (RFC 6531), also written decomposed (NFD).
_ADDRESS_LETTER = r"\w\u0300-\u036f"
#: An email address, non-ASCII ones too. Its local part starts where a run of address
#: characters starts, so a long run without "@" is scanned once, not once per position.
#: Its at sign as written, URL-encoded (a reset or unsubscribe link in a text) or in full
#: width (U+FF20, U+FE6B) too.
_AT = "(?:@|%40|\uff20|\ufe6b)"
EMAIL = re.compile(
    rf"(?<![{_ADDRESS_LETTER}.%+'-])[{_ADDRESS_LETTER}.%+'-]+"
    rf"{_AT}[{_ADDRESS_LETTER}-]+(?:\.[{_ADDRESS_LETTER}-]+)+"
)
#: An address spelled out so that harvesters miss it, as people do in mails and chats:
#: ``jdoe (at) example.com``, ``jdoe[at]example[dot]com``, ``jdoe at example dot com``
#: (spelled with words, it takes a "dot" too: "arrived at noon" is no address).
_SPELT_AT = r"\s*[(\[{]\s*at\s*[)\]}]\s*|\s+at\s+(?=[\w-]+\s*(?:[(\[{]\s*)?dot\b)"
_SPELT_DOT = r"\s*[(\[{]\s*dot\s*[)\]}]\s*|\s+dot\s+|\."
SPELT_EMAIL = re.compile(
    rf"(?<![\w.%+'-])[\w.%+'-]+(?:{_SPELT_AT})[\w-]+(?:(?:{_SPELT_DOT})[\w-]+)+",
    re.IGNORECASE,
)
#: A phone number as people write it, international (``+49 30 1234567``) or national
#: (``030 1234567``, ``(415) 555-0177``, ``415.555.0132``, ``030/12345678``): digit groups
#: joined by up to two spaces, dots, slashes, dashes of any kind or parentheses (never a
#: line break), 7 digits or more. A long bare number (an order number like ``88123456``,
#: a card number of 16 digits) cannot be told from a phone number and is taken for one:
#: the safe side. An opening parenthesis belongs to it only
#: around an area code, so that "(05.12.2026)" is still a date.
_PHONE = r"(?:\+|\((?=\+?\d{1,5}\))\+?)?\d(?:(?:[^\S\r\n]|[()./\-\u2010-\u2015\u2212]){0,2}\d){6,}"
#: What else is written with such digit groups, tried first and kept: dates
#: (``2026-12-05``, ``05.12.2026``), times and hours (``09.30-17.30``) and amounts
#: (``1,299.00``, ``1.299.000``, ``12345.67``).
_DATE = r"\d{4}-[01]\d-[0-3]\d|[0-3]?\d[./-][01]?\d[./-](?:\d\d){1,2}"
_TIME = r"[0-2]?\d[.:][0-5]\d(?: ?- ?[0-2]?\d[.:][0-5]\d)?"
_AMOUNT = r"[1-9]\d{0,2}(?:[.,]\d{3})+(?:[.,]\d\d?)?|\d+[.,]\d\d?"
PHONE = re.compile(
    r"(?<![\w+])(?<!\d[.,:])"  # not the tail of a word or of a longer number
    rf"(?:(?P<kept>{_DATE}|{_TIME}|{_AMOUNT})|{_PHONE})"
    r"(?!\w)(?![.,:]?\d)"  # nor its head
)
#: Digits in groups of three joined by dots, as Spain writes a mobile number
#: ("612.345.678"). With 9 digits or more and no currency sign or decimal part beside it,
#: such a number is taken for a phone number, though it could be an amount: the safe side.
DOTTED_GROUPS = re.compile(r"\d{1,3}(?:\.\d{3}){2,}")
DOTTED_PHONE_DIGITS = 9
CURRENCY_SIGNS = frozenset("$€£¥₹₽₩₪₺₫฿¢")
#: What :meth:`Pseudonyms.phone` writes, told apart from the name on a contact card.
PSEUDONYMOUS_PHONE = re.compile(r"\+999\d+")
#: How Messenger's adapter writes a shared location's coordinates as text: "52.52, 13.405".
COORDINATES = re.compile(r"-?\d{1,3}(?:\.\d+)?, -?\d{1,3}(?:\.\d+)?")
#: Provider ids that can be looked up at the provider: Twilio SIDs (two letters and 32 hex
#: digits, also inside media URLs), WhatsApp ``wamid.``, Messenger ``m_``/``mid.`` ids, UUIDs.
PROVIDER_ID = re.compile(
    r"\b(?:[A-Z]{2}[0-9a-f]{32}|wamid\.[A-Za-z0-9_=+/-]+|m_[A-Za-z0-9_-]{16,}"
    r"|mid\.\$?[A-Za-z0-9_.-]{8,}"
    r"|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
)
#: A URL path segment that names one thing rather than a page: a long run of letters and
#: digits without separators, or a long number.
OPAQUE_SEGMENT = re.compile(r"(?=[A-Za-z]*\d)[A-Za-z0-9]{16,}|\d{8,}")
#: Metadata keys whose values say where the customer is.
PLACE_KEYS = frozenset({"latitude", "longitude", "address", "label", "fromcity", "fromzip"})
#: An IBAN (ISO 13616): country code, check digits and up to 30 letters and digits, in
#: one run or in groups of four set apart by single spaces ("DE89 3704 0044 0532 0130
#: 00"). Replaced whole before phone numbers are looked for, which its digit groups
#: would pass for. Not inside a pseudonym (``id-…``, ``u-…@``) or a longer word.
IBAN = re.compile(
    r"(?<![\w@.-])[A-Z]{2}\d{2}"
    r"(?:[A-Z0-9]{11,30}|(?:[ -]{1,2}[A-Z0-9]{4}){2,7}(?:[ -]{1,2}[A-Z0-9]{1,3})?)"
    r"(?![\w@])",
    re.IGNORECASE,
)
#: A media type, with a charset at most: any other parameter (a file name) is dropped.
MEDIA_TYPE = re.compile(r"[\w.+-]+/[\w.+*-]+(?:\s*;\s*charset=\"?[\w.:-]+\"?)?", re.IGNORECASE)
#: A language tag (BCP 47) as ``language`` holds it: "de", "pt-BR".
LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")
CHANNELS = frozenset(get_args(Channel))
#: What the export knows of an envelope, its data, customer and attachments. Anything
#: else (a producer's extension attributes, fields other producers add to the data,
#: such as an address or a birthday of the customer) is left out: its name or value may
#: be personal, and the export cannot tell which.
ENVELOPE_ATTRIBUTES = ("specversion", "id", "source", "type", "subject", "time")
KEPT_DATA = frozenset({"channel", "inbox", "sent_at", "auto_reply", "truncated"})
CUSTOMER_FIELDS = frozenset({"email", "phone", "name", "handles"})
ATTACHMENT_FIELDS = frozenset({"name", "content_type", "type", "size"})


@dataclass(frozen=True, slots=True)
class Exported:
    read: int
    written: int
    path: Path
    skipped: int = 0
    """Records of the period that are too large or no valid interaction event
    (dead-lettered by the router, so no simulation of the day would see them either)."""
    copies: int = 0
    """Records of the period that repeat an event already written (its source and id):
    a dead letter replayed, a producer's retry. The router routes an event once, so a
    simulation of the day must see it once."""


@dataclass(frozen=True, slots=True)
class Known:
    """What one envelope's free text is scrubbed of besides the names and handles of
    every customer (``People``): the place the customer shared (None: no location), the
    sender's own one-word name too short to be looked for in every text ("Al"), and the
    addresses that stay (the inbox, which is ours and kept)."""

    keep: frozenset[str]
    places: re.Pattern[str] | None = None
    own: Mapping[Words, str] = field(default_factory=dict)


class Pseudonyms:
    """Keyed BLAKE2b of each identity: stable within an export, useless without the key.
    The names and handles of every customer it has seen (``see``, ``envelope``) are
    replaced in every text it scrubs."""

    def __init__(self, key: bytes) -> None:
        self._key = key[:64]
        self._people = People()

    def token(self, kind: str, value: str) -> str:
        digest = hashlib.blake2b(f"{kind}\x1f{value}".encode(), key=self._key, digest_size=8)
        return digest.hexdigest()

    def email(self, value: str) -> str:
        return f"u-{self.token('email', value.strip().lower())}@{PSEUDONYM_DOMAIN}"

    def phone(self, value: str) -> str:
        digits = str(int(self.token("phone", value), 16))[:12]
        return f"+999{digits}"

    def name(self, value: str) -> str:
        """The same pseudonym for the same words in any order and case: "QUIMBY, Zebulon",
        "Quimby, Zebulon (Sales)" and "Zebulon Quimby" are one person."""
        words = name_words(value)
        return f"Customer {self.token('name', name_key(words) if words else value.strip())[:6]}"

    def handle(self, channel: str, value: str) -> str:
        return f"h-{self.token(channel, value)}"

    def reference(self, value: str) -> str:
        return f"<{self.token('ref', value)}@{PSEUDONYM_DOMAIN}>"

    def place(self, value: str) -> str:
        return f"place-{self.token('place', value)}"

    def contact(self, value: str) -> str:
        return f"Contact {self.token('contact', value)[:6]}"

    def iban(self, value: str) -> str:
        compact = "".join(value.replace("-", " ").split()).upper()
        return f"iban-{self.token('iban', compact)}"

    def see(self, event: dict[str, Any]) -> None:
        """Remember the name and handles of the event's customer, to be replaced in the
        text of every event scrubbed from now on (another customer's reply may name them)."""
        data = event.get("data")
        customer = data.get("customer") if isinstance(data, dict) else None
        if not isinstance(customer, dict):
            return
        name = customer.get("name")
        words = name_words(name) if isinstance(name, str) else ()
        if words and not self._people.has_name(words):  # hashed once per person
            self._people.add_name(words, self.name(str(name)), self.name)
        handles = customer.get("handles")
        for channel, handle in (handles if isinstance(handles, dict) else {}).items():
            if isinstance(handle, str) and len(handle) >= NAME_PART_MIN:
                self._people.add_handle(handle, self.handle(channel, handle))

    def envelope(self, event: dict[str, Any]) -> dict[str, Any]:
        """The envelope with its identities, thread references and provider ids replaced,
        and only what the export knows of it kept (see ``ENVELOPE_ATTRIBUTES``)."""
        self.see(event)
        data = event.get("data")
        data = data if isinstance(data, dict) else {}
        customer = data.get("customer")
        customer = customer if isinstance(customer, dict) else {}
        known = self.known(customer, data.get("inbox"), _places(data))
        scrubbed = self.data(data, known)
        out = {**self.attributes(event, known), "data": scrubbed}
        try:
            out["subject"] = Interaction.model_validate(scrubbed).sender_key()
        except ValueError:
            out.pop("subject", None)  # not an interaction: nothing left to name the sender
        return out

    def attributes(self, event: dict[str, Any], known: Known) -> dict[str, Any]:
        """The envelope's attributes: the id is a key to the original everywhere (the
        dedupe memory in Redis, ``data.interaction.event_id`` on ``tickets``), so it is
        replaced by a keyed hash (the same id gives the same pseudonym: duplicates stay
        duplicates); the source and data schema are scrubbed like text (a channel path
        stays as it is). Extension attributes (trace ids, a producer's own keys, whose
        very names may be personal) are left out."""
        out: dict[str, Any] = {}
        for name, value in event.items():
            if name == "id" and isinstance(value, str):
                out[name] = f"ev-{self.token('event', value)}"
            elif name in ("source", "dataschema") and isinstance(value, str):
                is_url = value.startswith(("http://", "https://"))
                out[name] = self.url(value, known) if is_url else self.text(value, known)
            elif name == "datacontenttype" and isinstance(value, str):
                if kept := _media_type(value):
                    out[name] = kept
            elif name in ENVELOPE_ATTRIBUTES:
                out[name] = value
        return out

    def data(self, data: dict[str, Any], known: Known) -> dict[str, Any]:
        """The interaction: the fields the contract names, each scrubbed its own way; any
        other field (another producer's ``sender_ip``, ``contact_person``) is left out,
        and so is the quoted history."""
        out: dict[str, Any] = {}
        for name, value in data.items():
            if name == "customer" and isinstance(value, dict):
                out[name] = self.customer(value)
            elif name == "thread" and isinstance(value, dict):
                out[name] = self.thread(value)
            elif name in ("text", "subject") and isinstance(value, str):
                out[name] = self.text(value, known)
            elif name == "attachments" and isinstance(value, list):
                out[name] = [self.attachment(a, known) for a in value if isinstance(a, dict)]
            elif name == "metadata" and isinstance(value, dict):
                out[name] = self.walk(value, name, known)
            elif name == "language" and isinstance(value, str):
                if LANGUAGE_TAG.fullmatch(value):
                    out[name] = value
            elif name in KEPT_DATA or (name in ("text", "subject", "language") and value is None):
                out[name] = value
        if _shares_contacts(data) and isinstance(out.get("text"), str):
            out["text"] = self.cards(out["text"])
        return out

    def customer(self, customer: dict[str, Any]) -> dict[str, Any]:
        """The customer's email, phone, name and handles replaced; any other field (an
        address, a birthday, a second email) left out."""
        replace = {"email": self.email, "phone": self.phone, "name": self.name}
        out: dict[str, Any] = {}
        for name, value in customer.items():
            if name == "handles" and isinstance(value, dict):
                out[name] = {
                    (channel if channel in CHANNELS else f"k-{self.token('channel', channel)}"): (
                        self.handle(channel, handle)
                    )
                    for channel, handle in value.items()
                    if isinstance(handle, str)
                }
            elif name in replace and isinstance(value, str) and value:
                out[name] = replace[name](value)
            elif name in CUSTOMER_FIELDS and not value:
                out[name] = value  # nothing to hide
        return out

    def thread(self, thread: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in thread.items():
            if name == "references" and isinstance(value, list):
                out[name] = [self.reference(r) for r in value if isinstance(r, str)]
            elif name in THREAD_FIELDS and isinstance(value, str) and value:
                out[name] = self.reference(value)
            elif name in THREAD_FIELDS and not value:
                out[name] = value
        return out

    def attachment(self, attachment: dict[str, Any], known: Known) -> dict[str, Any]:
        """An attachment's name scrubbed like text, its media type and size kept."""
        out: dict[str, Any] = {}
        for name, value in attachment.items():
            if name == "name" and isinstance(value, str):
                out[name] = self.text(value, known)
            elif name in ("content_type", "type") and isinstance(value, str):
                if kept := _media_type(value):
                    out[name] = kept
            elif (name == "size" and isinstance(value, int) and not isinstance(value, bool)) or (
                name in ATTACHMENT_FIELDS and value is None
            ):
                out[name] = value
        return out

    def known(self, customer: dict[str, Any], inbox: Any, places: list[str]) -> Known:
        own: dict[Words, str] = {}
        name = customer.get("name")
        if isinstance(name, str) and len(words := name_words(name)) == 1:
            own[(fold(words[0]),)] = self.name(name)  # also when too short for People
        keep = frozenset({inbox.strip().lower()} if isinstance(inbox, str) else ())
        # the longest first, so that an address is replaced whole, not a label inside it
        alternatives = "|".join(re.escape(p) for p in sorted(places, key=len, reverse=True))
        where = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)") if places else None
        return Known(keep, where, own)

    def text(self, value: str, known: Known) -> str:
        """Free text with the shared place replaced first (as in the metadata, and before
        its coordinates could pass for phone numbers), then every address, provider id,
        IBAN and phone number (after the ids and IBANs, whose digits could pass for one
        too), then the names and handles of every customer seen (last, so a name inside
        an address goes with it)."""

        def email(match: re.Match[str]) -> str:
            found = match[0]
            return found if found.lower() in known.keep else self.email(found)

        def phone(match: re.Match[str]) -> str:
            # one number gives one pseudonym however it is written: keyed by its digits
            e164 = "+" + re.sub(r"\D", "", match[0])
            kept = (match["kept"] and not _dotted_phone(match)) or e164 in known.keep
            return match[0] if kept else self.phone(e164)

        if known.places:
            value = known.places.sub(lambda match: self.place(match[0]), value)
        value = EMAIL.sub(email, value)
        value = SPELT_EMAIL.sub(lambda match: self.email(match[0]), value)
        value = PROVIDER_ID.sub(lambda match: f"id-{self.token('id', match[0])}", value)
        value = IBAN.sub(lambda match: self.iban(match[0]), value)
        value = PHONE.sub(phone, value)
        return self._people.replace(value, known.own)

    def cards(self, text: str) -> str:
        """A shared contact card (WhatsApp ``contacts``, one card a line: "name number...")
        is a third party, whom the customer's name does not cover: each card keeps its
        shape, its numbers (already replaced as phone numbers) and a pseudonym for all
        the rest, its name."""
        lines = []
        for line in text.splitlines():
            numbers = PSEUDONYMOUS_PHONE.findall(line)
            name = PSEUDONYMOUS_PHONE.sub(" ", line).strip()
            lines.append(" ".join(([self.contact(name)] if name else []) + numbers))
        return "\n".join(lines)

    def url(self, value: str, known: Known) -> str:
        """A URL keeps its scheme, host and page path, which rules may route on; ids in
        the path, every query value and the fragment are replaced, user info dropped."""
        parts = urlsplit(value)
        host = parts.netloc.rpartition("@")[2]
        path = "/".join(
            f"id-{self.token('id', segment)}"
            if OPAQUE_SEGMENT.fullmatch(segment)
            else self.text(unquote(segment), known)
            for segment in parts.path.split("/")
        )
        query = urlencode(
            [(k, self.token("query", v)) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
        )
        fragment = self.token("fragment", parts.fragment) if parts.fragment else ""
        return urlunsplit((parts.scheme, host, path, query, fragment))

    def walk(self, value: Any, key: str, known: Known) -> Any:
        """Metadata of any shape: ids by their key, places, URLs, then any other text."""
        if isinstance(value, dict):
            return {k: self.walk(v, str(k), known) for k, v in value.items()}
        if isinstance(value, list):
            return [self.walk(item, key, known) for item in value]
        return self.leaf(value, key.lower(), known)

    def leaf(self, value: Any, lowered: str, known: Known) -> Any:
        if isinstance(value, str | int) and not isinstance(value, bool) and _is_id(lowered):
            return self.reference(str(value))
        if lowered in PLACE_KEYS and value is not None:
            return self.place(str(value))
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            return self.url(value, known)
        return self.text(value, known) if isinstance(value, str) else value


def _places(data: dict[str, Any]) -> list[str]:
    """Where the customer is, as the adapters write it into the text: Twilio a
    ``metadata.location``'s label and address or its "lat, long"; WhatsApp Cloud (type
    ``location``) name, address, URL and "lat, long", one a line, as the whole text;
    Messenger (a ``location`` in ``metadata.media``) one "lat, long" line per place,
    the media's title naming it."""
    metadata = data.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    text = data.get("text")
    lines = text.splitlines() if isinstance(text, str) else []
    found: list[Any] = []
    if isinstance(location := metadata.get("location"), dict):
        found.extend(location.values())
    if metadata.get("type") == "location":
        found.extend(lines)
    media = metadata.get("media")
    media = media if isinstance(media, list) else []
    shared = [m for m in media if isinstance(m, dict) and m.get("type") == "location"]
    if shared:
        found.extend(line for line in lines if COORDINATES.fullmatch(line.strip()))
        found.extend(m.get("title") for m in shared)
    return sorted({str(p).strip() for p in found if p is not None and str(p).strip()})


def _shares_contacts(data: dict[str, Any]) -> bool:
    """A WhatsApp Cloud ``contacts`` message, whose text is the shared cards."""
    metadata = data.get("metadata")
    return isinstance(metadata, dict) and metadata.get("type") == "contacts"


def _is_id(key: str) -> bool:
    return key in {"id", "mid", "sid"} or key.endswith(("sid", "_id", "clid"))


def _dotted_phone(match: re.Match[str]) -> bool:
    """Whether a number the amount pattern kept is a dot-grouped phone number."""
    found = match[0]
    if not DOTTED_GROUPS.fullmatch(found):
        return False
    if sum(ch.isdigit() for ch in found) < DOTTED_PHONE_DIGITS:
        return False
    before = match.string[max(0, match.start() - 2) : match.start()].strip()[-1:]
    after = match.string[match.end() : match.end() + 2].strip()[:1]
    return before not in CURRENCY_SIGNS and after not in CURRENCY_SIGNS


def _media_type(value: str) -> str | None:
    """A media type as given when it has no parameter but its charset, else its bare
    type (the parameters dropped: a file name may be one); None when it is none."""
    if MEDIA_TYPE.fullmatch(value.strip()):
        return value.strip()
    bare = value.partition(";")[0].strip()
    return bare if "/" in bare and MEDIA_TYPE.fullmatch(bare) else None


def export_event(
    record: ConsumerRecord[bytes, bytes], limits: Limits | None = None
) -> tuple[datetime, dict[str, Any]] | None:
    """The record as (its time, its envelope), or None when the router would not take it
    (over its inbound size limit, or no valid event for ``consumers.work.parse_record``):
    it dead-lettered it, so replaying it would only make the simulation see a message the
    router never routed. A binary-mode record is read as the structured envelope it
    stands for."""
    try:
        (limits or Limits()).check_inbound(record.value)
        parsed = parse_record(record)
    except InvalidEvent:
        return None
    raw = encode_event(parsed.event) if is_binary(record.headers) else record.value
    event: dict[str, Any] = orjson.loads(raw or b"{}")
    at = _time(event.get("time"))
    if at is None:
        at = datetime.fromtimestamp(record.timestamp / 1000, UTC)
        event["time"] = at.isoformat().replace("+00:00", "Z")
    return at, event


def export_line(
    record: ConsumerRecord[bytes, bytes],
    pseudonyms: Pseudonyms | None,
    limits: Limits | None = None,
) -> tuple[datetime, bytes] | None:
    """The record as (its time, one JSONL line), or None as ``export_event`` says."""
    found = export_event(record, limits)
    if found is None:
        return None
    at, event = found
    return at, orjson.dumps(pseudonyms.envelope(event) if pseudonyms else event)


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


async def export_inbound(
    settings: Settings,
    period: Period,
    out: Path,
    *,
    pseudonymize: bool = False,
    salt: str | None = None,
    progress: Progress | None = None,
) -> Exported:
    """Raises MissingTopics (``read_through``) before ``out`` is opened when there is no
    ``inbound`` topic: an empty file would pass for a day without messages.

    Pseudonymized, the period is gone through twice: reading it, the name and handles of
    every customer are collected (``Pseudonyms.see``: memory grows with the people, not
    the messages); writing it, each event is scrubbed of all of them, so a reply naming
    a customer who wrote later in the period is scrubbed too."""
    key = salt.encode() if salt else secrets.token_bytes(32)
    pseudonyms = Pseudonyms(key) if pseudonymize else None
    lines: list[tuple[datetime, bytes]] = []
    read = skipped = copies = 0
    written: set[tuple[Any, Any]] = set()  # (source, id): the CloudEvents identity
    limits = settings.limits()
    async for batch in read_through(settings, Topic.INBOUND, progress):
        read += len(batch)
        for record in batch:
            found = export_event(record, limits)
            if found is None:
                skipped += period.holds(datetime.fromtimestamp(record.timestamp / 1000, UTC))
            elif period.holds(found[0]):
                identity = (found[1].get("source"), found[1].get("id"))
                if identity in written:
                    copies += 1
                    continue
                written.add(identity)
                if pseudonyms is not None:
                    pseudonyms.see(found[1])
                lines.append((found[0], orjson.dumps(found[1])))
    lines.sort()  # by time; events of the same instant by their bytes: the same data
    # gives the same file, whatever order the partitions were read in
    # beside ``out``, put in place once complete: a full disk leaves no half (CannotWrite)
    with staged(out, private=True) as part, part.open("wb") as file:
        for _, plain in lines:
            if pseudonyms is None:
                file.write(plain + b"\n")
            else:
                file.write(orjson.dumps(pseudonyms.envelope(orjson.loads(plain))) + b"\n")
    return Exported(read, len(lines), out, skipped, copies)
