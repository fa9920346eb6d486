"""Deterministic event ids: re-publishing after a crash yields the same CloudEvents id.

Customer ids are the exception: ``new_customer_id`` is random, so nobody who knows an
address can compute the id of its customer, and a customer forgotten and seen again gets
a new id, never linked back to the erased history.

The ids are UUIDv5 (RFC 4122: SHA-1 of the namespace and the name). They are computed
here without ``uuid.uuid5`` and ``uuid.UUID``, whose object construction and checks
cost more than the hash itself on the router's hot path; the digest, the version and
variant bits and the text form are the same, so every id is identical to ``uuid5``'s.
"""

from __future__ import annotations

import hashlib
import re
import secrets
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


OWN_SOURCES = "/switchboard/"
ACTIONS_SOURCES = "/switchboard/actions"
"""The actions' source (and ``/switchboard/actions/...``): its ids may be a client's."""
_MINTED = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
"""The text of an id Switchboard mints (``_uuid5``): a lowercase UUID of version 5."""


def scoped_id(source: str, id_: str) -> str:
    """The id an event's effects are keyed by: its dedupe markers, the ids of the records
    it causes, the ticket it opens. CloudEvents names an event by ``source`` and ``id``
    together, so two writers may use the same id for different events. Switchboard's own
    sources mint ids unique across them (``event_id``), so an event from one of them keeps
    its id; another writer's id is scoped by its source.

    An action's id is the ingress's (a UUIDv4) or its client's: one of the shape
    Switchboard mints is scoped too, else an action naming the id of a customer's next
    message (worked out from a Message-ID, a call id, an Idempotency-Key) would make
    that message a duplicate, dropped with a 202. A source under the actions' own
    (``/switchboard/actions/zendesk``) is a client's: every id of it is scoped, so two
    helpdesks numbering their events alike do not take each other's for duplicates."""
    if not source.startswith(OWN_SOURCES):
        return event_id(source, id_)
    if source.startswith(f"{ACTIONS_SOURCES}/"):
        return event_id(source, id_)
    if source == ACTIONS_SOURCES and _MINTED.fullmatch(id_):
        return event_id(source, id_)
    return id_


def action_key(source: str, id_: str) -> str:
    """``scoped_id`` of an action. One under a source of Switchboard's own other than the
    actions' (an inbound channel's: the ingress refuses it, a producer writing to Kafka
    may not) is scoped too, so it cannot name a customer's next message."""
    if source.startswith(OWN_SOURCES) and not is_actions_source(source):
        return event_id(source, id_)
    return scoped_id(source, id_)


def is_actions_source(source: str) -> bool:
    """The actions' own source, or one under it (a client's)."""
    return source == ACTIONS_SOURCES or source.startswith(f"{ACTIONS_SOURCES}/")


def derived_id(parent_id: str, *parts: str) -> str:
    """The id of an event caused by another one (e.g. ``created`` caused by an inbound id)."""
    return _uuid5("\x1f".join((parent_id, *parts)))


def ticket_id(first_event_id: str) -> str:
    """A ticket is named after the event that opened it, so a replay names it the same."""
    return "T-" + f"{_uuid5_int(_TICKET + first_event_id):032x}"[:16]


def new_customer_id() -> str:
    """A new customer's id: 64 random bits, derived from nothing about the person. The
    thread store links identities to it race-safely (SET NX, then reads the owner back),
    so concurrent or repeated resolutions still agree on one id."""
    return "C-" + secrets.token_hex(8)


def customer_id_for(identity: str) -> str:
    """A stable stand-in id for the customer of an identity, for the offline rule tools
    (``rules simulate``, ``replay``, the facts of a message without a ticket): they have
    no thread store to ask, and need the same name on every run. The router never names a
    customer so (``new_customer_id``): a live ``customer.id`` differs from this one."""
    return "C-" + uuid.uuid5(NAMESPACE, f"customer\x1f{identity}").hex[:16]


def message_key(message_id: str) -> str:
    """A message id as threads are filed and looked up by: the part right of the ``@``
    in lower case (it is a domain, RFC 5322, and a mailer that
    changes its case in In-Reply-To still answers the same message). Events keep ids as
    written: a reply's In-Reply-To must name the parent byte for byte, as mail clients
    compare them (Microsoft 365 writes ``...@AM9PR04MB8412.eurprd04.prod.outlook.com``)."""
    left, at, right = message_id.strip().rpartition("@")
    return f"{left}{at}{right.lower()}" if at else right
