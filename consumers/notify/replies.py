"""The threading headers of an emailed auto-reply, so the customer's mail client files it
under their message, in the thread it belongs to. Pure.

RFC 5322 section 3.6.4: a reply's ``In-Reply-To`` is its parent's Message-ID, and its
``References`` the parent's References (or, lacking them, its In-Reply-To) followed by
the parent's Message-ID. A client that threads by References alone (Thunderbird,
Outlook) otherwise starts a new thread when it misses the parent. A long chain is
trimmed to its first id and its last ones, as RFC 5322 allows and news software does
(RFC 5537 section 3.4.4): the root and the parent still place the reply.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from consumers.notify.plan import Delivery
from router.events import Ticket

MAX_REFERENCES = 20
"""Ids in the References of one reply: the thread's first id and the last 19."""
MAX_ID_CHARS = 250
"""A longer id is not a real mailer's; it would also have to be folded mid-id."""
MSG_ID = re.compile(r"[!-;=?-~]+@[!-;=?-~]+")  # printable ASCII without spaces or < >


@dataclass(frozen=True, slots=True)
class ReplyHeaders:
    """``In-Reply-To`` and ``References`` (ids in angle brackets), or None."""

    in_reply_to: str | None = None
    references: str | None = None


def bracketed(value: object) -> str | None:
    """``<left@right>`` for an email's Message-ID (kept without angle brackets); None for
    anything else: an SMS's or chat's id, or text that would break the header (a line
    break, a space) and make the email package refuse the whole auto-reply."""
    if not isinstance(value, str):
        return None
    bare = value.strip().removeprefix("<").removesuffix(">")
    if len(bare) > MAX_ID_CHARS or not MSG_ID.fullmatch(bare):
        return None
    return f"<{bare}>"


def reply_headers(d: Delivery, ticket: Ticket, thread: Mapping[str, Any] | None) -> ReplyHeaders:
    """What an auto-reply on ``ticket`` answers (a notification to a team answers no
    one). ``thread`` is the customer message the notification answers (its ``thread``:
    ``message_id``, ``in_reply_to``, ``references``) when the event carries it; without
    it only the ticket's last message id is known, and References can name only that."""
    if d.kind != "auto_reply":
        return ReplyHeaders()
    thread = thread or {}
    parent = bracketed(thread.get("message_id"))
    earlier: Sequence[object] = ()
    if parent is not None:
        refs = thread.get("references")
        earlier = refs if isinstance(refs, list) and refs else [thread.get("in_reply_to")]
    else:
        parent = bracketed(ticket.message_ids[-1] if ticket.message_ids else None)
    if parent is None:
        return ReplyHeaders()
    chain = [i for i in dict.fromkeys(map(bracketed, earlier)) if i and i != parent]
    return ReplyHeaders(parent, " ".join(trimmed([*chain, parent])))


def trimmed(ids: list[str]) -> list[str]:
    """At most ``MAX_REFERENCES`` ids: the first, then the last ones (the parent last)."""
    if len(ids) <= MAX_REFERENCES:
        return ids
    return [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
