"""Raw MIME to the fields Switchboard needs. Never raises, whatever the bytes.

The stdlib ``email`` package with ``policy.default`` does the MIME structure, transfer
encodings and RFC 2047/2231 decoding. Real mail breaks it in places, and each place has
its repair: bytes become text through :mod:`channels.charsets` (charset families,
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
Each header's text and addresses are read by :mod:`channels.mime_headers`. The parser,
held to limits on parts and depth, is :mod:`channels.mime_parser`; the tree's
repairs are in :mod:`channels.mime_repair`, attached and forwarded messages (decoded when
sent encoded) in :mod:`channels.mime_forwards`.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from email.policy import Policy
from urllib.parse import unquote_to_bytes

import structlog

from channels.addresses import Mailbox
from channels.auto_replies import auto_reply_reason
from channels.charsets import decode_bytes
from channels.header_policy import PLAIN_HEADERS, parse_scope
from channels.itip import INVITATION_METHODS, Calendar, read_calendar
from channels.mail_headers import read_message_id, read_subject, read_thread, written_to_self
from channels.mail_text import (
    MAX_HTML_CHARS,
    decode_words,
    extract_uuencoded,
    html_text,
    parse_date,
    trim_text,
    unflow,
)
from channels.mime_forwards import FORWARD_PARSE_FACTOR, FORWARDS, attached_message, forwarded
from channels.mime_headers import Headers, clean, declared_charsets, part_charset
from channels.mime_parser import (
    HEADER_LINE,
    HEADER_NAME,
    MAX_DEPTH,
    MAX_PARTS,
    decode_base64,
    raw_bytes,
    raw_header,
    structure,
    undecoded,
)
from channels.mime_repair import cut_glued_close, reused_boundary, undeclared_boundary
from channels.pgp import ENCRYPTED, has_encrypted_block, read_signed
from channels.replies import split_html
from router.events import Attachment

log = structlog.get_logger("switchboard.ingress.email")

__all__ = ["Mailbox", "ParsedEmail", "decode_bytes", "decode_words", "parse_email"]

REPLACEMENT = "\ufffd"  # what the stdlib puts for a byte it could not decode
BANNER_MAX_LINES = 3
HEADER_END = re.compile(rb"\r?\n\r?\n")
BANNER = re.compile(
    rb"(?i)-{3,}|forward|original message|weitergeleitet|urspr|transf|reenviado|inoltrato"
)
NO_BOUNDARY = "multipart: no boundary lines, read as one text part"
HTML_CUT = f"text/html: only the first {MAX_HTML_CHARS // 1024 // 1024} MiB of markup rendered"
HTML_STRIPPED = (
    "text/html: not rendered whole (elements nested too deep, or markup the renderer refused),"
    " read with its tags stripped"
)
TOO_DEEP = f"MIME parts nested deeper than {MAX_DEPTH} levels not read"
FORWARD_TOO_DEEP = f"forwarded messages nested deeper than {MAX_DEPTH} levels not read"
NAME_PARAM = re.compile(r'(?i)(?:^|;)\s*(?:file)?name\s*=\s*("(?:[^"\\]|\\.)*"|[^;]+)')
DSN = "message/delivery-status"
#: The parts of a calendar message: its iMIP part and the same as a file (``invite.ics``).
CALENDAR_TYPES = frozenset({"text/calendar", "application/ics"})
NAMING_HEADERS = frozenset({"content-disposition", "content-type"})


@dataclass
class ParsedEmail:
    """What the email adapter publishes; every field optional because mail is messy."""

    sender: Mailbox | None = None
    to: list[Mailbox] = field(default_factory=list)
    cc: list[Mailbox] = field(default_factory=list)
    #: ``X-Original-To`` (or ``Envelope-to``, ``X-Envelope-To``) then ``Delivered-To``,
    #: each address once
    delivered_to: list[Mailbox] = field(default_factory=list)
    #: ``Resent-To``: where the mail was redirected ("Redirect" in Thunderbird, Outlook's
    #: redirect rule, mutt's bounce), the latest first
    resent_to: list[Mailbox] = field(default_factory=list)
    #: ``X-Original-To``: the envelope recipient before aliases (Postfix); Exim's
    #: ``Envelope-to`` and others' ``X-Envelope-To`` alike
    original_to: list[Mailbox] = field(default_factory=list)
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
    #: per address header (``cc``), the addresses (``@`` signs) past what was parsed of
    #: a header longer than ``MAX_HEADER_CHARS``; see ``Headers.addresses``
    addresses_unread: dict[str, int] = field(default_factory=dict)
    #: the bytes the parser read (``raw`` after ``skip_banner`` and ``refold_headers``),
    #: for the adapter's look at headers the fields above do not keep, without a second
    #: pass of those two; None when the message could not be parsed at all
    prepared: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def inbox(self) -> str | None:
        """The address written to: the To or Cc address the mail was delivered to
        (``Delivered-To``/``X-Original-To``: our inbox when a customer writes to someone
        else with us in copy); else, for a mail its writer addressed to themselves with
        us in Bcc (``to_self``), the delivery address that is not theirs; else the first
        To, Cc, or delivery address. Both delivery headers count: Postfix writes
        ``X-Original-To`` (the address written to) beside ``Delivered-To`` (the mailbox
        it reached after aliases), and only the first may be among To and Cc; when neither
        is, ``X-Original-To`` (we were in Bcc) comes before the first To. A mail
        redirected to us (``Resent-To``) was written to someone else: its inbox is the
        address it was redirected to, the delivered one where there are several. Exim's
        ``Envelope-to`` and others' ``X-Envelope-To`` count as ``X-Original-To``."""
        delivered = {box.email for box in self.delivered_to}
        if self.resent_to:
            resent = [box.email for box in self.resent_to]
            return next((email for email in resent if email in delivered), resent[0])
        for box in (*self.to, *self.cc):
            if box.email in delivered:
                return box.email
        if self.to_self and self.sender is not None:
            for box in self.delivered_to:
                if box.email != self.sender.email:
                    return box.email
        if self.original_to:  # none of To and Cc: we were in Bcc, or got it through a list
            return self.original_to[0].email
        for group in (self.to, self.cc, self.delivered_to):
            if group:
                return group[0].email
        return None


# --- bodies ----------------------------------------------------------------------------


def _payload(part: Message, headers: Headers) -> bytes:
    """The decoded body of a leaf part; tolerant of padding errors and stray whitespace."""
    raw = undecoded(part)
    data = raw_bytes(raw) if isinstance(raw, str) else b""
    cte = (headers.text("content-transfer-encoding", part) or "").strip().lower()
    if cte == "base64":
        return decode_base64(data)
    if cte == "quoted-printable":
        return binascii.a2b_qp(data)
    try:
        decoded = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - broken uuencode and the like
        decoded = None
    return decoded if isinstance(decoded, bytes) else data


def _filename(part: Message, headers: Headers) -> str | None:
    """Disposition ``filename``, else Content-Type ``name`` (RFC 2231 and 2047 alike),
    else the raw parameter when the stdlib could not parse it (``name==?utf-8?q?...``),
    stopped at a space or a special character in an unquoted name (``filename=My
    Invoice.pdf``, ``report(1).pdf``, ``attach/01``: it had kept ``report``), or lost its 8-bit
    characters (``filename=ci\xeble.txt`` in Latin-1: the raw header is read in the
    mail's charset, as every raw 8-bit header is)."""
    if not _may_name_a_file(part):
        return None  # most body parts: no parameter parsing (the stdlib's is costly)
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001 - malformed RFC 2231 parameters
        name = None
    if name and REPLACEMENT in name:
        name = _joined_pieces(part, headers) or name
    written = _written_name(part, headers)
    if written and (
        not name
        or (written[0] != '"' and written.startswith(name) and written != name)
        or (REPLACEMENT in name and REPLACEMENT not in written)
    ):
        name = written.strip('"')
    if not name:
        return None
    return clean(decode_words(headers.to_text(name))) or None


#: One piece of an RFC 2231 name continued over several parameters: ``filename*1*=...``
NAME_PIECE = re.compile(
    r'(?i)(?:^|;)\s*(?:file)?name\*(\d{1,3})(\*?)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)'
)


def _joined_pieces(part: Message, headers: Headers) -> str | None:
    """An RFC 2231 name continued over several pieces, joined as bytes before it is
    decoded: a character whose bytes are split between two pieces (EUC-KR's two bytes,
    ``...%C6%C4%C0;`` then ``%CF...``) is decoded piece by piece by the stdlib, each half
    a U+FFFD. None when there are no such pieces."""
    for raw in _naming_headers(part, headers):
        pieces = sorted(
            (int(n), bool(star), value.strip().strip('"'))
            for n, star, value in NAME_PIECE.findall(raw)
        )
        if len(pieces) < 2 or not pieces[0][1]:  # a name continued, its charset first
            continue
        charset, _, first = pieces[0][2].partition("'")
        _, _, first = first.partition("'")  # the language, unused
        data = b"".join(
            unquote_to_bytes(value) if star else value.encode("utf-8", "surrogateescape")
            for value, star in [(first, True), *((v, s) for _, s, v in pieces[1:])]
        )
        return decode_bytes(data, charset or None, ())
    return None


def _may_name_a_file(part: Message) -> bool:
    """Whether a ``Content-Disposition`` or ``Content-Type`` of the part holds ``name`` at
    all, as every ``filename`` or ``name`` parameter (RFC 2231 ``name*0*`` too) does."""
    for key, value in part.raw_items():
        if key.lower() in NAMING_HEADERS and "name" in str(value).lower():
            return True
    return False


def _naming_headers(part: Message, headers: Headers) -> Iterator[str]:
    """The part's ``Content-Disposition`` headers, then its ``Content-Type`` ones, as
    written and unfolded: where a file name's parameters are read from."""
    for header in ("content-disposition", "content-type"):
        for raw in headers.raw(header, part):
            yield raw.replace("\r\n", "").replace("\n", "")


def _written_name(part: Message, headers: Headers) -> str | None:
    """The first ``filename``/``name`` parameter as written, quotes included."""
    for raw in _naming_headers(part, headers):
        if match := NAME_PARAM.search(raw):
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


#: Whole messages sealed for their recipient (RFC 3156 PGP/MIME, RFC 8551 S/MIME): the
#: text is inside the encrypted part, so a ticket with no text says why.
SMIME_SEALED = "text: an S/MIME message (encrypted or opaque-signed), not readable"
SEALED = {
    "multipart/encrypted": ENCRYPTED,
    "application/pkcs7-mime": SMIME_SEALED,
    "application/x-pkcs7-mime": SMIME_SEALED,
}


@dataclass
class _Walk:
    headers: Headers
    declared: list[str]
    #: the header policy of the parts parsed again (an epilogue, a forward sent encoded)
    policy: Policy
    #: the message's line ends, for the size of an attached message
    linesep: str = "\r\n"
    #: the body texts in document order: ``(True, markup)`` for HTML, ``(False, text)``
    #: for plain text (an alternative adds only the one it chose)
    bodies: list[tuple[bool, str]] = field(default_factory=list)
    #: a text/plain body part was seen, its text empty or not
    saw_plain: bool = False
    #: text/plain parts with a file name, not disposed as attachments (listed as such; the
    #: text when there is no other, as mail programs show them inline)
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
            self.policy,
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
        return self.charsets[key] if key in self.charsets else part_charset(part)


def _walk(part: Message, out: _Walk, depth: int = 0) -> None:
    out.parts += 1
    if out.parts > MAX_PARTS:
        out.unread += 1
        return
    if depth > MAX_DEPTH:
        if TOO_DEEP not in out.headers.warnings:
            out.headers.warnings.append(TOO_DEEP)
        return
    ctype = _media_type(part)
    if ctype in SEALED and SEALED[ctype] not in out.headers.warnings:
        out.headers.warnings.append(SEALED[ctype])  # the text is inside, not readable
    children = part.get_payload() if part.is_multipart() else None
    kids = [c for c in children if isinstance(c, Message)] if isinstance(children, list) else []
    if ctype.startswith("multipart/") and not kids:
        kids = undeclared_boundary(part, out)
    if ctype.startswith("multipart/") and kids:
        out.descended.add(id(part))
        kids = reused_boundary(part, kids, out)
        cut_glued_close(part, kids[-1])
        if ctype == "multipart/alternative":
            _walk_alternative(kids, out, depth)
        else:
            for child in kids:
                _walk(child, out, depth + 1)
        return
    if ctype.startswith("message/") and ctype != DSN and isinstance(children, list):
        name = _filename(part, out.headers)
        out.attachments.append(attached_message(part, next(iter(kids), None), ctype, out, name))
        return
    if ctype.startswith("multipart/"):
        # A multipart header with no boundary lines: the body is one text part.
        ctype = "text/plain"
        if NO_BOUNDARY not in out.headers.warnings:
            out.headers.warnings.append(NO_BOUNDARY)
    _leaf(part, ctype, out)


#: A media type as RFC 2045 writes it, ``type/subtype`` of token characters
MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")


def _media_type(part: Message) -> str:
    """The part's media type, read where the stdlib's is no type: ``application/pdf
    name="x.pdf"`` (no ``;``) had been the type ``application/pdf name="x.pdf"``, and
    a type with no ``/`` (``application-x-gzip``, ``X-ZIP``) becomes ``text/plain``, which
    RFC 2045 defaults to, and a named part of it a file, ``application/octet-stream``."""
    ctype = part.get_content_type()
    if ctype == "text/plain":
        written = raw_header(part, "content-type").split(";")[0].strip()
        if written and "/" not in written and _may_name_a_file(part):
            return "application/octet-stream"
    if MEDIA_TYPE.fullmatch(ctype):
        return ctype
    head = MEDIA_TYPE.match(ctype)
    return head.group(0) if head else ctype


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
        if ctype == "text/plain" and (disposition == "inline" or _says_plain(part, disposition)):
            out.named_plain.append(part)  # ``msg.txt`` shown in the mail: maybe its text
        out.attachments.append(Attachment(name=name, content_type=ctype, size=len(data)))


def _says_plain(part: Message, disposition: str | None) -> bool:
    """Whether a part with no disposition says it is ``text/plain``, as a mail program
    shows such a part inline: not text/plain by default, which is what the stdlib makes
    of a type it cannot read (``Content-Type: unknown; name="test"``, binary bytes)."""
    if disposition is not None:
        return False
    return raw_header(part, "content-type").strip().lower().startswith("text/plain")


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


def skip_banner(raw: bytes) -> tuple[bytes, bool]:
    """A forwarded message pasted with its banner (``---------- Forwarded message ---``,
    ``Begin forwarded message:``) above the headers: the banner lines are dropped. Blank
    lines above the headers are dropped too (a client's saved mail, a tool that wrote
    one): the stdlib reads a first empty line as the end of no headers at all. So is
    whitespace before the first header (`` From: ...``), which the stdlib reads as the
    continuation of no header, losing it."""
    head = raw.lstrip(b"\r\n")
    if head[:1] in (b" ", b"\t") and HEADER_LINE.match(stripped := head.lstrip(b" \t")):
        head = stripped
    lines = head.split(b"\n", BANNER_MAX_LINES + 1)
    if not lines or HEADER_LINE.match(lines[0]) or lines[0].startswith(b"From "):
        return head, False
    for skip in range(1, min(len(lines), BANNER_MAX_LINES + 1)):
        if not (BANNER.search(lines[skip - 1]) or not lines[skip - 1].strip()):
            break
        if HEADER_LINE.match(lines[skip]):
            return b"\n".join(lines[skip:]), True
    return raw, False


#: Exim's (``envelope_to_add``) and other servers' header naming the address a mail was
#: written to, as Postfix's X-Original-To does; unlike it, they may list every recipient
#: of the SMTP transaction (``envelope_recipient``).
ENVELOPE_TO = ("envelope-to", "x-envelope-to")

#: A header line's continuation written without its leading space (a mail server's
#: ``Received:`` wrapped at "by ..."), or any line that is no header, in the header block.
NOT_A_HEADER_LINE = re.compile(rb"\n(?![ \t])(?!" + HEADER_NAME + rb":)(?=[^\r\n])")
#: The headers every mail has, which mark the block as still going on below such a line.
KNOWN_HEADER = re.compile(
    rb"\n(?:from|to|cc|subject|date|message-id|content-type|mime-version|received"
    rb"|return-path|reply-to|in-reply-to|references|delivered-to|x-original-to)[ \t]*:",
    re.IGNORECASE,
)
UNINDENTED = "headers: lines without indentation read as part of the header above them"


def refold_headers(raw: bytes) -> tuple[bytes, bool]:
    """Lines in the header block that are no header and not indented, with headers every
    mail has below them (Zammad's mail068: ``Received: from ...`` then ``by mail... with
    ESMTP`` at the line's start), read as the header above continuing, as mail programs
    read them: the stdlib ended the headers there, and From, To and Subject became text.
    Lines after the last such header stay: a body written with no blank line above it."""
    end = HEADER_END.search(raw)
    head = raw[: end.start()] if end else raw
    if NOT_A_HEADER_LINE.search(head) is None:
        return raw, False
    last = max((found.start() for found in KNOWN_HEADER.finditer(head)), default=None)
    if last is None:
        return raw, False
    fixed = NOT_A_HEADER_LINE.sub(b"\n ", head[:last])
    if fixed == head[:last]:
        return raw, False
    return fixed + raw[last:], True


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


def _parse_scoped(raw: bytes, group_addresses: Iterable[str]) -> ParsedEmail:
    raw, bannered = skip_banner(raw)
    raw, refolded = refold_headers(raw)
    msg, unparsed, body_error = structure(raw, PLAIN_HEADERS)
    headers = Headers(msg)
    if bannered:
        headers.warnings.append("forwarded-message banner before the headers skipped")
    if refolded:
        headers.warnings.append(UNINDENTED)
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
    # Postfix writes both: X-Original-To the address written to (before aliases),
    # Delivered-To the mailbox it reached; the first is the likelier to be in To or Cc.
    # Exim writes the address written to as Envelope-to, other servers X-Envelope-To.
    original_to = _merged(headers.addresses("x-original-to"), envelope_recipient(headers))
    delivered_to = _merged(original_to, headers.addresses("delivered-to"))
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
    parent, references = read_thread(headers)
    return ParsedEmail(
        sender=sender,
        to=to,
        cc=cc,
        delivered_to=delivered_to,
        resent_to=headers.addresses("resent-to"),
        original_to=original_to,
        reply_to=reply_to,
        subject=subject,
        message_id=read_message_id(headers),
        in_reply_to=parent,
        references=references,
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
        addresses_unread=headers.unread_addresses,
        prepared=raw,
    )


def envelope_recipient(headers: Headers) -> list[Mailbox]:
    """The address of each ``ENVELOPE_TO`` header that names one: one listing several
    (every recipient of the transaction) says nothing of which of them this copy was
    delivered to, and must not outrank the Delivered-To that does. Read without parse
    warnings: a server's bare local part there is no flaw of the customer's mail."""
    found: list[Mailbox] = []
    for name in ENVELOPE_TO:
        warnings = list(headers.warnings)
        boxes = headers.addresses(name)
        headers.warnings[:] = warnings
        if len(boxes) == 1:
            found.extend(boxes)
    return found


def _merged(*groups: list[Mailbox]) -> list[Mailbox]:
    """The addresses of ``groups`` in order, each once."""
    merged: dict[str, Mailbox] = {}
    for group in groups:
        for box in group:
            merged.setdefault(box.email, box)
    return list(merged.values())


def _body(
    msg: Message, headers: Headers, linesep: str, unparsed: dict[int, int], size: int
) -> tuple[str, list[str], bool, list[Attachment], str | None]:
    """The text (plain preferred, else HTML as text), its quoted history, whether it came
    from HTML only, the attachments' metadata, and the iTIP method of a mail that is
    only a calendar message (no text, no attachment but calendars). An invitation
    (``REQUEST``) with no text has its event's summary and description as its text.
    ``unparsed``: the parts the parser did not build, per multipart; those of multiparts
    the walk read are counted unread.
    ``size``: the mail's, which bounds the forwarded messages decoded for its text."""
    charsets: dict[int, str | None] = {}
    declared = declared_charsets(msg, charsets)
    walk = _Walk(headers, declared, PLAIN_HEADERS, linesep, charsets=charsets)
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
        if calendar.method in INVITATION_METHODS:
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
            text = _html_read(own, headers)
        else:
            text = trim_text(body) if body.strip() else ""
        words = " ".join(text.split())
        if not words or words in read[not is_html]:
            continue
        read[is_html].add(words)
        parts.append(text)
        if history:
            quoted.append(_html_read(history, headers))
    text = "\n\n".join(parts)
    html_only = bool(walk.html) and not walk.saw_plain
    if text.strip():
        return text, quoted, html_only
    named = [_plain_text(part, walk) for part in walk.named_plain]
    if any(t.strip() for t in named):
        return "\n\n".join(trim_text(t) for t in named if t.strip()), [], False
    found = _read_forward(walk, root, depth, budget)
    return found if found is not None and found[0].strip() else (text, quoted, html_only)


def _html_read(html: str, headers: Headers) -> str:
    """``html`` as text; read with its tags stripped, the warning says so (its paragraphs
    may run together)."""
    text, stripped = html_text(html)
    if stripped and HTML_STRIPPED not in headers.warnings:
        headers.warnings.append(HTML_STRIPPED)
    return text


def _read_forward(
    walk: _Walk, root: Message, depth: int, budget: int
) -> tuple[str, list[str], bool] | None:
    """What ``_read`` finds in the message a forward ``root`` holds; None when it is no
    forward, or nested deeper than ``MAX_DEPTH``, which a warning says (as for parts)."""
    if depth >= MAX_DEPTH:
        if root.get_content_type() in FORWARDS and FORWARD_TOO_DEEP not in walk.headers.warnings:
            walk.headers.warnings.append(FORWARD_TOO_DEEP)
        return None
    forward = forwarded(root, walk, budget)
    if forward is None:
        return None
    inner, decoded = forward
    sub = walk.fork()
    if decoded:
        sub.declared = [*walk.declared, *declared_charsets(inner, walk.charsets)]
    _walk(inner, sub, depth + 1)
    walk.parts = sub.parts
    return _read(sub, inner, depth + 1, budget - decoded)


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


def _raw_body(raw: bytes) -> str:
    """What follows the headers, as text: the last resort for a body that cannot be walked."""
    _, sep, rest = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    return trim_text(decode_bytes(rest if sep else raw, None))
