"""Messages inside a mail (``message/rfc822``, ``message/global``, and other
``message/*``) as :mod:`channels.mime` lists and reads them: each one listed as an
attachment with its size and name (:func:`attached_message`), and the message a forward
holds, to read its text when the mail has none of its own (:func:`forwarded`).

RFC 2046 allows ``message/*`` only unencoded; mailers send it base64 or quoted-printable
all the same, and the stdlib then reads the encoded text as a message. Such a message is
decoded here: its size is the decoded one, and its text is read from the decoded bytes
parsed again, bounded to ``FORWARD_PARSE_FACTOR`` times the mail's size in all.
"""

from __future__ import annotations

import binascii
from email import errors
from email.message import Message
from email.parser import BytesParser
from email.policy import Policy
from typing import Protocol

from channels.header_policy import PLAIN_HEADERS
from channels.mail_headers import HeaderReader
from channels.mime_parser import HEADER_LINE, decode_base64, raw_bytes, structure, undecoded
from router.events import Attachment

#: Forwarded messages sent base64 or quoted-printable are decoded and parsed again for a
#: mail's text, each level of a forward in a forward once more: at most this many times
#: the mail's size in all (quoted-printable leaves most text as long as it was).
FORWARD_PARSE_FACTOR = 2
SERIALISE = {sep: PLAIN_HEADERS.clone(linesep=sep, refold_source="none") for sep in ("\r\n", "\n")}
FORWARDS = ("message/rfc822", "message/global")


class ForwardingWalk(Protocol):
    """The walk of one message as the forwards read it."""

    #: the message's line ends, for the size of an attached message
    linesep: str
    policy: Policy

    @property
    def headers(self) -> HeaderReader: ...


def attached_message(
    part: Message, sub: Message | None, ctype: str, out: ForwardingWalk, name: str | None
) -> Attachment:
    """A message inside the message (a forward, a fragment, an external-body reference):
    its declared file name ``name``, else for a whole message its Subject; its size in
    bytes as attached, decoded when it came base64 or quoted-printable."""
    data, inner = b"", sub
    if sub is not None:
        cte = (out.headers.text("content-transfer-encoding", part) or "").strip().lower()
        if cte in ("base64", "quoted-printable"):
            data = _decoded_message(sub, cte, out.linesep)
            inner = BytesParser(policy=out.policy).parsebytes(data, headersonly=True)
        else:
            try:
                data = sub.as_bytes(policy=SERIALISE[out.linesep])
            except Exception:  # noqa: BLE001 - re-serialising a broken message can fail
                data = b""
    if name is None and inner is not None and ctype in FORWARDS:
        name = out.headers.text("subject", inner)
    return Attachment(name=name, content_type=ctype, size=len(data))


def _decoded_message(sub: Message, cte: str, linesep: str) -> bytes:
    """The bytes of a message attached base64 or quoted-printable, decoded (none when it
    cannot be written back). The parser read the encoded text as a message: base64 as a
    body with no headers, quoted-printable's header lines (it leaves ASCII lines mostly
    as they are) as headers, which are written back as they came, with the blank line
    below them only if there was one."""
    payload = undecoded(sub)
    if sub.is_multipart() or not isinstance(payload, str):
        try:
            encoded = sub.as_bytes(policy=SERIALISE[linesep])
        except Exception:  # noqa: BLE001 - re-serialising a broken message can fail
            return b""
    else:
        head = "".join(f"{name}: {value}{linesep}" for name, value in sub.raw_items())
        joined = any(isinstance(d, errors.MissingHeaderBodySeparatorDefect) for d in sub.defects)
        encoded = raw_bytes(head + ("" if joined or not head else linesep) + payload)
    return decode_base64(encoded) if cte == "base64" else binascii.a2b_qp(encoded)


def forwarded(msg: Message, out: ForwardingWalk, budget: int) -> tuple[Message, int] | None:
    """The message a ``message/rfc822`` (or ``message/global``) holds, and the bytes
    decoded to read it. One sent base64 or quoted-printable, which the parser could not
    read as a message, is decoded and parsed here, within the same limits, if it fits in
    ``budget``; one that does not decode to a message, or does not fit, is skipped, which
    a warning says."""
    if msg.get_content_type() not in FORWARDS:
        return None
    payload = msg.get_payload()
    if not isinstance(payload, list):
        return None
    sub = next((part for part in payload if isinstance(part, Message)), None)
    cte = (out.headers.text("content-transfer-encoding", msg) or "").strip().lower()
    if sub is None or cte not in ("base64", "quoted-printable"):
        return None if sub is None else (sub, 0)
    data = _decoded_message(sub, cte, out.linesep)
    if len(data) <= budget and HEADER_LINE.match(data.lstrip(b"\r\n")):
        inner, _, error = structure(data, out.policy)
        if error is None:
            return inner, len(data)
    if len(data) > budget:
        warning = f"forwarded message sent {cte}: nested past the parse limit, its text not read"
    else:
        warning = f"forwarded message sent {cte} could not be decoded: its text not read"
    if warning not in out.headers.warnings:
        out.headers.warnings.append(warning)
    return None
