"""Deterministic event ids: re-publishing after a crash yields the same CloudEvents id."""

from __future__ import annotations

import uuid

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://switchboard.dev/events")


def event_id(source: str, provider_id: str) -> str:
    """The id of an inbound event, from the provider's own message id."""
    return str(uuid.uuid5(NAMESPACE, f"{source}\x1f{provider_id}"))


def derived_id(parent_id: str, *parts: str) -> str:
    """The id of an event caused by another one (e.g. ``created`` caused by an inbound id)."""
    return str(uuid.uuid5(NAMESPACE, "\x1f".join((parent_id, *parts))))


def ticket_id(first_event_id: str) -> str:
    """A ticket is named after the event that opened it, so a replay names it the same."""
    return "T-" + uuid.uuid5(NAMESPACE, f"ticket\x1f{first_event_id}").hex[:16]
