"""Who a ``.notification`` event reaches, and under which ids. Pure.

An auto-reply goes to the ticket's customer on the channel they wrote on where we can
answer there (SMS, WhatsApp), else by email, else by SMS. A ``notify`` event goes to
every address of its target (``targets.py``). Each (event, medium, recipient) is one
delivery with an id derived from them, so a redelivered event finds its ledger entry and
an email sent twice after a crash carries the same Message-ID.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from consumers.notify.targets import Target
from router.errors import InvalidEvent
from router.ids import derived_id

Medium = Literal["email", "sms", "whatsapp"]
E164 = re.compile(r"\+[1-9]\d{6,14}")
#: the local parts of senders no one reads (``noreply``, ``no-reply``, ``donotreply``,
#: ``do-not-reply``, ``do_not_reply``...), before any ``+tag``
NO_REPLY = re.compile(r"(?:no|do[-_]?not)[-_]?reply", re.IGNORECASE)
Kind = Literal["auto_reply", "notify"]


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    event_id: str
    kind: Kind
    template: str
    medium: Medium
    to: str
    #: the number to send from (the one the customer wrote to, through Twilio); None:
    #: ``SWITCHBOARD_TWILIO_FROM`` (and always for email)
    sender: str | None = None


def customer_addresses(
    channel: str, contact: Mapping[str, Any], provider: str | None = None
) -> list[tuple[Medium, str]]:
    """Where an auto-reply to this customer goes (at most one address). WhatsApp through
    Meta's Cloud API is not answered on WhatsApp: the notifier sends WhatsApp through
    Twilio, from another number than the one the customer wrote to, which WhatsApp's
    customer service window refuses (error 63016) and the customer would not know."""
    email = contact.get("email")
    handles = contact.get("handles") or {}
    phone = contact.get("phone") or handles.get("sms")
    whatsapp = contact.get("phone") or handles.get("whatsapp")
    if channel == "whatsapp" and provider == "meta":
        return [("email", str(email))] if email else []
    if channel == "whatsapp" and whatsapp:
        return [("whatsapp", str(whatsapp))]
    if channel == "sms" and phone:
        return [("sms", str(phone))]
    if email:
        return [("email", str(email))]
    if phone:
        return [("sms", str(phone))]
    return []


def target_addresses(target: Target) -> list[tuple[Medium, str]]:
    return [
        *(("email", a) for a in target.email),
        *(("sms", a) for a in target.sms),
        *(("whatsapp", a) for a in target.whatsapp),
    ]


def plan(
    event_id: str,
    data: Mapping[str, Any],
    channel: str,
    contact: Mapping[str, Any],
    targets: Callable[[str], Target],
) -> list[Delivery]:
    """The deliveries of one ``.notification`` event (``data``: template, kind)."""
    name = data.get("template")
    kind = data.get("kind", "auto_reply")
    if not isinstance(name, str) or not name or kind not in ("auto_reply", "notify"):
        raise InvalidEvent("a notification names a template (string) and a kind")
    if kind == "notify":
        target = targets(name)
        template = target.template or name
        addresses = target_addresses(target)
        sender = None
    else:
        given = data.get("reply_to")
        reply_to: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
        provider = reply_to.get("provider")
        template = name
        addresses = customer_addresses(str(reply_to.get("channel") or channel), contact, provider)
        sender = answering_number(reply_to)
    return [
        Delivery(
            derived_id(event_id, "deliver", medium, to),
            event_id,
            kind,
            template,
            medium,
            to,
            sender if medium != "email" else None,
        )
        for medium, to in dict.fromkeys(addresses)
    ]


def answering_number(reply_to: Mapping[str, Any]) -> str | None:
    """The Twilio number the customer wrote to (the event's ``reply_to``), to answer from
    (a business may have one per region or brand); None when they wrote elsewhere
    (``SWITCHBOARD_TWILIO_FROM``)."""
    if reply_to.get("provider") != "twilio":
        return None
    inbox = reply_to.get("inbox")
    return inbox if isinstance(inbox, str) and E164.fullmatch(inbox) else None


def no_reply(address: str) -> bool:
    """Whether an email address says no one reads it (``No-Reply+shop@example.com``): an
    auto-reply to it would go unread or bounce, so it is not sent."""
    local, at, _ = address.strip().rpartition("@")
    return bool(at) and NO_REPLY.fullmatch(local.partition("+")[0]) is not None
