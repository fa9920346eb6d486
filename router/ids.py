"""Deterministic event ids: re-publishing after a crash yields the same CloudEvents id.

The ids are UUIDv5 (RFC 4122: SHA-1 of the namespace and the name). They are computed
here without ``uuid.uuid5`` and ``uuid.UUID``, whose object construction and checks
cost more than the hash itself on the router's hot path; the digest, the version and
variant bits and the text form are the same, so every id is identical to ``uuid5``'s.
"""

from __future__ import annotations

import hashlib
import uuid

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://switchboard.dev/events")
_SEED = hashlib.sha1(NAMESPACE.bytes, usedforsecurity=False)
_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_TICKET = "ticket\x1f"
_SET = (0x5000 << 64) | (0x8000 << 48)  # version 5, variant RFC 4122
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}  # 10xx: RFC 4122


def _uuid5_int(name: str) -> int:
    sha = _SEED.copy()
    sha.update(name.encode())
    return (int.from_bytes(sha.digest()[:16]) & _CLEAR) | _SET


def _uuid5(name: str) -> str:
    sha = _SEED.copy()
    sha.update(name.encode())
    h = sha.hexdigest()  # the version and variant bits set on the text: no int round trip
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def event_id(source: str, provider_id: str) -> str:
    """The id of an inbound event, from the provider's own message id."""
    return _uuid5(f"{source}\x1f{provider_id}")


def derived_id(parent_id: str, *parts: str) -> str:
    """The id of an event caused by another one (e.g. ``created`` caused by an inbound id)."""
    return _uuid5("\x1f".join((parent_id, *parts)))


def ticket_id(first_event_id: str) -> str:
    """A ticket is named after the event that opened it, so a replay names it the same."""
    return "T-" + f"{_uuid5_int(_TICKET + first_event_id):032x}"[:16]


def customer_id_for(identity: str) -> str:
    """A customer is named after the first identity it was seen with (the router's
    thread store names new customers so; the rule tools name the customer of an event
    the same way)."""
    return "C-" + uuid.uuid5(NAMESPACE, f"customer\x1f{identity}").hex[:16]
