"""Raw MIME to the fields Switchboard needs. Never raises, whatever the bytes.

The stdlib ``email`` package with ``policy.default`` does the MIME structure, transfer
encodings and RFC 2047/2231 decoding. Real mail breaks it in places (unknown charsets,
8-bit headers, malformed encoded words, header-parser bugs), so every header is read
through :func:`header_text`, which falls back to a tolerant manual decode, and every body
is decoded with a charset fallback chain instead of ``get_content()``.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime

from inscriptis import get_text

from router.events import Attachment
from router.identity import normalize_email

MAX_DEPTH = 32
MAX_PARTS = 500
MAX_REFERENCES = 100
CHARSET_FALLBACKS = ("utf-8", "cp1252")
ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?\s]*)\?=")
BETWEEN_WORDS = re.compile(r"(\?=)[ \t\r\n]+(=\?)")
MSG_ID = re.compile(r"<([^<>\s]+)>")
WHITESPACE = re.compile(r"\s+")
B64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")


@dataclass(frozen=True, slots=True)
class Mailbox:
    email: str
    name: str | None = None


@dataclass
class ParsedEmail:
    """What the email adapter publishes; every field optional because mail is messy."""

    sender: Mailbox | None = None
    to: list[Mailbox] = field(default_factory=list)
    cc: list[Mailbox] = field(default_factory=list)
    delivered_to: list[Mailbox] = field(default_factory=list)
    reply_to: list[Mailbox] = field(default_factory=list)
    subject: str | None = None
    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    date: datetime | None = None
    text: str = ""
    html_only: bool = False
    attachments: list[Attachment] = field(default_factory=list)
    auto_reply_reason: str | None = None
    defects: int = 0

    @property
    def inbox(self) -> str | None:
        for group in (self.to, self.cc, self.delivered_to):
            if group:
                return group[0].email
        return None


# --- decoding helpers ------------------------------------------------------------------


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Text in the declared charset, else UTF-8, else cp1252; undecodable bytes replaced."""
    candidates = [charset.strip().strip("\"'").lower()] if charset else []
    for name in (*candidates, *CHARSET_FALLBACKS):
        try:
            codecs.lookup(name)
            return data.decode(name)
        except (LookupError, UnicodeDecodeError, ValueError):
            continue
    return data.decode("utf-8", errors="replace")


def _raw_to_text(value: str) -> str:
    """Header text as stored by the parser: 8-bit bytes arrive as surrogate escapes."""
    try:
        raw = value.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", errors="replace").decode("utf-8")
    return decode_bytes(raw, None)


def _decode_word(match: re.Match[str]) -> str:
    charset, encoding, payload = match.group(1).split("*")[0], match.group(2), match.group(3)
    try:
        if encoding.upper() == "B":
            payload = payload.rstrip("=")
            data = base64.b64decode(payload + "=" * (-len(payload) % 4), validate=True)
        else:
            data = binascii.a2b_qp(payload.replace("_", " ").encode("ascii", errors="replace"))
    except (binascii.Error, ValueError):
        return match.group(0)
    return decode_bytes(data, charset)


def decode_words(text: str) -> str:
    """RFC 2047 encoded words, tolerant of the usual breakage (bad padding, bad charset)."""
    if "=?" not in text:
        return text
    return ENCODED_WORD.sub(_decode_word, BETWEEN_WORDS.sub(r"\1\2", text))


def _clean(text: str) -> str:
    return WHITESPACE.sub(" ", text).strip()


def header_text(msg: Message, name: str) -> str | None:
    """One header, decoded; ``policy.default`` first, the manual decoder where it fails."""
    raw_values = [v for k, v in msg.raw_items() if k.lower() == name.lower()]
    if not raw_values:
        return None
    raw = raw_values[0] if isinstance(raw_values[0], str) else str(raw_values[0])
    if not _has_surrogates(raw):
        try:
            value = msg.get(name)
            if value is not None:
                text = str(value)
                if "\ufffd" not in text and "=?" not in text:
                    return _clean(text)
        except Exception:  # noqa: BLE001 - the stdlib header parser has many failure modes
            return _clean(decode_words(_raw_to_text(raw)))
    return _clean(decode_words(_raw_to_text(raw)))


def _has_surrogates(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def addresses(msg: Message, name: str) -> list[Mailbox]:
    """Every mailbox in an address header; display names decoded, emails normalised."""
    raw = [_raw_to_text(str(v)) for k, v in msg.raw_items() if k.lower() == name.lower()]
    if not raw:
        return []
    try:
        pairs = getaddresses(raw)
    except Exception:  # noqa: BLE001 - getaddresses is strict on some malformed input
        pairs = []
    found: list[Mailbox] = []
    for display, addr in pairs:
        try:
            email = normalize_email(decode_words(addr))
        except ValueError:
            continue
        found.append(Mailbox(email, _clean(decode_words(display)) or None))
    return found


def message_ids(value: str | None) -> list[str]:
    """Message ids without angle brackets, in order, deduplicated."""
    if not value:
        return []
    ids = MSG_ID.findall(value) or value.split()
    seen: dict[str, None] = {}
    for mid in ids:
        seen.setdefault(mid.strip(), None)
    return [m for m in seen if m]


def parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


# --- bodies ----------------------------------------------------------------------------


def html_to_text(html: str) -> str:
    try:
        return str(get_text(html)).strip()
    except Exception:  # noqa: BLE001 - lxml refuses some documents; tags stripped instead
        return _clean(re.sub(r"<[^>]*>", " ", html))


def _payload(part: Message) -> bytes:
    """The decoded body of a leaf part; tolerant of padding errors and stray whitespace."""
    raw = part.get_payload()
    data = raw.encode("utf-8", errors="surrogateescape") if isinstance(raw, str) else b""
    cte = (header_text(part, "content-transfer-encoding") or "").strip().lower()
    if cte == "base64":
        return _b64(data)
    if cte == "quoted-printable":
        return binascii.a2b_qp(data)
    try:
        decoded = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - broken uuencode and the like
        decoded = None
    return decoded if isinstance(decoded, bytes) else data


def _b64(data: bytes) -> bytes:
    clean = B64_JUNK.sub(b"", data.split(b"=", 1)[0])
    if len(clean) % 4 == 1:
        clean = clean[:-1]
    try:
        return base64.b64decode(clean + b"=" * (-len(clean) % 4))
    except (binascii.Error, ValueError):
        return b""


def _charset(part: Message) -> str | None:
    try:
        return part.get_content_charset()
    except Exception:  # noqa: BLE001 - the stdlib email API raises many kinds on malformed input
        return None


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001 - malformed RFC 2231 parameters
        name = None
    if name is None:
        try:
            param = part.get_param("name")
        except Exception:  # noqa: BLE001 - the stdlib email API raises many kinds on malformed input
            param = None
        name = param if isinstance(param, str) else None
    if not name:
        return None
    return _clean(decode_words(_raw_to_text(name))) or None


def _disposition(part: Message) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:  # noqa: BLE001 - the stdlib email API raises many kinds on malformed input
        return None


@dataclass
class _Walk:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    parts: int = 0


def _walk(part: Message, out: _Walk, depth: int = 0) -> None:
    out.parts += 1
    if depth > MAX_DEPTH or out.parts > MAX_PARTS:
        return
    ctype = part.get_content_type()
    if part.is_multipart() and ctype.startswith("multipart/"):
        children = [c for c in part.get_payload() if isinstance(c, Message)]
        if ctype == "multipart/alternative":
            _walk_alternative(children, out, depth)
        else:
            for child in children:
                _walk(child, out, depth + 1)
        return
    if ctype in ("message/rfc822", "message/global"):
        inner = part.get_payload()
        sub = inner[0] if isinstance(inner, list) and inner else None
        name = header_text(sub, "subject") if isinstance(sub, Message) else None
        try:
            size = len(sub.as_bytes()) if isinstance(sub, EmailMessage) else len(_payload(part))
        except Exception:  # noqa: BLE001 - re-serialising a broken message can fail
            size = 0
        out.attachments.append(Attachment(name=name, content_type=ctype, size=size))
        return
    name = _filename(part)
    is_body = (
        ctype in ("text/plain", "text/html") and _disposition(part) != "attachment" and not name
    )
    data = _payload(part)
    if is_body:
        text = decode_bytes(data, _charset(part))
        (out.plain if ctype == "text/plain" else out.html).append(text)
    elif ctype.startswith("multipart/") or ctype == "message/delivery-status":
        return
    else:
        out.attachments.append(Attachment(name=name, content_type=ctype, size=len(data)))


def _walk_alternative(children: list[Message], out: _Walk, depth: int) -> None:
    """The plain alternative when there is one, else the first that has any text."""
    tried: list[_Walk] = []
    for child in children:
        sub = _Walk(parts=out.parts)
        _walk(child, sub, depth + 1)
        out.parts = sub.parts
        tried.append(sub)
    chosen = next((w for w in tried if w.plain), None) or next((w for w in tried if w.html), None)
    if chosen is not None:
        out.plain.extend(chosen.plain)
        out.html.extend(chosen.html)
    for sub in tried:
        out.attachments.extend(sub.attachments)


# --- auto-replies and bounces -----------------------------------------------------------

AUTO_SENDERS = ("mailer-daemon", "postmaster", "mail-daemon")
AUTO_HEADERS = ("x-autoreply", "x-autorespond", "x-autoresponder", "x-failed-recipients")


def auto_reply_reason(msg: Message, sender: Mailbox | None) -> str | None:
    """Why this message is machine-sent (RFC 3834 and the de-facto headers), or None."""
    auto = (header_text(msg, "auto-submitted") or "").split(";")[0].strip().lower()
    precedence = (header_text(msg, "precedence") or "").strip().lower()
    senders = ([sender] if sender else []) + addresses(msg, "sender")
    return_path = header_text(msg, "return-path")
    flags = [
        (bool(auto) and auto != "no", f"auto-submitted: {auto}"),
        *((header_text(msg, h) is not None, h) for h in AUTO_HEADERS),
        (precedence in ("bulk", "junk", "list", "auto_reply"), f"precedence: {precedence}"),
        (msg.get_content_type() == "multipart/report", "multipart/report"),
        *((b.email.split("@")[0] in AUTO_SENDERS, f"sender: {b.email}") for b in senders),
        (return_path is not None and return_path.strip() in ("<>", ""), "return-path: <>"),
    ]
    return next((reason for hit, reason in flags if hit), None)


# --- the parser -------------------------------------------------------------------------


def parse_email(raw: bytes) -> ParsedEmail:
    """Every field Switchboard needs from one raw message. Never raises."""
    try:
        return _parse(raw)
    except Exception:  # noqa: BLE001 - last resort: arbitrary bytes must not fail ingress
        return ParsedEmail(text=decode_bytes(raw, None).strip(), defects=1)


def _parse(raw: bytes) -> ParsedEmail:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    sender = next(iter(addresses(msg, "from")), None)
    walk = _Walk()
    _walk(msg, walk)
    if walk.plain:
        text, html_only = "\n\n".join(t.strip("\r\n") for t in walk.plain), False
    else:
        text, html_only = "\n\n".join(html_to_text(h) for h in walk.html), bool(walk.html)
    references = message_ids(header_text(msg, "references"))[-MAX_REFERENCES:]
    message_id = next(iter(message_ids(header_text(msg, "message-id"))), None)
    return ParsedEmail(
        sender=sender,
        to=addresses(msg, "to"),
        cc=addresses(msg, "cc"),
        delivered_to=addresses(msg, "delivered-to") or addresses(msg, "x-original-to"),
        reply_to=addresses(msg, "reply-to"),
        subject=header_text(msg, "subject"),
        message_id=message_id,
        in_reply_to=next(iter(message_ids(header_text(msg, "in-reply-to"))), None),
        references=references,
        date=parse_date(header_text(msg, "date")),
        text=text.replace("\r\n", "\n").strip(),
        html_only=html_only,
        attachments=walk.attachments,
        auto_reply_reason=auto_reply_reason(msg, sender),
        defects=len(msg.defects),
    )
