"""The stdlib's MIME parser held to limits, for :mod:`channels.mime` and the modules it
reads with (:mod:`channels.mime_repair`, :mod:`channels.mime_forwards`).

:func:`structure` parses a mail, or a part that has to be parsed again, building at most
``PARSE_PARTS`` parts no deeper than ``MAX_DEPTH``: the stdlib builds the whole tree
before anything can walk it, so the limits must hold while it parses. Below the tree are
the bytes it was built from: :func:`raw_bytes` gives a payload the parser kept as text
(8-bit bytes as surrogate escapes) back as those bytes, and :func:`decode_base64` reads
base64 as leniently as mailers write it.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from email import errors
from email.feedparser import BytesFeedParser
from email.message import Message
from email.parser import BytesParser
from email.policy import Policy
from typing import TYPE_CHECKING, Any

MAX_DEPTH = 32
MAX_PARTS = 500
#: Parts the stdlib parser builds at most (the walk reads MAX_PARTS of them; parts inside
#: attached messages and delivery-status blocks count here too).
PARSE_PARTS = 4 * MAX_PARTS
B64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")
#: A header's name (RFC 5322 2.2: printable characters but the colon), as bytes.
HEADER_NAME = rb"[!-9;-~]+"
HEADER_LINE = re.compile(rb"^" + HEADER_NAME + rb":")
#: RFC 2045's tspecials that end a bare parameter value for the stdlib, but for the
#: comment's parentheses: ``boundary=abc(comment)`` is read right as it is
TSPECIALS = frozenset("<>@,;:\\/[]?=")
#: a ``boundary`` parameter, quoted or as mailers write it bare: up to a ``;`` or space
BOUNDARY_PARAM = re.compile(r'(?i)[;\s]\s*boundary\s*=\s*(?:"([^"]+)"|([^";\s]+))')


def raw_bytes(value: str) -> bytes:
    return value.encode("utf-8", errors="surrogateescape")


def undecoded(part: Message) -> Any:
    """A part's payload as the parser left it: ``get_payload()`` decodes a text payload
    holding raw 8-bit bytes with the part's charset and ``errors="replace"`` (ASCII for
    an unknown one), so a quoted-printable ``Grüße`` written in 8-bit Latin-1 under a
    ``utf-8`` label had come back ``Gr��e`` before the charset fallback could read it."""
    return getattr(part, "_payload", None)


def decode_base64(data: bytes) -> bytes:
    """Base64 with stray characters and padding errors tolerated; empty when it still
    does not decode."""
    clean = B64_JUNK.sub(b"", data.split(b"=", 1)[0])
    if len(clean) % 4 == 1:
        clean = clean[:-1]
    try:
        return base64.b64decode(clean + b"=" * (-len(clean) % 4))
    except (binascii.Error, ValueError):
        return b""


def structure(raw: bytes, policy: Policy) -> tuple[Message, dict[int, int], Exception | None]:
    """The parsed message, the parts not built per multipart (by id), and the error that
    kept the body from being parsed, if any (the headers are parsed then, alone).
    ``policy``: the headers' (:mod:`channels.mime` passes the one it reads mail with)."""
    parser = _BoundedParser(policy)
    unparsed: dict[int, int] = {}
    try:
        parser.feed(raw)
        msg = parser.close()
    except _Cut:
        msg = parser._msgstack[0]  # noqa: SLF001 - the root of what was built
        unparsed = parser.unparsed()
        msg.defects.append(PartsNotParsedDefect(f"parts past {PARSE_PARTS} not parsed"))
    except Exception as exc:  # noqa: BLE001 - the stdlib parser has many failure modes
        return BytesParser(policy=policy).parsebytes(raw, headersonly=True), {}, exc
    if parser.too_deep:
        msg.defects.append(PartsNotParsedDefect(f"parts nested past {MAX_DEPTH} not parsed"))
    return msg, unparsed, None


def raw_header(part: Message, name: str) -> str:
    """``part``'s first ``name`` header as written (folding aside), "" when it has none:
    the parsed value has lost what the stdlib could not read."""
    return str(next((v for k, v in part.raw_items() if k.lower() == name), ""))


def _quote_boundary(part: Message) -> None:
    """A multipart's ``boundary`` put in quotes where the mailer left it bare though it
    holds characters that need them: Outlook Express wrote
    ``boundary=----=_NextPart_000_...``, which the stdlib reads as ``----`` (it stops at
    the ``=``), and the whole mail became one text part of raw MIME. A ``boundary`` after
    the type with no ``;`` between (a folded header that lost it) is found the same way.
    The boundary is as the mailer wrote it: its lines in the body match it."""
    value = " ".join(raw_header(part, "content-type").split())
    match = BOUNDARY_PARAM.search(value)
    after_semicolon = match is not None and value[match.start()] == ";"
    if match is None or (after_semicolon and not TSPECIALS.intersection(match.group(2) or "")):
        return  # none, or one the stdlib reads as written: no parameter parsing (costly)
    boundary = match.group(1) or match.group(2)
    if part.get_boundary() == boundary:
        return
    start, end = match.span()
    part.replace_header("content-type", f'{value[:start]}; boundary="{boundary}"{value[end:]}')


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
        maintype = part.get_content_maintype()
        if len(self._msgstack) > MAX_DEPTH + 1 and maintype in ("multipart", "message"):
            del part["content-type"]
            part["Content-Type"] = "application/octet-stream"
            self.too_deep = True
        elif maintype == "multipart":
            _quote_boundary(part)

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
