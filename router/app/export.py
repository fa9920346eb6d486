"""``switchboard export inbound``: a period of the inbound topic as JSONL, one CloudEvent
envelope per line (the record's value), in time order: the ``--events`` file of
``switchboard simulate``.

An event without a ``time`` gets its record's timestamp, so the file can be replayed in
order. ``--pseudonymize`` replaces every identity (email, phone, channel handles, the
name, the record subject) and every thread reference (message ids, In-Reply-To,
References, conversation and call ids) by a keyed hash: the same input gives the same
output throughout the export, so customers and threads keep their shape while nobody
can look a person up. Message texts, subjects and metadata are kept: the rules route on
them. The key is random per export unless ``--salt`` is given (the same salt makes two
exports agree).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import ConsumerRecord

from router.app.reading import Progress
from router.app.rebuild import read_all
from router.app.report.windows import Period
from router.events import Interaction
from router.settings import Settings
from router.topics import Topic

PSEUDONYM_DOMAIN = "pseudonymized.invalid"
THREAD_FIELDS = ("message_id", "in_reply_to", "conversation_id", "call_id")


@dataclass(frozen=True, slots=True)
class Exported:
    read: int
    written: int
    path: Path


class Pseudonyms:
    """Keyed BLAKE2b of each identity: stable within an export, useless without the key."""

    def __init__(self, key: bytes) -> None:
        self._key = key[:64]

    def token(self, kind: str, value: str) -> str:
        digest = hashlib.blake2b(f"{kind}\x1f{value}".encode(), key=self._key, digest_size=8)
        return digest.hexdigest()

    def email(self, value: str) -> str:
        return f"u-{self.token('email', value.strip().lower())}@{PSEUDONYM_DOMAIN}"

    def phone(self, value: str) -> str:
        digits = str(int(self.token("phone", value), 16))[:12]
        return f"+999{digits}"

    def reference(self, value: str) -> str:
        return f"<{self.token('ref', value)}@{PSEUDONYM_DOMAIN}>"

    def envelope(self, event: dict[str, Any]) -> dict[str, Any]:
        """The envelope with its identities and thread references replaced."""
        data = dict(event.get("data") or {})
        customer = dict(data.get("customer") or {})
        if customer.get("email"):
            customer["email"] = self.email(customer["email"])
        if customer.get("phone"):
            customer["phone"] = self.phone(customer["phone"])
        if customer.get("name"):
            customer["name"] = f"Customer {self.token('name', customer['name'])[:6]}"
        if customer.get("handles"):
            customer["handles"] = {
                channel: f"h-{self.token(channel, handle)}"
                for channel, handle in customer["handles"].items()
            }
        data["customer"] = customer
        thread = dict(data.get("thread") or {})
        for name in THREAD_FIELDS:
            if thread.get(name):
                thread[name] = self.reference(thread[name])
        if thread.get("references"):
            thread["references"] = [self.reference(r) for r in thread["references"]]
        if thread:
            data["thread"] = thread
        out = {**event, "data": data}
        try:
            out["subject"] = Interaction.model_validate(data).sender_key()
        except ValueError:
            out.pop("subject", None)  # not an interaction: nothing left to name the sender
        return out


def export_line(
    record: ConsumerRecord[bytes, bytes], pseudonyms: Pseudonyms | None
) -> tuple[datetime, bytes] | None:
    """The record as (its time, one JSONL line), or None when it is no JSON object."""
    try:
        event = orjson.loads(record.value) if record.value else None
    except orjson.JSONDecodeError:
        return None
    if not isinstance(event, dict):
        return None
    at = _time(event.get("time"))
    if at is None:
        at = datetime.fromtimestamp(record.timestamp / 1000, UTC)
        event["time"] = at.isoformat().replace("+00:00", "Z")
    if pseudonyms is not None:
        event = pseudonyms.envelope(event)
    return at, orjson.dumps(event)


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


async def export_inbound(
    settings: Settings,
    period: Period,
    out: Path,
    *,
    pseudonymize: bool = False,
    salt: str | None = None,
    progress: Progress | None = None,
) -> Exported:
    records = await read_all(settings, Topic.INBOUND, progress)
    key = salt.encode() if salt else secrets.token_bytes(32)
    pseudonyms = Pseudonyms(key) if pseudonymize else None
    lines = []
    for record in records:
        found = export_line(record, pseudonyms)
        if found is not None and period.holds(found[0]):
            lines.append(found)
    lines.sort(key=lambda line: line[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as file:
        for _, line in lines:
            file.write(line + b"\n")
    return Exported(len(records), len(lines), out)
