"""Record sizes, designed end to end: what the ingress accepts always fits in every record
that follows from it.

One number bounds everything: ``SWITCHBOARD_KAFKA_MAX_RECORD_BYTES`` (1 MiB), the largest
record any role produces. An inbound or action record may use a quarter of it, because
every lifecycle record caused by a message carries that message once plus the ticket
snapshot; the rest is headroom. Message text is capped separately
(``SWITCHBOARD_MAX_TEXT_BYTES``): the JSON channels answer 413 above it, the provider
channels (email, SMS, WhatsApp, Messenger) trim it and say so with ``truncated: true``,
because a provider cannot react to a 413 and the customer's words would be lost.
A dead-letter record keeps the original bytes when they fit and otherwise a prefix plus
the original's size and SHA-256, so the dead-letter topic can always be written.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import orjson

from router.errors import TooLarge

DEFAULT_RECORD_BYTES = 1024 * 1024
DEFAULT_TEXT_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    record_bytes: int = DEFAULT_RECORD_BYTES
    text_bytes: int = DEFAULT_TEXT_BYTES

    @property
    def inbound_bytes(self) -> int:
        """The largest inbound or action record: a quarter of the record limit."""
        return self.record_bytes // 4

    @property
    def deadletter_value_bytes(self) -> int:
        """How much of a poison record's value the dead-letter record keeps."""
        return self.record_bytes // 2

    def check_inbound(self, value: bytes | None, *, pointer: str = "") -> None:
        size = len(value or b"")
        if size > self.inbound_bytes:
            raise TooLarge(
                f"the event is {size:,} bytes; the limit is {self.inbound_bytes:,} bytes "
                "(a quarter of SWITCHBOARD_KAFKA_MAX_RECORD_BYTES)",
                pointer=pointer,
            )

    def check_record(self, value: bytes | None) -> None:
        size = len(value or b"")
        if size > self.record_bytes:
            raise TooLarge(
                f"an output record would be {size:,} bytes; the limit is "
                f"{self.record_bytes:,} bytes (SWITCHBOARD_KAFKA_MAX_RECORD_BYTES)"
            )

    def check_text(self, text: str | None, *, pointer: str) -> None:
        size = encoded_len(text or "")
        if size > self.text_bytes:
            raise TooLarge(
                f"{pointer} is {size:,} bytes; the limit is {self.text_bytes:,} bytes "
                "(SWITCHBOARD_MAX_TEXT_BYTES)",
                pointer=pointer,
            )


def encoded_len(text: str) -> int:
    """Bytes the string takes inside a JSON document (escapes included, quotes not)."""
    return len(orjson.dumps(text)) - 2


def trim(text: str, max_bytes: int) -> str:
    """The longest prefix of ``text`` whose JSON encoding fits in ``max_bytes``."""
    if encoded_len(text) <= max_bytes:
        return text
    lo, hi = 0, min(len(text), max_bytes)
    while lo < hi:  # binary search on characters: escapes make bytes per char vary
        mid = (lo + hi + 1) // 2
        if encoded_len(text[:mid]) <= max_bytes:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


def digest(value: bytes) -> str:
    return "sha256:" + hashlib.sha256(value).hexdigest()
