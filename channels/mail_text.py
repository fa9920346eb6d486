"""Text from mail: RFC 2047 encoded words, message ids, dates, ``format=flowed`` text,
HTML rendered as text and inline uuencoded files. Each is tolerant of the usual
breakage, and none raises.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from inscriptis import get_text

from channels.charsets import decode_bytes
from router.events import Attachment

ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?\s]*)\?=")
BETWEEN_WORDS = re.compile(r"(\?=)[ \t\r\n]+(=\?)")
MSG_ID = re.compile(r"<([^<>\s]+)>")
GLUED_HEADER = re.compile(
    r"(?<=[\d)A-Za-z])\s*[A-Z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)+:.*$|(?<=[\d)])\s*[A-Z][a-z]+:.*$",
    re.DOTALL,
)
UU_BLOCK = re.compile(
    r"^begin(?:-base64)? [0-7]{3,4} ([^\n]+)\n((?:[^\n]*\n)*?)(?:end|====)[ \t]*$", re.MULTILINE
)
HAS_TAG = re.compile(r"<[A-Za-z!/?]")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
SIG_SEPARATOR = "-- "


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


def trim_text(text: str) -> str:
    """Blank lines at either end and trailing whitespace go; indentation stays. C0 control
    characters other than tab and line breaks go too: a NUL breaks the databases and JSON
    consumers downstream, and none of them is text a customer wrote."""
    text = CONTROL.sub("", text)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").rstrip().split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines)


def message_ids(value: str | None) -> list[str]:
    """Message ids without angle brackets, in order, deduplicated, the part right of the
    ``@`` in lower case: it is a domain (RFC 5322), and a mailer that changes its case
    in In-Reply-To still answers the same message."""
    if not value:
        return []
    ids = MSG_ID.findall(value) or value.split()
    seen: dict[str, None] = {}
    for mid in ids:
        left, at, right = mid.strip().rpartition("@")
        seen.setdefault(f"{left}{at}{right.lower()}" if at else right, None)
    return [m for m in seen if m]


def parse_date(value: str | None) -> datetime | None:
    """The instant, in UTC. A header glued to the end (``+0100X-Mailer: ...``) is cut off
    first; left on, it makes the parser drop the zone and read local time as UTC."""
    if not value:
        return None
    value = GLUED_HEADER.sub("", value).strip()
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
    Space-stuffing is undone and quoted lines are written back as ``> `` lines."""
    out: list[str] = []
    pending: str | None = None
    pending_depth = 0
    for line in text.replace("\r\n", "\n").split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]
        if pending is not None and (depth != pending_depth or content == SIG_SEPARATOR):
            out.append(_quoted(pending_depth, pending.rstrip(" ")))
            pending = None
        if pending is not None:
            content = pending + content
        if content.endswith(" ") and content != SIG_SEPARATOR:
            pending, pending_depth = (content[:-1] if delsp else content), depth
            continue
        pending = None
        out.append(_quoted(depth, content))
    if pending is not None:
        out.append(_quoted(pending_depth, pending.rstrip(" ")))
    return "\n".join(out)


def _quoted(depth: int, content: str) -> str:
    return ">" * depth + " " + content if depth else content


def html_to_text(html: str) -> str:
    """Readable text with paragraph breaks; a "text/html" part without tags is text.

    Indentation from the renderer (nested blocks) is layout, not the writer's: dropped."""
    if not HAS_TAG.search(html):
        return trim_text(html)
    try:
        text = str(get_text(html))
    except Exception:  # noqa: BLE001 - lxml refuses some documents; tags stripped instead
        text = re.sub(r"(?i)<br\s*/?>|</(?:p|div|li|tr|h\d)>", "\n", html)
        text = re.sub(r"[ \t]+", " ", re.sub(r"<[^>]*>", " ", text))
    return trim_text("\n".join(line.strip() for line in text.split("\n")))


def extract_uuencoded(text: str) -> tuple[str, list[Attachment]]:
    """Inline uuencode (``begin 644 name`` ... ``end``), as old clients attach files:
    each block leaves the text and becomes attachment metadata."""
    if "begin " not in text:
        return text, []
    found: list[Attachment] = []

    def take(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        size = 0
        for line in match.group(2).split("\n"):
            if not line.strip() or line.strip() == "`":
                continue
            try:
                size += len(binascii.a2b_uu(line))
            except binascii.Error:
                # some encoders pad short lines badly; the length byte is still right
                size += max(0, (ord(line[0]) - 32) & 63)
        ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        found.append(Attachment(name=name or None, content_type=ctype, size=size))
        return ""

    normalised = text.replace("\r\n", "\n")
    remaining = UU_BLOCK.sub(take, normalised)
    if not found:
        return text, []
    return re.sub(r"\n{3,}", "\n\n", remaining), found
