"""Repairs of the MIME tree the stdlib built from a mail whose delimiter lines it reads
otherwise than the writer meant, made by :mod:`channels.mime`'s walk as it reaches each
multipart: a nested multipart written with its parent's boundary is put back as written
(its parts its own, the parent's rest read from the epilogue), and a close delimiter glued
to the last line of the last part ends that part there.

The other repairs stay where they act: the forwarded-message banner above the headers is
skipped before parsing (:func:`channels.mime.skip_banner`, which the ingress also calls),
a ``multipart/*`` without boundary lines is read as one text part by the walk (unless its
body is written with another boundary than it declares: :func:`undeclared_boundary`), and inline
uuencode is taken out of the text by :func:`channels.mail_text.extract_uuencoded`.
"""

from __future__ import annotations

import re
from email import errors
from email.message import Message
from email.policy import Policy
from typing import Protocol

from channels.mail_headers import HeaderReader
from channels.mime_parser import HEADER_NAME, raw_bytes, structure

REUSED_BOUNDARY = "multipart: a nested multipart reuses its parent's boundary"


class RepairedWalk(Protocol):
    """The walk of one message as the repairs read it and add to it."""

    #: the message's line ends, for a part parsed again
    linesep: str
    policy: Policy
    #: parts not read (past the parser's limits in a parsed epilogue too)
    unread: int
    #: the multipart whose epilogue was parsed for parts (by id; one per message)
    epilogues: list[int]

    @property
    def headers(self) -> HeaderReader: ...


def reused_boundary(multipart: Message, kids: list[Message], out: RepairedWalk) -> list[Message]:
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


def _epilogue_parts(multipart: Message, boundary: str, out: RepairedWalk) -> list[Message]:
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
    holder, unparsed, error = structure(raw_bytes(head + epilogue), out.policy)
    payload = holder.get_payload() if error is None else None
    if not isinstance(payload, list):
        return []
    out.unread += sum(unparsed.values())
    multipart.epilogue = holder.epilogue
    return [kid for kid in payload if isinstance(kid, Message)]


#: a delimiter line as a body opens with one: ``--`` and a boundary (RFC 2046: 1 to 70
#: characters), then a header line
OPENING_DELIMITER = re.compile(r"\A\s*--([^\s\"\\]{1,70})[ \t]*\r?\n" + HEADER_NAME.decode() + ":")
UNDECLARED_BOUNDARY = "multipart: its boundary is not the one its body is written with"


def undeclared_boundary(multipart: Message, out: RepairedWalk) -> list[Message]:
    """The parts of a multipart whose body is written with another boundary than the
    one it declares (SpamScope's mail_malformed_3: ``boundary="--=_HsWz..."`` above a
    body of ``----=_GlSz...`` parts), so the stdlib found no delimiter line: when the body
    opens with a delimiter line and a header under it, it is parsed again with that
    boundary (once per message, as an epilogue is). Else none: the body is one text part.
    """
    body = multipart.get_payload()
    if not isinstance(body, str) or out.epilogues:
        return []
    found = OPENING_DELIMITER.match(body)
    if found is None:
        return []
    out.epilogues.append(id(multipart))
    boundary = found.group(1)
    head = f'Content-Type: multipart/mixed; boundary="{boundary}"{out.linesep}{out.linesep}'
    holder, unparsed, error = structure(raw_bytes(head + body), out.policy)
    payload = holder.get_payload() if error is None else None
    kids = [kid for kid in payload if isinstance(kid, Message)] if isinstance(payload, list) else []
    if kids:
        out.unread += sum(unparsed.values())
        if UNDECLARED_BOUNDARY not in out.headers.warnings:
            out.headers.warnings.append(UNDECLARED_BOUNDARY)
    return kids


def cut_glued_close(multipart: Message, last: Message) -> None:
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
