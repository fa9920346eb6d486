"""Raw MIME to the fields Switchboard needs. Never raises, whatever the bytes.

The stdlib ``email`` package with ``policy.default`` does the MIME structure, transfer
encodings and RFC 2047/2231 decoding. Real mail breaks it in places, and each place has
its repair here: bytes become text through :mod:`channels.charsets` (charset families,
one decision per message for raw 8-bit headers), addresses through
:mod:`channels.addresses` (lenient, with warnings), a forwarded-message banner above the
headers is skipped, a forwarded message sent base64 or quoted-printable is decoded, a
``multipart/*`` without boundary lines is read as one text part, a nested multipart
reusing its parent's boundary is put back as written, inline uuencode becomes
an attachment, a ``Date`` with the next header glued to it keeps its offset,
``format=flowed`` text is joined back into the writer's lines, and text keeps its line
indentation. Inline PGP signed text is read by :mod:`channels.pgp`, calendar parts by
:mod:`channels.itip`. The text helpers (encoded words, message ids, dates, flowed text,
HTML, uuencode) are in :mod:`channels.mail_text`; the rules for headers longer than the
parser reads and for a mail written to its writer are in :mod:`channels.mail_headers`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email import errors
from email.feedparser import BytesFeedParser
from email.message import Message
from email.parser import BytesParser
from email.policy import Policy
from typing import TYPE_CHECKING

import structlog

from channels.addresses import Mailbox, parse_addresses
from channels.auto_replies import auto_reply_reason
from channels.charsets import HeaderCharset, decode_bytes
from channels.header_policy import MAX_HEADER_CHARS, PLAIN_HEADERS, STRUCTURED, parse_scope
from channels.itip import Calendar, read_calendar
from channels.mail_headers import read_in_reply_to, read_references, read_subject, written_to_self
from channels.mail_text import (
    CONTROL,
    MAX_HTML_CHARS,
    decode_words,
    extract_uuencoded,
    html_to_text,
    message_ids,
    parse_date,
    trim_text,
    unflow,
)
from channels.pgp import ENCRYPTED, has_encrypted_block, read_signed
from channels.replies import split_html
from router.events import Attachment

log = structlog.get_logger("switchboard.ingress.email")

__all__ = ["Mailbox", "ParsedEmail", "decode_bytes", "decode_words", "parse_email"]

MAX_DEPTH = 32
MAX_PARTS = 500
#: Parts the stdlib parser builds at most (the walk reads MAX_PARTS of them; parts inside
#: attached messages and delivery-status blocks count here too).
PARSE_PARTS = 4 * MAX_PARTS
#: Forwarded messages sent base64 or quoted-printable are decoded and parsed again for a
#: mail's text, each level of a forward in a forward once more: at most this many times
#: the mail's size in all (quoted-printable leaves most text as long as it was).
FORWARD_PARSE_FACTOR = 2
WHITESPACE = re.compile(r"\s+")
REPLACEMENT = "\ufffd"  # what the stdlib puts for a byte it could not decode
B64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")
HEADER_LINE = re.compile(rb"^[!-9;-~]+:")
BANNER_MAX_LINES = 3
BANNER = re.compile(
    rb"(?i)-{3,}|forward|original message|weitergeleitet|urspr|transf|reenviado|inoltrato"
)
NO_BOUNDARY = "multipart: no boundary lines, read as one text part"
HTML_CUT = f"text/html: only the first {MAX_HTML_CHARS // 1024 // 1024} MiB of markup rendered"
REUSED_BOUNDARY = "multipart: a nested multipart reuses its parent's boundary"
TOO_DEEP = f"MIME parts nested deeper than {MAX_DEPTH} levels not read"
NAME_PARAM = re.compile(r'(?i)(?:^|;)\s*(?:file)?name\s*=\s*("(?:[^"\\]|\\.)*"|[^;]+)')
SPACED_NAME = re.compile(r"[^\s\"'=*][^\"'=*]*\s[^\"'=*]*\.[A-Za-z0-9]{1,8}")
DSN = "message/delivery-status"
#: The parts of a calendar message: its iMIP part and the same as a file (``invite.ics``).
CALENDAR_TYPES = frozenset({"text/calendar", "application/ics"})
NAMING_HEADERS = frozenset({"content-disposition", "content-type"})
SERIALISE = {sep: PLAIN_HEADERS.clone(linesep=sep, refold_source="none") for sep in ("\r\n", "\n")}


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
    #: quoted history the HTML structure marked (Outlook, Lotus Notes, Gmail, Apple)
    quoted: str | None = None
    html_only: bool = False
    attachments: list[Attachment] = field(default_factory=list)
    auto_reply_reason: str | None = None
    #: where parsing had to be lenient, e.g. "from: address without angle brackets"
    warnings: list[str] = field(default_factory=list)
    defects: int = 0
    #: the writer addressed the mail to themselves and it was delivered to another
    #: address (ours, in Bcc); see :func:`channels.mail_headers.written_to_self`
    to_self: bool = False

    @property
    def inbox(self) -> str | None:
        """The address written to: the To or Cc address the mail was delivered to
        (``Delivered-To``/``X-Original-To``: our inbox when a customer writes to someone
        else with us in copy); else, for a mail its writer addressed to themselves with
        us in Bcc (``to_self``), the delivery address that is not theirs; else the first
        To, Cc, or delivery address."""
        delivered = {box.email for box in self.delivered_to}
        for box in (*self.to, *self.cc):
            if box.email in delivered:
                return box.email
        if self.to_self and self.sender is not None:
            for box in self.delivered_to:
                if box.email != self.sender.email:
                    return box.email
        for group in (self.to, self.cc, self.delivered_to):
            if group:
                return group[0].email
        return None


# --- text helpers kept with the headers ------------------------------------------


def _clean(text: str) -> str:
    return WHITESPACE.sub(" ", CONTROL.sub("", text)).strip()


def _has_surrogates(text: str) -> bool:
    return not text.isascii() and any("\udc80" <= ch <= "\udcff" for ch in text)


def _raw_bytes(value: str) -> bytes:
    return value.encode("utf-8", errors="surrogateescape")


# --- headers ---------------------------------------------------------------------------


class _Headers:
    """Header access for one message, with one charset decision for its raw 8-bit bytes."""

    def __init__(self, msg: Message) -> None:
        self.msg = msg
        self._by_name: dict[str, list[object]] = {}
        for key, value in msg.raw_items():
            self._by_name.setdefault(key.lower(), []).append(value)
        raw8 = [
            _raw_bytes(v) for _, v in msg.raw_items() if isinstance(v, str) and _has_surrogates(v)
        ]
        self.charset = HeaderCharset(raw8, _declared_charsets(msg) if raw8 else [])
        self.warnings: list[str] = []
        #: the headers whose ``text`` was read cut to ``MAX_HEADER_CHARS``
        self.cut: set[str] = set()

    def to_text(self, value: str) -> str:
        if not _has_surrogates(value):
            return value
        return self.charset.decode(_raw_bytes(value))

    def _values(self, name: str, part: Message | None) -> list[object]:
        """The raw values of header ``name``, in order; the message's are indexed once."""
        if part is None:
            return self._by_name.get(name.lower(), [])
        return [v for k, v in part.raw_items() if k.lower() == name.lower()]

    def raw(self, name: str, part: Message | None = None) -> list[str]:
        return [self.to_text(v if isinstance(v, str) else str(v)) for v in self._values(name, part)]

    def text(self, name: str, part: Message | None = None) -> str | None:
        """One header, decoded; ``policy.default`` first, the manual decoder where it fails."""
        source = self.msg if part is None else part
        raws = self._values(name, part)
        if not raws:
            return None
        raw = raws[0] if isinstance(raws[0], str) else str(raws[0])
        if not _has_surrogates(raw):
            try:
                value = source.get(name)
            except Exception:  # noqa: BLE001 - the stdlib header parser has many failure modes
                value = None
            text = str(value) if value is not None else ""
            if text and "\ufffd" not in text and "=?" not in text:
                if len(raw) > MAX_HEADER_CHARS and name.lower() not in STRUCTURED:
                    self.cut.add(name.lower())  # as ``PlainHeaderPolicy`` reads it
                return _clean(text)
        return _clean(decode_words(self.to_text(raw)))

    def was_cut(self, name: str) -> bool:
        return name.lower() in self.cut

    def size(self, name: str) -> int:
        """The length of the first value of header ``name`` as written (0: none)."""
        values = self._by_name.get(name.lower())
        return len(str(values[0])) if values else 0

    def addresses(self, name: str) -> list[Mailbox]:
        found = parse_addresses(self.raw(name), decode_words, name)
        self.warnings.extend(w for w in found.warnings if w not in self.warnings)
        return found.boxes


def _declared_charsets(msg: Message, seen: dict[int, str | None] | None = None) -> list[str]:
    """The charsets the parts declare, other than ASCII and UTF-8; ``seen`` is given each
    part's charset (by id), for the walk to read instead of parsing the header again."""
    found: dict[str, None] = {}
    for count, part in enumerate(msg.walk()):
        if count > MAX_PARTS:
            break
        charset = _charset(part)
        if seen is not None:
            seen[id(part)] = charset
        if charset and charset not in ("us-ascii", "utf-8", "ascii"):
            found.setdefault(charset, None)
    return list(found)


# --- bodies ----------------------------------------------------------------------------


def _payload(part: Message, headers: _Headers) -> bytes:
    """The decoded body of a leaf part; tolerant of padding errors and stray whitespace."""
    raw = part.get_payload()
    data = _raw_bytes(raw) if isinstance(raw, str) else b""
    cte = (headers.text("content-transfer-encoding", part) or "").strip().lower()
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


def _filename(part: Message, headers: _Headers) -> str | None:
    """Disposition ``filename``, else Content-Type ``name`` (RFC 2231 and 2047 alike),
    else the raw parameter when the stdlib could not parse it (``name==?utf-8?q?...``),
    stopped at a space (``filename=My Invoice.pdf``, unquoted), or lost its 8-bit
    characters (``filename=ci\xeble.txt`` in Latin-1: the raw header is read in the
    mail's charset, as every raw 8-bit header is)."""
    if not _may_name_a_file(part):
        return None  # most body parts: no parameter parsing (the stdlib's is costly)
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001 - malformed RFC 2231 parameters
        name = None
    written = _written_name(part, headers)
    if written and (
        not name
        or (SPACED_NAME.fullmatch(written) and written.startswith(name))
        or (REPLACEMENT in name and REPLACEMENT not in written)
    ):
        name = written.strip('"')
    if not name:
        return None
    return _clean(decode_words(headers.to_text(name))) or None


def _may_name_a_file(part: Message) -> bool:
    """Whether a ``Content-Disposition`` or ``Content-Type`` of the part holds ``name`` at
    all, as every ``filename`` or ``name`` parameter (RFC 2231 ``name*0*`` too) does."""
    for key, value in part.raw_items():
        if key.lower() in NAMING_HEADERS and "name" in str(value).lower():
            return True
    return False


def _written_name(part: Message, headers: _Headers) -> str | None:
    """The first ``filename``/``name`` parameter as written, quotes included."""
    for header in ("content-disposition", "content-type"):
        for raw in headers.raw(header, part):
            match = NAME_PARAM.search(raw.replace("\r\n", "").replace("\n", ""))
            if match:
                return match.group(1).strip()
    return None


def _flowed(part: Message) -> tuple[bool, bool]:
    """Whether the part is ``format=flowed``, and whether with ``delsp=yes``."""
    if "flowed" not in str(part.get("content-type") or "").lower():
        return False, False  # most mail: no parameter parsing (the stdlib's is costly)
    try:
        fmt, delsp = part.get_param("format"), part.get_param("delsp")
    except Exception:  # noqa: BLE001 - the stdlib email API raises many kinds on malformed input
        return False, False
    return (
        isinstance(fmt, str) and fmt.strip().lower() == "flowed",
        isinstance(delsp, str) and delsp.strip().lower() == "yes",
    )


def _disposition(part: Message) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:  # noqa: BLE001 - the stdlib email API raises many kinds on malformed input
        return None


@dataclass
class _Walk:
    headers: _Headers
    declared: list[str]
    #: the message's line ends, for the size of an attached message
    linesep: str = "\r\n"
    #: the body texts in document order: ``(True, markup)`` for HTML, ``(False, text)``
    #: for plain text (an alternative adds only the one it chose)
    bodies: list[tuple[bool, str]] = field(default_factory=list)
    #: a text/plain body part was seen, its text empty or not
    saw_plain: bool = False
    #: inline text/plain parts with a file name (attachments, text when there is no other)
    named_plain: list[Message] = field(default_factory=list)
    #: ``text/calendar`` parts (also listed as attachments): an invitation's words, or a
    #: calendar program's reply
    calendars: list[Message] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    parts: int = 0
    #: parts past MAX_PARTS, not read (their own children not counted)
    unread: int = 0
    #: the multiparts whose children were visited (by id), shared with forks
    descended: set[int] = field(default_factory=set)
    #: each part's charset as ``_declared_charsets`` read it (by id), shared with forks
    charsets: dict[int, str | None] = field(default_factory=dict)
    #: the multipart whose epilogue was parsed for parts (by id; one), shared with forks
    epilogues: list[int] = field(default_factory=list)

    def fork(self) -> _Walk:
        return _Walk(
            self.headers,
            self.declared,
            self.linesep,
            parts=self.parts,
            descended=self.descended,
            charsets=self.charsets,
            epilogues=self.epilogues,
        )

    @property
    def plain(self) -> list[str]:
        return [text for is_html, text in self.bodies if not is_html]

    @property
    def html(self) -> list[str]:
        return [text for is_html, text in self.bodies if is_html]

    def charset(self, part: Message) -> str | None:
        key = id(part)
        return self.charsets[key] if key in self.charsets else _charset(part)


def _walk(part: Message, out: _Walk, depth: int = 0) -> None:
    out.parts += 1
    if out.parts > MAX_PARTS:
        out.unread += 1
        return
    if depth > MAX_DEPTH:
        if TOO_DEEP not in out.headers.warnings:
            out.headers.warnings.append(TOO_DEEP)
        return
    ctype = part.get_content_type()
    children = part.get_payload() if part.is_multipart() else None
    kids = [c for c in children if isinstance(c, Message)] if isinstance(children, list) else []
    if ctype.startswith("multipart/") and kids:
        out.descended.add(id(part))
        kids = _reused_boundary(part, kids, out)
        _cut_glued_close(part, kids[-1])
        if ctype == "multipart/alternative":
            _walk_alternative(kids, out, depth)
        else:
            for child in kids:
                _walk(child, out, depth + 1)
        return
    if ctype.startswith("message/") and ctype != DSN and isinstance(children, list):
        out.attachments.append(_attached_message(part, next(iter(kids), None), ctype, out))
        return
    if ctype.startswith("multipart/"):
        # A multipart header with no boundary lines: the body is one text part.
        ctype = "text/plain"
        if NO_BOUNDARY not in out.headers.warnings:
            out.headers.warnings.append(NO_BOUNDARY)
    _leaf(part, ctype, out)


def _reused_boundary(multipart: Message, kids: list[Message], out: _Walk) -> list[Message]:
    """A nested multipart written with its parent's boundary (SpamScope's
    mail_malformed_1): the stdlib reads each of its delimiter lines as the parent's, so
    the nested one is left empty, its parts become the parent's, and its close delimiter
    closes the parent, whose remaining parts fall into the epilogue, unlisted. The tree
    is put back as written: the parts after the empty one are its own, and the parent's
    epilogue is parsed for the rest of the parent's parts (once per message, within the
    parser's limits)."""
    nested = next(
        (
            at
            for at, kid in enumerate(kids)
            if kid.get_content_maintype() == "multipart"
            and not kid.is_multipart()
            and not str(kid.get_payload()).strip()
        ),
        None,
    )
    boundary = multipart.get_boundary() if nested is not None else None
    if nested is None or not boundary or kids[nested].get_boundary() != boundary:
        return kids
    if REUSED_BOUNDARY not in out.headers.warnings:
        out.headers.warnings.append(REUSED_BOUNDARY)
    inner = kids[nested + 1 :]
    if not inner:
        return kids
    own: list[Message | str] = [*inner]
    kids[nested].set_payload(own)
    repaired = [*kids[: nested + 1], *_epilogue_parts(multipart, boundary, out)]
    parent: list[Message | str] = [*repaired]
    multipart.set_payload(parent)
    return repaired


def _epilogue_parts(multipart: Message, boundary: str, out: _Walk) -> list[Message]:
    """The parts the epilogue of ``multipart`` holds, parsed under its boundary, as its
    body would have been; none when it holds no delimiter line, or after the first
    epilogue of the message was parsed (a second parse at most doubles the parser's
    work)."""
    epilogue = multipart.epilogue
    if out.epilogues or not isinstance(epilogue, str) or f"--{boundary}" not in epilogue:
        return []
    if any(char in boundary for char in '"\\\r\n'):
        return []
    out.epilogues.append(id(multipart))
    head = f'Content-Type: multipart/mixed; boundary="{boundary}"{out.linesep}{out.linesep}'
    holder, unparsed, error = _structure(_raw_bytes(head + epilogue))
    payload = holder.get_payload() if error is None else None
    if not isinstance(payload, list):
        return []
    out.unread += sum(unparsed.values())
    multipart.epilogue = holder.epilogue
    return [kid for kid in payload if isinstance(kid, Message)]


def _cut_glued_close(multipart: Message, last: Message) -> None:
    """A close delimiter written at the end of the last line of the last part, with no
    line break before it (``text--b--``), ends that part there. The stdlib only knows
    a delimiter at the start of a line, so it finds no close delimiter and would keep
    ``--b--`` in the text; only then is the end of the last part looked at."""
    if last.is_multipart() or not any(
        isinstance(d, errors.CloseBoundaryNotFoundDefect) for d in multipart.defects
    ):
        return
    payload, boundary = last.get_payload(), multipart.get_boundary()
    if not isinstance(payload, str) or not boundary:
        return
    body, close = payload.rstrip(), f"--{boundary}--"
    if body.endswith(close):
        last.set_payload(body[: -len(close)])


def _leaf(part: Message, ctype: str, out: _Walk) -> None:
    """A body text (plain, with any inline uuencode taken out, or HTML) or an attachment."""
    name = _filename(part, out.headers)
    disposition = _disposition(part) if ctype in ("text/plain", "text/html") else None
    is_body = ctype in ("text/plain", "text/html") and disposition != "attachment" and not name
    data = _payload(part, out.headers)
    if is_body:
        if ctype == "text/plain":
            text, found = extract_uuencoded(_plain_text(part, out, data))
            out.attachments.extend(found)
            out.bodies.append((False, text))
            out.saw_plain = True
        else:
            out.bodies.append((True, decode_bytes(data, out.charset(part), out.declared)))
    elif ctype == DSN:
        return
    else:
        if ctype == "text/calendar":
            out.calendars.append(part)
        if ctype == "text/plain" and disposition == "inline":
            out.named_plain.append(part)  # ``msg.txt`` shown in the mail: maybe its text
        out.attachments.append(Attachment(name=name, content_type=ctype, size=len(data)))


def _attached_message(part: Message, sub: Message | None, ctype: str, out: _Walk) -> Attachment:
    """A message inside the message (a forward, a fragment, an external-body reference):
    its declared file name, else for a whole message its Subject; its size in bytes as
    attached, decoded when it came base64 or quoted-printable (which RFC 2046 forbids
    for ``message/*`` and mailers still send)."""
    data, inner = b"", sub
    if sub is not None:
        cte = (out.headers.text("content-transfer-encoding", part) or "").strip().lower()
        if cte in ("base64", "quoted-printable"):
            data = _decoded_message(sub, cte, out.linesep)
            inner = BytesParser(policy=PLAIN_HEADERS).parsebytes(data, headersonly=True)
        else:
            try:
                data = sub.as_bytes(policy=SERIALISE[out.linesep])
            except Exception:  # noqa: BLE001 - re-serialising a broken message can fail
                data = b""
    name = _filename(part, out.headers)
    if name is None and inner is not None and ctype in ("message/rfc822", "message/global"):
        name = out.headers.text("subject", inner)
    return Attachment(name=name, content_type=ctype, size=len(data))


def _decoded_message(sub: Message, cte: str, linesep: str) -> bytes:
    """The bytes of a message attached base64 or quoted-printable, decoded (none when it
    cannot be written back). The parser read the encoded text as a message: base64 as a
    body with no headers, quoted-printable's header lines (it leaves ASCII lines mostly
    as they are) as headers, which are written back as they came, with the blank line
    below them only if there was one."""
    payload = sub.get_payload()
    if sub.is_multipart() or not isinstance(payload, str):
        try:
            encoded = sub.as_bytes(policy=SERIALISE[linesep])
        except Exception:  # noqa: BLE001 - re-serialising a broken message can fail
            return b""
    else:
        head = "".join(f"{name}: {value}{linesep}" for name, value in sub.raw_items())
        joined = any(isinstance(d, errors.MissingHeaderBodySeparatorDefect) for d in sub.defects)
        encoded = _raw_bytes(head + ("" if joined or not head else linesep) + payload)
    return _b64(encoded) if cte == "base64" else binascii.a2b_qp(encoded)


def _walk_alternative(children: list[Message], out: _Walk, depth: int) -> None:
    """Alternatives come in increasing order of preference (RFC 2046 §5.1.4), so the
    last one that has plain text is read; without any, the last one that has HTML.
    Plain text still wins over HTML that follows it: the text is for an agent to read."""
    tried: list[_Walk] = []
    for child in children:
        sub = out.fork()
        _walk(child, sub, depth + 1)
        out.parts = sub.parts
        out.unread += sub.unread
        tried.append(sub)
    latest = tried[::-1]
    ranked = [w for w in latest if any(t.strip() for t in w.plain)]
    ranked += [w for w in latest if any(h.strip() for h in w.html)]
    ranked += [w for w in latest if w.html]
    chosen = next(iter(ranked), None)
    if chosen is not None:
        out.bodies.extend(chosen.bodies)
    for sub in tried:
        out.attachments.extend(sub.attachments)
        out.named_plain.extend(sub.named_plain)
        out.calendars.extend(sub.calendars)
        out.saw_plain = out.saw_plain or sub.saw_plain


# --- the parser -------------------------------------------------------------------------


if TYPE_CHECKING:
    _FeedParser = BytesFeedParser[Message]
else:
    _FeedParser = BytesFeedParser  # not subscriptable at run time


class PartsNotParsedDefect(errors.MessageDefect):
    """Parts past ``PARSE_PARTS``, or nested past ``MAX_DEPTH``, were not parsed."""


class _Cut(Exception):
    """The parser has built ``PARSE_PARTS`` parts; the rest is not built."""


class _BoundedParser(_FeedParser):
    """The stdlib's feed parser, building at most ``PARSE_PARTS`` parts, and parsing no
    part deeper than ``MAX_DEPTH`` as a multipart or message (its body stays one opaque
    payload, which the walk does not read).

    The stdlib builds the whole tree before anything can walk it, at a cost per part
    (200,000 empty parts took 6 s), per line times the depth (each line is matched
    against every enclosing boundary) and a recursion per level (5,000 levels raised
    RecursionError), so the limits must hold while it parses. It has no hook for that;
    these two overrides of its private methods are the narrowest one."""

    _msgstack: list[Message]
    _input: object

    def __init__(self, policy: Policy) -> None:
        super().__init__(policy=policy)
        self.built = 0
        self.too_deep = False

    def _new_message(self) -> None:
        if self.built >= PARSE_PARTS:
            raise _Cut
        self.built += 1
        super()._new_message()  # type: ignore[misc]  # private, stable since Python 3.2

    def _parse_headers(self, lines: list[str]) -> None:
        super()._parse_headers(lines)  # type: ignore[misc]  # private, stable since 3.2
        part = self._msgstack[-1]
        if len(self._msgstack) > MAX_DEPTH + 1 and part.get_content_maintype() in (
            "multipart",
            "message",
        ):
            del part["content-type"]
            part["Content-Type"] = "application/octet-stream"
            self.too_deep = True

    def unparsed(self) -> dict[int, int]:
        """After a cut: for each open multipart (by id), the parts it has that were not
        built, the one being started included. Counted from the boundary lines of the
        rest, as the walk counts parts past ``MAX_PARTS`` (their children not)."""
        stack = self._msgstack
        found = {id(m): 0 for m in stack}
        if stack and stack[-1].get_content_maintype() == "multipart":
            found[id(stack[-1])] = 1
        levels: dict[str, int] = {}
        for level, part in enumerate(stack):
            boundary = part.get_boundary() if part.get_content_maintype() == "multipart" else None
            if boundary:
                levels["--" + boundary] = level
        lines = getattr(self._input, "_lines", None)
        if not levels or not isinstance(lines, Iterable):
            return found
        open_levels = len(stack)
        for line in lines:
            if not isinstance(line, str) or not line.startswith("--"):
                continue
            mark = line.rstrip(" \t\r\n")
            closing = mark not in levels and mark.endswith("--")
            level = levels.get(mark[:-2] if closing else mark, open_levels)
            if level >= open_levels:
                continue
            if closing:
                open_levels = level
            else:
                found[id(stack[level])] += 1
                open_levels = level + 1
        return found


def skip_banner(raw: bytes) -> tuple[bytes, bool]:
    """A forwarded message pasted with its banner (``---------- Forwarded message ---``,
    ``Begin forwarded message:``) above the headers: the banner lines are dropped."""
    head = raw.lstrip(b"\r\n")
    lines = head.split(b"\n", BANNER_MAX_LINES + 1)
    if not lines or HEADER_LINE.match(lines[0]) or lines[0].startswith(b"From "):
        return raw, False
    for skip in range(1, min(len(lines), BANNER_MAX_LINES + 1)):
        if not (BANNER.search(lines[skip - 1]) or not lines[skip - 1].strip()):
            break
        if HEADER_LINE.match(lines[skip]):
            return b"\n".join(lines[skip:]), True
    return raw, False


def parse_email(raw: bytes, *, group_addresses: Iterable[str] = ()) -> ParsedEmail:
    """Every field Switchboard needs from one raw message. Never raises.
    ``group_addresses``: our support addresses that are lists (``auto_reply_reason``)."""
    try:
        return _parse(raw, group_addresses)
    except Exception:  # noqa: BLE001 - last resort: arbitrary bytes must not fail ingress
        return ParsedEmail(text=trim_text(decode_bytes(raw, None)), defects=1)


def _parse(raw: bytes, group_addresses: Iterable[str]) -> ParsedEmail:
    with parse_scope():
        return _parse_scoped(raw, group_addresses)


def _structure(raw: bytes) -> tuple[Message, dict[int, int], Exception | None]:
    """The parsed message, the parts not built per multipart (by id), and the error that
    kept the body from being parsed, if any (the headers are parsed then, alone)."""
    parser = _BoundedParser(PLAIN_HEADERS)
    unparsed: dict[int, int] = {}
    try:
        parser.feed(raw)
        msg = parser.close()
    except _Cut:
        msg = parser._msgstack[0]  # noqa: SLF001 - the root of what was built
        unparsed = parser.unparsed()
        msg.defects.append(PartsNotParsedDefect(f"parts past {PARSE_PARTS} not parsed"))
    except Exception as exc:  # noqa: BLE001 - the stdlib parser has many failure modes
        return BytesParser(policy=PLAIN_HEADERS).parsebytes(raw, headersonly=True), {}, exc
    if parser.too_deep:
        msg.defects.append(PartsNotParsedDefect(f"parts nested past {MAX_DEPTH} not parsed"))
    return msg, unparsed, None


def _parse_scoped(raw: bytes, group_addresses: Iterable[str]) -> ParsedEmail:
    raw, bannered = skip_banner(raw)
    msg, unparsed, body_error = _structure(raw)
    headers = _Headers(msg)
    if bannered:
        headers.warnings.append("forwarded-message banner before the headers skipped")
    froms = headers.raw("from")
    sender = next(iter(headers.addresses("from")), None)
    try:
        if body_error is not None:
            raise body_error
        linesep = "\r\n" if b"\r\n" in raw else "\n"
        body = _body(msg, headers, linesep, unparsed, len(raw))
        text, quoted, html_only, attachments, itip = body
    except Exception as exc:  # noqa: BLE001 - a body it cannot walk keeps the headers
        log.warning("email_body_unreadable", error=type(exc).__name__)
        headers.warnings.append("body could not be parsed: kept as raw text")
        text, quoted, html_only, attachments, itip = _raw_body(raw), [], False, [], None
    to, cc = headers.addresses("to"), headers.addresses("cc")
    delivered_to = headers.addresses("delivered-to") or headers.addresses("x-original-to")
    reply_to = headers.addresses("reply-to")
    subject = read_subject(headers)
    senders = ([sender] if sender else []) + headers.addresses("sender")
    reason = auto_reply_reason(
        headers.text,
        senders=senders,
        raw_from=froms[0] if froms else None,
        content_type=msg.get_content_type(),
        subject=subject,
        itip_method=itip,
        group_addresses=group_addresses,
    )
    return ParsedEmail(
        sender=sender,
        to=to,
        cc=cc,
        delivered_to=delivered_to,
        reply_to=reply_to,
        subject=subject,
        message_id=next(iter(message_ids(headers.text("message-id"))), None),
        in_reply_to=read_in_reply_to(headers),
        references=read_references(headers),
        date=parse_date(next(iter(headers.raw("date")), None)),
        text=trim_text(text),
        quoted="\n\n".join(q for q in quoted if q) or None,
        html_only=html_only,
        attachments=attachments,
        auto_reply_reason=reason,
        warnings=headers.warnings,
        defects=len(msg.defects),
        to_self=written_to_self(
            sender,
            (*to, *cc),
            delivered_to=delivered_to,
            reply_to=reply_to,
            headers=headers,
            group_addresses=group_addresses,
        ),
    )


def _body(
    msg: Message, headers: _Headers, linesep: str, unparsed: dict[int, int], size: int
) -> tuple[str, list[str], bool, list[Attachment], str | None]:
    """The text (plain preferred, else HTML as text), its quoted history, whether it came
    from HTML only, the attachments' metadata, and the iTIP method of a mail that is
    only a calendar message (no text, no attachment but calendars). An invitation
    (``REQUEST``) with no text has its event's summary and description as its text.
    ``unparsed``: the parts the parser did not build, per multipart; those of multiparts
    the walk read are counted unread.
    ``size``: the mail's, which bounds the forwarded messages decoded for its text."""
    charsets: dict[int, str | None] = {}
    walk = _Walk(headers, _declared_charsets(msg, charsets), linesep, charsets=charsets)
    _walk(msg, walk)
    walk.unread += sum(n for key, n in unparsed.items() if key in walk.descended)
    if walk.unread:
        # The limit keeps a crafted message from costing the parser unbounded time; the
        # record says so, as a list that looks complete would mislead an agent.
        headers.warnings.append(
            f"attachments: only the first {MAX_PARTS} MIME parts were read, "
            f"{walk.unread} more not listed"
        )
    text, quoted, html_only = _read(walk, msg, 0, FORWARD_PARSE_FACTOR * size)
    itip = None
    if walk.calendars and not text.strip():
        calendar = _calendar(walk.calendars[0], walk)
        if calendar.method == "REQUEST":
            text = calendar.text()
        types = {a.content_type for a in walk.attachments}
        itip = calendar.method if types <= CALENDAR_TYPES else None
    return text, quoted, html_only, walk.attachments, itip


def _calendar(part: Message, walk: _Walk) -> Calendar:
    """A ``text/calendar`` part read: its method and its first event's words."""
    try:
        declared = part.get_param("method")
    except Exception:  # noqa: BLE001 - the stdlib email API raises many kinds on malformed input
        declared = None
    text = decode_bytes(_payload(part, walk.headers), walk.charset(part), walk.declared)
    return read_calendar(text, declared if isinstance(declared, str) else None)


def _read(walk: _Walk, root: Message, depth: int, budget: int) -> tuple[str, list[str], bool]:
    """The text of a walked message, its quoted history, and whether it came from HTML
    because there was no text/plain part. The body parts are read in document order, the
    HTML ones as text: an alternative has added only the one it chose, so an HTML part
    here is content in its own right (a ``multipart/mixed`` with a plain part, an image,
    then more words in inline HTML). An HTML part that only repeats a plain part's words
    (a mailer's alternatives sent as ``multipart/mixed``) is not read twice. A mail with
    no text there has its words, if any, in an inline text/plain part with a file name
    (listed as an attachment too), or, when the whole message is a forwarded one (a
    top-level ``message/rfc822``), in that message. ``budget``: the bytes of forwarded
    messages sent encoded that may still be decoded and parsed."""
    headers = walk.headers
    parts: list[str] = []
    quoted: list[str] = []
    read: dict[bool, set[str]] = {False: set(), True: set()}
    for is_html, body in walk.bodies:
        history = ""
        if is_html:
            own, history = split_html(body)
            if len(own) > MAX_HTML_CHARS and HTML_CUT not in headers.warnings:
                headers.warnings.append(HTML_CUT)  # and the event says ``truncated``
            text = html_to_text(own)
        else:
            text = trim_text(body) if body.strip() else ""
        words = " ".join(text.split())
        if not words or words in read[not is_html]:
            continue
        read[is_html].add(words)
        parts.append(text)
        if history:
            quoted.append(html_to_text(history))
    text = "\n\n".join(parts)
    html_only = bool(walk.html) and not walk.saw_plain
    if text.strip():
        return text, quoted, html_only
    named = [_plain_text(part, walk) for part in walk.named_plain]
    if any(t.strip() for t in named):
        return "\n\n".join(trim_text(t) for t in named if t.strip()), [], False
    forward = _forwarded(root, walk, budget) if depth < MAX_DEPTH else None
    if forward is not None:
        inner, decoded = forward
        sub = walk.fork()
        if decoded:
            sub.declared = [*walk.declared, *_declared_charsets(inner, walk.charsets)]
        _walk(inner, sub, depth + 1)
        walk.parts = sub.parts
        found = _read(sub, inner, depth + 1, budget - decoded)
        if found[0].strip():
            return found
    return text, quoted, html_only


def _plain_text(part: Message, walk: _Walk, data: bytes | None = None) -> str:
    """A text/plain part's text (``data``: its payload, when already read): decoded in
    its charset, an inline cleartext-signed block read as the text it signed (before the
    flowed lines are joined: its dash-escaped ``- -- `` is a signature separator), its
    format=flowed lines joined (RFC 3676)."""
    payload = _payload(part, walk.headers) if data is None else data
    text = read_signed(decode_bytes(payload, walk.charset(part), walk.declared))
    if has_encrypted_block(text) and ENCRYPTED not in walk.headers.warnings:
        walk.headers.warnings.append(ENCRYPTED)
    flowed, delsp = _flowed(part)
    return unflow(text, delsp=delsp) if flowed else text


def _forwarded(msg: Message, walk: _Walk, budget: int) -> tuple[Message, int] | None:
    """The message a ``message/rfc822`` (or ``message/global``) holds, and the bytes
    decoded to read it. One sent base64 or quoted-printable (RFC 2046 forbids it for
    ``message/*``; mailers send it), which the parser could not read as a message, is
    decoded and parsed here, within the same limits, if it fits in ``budget``; one that
    does not decode to a message, or does not fit, is skipped, which a warning says."""
    if msg.get_content_type() not in ("message/rfc822", "message/global"):
        return None
    payload = msg.get_payload()
    if not isinstance(payload, list):
        return None
    sub = next((part for part in payload if isinstance(part, Message)), None)
    cte = (walk.headers.text("content-transfer-encoding", msg) or "").strip().lower()
    if sub is None or cte not in ("base64", "quoted-printable"):
        return None if sub is None else (sub, 0)
    data = _decoded_message(sub, cte, walk.linesep)
    if len(data) <= budget and HEADER_LINE.match(data.lstrip(b"\r\n")):
        inner, _, error = _structure(data)
        if error is None:
            return inner, len(data)
    if len(data) > budget:
        warning = f"forwarded message sent {cte}: nested past the parse limit, its text not read"
    else:
        warning = f"forwarded message sent {cte} could not be decoded: its text not read"
    if warning not in walk.headers.warnings:
        walk.headers.warnings.append(warning)
    return None


def _raw_body(raw: bytes) -> str:
    """What follows the headers, as text: the last resort for a body that cannot be walked."""
    _, sep, rest = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    return trim_text(decode_bytes(rest if sep else raw, None))
