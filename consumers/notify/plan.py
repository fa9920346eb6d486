"""Who a ``.notification`` event reaches, and under which ids. Pure.

An auto-reply goes to the ticket's customer on the channel they wrote on where we can
answer there (SMS, WhatsApp), else by email, else by SMS. A ``notify`` event goes to
every address of its target (``targets.py``). Each (event, medium, recipient) is one
delivery with an id derived from them, so a redelivered event finds its ledger entry and
an email sent twice after a crash carries the same Message-ID.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from consumers.notify.targets import Target
from router.errors import InvalidEvent
from router.ids import derived_id

Medium = Literal["email", "sms", "whatsapp"]
Kind = Literal["auto_reply", "notify"]


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    event_id: str
    kind: Kind
    template: str
    medium: Medium
    to: str


def customer_addresses(channel: str, contact: Mapping[str, Any]) -> list[tuple[Medium, str]]:
    """Where an auto-reply to this customer goes (at most one address)."""
    email = contact.get("email")
    handles = contact.get("handles") or {}
    phone = contact.get("phone") or handles.get("sms")
    if channel == "whatsapp" and (contact.get("phone") or handles.get("whatsapp")):
        return [("whatsapp", str(contact.get("phone") or handles["whatsapp"]))]
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
    else:
        template, addresses = name, customer_addresses(channel, contact)
    return [
        Delivery(derived_id(event_id, "deliver", medium, to), event_id, kind, template, medium, to)
        for medium, to in dict.fromkeys(addresses)
    ]
