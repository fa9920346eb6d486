"""The header rules of a parsed mail that are more than decoding: how much of a Subject,
References and In-Reply-To longer than the parser reads (``MAX_HEADER_CHARS``) is kept,
and whether the writer sent the mail to themselves with our inbox in Bcc. They read the
headers through :mod:`channels.mime`'s header access, described by :class:`HeaderReader`.
"""

from __future__ import annotations

from collections.abc import Iterable
from email.message import Message
from typing import Protocol

from channels.addresses import Mailbox
from channels.header_policy import MAX_HEADER_CHARS
from channels.mail_text import message_ids

MAX_REFERENCES = 100


class HeaderReader(Protocol):
    """The headers of one message as :mod:`channels.mime` reads them: decoded, and with
    the parse warnings of the message."""

    warnings: list[str]

    def raw(self, name: str, part: Message | None = None) -> list[str]: ...

    def text(self, name: str, part: Message | None = None) -> str | None: ...

    def was_cut(self, name: str) -> bool: ...

    def size(self, name: str) -> int: ...


def written_to_self(
    sender: Mailbox | None,
    recipients: Iterable[Mailbox],
    *,
    delivered_to: list[Mailbox],
    reply_to: list[Mailbox],
    headers: HeaderReader,
    group_addresses: Iterable[str],
) -> bool:
    """Whether the writer addressed the mail to themselves (From among To and Cc) and it
    was delivered to another address, the inbox they had in Bcc. Not when From may be our
    own address relaying someone else's mail, which is written to itself too: a list's
    (``List-Id``: a Google Group used as the support address rewrites From to itself),
    one of ``group_addresses``, or one whose mail names another writer
    (``X-Original-Sender``, a ``Reply-To`` other than From: a web form or shop sending
    from the support address)."""
    if sender is None:
        return False
    own = sender.email
    if own not in {box.email for box in recipients}:
        return False
    if all(box.email == own for box in delivered_to):
        return False  # delivered to From itself, or no delivery header: no one else named
    if headers.raw("list-id") or headers.raw("x-original-sender"):
        return False
    if any(box.email != own for box in reply_to):
        return False
    return own not in {address.strip().lower() for address in group_addresses}


def _unfolded(value: str) -> str:
    return value.replace("\r", "").replace("\n", "")


def read_subject(headers: HeaderReader) -> str | None:
    """The Subject; one longer than ``MAX_HEADER_CHARS`` is read cut, which a parse
    warning says."""
    subject = headers.text("subject")
    if subject is not None and headers.was_cut("subject"):
        written = len(_unfolded(headers.raw("subject")[0]))
        headers.warnings.append(f"subject: {written} characters, cut to the first {len(subject)}")
    return subject


def read_references(headers: HeaderReader) -> list[str]:
    """At most the last ``MAX_REFERENCES`` ids of References. Of one longer than the
    headers read (``MAX_HEADER_CHARS``), its end is read: the parent is the last id."""
    if headers.size("references") <= MAX_HEADER_CHARS:
        return message_ids(headers.text("references"))[-MAX_REFERENCES:]
    value = _unfolded(headers.raw("references")[0])
    tail = value[-MAX_HEADER_CHARS:]
    if value[-MAX_HEADER_CHARS - 1 : -MAX_HEADER_CHARS].strip():
        # the cut is inside the first id: it is not one
        tail = tail[tail.find("<") :] if "<" in tail else tail.partition(" ")[2]
    return message_ids(tail)[-MAX_REFERENCES:]


def read_thread(headers: HeaderReader) -> tuple[str | None, list[str]]:
    """In-Reply-To's first id, and References. A reply to several messages names them
    all in In-Reply-To (RFC 5322 section 3.6.4): the ids after the first go at the end
    of References, where a reply to any of them finds its ticket (they were dropped)."""
    parent, references = read_in_reply_to(headers), read_references(headers)
    if headers.size("in-reply-to") > MAX_HEADER_CHARS:
        return parent, references
    others = message_ids(headers.text("in-reply-to"))[1:]
    extra = [i for i in dict.fromkeys(others) if i not in references and i != parent]
    return parent, (references + extra)[-MAX_REFERENCES:]


def read_in_reply_to(headers: HeaderReader) -> str | None:
    """The first id of In-Reply-To (see ``_first_of_long`` for one longer than the
    headers read)."""
    if headers.size("in-reply-to") <= MAX_HEADER_CHARS:
        return next(iter(message_ids(headers.text("in-reply-to"))), None)
    return _first_of_long(headers, "in-reply-to")


def read_message_id(headers: HeaderReader) -> str | None:
    """The Message-ID, read from the header as written: the stdlib's reading of it ends
    at a space (``<Order 123@shop.test>`` was ``<Order``) and at 4 KiB, so two ids alike
    up to there were one, the second mail dropped as a retry of the first."""
    if headers.size("message-id") <= MAX_HEADER_CHARS:
        return next(iter(message_ids(next(iter(headers.raw("message-id")), None))), None)
    return _first_of_long(headers, "message-id")


def _first_of_long(headers: HeaderReader, name: str) -> str | None:
    """The first id of header ``name`` longer than the headers read
    (``MAX_HEADER_CHARS``), taken only if it ends before that: an id cut there would be
    another id, so it is dropped, with a warning."""
    value = _unfolded(headers.raw(name)[0])
    head = value[:MAX_HEADER_CHARS]
    if value[MAX_HEADER_CHARS : MAX_HEADER_CHARS + 1].strip():
        # the cut is inside the last id: it is not one
        head = head[: head.rfind(">") + 1] if ">" in head else head.rpartition(" ")[0]
    found = next(iter(message_ids(head)), None)
    if found is None:
        headers.warnings.append(f"{name}: an id longer than {MAX_HEADER_CHARS} characters dropped")
    return found
