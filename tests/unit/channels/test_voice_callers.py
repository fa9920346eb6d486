"""Withheld caller ids as phone systems write them: each such call is a customer of its
own, never one customer shared by everyone who hid their number."""

from __future__ import annotations

import pytest

from channels.voice import CallEventBody, caller

pytestmark = pytest.mark.unit


def call(caller_id: str, call_id: str = "CA1") -> CallEventBody:
    return CallEventBody.model_validate(
        {
            "call_id": call_id,
            "event": "missed",
            "from": caller_id,
            "to": "+18005551212",
            "at": "2026-12-03T10:00:00Z",
        }
    )


@pytest.mark.parametrize(
    "caller_id",
    [
        "sip:anonymous@anonymous.invalid",  # RFC 3323
        "<sip:anonymous@anonymous.invalid>",
        "sip:+15551234567@anonymous.invalid;user=phone",
        "Private Number",
        "Unknown Caller",
        "NO CALLER ID",
        "unknown_caller",
        "Anonymous",
        "+266696687",
    ],
)
def test_a_withheld_caller_id_names_that_call_only(caller_id: str) -> None:
    """These had been kept as a ``voice`` handle, so every caller who hid their number
    behind the same words was one customer, their voicemails on one ticket."""
    first, second = caller(call(caller_id, "CA1")), caller(call(caller_id, "CA2"))
    assert (first.phone, first.handles) == (None, {"voice": "call:CA1"})
    assert second.handles == {"voice": "call:CA2"}


@pytest.mark.parametrize(
    ("caller_id", "phone", "handles"),
    [
        ("+1 415 867 5309", "+14158675309", {}),
        ("sip:alice@pbx.example.com", None, {"voice": "sip:alice@pbx.example.com"}),
        ("Private Eye Agency", None, {"voice": "Private Eye Agency"}),
    ],
)
def test_a_caller_id_that_names_someone_stays_theirs(
    caller_id: str, phone: str | None, handles: dict[str, str]
) -> None:
    found = caller(call(caller_id))
    assert (found.phone, found.handles) == (phone, handles)
