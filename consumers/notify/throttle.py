"""How many auto-replies one mailbox gets: at most ``SWITCHBOARD_AUTO_REPLY_LIMIT`` per
``SWITCHBOARD_AUTO_REPLY_WINDOW_S``, counted per delivery in Redis, so that every
notifier process shares the count and a redelivered batch counts nothing twice.

A web form is unverified: anyone may post as anyone, and each post under a new address
(``victim+1@``, ``victim+2@``...) is a new customer, so the one auto-reply per customer
and open ticket does not stop forty posts from mailing one inbox forty times, with text
the poster chose. RFC 3834 (section 2) asks a responder not to answer the same sender
more than once in a period; here the mailbox is the address without its ``+tag``,
lower-cased, or the phone number. Gmail delivers ``v.ictim@`` and ``victim@googlemail.com``
to ``victim@gmail.com``, and ``gmail.com.`` (the root's dot) is the same domain: those
are folded too, or each spelling had been a fresh share.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from consumers.notify.plan import Delivery
from router.keys import Keys
from router.redis import RedisClient, load_script, redis_errors

HERE = Path(__file__).parent
GMAIL = frozenset({"gmail.com", "googlemail.com"})
"""Domains whose mailboxes ignore dots in the local part (Google's own rule: other
providers' dots are part of the name, so they are kept there)."""


def mailbox(address: str) -> str:
    """The inbox an address reaches: ``Ann+x@Example.com.`` is ``ann@example.com``,
    ``V.ictim@googlemail.com`` is ``victim@gmail.com``; a phone number is itself."""
    local, at, domain = address.strip().rpartition("@")
    if not at:
        return address.strip()
    local, domain = local.partition("+")[0].lower(), domain.lower().rstrip(".")
    if domain in GMAIL:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


def counted_as(d: Delivery) -> str:
    """The name of the mailbox's count: a digest, not the address, so the key names no
    one by itself, though whoever knows an address can compute it and see that it was
    written to in the window. ``forget`` does not look for it: it lapses with its window
    (``SWITCHBOARD_AUTO_REPLY_WINDOW_S``)."""
    digest = hashlib.sha256(f"{d.medium}:{mailbox(d.to)}".encode()).hexdigest()
    return f"{d.medium}:{digest[:32]}"


class ReplyThrottle:
    def __init__(self, client: RedisClient, *, prefix: str, limit: int, window_s: int) -> None:
        self._keys = Keys(prefix)
        self._limit = limit
        self._window_s = window_s
        self._count = load_script(client, HERE / "throttle.lua")

    async def allow(self, d: Delivery) -> bool:
        """Whether auto-reply ``d`` may go: counted when it may (a limit of 0: always)."""
        if self._limit <= 0:
            return True
        key = self._keys.auto_replies(counted_as(d))
        with redis_errors():
            allowed = await self._count(keys=[key], args=[d.id, self._limit, self._window_s])
        return bool(allowed)
