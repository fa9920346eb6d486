"""``switchboard export inbound``: a period of the inbound topic as JSONL, one CloudEvent
envelope per line (the record's value), in time order: the ``--events`` file of
``switchboard simulate``.

An event without a ``time`` gets its record's timestamp, so the file can be replayed in
order. A record the router would not take (over its inbound size limit, or no valid
interaction event: it dead-lettered it) is left out and counted. ``--pseudonymize``
replaces every identity and every id that can be looked up by a keyed hash: the event id
(the key to the original on ``tickets`` and in Redis), extension attributes, anything
personal in the source, the customer's email, phone, name and channel handles, the
record subject, the thread references (message ids, In-Reply-To, References,
conversation and call ids), and in the metadata every email address, phone number,
provider id (Twilio SIDs, Meta message ids, any ``*_id``/``*Sid`` field), place and URL
query. In the text, subject and attachment names the customer's own name and handles
(also joined by ``_``, ``-`` or ``.``, as in a file name), any email address (in any
script), phone number (international or national; a long bare number too; 9 digits or
more in groups of three joined by dots unless a currency sign or decimal part is beside
them) or provider id, and the place of a shared location (as the adapters write it into
the text) are replaced too; a shared contact card (WhatsApp ``contacts``) keeps only its
shape, each card's name and numbers replaced. The quoted history (``quoted_text``) is
dropped: it is other people's names and numbers in free form, and the rules never read
it. The same input gives the same output throughout the export, so customers and threads
keep their shape while nobody can look a person up; the rest of the texts, subjects and
metadata are kept, since the rules route on them. The key is random per export unless
``--salt`` is given (the same salt makes two exports agree).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import orjson
from aiokafka import ConsumerRecord

from consumers.work import parse_record
from router.app.reading import Progress
from router.app.rebuild import read_all
from router.app.report.windows import Period
from router.codec import encode_event, is_binary
from router.errors import InvalidEvent
from router.events import Interaction
from router.limits import Limits
from router.settings import Settings
from router.topics import Topic

PSEUDONYM_DOMAIN = "pseudonymized.invalid"
THREAD_FIELDS = ("message_id", "in_reply_to", "conversation_id", "call_id")
#: A letter of an address in any script (RFC 6531), also written decomposed (NFD).
_ADDRESS_LETTER = r"\w\u0300-\u036f"
#: An email address, non-ASCII ones too. Its local part starts where a run of address
#: characters starts, so a long run without "@" is scanned once, not once per position.
EMAIL = re.compile(
    rf"(?<![{_ADDRESS_LETTER}.%+'-])[{_ADDRESS_LETTER}.%+'-]+"
    rf"@[{_ADDRESS_LETTER}-]+(?:\.[{_ADDRESS_LETTER}-]+)+"
)
#: A phone number as people write it, international (``+49 30 1234567``) or national
#: (``030 1234567``, ``(415) 555-0177``, ``415.555.0132``): digit groups joined by up to
#: two spaces, dots, dashes or parentheses (never a line break), 7 to 15 digits in all. A
#: long bare number (an order number like ``88123456``) cannot be told from a phone
#: number and is taken for one: the safe side. An opening parenthesis belongs to it only
#: around an area code, so that "(05.12.2026)" is still a date.
_PHONE = r"(?:\+|\((?=\+?\d{1,5}\))\+?)?\d(?:(?:[^\S\r\n]|[().-]){0,2}\d){6,14}"
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
NAME_PART_MIN = 3
#: What joins the parts of a name or handle, and sets one apart, besides a space.
NAME_SEPARATOR = re.compile(r"[\s_.-]+")
#: CloudEvents attributes that name nothing (``subject``, ``id`` and ``source`` are
#: replaced on their own); any other attribute is an extension and hashed whole.
ENVELOPE_ATTRIBUTES = frozenset(
    {
        "specversion",
        "id",
        "source",
        "type",
        "subject",
        "time",
        "datacontenttype",
        "dataschema",
        "data",
    }
)


@dataclass(frozen=True, slots=True)
class Exported:
    read: int
    written: int
    path: Path
    skipped: int = 0
    """Records of the period that are too large or no valid interaction event
    (dead-lettered by the router, so no simulation of the day would see them either)."""


@dataclass(frozen=True, slots=True)
class Known:
    """What one envelope's free text is scrubbed of: the customer's own name and handles
    (with their tokens), the place the customer shared (None: no location), and the
    addresses that stay (the inbox, which is ours and kept)."""

    words: tuple[tuple[re.Pattern[str], str], ...]
    keep: frozenset[str]
    places: re.Pattern[str] | None = None


class Pseudonyms:
    """Keyed BLAKE2b of each identity: stable within an export, useless without the key."""

    def __init__(self, key: bytes) -> None:
        self._key = key[:64]

    def token(self, kind: str, value: str) -> str:
        digest = hashlib.blake2b(f"{kind}\x1f{value}".encode(), key=self._key, digest_size=8)
        return digest.hexdigest()

    def email(self, value: str) -> str:
        return f"u-{self.token('email', value.strip().lower())}@{PSEUDONYM_DOMAIN}"

    def phone(self, value: str) -> str:
        digits = str(int(self.token("phone", value), 16))[:12]
        return f"+999{digits}"

    def name(self, value: str) -> str:
        return f"Customer {self.token('name', value)[:6]}"

    def handle(self, channel: str, value: str) -> str:
        return f"h-{self.token(channel, value)}"

    def reference(self, value: str) -> str:
        return f"<{self.token('ref', value)}@{PSEUDONYM_DOMAIN}>"

    def place(self, value: str) -> str:
        return f"place-{self.token('place', value)}"

    def contact(self, value: str) -> str:
        return f"Contact {self.token('contact', value)[:6]}"

    def envelope(self, event: dict[str, Any]) -> dict[str, Any]:
        """The envelope with its identities, thread references and provider ids replaced."""
        data = dict(event.get("data") or {})
        customer = dict(data.get("customer") or {})
        known = self.known(customer, data.get("inbox"), _places(data))
        data["customer"] = self.customer(customer)
        if thread := self.thread(dict(data.get("thread") or {})):
            data["thread"] = thread
        data.pop("quoted_text", None)
        for field in ("text", "subject"):
            if isinstance(data.get(field), str):
                data[field] = self.text(data[field], known)
        if _shares_contacts(data) and isinstance(data.get("text"), str):
            data["text"] = self.cards(data["text"])
        if isinstance(data.get("attachments"), list):
            data["attachments"] = self.walk(data["attachments"], "attachments", known)
        if isinstance(data.get("metadata"), dict):
            data["metadata"] = self.walk(data["metadata"], "metadata", known)
        out = {**self.attributes(event, known), "data": data}
        try:
            out["subject"] = Interaction.model_validate(data).sender_key()
        except ValueError:
            out.pop("subject", None)  # not an interaction: nothing left to name the sender
        return out

    def attributes(self, event: dict[str, Any], known: Known) -> dict[str, Any]:
        """The envelope's attributes: the id is a key to the original everywhere (the
        dedupe memory in Redis, ``data.interaction.event_id`` on ``tickets``), so it is
        replaced by a keyed hash (the same id gives the same pseudonym: duplicates stay
        duplicates); the source is scrubbed like text (a channel path stays as it is);
        extension attributes (trace ids, a producer's own keys) are hashed whole."""
        out = dict(event)
        if isinstance(event.get("id"), str):
            out["id"] = f"ev-{self.token('event', event['id'])}"
        source = event.get("source")
        if isinstance(source, str):
            is_url = source.startswith(("http://", "https://"))
            out["source"] = self.url(source, known) if is_url else self.text(source, known)
        for name in event.keys() - ENVELOPE_ATTRIBUTES:
            if event[name] is not None:
                out[name] = f"x-{self.token(name, str(event[name]))}"
        return out

    def customer(self, customer: dict[str, Any]) -> dict[str, Any]:
        if customer.get("email"):
            customer["email"] = self.email(customer["email"])
        if customer.get("phone"):
            customer["phone"] = self.phone(customer["phone"])
        if customer.get("name"):
            customer["name"] = self.name(customer["name"])
        if customer.get("handles"):
            customer["handles"] = {
                channel: self.handle(channel, handle)
                for channel, handle in customer["handles"].items()
            }
        return customer

    def thread(self, thread: dict[str, Any]) -> dict[str, Any]:
        for name in THREAD_FIELDS:
            if thread.get(name):
                thread[name] = self.reference(thread[name])
        if thread.get("references"):
            thread["references"] = [self.reference(r) for r in thread["references"]]
        return thread

    def known(self, customer: dict[str, Any], inbox: Any, places: list[str]) -> Known:
        words: list[tuple[re.Pattern[str], str]] = []
        name = customer.get("name")
        if isinstance(name, str) and name.strip():
            words.append((_word(name.strip()), self.name(name)))
            words.extend(
                (_word(part), self.name(part))
                for part in NAME_SEPARATOR.split(name.strip())
                if len(part) >= NAME_PART_MIN and part != name.strip()
            )
        for channel, handle in (customer.get("handles") or {}).items():
            if isinstance(handle, str) and len(handle) >= NAME_PART_MIN:
                words.append((_word(handle), self.handle(channel, handle)))
        keep = frozenset({inbox.strip().lower()} if isinstance(inbox, str) else ())
        # the longest first, so that an address is replaced whole, not a label inside it
        alternatives = "|".join(re.escape(p) for p in sorted(places, key=len, reverse=True))
        where = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)") if places else None
        return Known(tuple(words), keep, where)

    def text(self, value: str, known: Known) -> str:
        """Free text with the shared place replaced first (as in the metadata, and before
        its coordinates could pass for phone numbers), then every address, provider id
        and phone number (after the ids, whose digits could pass for one too), then the
        customer's name and handles (last, so a name inside an address goes with it)."""

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
        value = PROVIDER_ID.sub(lambda match: f"id-{self.token('id', match[0])}", value)
        value = PHONE.sub(phone, value)
        for pattern, token in known.words:
            value = pattern.sub(token, value)  # tokens hold no backslash
        return value

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


def _word(value: str) -> re.Pattern[str]:
    """A name or handle standing on its own, its parts joined by any separators: a file
    name writes "Zebulon Quimby" as ``Zebulon_Quimby_passport.pdf``. Only a letter or
    digit next to it makes it part of another word (``_`` does not, though ``\\w`` has it)."""
    parts = [re.escape(part) for part in NAME_SEPARATOR.split(value) if part]
    joined = NAME_SEPARATOR.pattern.join(parts) if parts else re.escape(value)
    return re.compile(rf"(?<![^\W_]){joined}(?![^\W_])", re.IGNORECASE)


def export_line(
    record: ConsumerRecord[bytes, bytes],
    pseudonyms: Pseudonyms | None,
    limits: Limits | None = None,
) -> tuple[datetime, bytes] | None:
    """The record as (its time, one JSONL line), or None when the router would not take
    it (over its inbound size limit, or no valid event for ``consumers.work.parse_record``):
    it dead-lettered it, so replaying it would only make the simulation see a message the
    router never routed. A binary-mode record is written as the structured envelope it
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
    if pseudonyms is not None:
        event = pseudonyms.envelope(event)
    return at, orjson.dumps(event)


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
    """Raises MissingTopics (``read_all``) before ``out`` is opened when there is no
    ``inbound`` topic: an empty file would pass for a day without messages."""
    records = await read_all(settings, Topic.INBOUND, progress)
    key = salt.encode() if salt else secrets.token_bytes(32)
    pseudonyms = Pseudonyms(key) if pseudonymize else None
    lines = []
    skipped = 0
    limits = settings.limits()
    for record in records:
        found = export_line(record, pseudonyms, limits)
        if found is None:
            skipped += period.holds(datetime.fromtimestamp(record.timestamp / 1000, UTC))
        elif period.holds(found[0]):
            lines.append(found)
    lines.sort()  # by time; events of the same instant by their bytes: the same data
    # gives the same file, whatever order the partitions were read in
    with out.open("wb") as file:
        for _, line in lines:
            file.write(line + b"\n")
    return Exported(len(records), len(lines), out, skipped)
