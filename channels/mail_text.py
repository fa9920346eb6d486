"""Text from mail: RFC 2047 encoded words, message ids, dates, ``format=flowed`` text,
HTML rendered as text and inline uuencoded files. Each is tolerant of the usual
breakage, and none raises.
"""

from __future__ import annotations

import base64
import binascii
import html as entities
import mimetypes
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import lxml.html
from inscriptis import get_text
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.model.config import ParserConfig
from lxml import etree

from channels.charsets import decode_bytes, without_bom
from router.events import Attachment
from router.ids import message_key

#: RFC 2047 encoded words; their text may hold spaces, which the RFC forbids and mailers
#: write (``=?UTF-8?Q? Personal=C3=A4nderung?=``): read as spaces, as mail programs do.
ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?\r\n]{0,998})\?=")
BETWEEN_WORDS = re.compile(r"(\?=)[ \t\r\n]+(=\?)")
MSG_ID = re.compile(r"<([^<>]*)>")
#: What is no part of a message id between its brackets: whitespace and comments, which
#: RFC 5322's obsolete syntax allows around its words (CFWS), and control characters.
NOT_IN_ID = re.compile(r"\([^()]*\)|[\s\x00-\x1f\x7f]+")
GLUED_HEADER = re.compile(
    r"(?<=[\d)A-Za-z])\s*[A-Z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)+:.*$|(?<=[\d)])\s*[A-Z][a-z]+:.*$",
    re.DOTALL,
)
COMMENT = re.compile(r"\([^()]*\)")  # innermost first: a nested one takes more passes
MAX_COMMENT_DEPTH = 3
UU_BEGIN = re.compile(r"^begin(?:-base64)? [0-7]{3,4} ([^\n]+)\n", re.MULTILINE)
UU_END = re.compile(r"^(?:end|====)[ \t]*$", re.MULTILINE)
HAS_TAG = re.compile(r"<[A-Za-z!/?]")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
SIG_SEPARATOR = "-- "
MAX_HTML_CHARS = 1024 * 1024  # markup for far more text than the text limit keeps


def _word_bytes(match: re.Match[str]) -> bytes | None:
    encoding, payload = match.group(2), match.group(3)
    try:
        if encoding.upper() == "B":
            payload = payload.rstrip("=")
            return base64.b64decode(payload + "=" * (-len(payload) % 4), validate=True)
        return binascii.a2b_qp(payload.replace("_", " ").encode("ascii", errors="replace"))
    except (binascii.Error, ValueError):
        return None


def decode_words(text: str) -> str:
    """RFC 2047 encoded words, tolerant of the usual breakage (bad padding, bad charset).
    Adjacent words of one charset are decoded together: mailers split a long value
    wherever the word fills up, a UTF-8 character's bytes across two words too."""
    if "=?" not in text:
        return text
    text = BETWEEN_WORDS.sub(r"\1\2", text)
    out: list[str] = []
    at = 0
    run: list[bytes] = []
    charset = ""
    for match in ENCODED_WORD.finditer(text):
        data = _word_bytes(match)
        word_charset = match.group(1).split("*")[0]
        joins = bool(run) and data is not None and match.start() == at
        joins = joins and word_charset.lower() == charset.lower()
        if run and not joins:
            out.append(decode_bytes(b"".join(run), charset))
            run = []
        out.append(text[at : match.start()])
        if data is None:
            out.append(match.group(0))
        else:
            run.append(data)
            charset = word_charset
        at = match.end()
    if run:
        out.append(decode_bytes(b"".join(run), charset))
    out.append(text[at:])
    return "".join(out)


def trim_text(text: str) -> str:
    """Blank lines at either end and trailing whitespace go; indentation stays. C0 control
    characters other than tab and line breaks go too: a NUL breaks the databases and JSON
    consumers downstream, and none of them is text a customer wrote; so does a leading
    byte order mark (``charsets.without_bom``), whichever way the text was decoded."""
    text = CONTROL.sub("", without_bom(text))
    lines = text.replace("\r\n", "\n").replace("\r", "\n").rstrip().split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines)


def message_ids(value: str | None) -> list[str]:
    """Message ids without angle brackets, in order, as written, each once (two that
    differ only in their domain's case are one: ``router.ids.message_key``, by which
    the router files and finds threads). Kept as written, an auto-reply's In-Reply-To
    names the customer's message byte for byte, which mail clients thread by.

    An id is what is between its brackets without whitespace and comments
    (``NOT_IN_ID``): a shop's ``<Order 123@shop.test>`` is ``Order123@shop.test``. Cut
    at the space, it had been ``<Order`` for every order, so the sender's next mail was
    taken for a retry of the first and dropped, and a reply to any order joined the
    first ticket. Empty brackets (``<>``) name no message. Ids written without
    brackets are read as the words of the value."""
    if not value:
        return []
    bracketed = MSG_ID.findall(value)
    ids = [NOT_IN_ID.sub("", mid) for mid in bracketed or value.split()]
    seen: dict[str, str] = {}
    for mid in ids:
        written = mid.strip("<>")
        if key := message_key(written):
            seen.setdefault(key, written)
    return list(seen.values())


def parse_date(value: str | None) -> datetime | None:
    """The instant, in UTC. A header glued to the end (``+0100X-Mailer: ...``) is cut off
    first, and comments (``00:19:00 (EDT) -0400``) are taken out: left in, either makes
    the parser drop the zone and read local time as UTC."""
    if not value:
        return None
    value = GLUED_HEADER.sub("", value).strip()
    for _ in range(MAX_COMMENT_DEPTH):  # a comment before the zone (RFC 5322 CFWS)
        if "(" not in value:
            break
        value = COMMENT.sub(" ", value).strip()
    try:
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.astimezone(UTC)
    except (TypeError, ValueError, IndexError, OverflowError):  # 9999-12-31 -1200: past max
        return None


def unflow(text: str, *, delsp: bool) -> str:
    """RFC 3676 ``format=flowed`` text as the lines its writer meant.

    A line ending in a space continues on the next line of the same quote depth (the
    space is dropped with ``delsp=yes``); the signature separator ``-- `` never does.
    Space-stuffing is undone and quoted lines are written back as ``> `` lines.
    A paragraph is gathered as pieces and joined once: adding each line to a growing
    string copied it every time, quadratic in a crafted message of a million lines."""
    out: list[str] = []
    pending: _Paragraph | None = None
    for line in text.replace("\r\n", "\n").split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]
        if pending is not None and (depth != pending.depth or content == SIG_SEPARATOR):
            out.append(_quoted(pending.depth, pending.text().rstrip(" ")))
            pending = None
        if pending is None:
            if content.endswith(" ") and content != SIG_SEPARATOR:
                pending = _Paragraph(depth)
                pending.add(content[:-1] if delsp else content)
                continue
            out.append(_quoted(depth, content))
            continue
        pending.add(content)
        if pending.trailing and not pending.is_separator():
            if delsp:
                pending.drop_space()
            continue
        out.append(_quoted(depth, pending.text()))
        pending = None
    if pending is not None:
        out.append(_quoted(pending.depth, pending.text().rstrip(" ")))
    return "\n".join(out)


class _Paragraph:
    """The lines of one flowed paragraph so far, joined once when it ends. ``cut``
    trailing spaces are dropped from the joined pieces (``delsp=yes`` after an empty
    continuation line), ``trailing`` counts those that remain."""

    __slots__ = ("cut", "depth", "length", "pieces", "trailing")

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.pieces: list[str] = []
        self.cut = self.length = self.trailing = 0

    def add(self, piece: str) -> None:
        if not piece:
            return
        if self.cut:
            self._apply_cut()
        self.pieces.append(piece)
        self.length += len(piece)
        stripped = len(piece) - len(piece.rstrip(" "))
        self.trailing = self.trailing + stripped if stripped == len(piece) else stripped

    def drop_space(self) -> None:
        self.cut += 1
        self.length -= 1
        self.trailing -= 1

    def is_separator(self) -> bool:
        return self.length == len(SIG_SEPARATOR) and self.text() == SIG_SEPARATOR

    def text(self) -> str:
        self._apply_cut()
        return "".join(self.pieces)

    def _apply_cut(self) -> None:
        while self.cut:  # only spaces are cut, so whole pieces are all spaces
            last = self.pieces[-1]
            if len(last) <= self.cut:
                self.pieces.pop()
                self.cut -= len(last)
            else:
                self.pieces[-1] = last[: -self.cut]
                self.cut = 0


def _quoted(depth: int, content: str) -> str:
    return ">" * depth + " " + content if depth else content


def bounded_html(html: str) -> tuple[str, bool]:
    """At most ``MAX_HTML_CHARS`` of markup, cut before a tag so none is split, and
    whether anything was cut. The text kept is capped far lower (``SWITCHBOARD_MAX_TEXT_BYTES``,
    64 KiB by default), so rendering a whole crafted 10 MiB part only cost seconds on
    the event loop and a hundred megabytes for text that was then thrown away."""
    if len(html) <= MAX_HTML_CHARS:
        return html, False
    cut = html.rfind("<", 0, MAX_HTML_CHARS + 1)
    return html[: cut if cut > 0 else MAX_HTML_CHARS], True


#: inscriptis's strict CSS profile: its default (relaxed) pads every ``<span>`` with
#: spaces, and mail writes text in spans (Outlook: ``<span>Hello</span><span>,</span>``),
#: which came out ``Hello ,`` and ``Call now .``.
STRICT = ParserConfig(css=CSS_PROFILES["strict"])


def html_to_text(html: str) -> str:
    """Readable text with paragraph breaks; a "text/html" part without tags is text.
    Only the first ``MAX_HTML_CHARS`` of markup are rendered (see ``bounded_html``)."""
    return html_text(html)[0]


#: What a browser does not show: comments, scripts, styles, the title (one left open runs
#: to the end, as it does in a browser; matching to the end keeps the scan linear).
NOT_SHOWN = re.compile(
    r"(?is)<!--.*?(?:-->|\Z)|<(script|style|title|template)\b[^<>]*>.*?(?:</\1\s*>|\Z)"
)
BLOCK_END = re.compile(r"(?i)<br\s*/?>|</(?:p|div|li|tr|h\d)\s*>")
TAG = re.compile(r"<[^<>]*>")  # stops at the next "<": linear on a stray one
XML_DECLARATION = re.compile(r"^\s*<\?xml[^<>]*\?>")
#: The nesting at which lxml's parser stops reading (libxml2's limit, without its "huge"
#: option, which would leave the depth to inscriptis's recursion).
LXML_MAX_DEPTH = 256


def html_text(html: str) -> tuple[str, bool]:
    """``html_to_text``, and whether the tags were stripped instead of rendered: when the
    renderer failed, rendered no text, or its parser (lxml) stopped at its nesting limit.
    That parser stops at 256 nested elements (``<div>`` 260 deep, 70 nested tables)
    without an error, and everything nested deeper and everything after was lost: the
    customer's whole mail could come out empty, and nothing said so.

    Indentation from the renderer (nested blocks) is layout, not the writer's: dropped."""
    html, _ = bounded_html(html)
    if not HAS_TAG.search(html):
        return trim_text(html), False
    try:
        text = str(get_text(html, STRICT))
    except Exception:  # noqa: BLE001 - lxml refuses some documents; tags stripped instead
        text = ""
    rendered = trim_text("\n".join(line.strip() for line in text.split("\n")))
    if rendered and not _too_deep(html):
        return rendered, False
    stripped = _stripped(html)
    return (stripped, True) if stripped else (rendered, False)


def _too_deep(html: str) -> bool:
    """Whether lxml stops reading ``html`` at its nesting limit, as it does for inscriptis
    (parsed again here: a few per cent of the rendering's time, and only for markup of
    that many tags)."""
    if html.count("<") < LXML_MAX_DEPTH:
        return False
    parser = lxml.html.HTMLParser()
    try:
        lxml.html.document_fromstring(XML_DECLARATION.sub("", html, count=1), parser=parser)
    except (etree.LxmlError, ValueError):  # an empty document; the renderer's own error
        return False
    return any(error.type == etree.ErrorTypes.ERR_RESOURCE_LIMIT for error in parser.error_log)


def _stripped(html: str) -> str:
    """The text of ``html`` with its tags taken out, a line break for each block's end
    (at most one blank line in a row)."""
    text = BLOCK_END.sub("\n", NOT_SHOWN.sub(" ", html))
    text = re.sub(r"[ \t]+", " ", entities.unescape(TAG.sub(" ", text)))
    text = "\n".join(line.strip() for line in text.split("\n"))
    return trim_text(re.sub(r"\n{3,}", "\n\n", text))


def extract_uuencoded(text: str) -> tuple[str, list[Attachment]]:
    """Inline uuencode (``begin 644 name`` ... ``end``), as old clients attach files:
    each block leaves the text and becomes attachment metadata."""
    if "begin " not in text:
        return text, []
    found: list[Attachment] = []

    def take(header_name: str, body: str) -> None:
        name = header_name.strip()
        size = 0
        for line in body.split("\n"):
            if not line.strip() or line.strip() == "`":
                continue
            try:
                size += len(binascii.a2b_uu(line))
            except binascii.Error:
                # some encoders pad short lines badly; the length byte is still right
                size += max(0, (ord(line[0]) - 32) & 63)
        ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        found.append(Attachment(name=name or None, content_type=ctype, size=size))

    normalised = text.replace("\r\n", "\n")
    kept: list[str] = []
    pos = 0
    # One pass: a begin line, then the first end line after it. Without an end line
    # no later begin has one either, so the rest is text (a lazy regex over the whole
    # block rescanned the rest of the text for every such begin line: quadratic).
    while (begin := UU_BEGIN.search(normalised, pos)) is not None:
        end = UU_END.search(normalised, begin.end())
        if end is None:
            break
        take(begin.group(1), normalised[begin.end() : end.start()])
        kept.append(normalised[pos : begin.start()])
        pos = end.end()
    if not found:
        return text, []
    kept.append(normalised[pos:])
    return re.sub(r"\n{3,}", "\n\n", "".join(kept)), found
