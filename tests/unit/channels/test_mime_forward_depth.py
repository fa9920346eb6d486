"""Forwarded messages nested deeper than the walk reads say so in ``parse_warnings``, as
nested multiparts do. The audit: 5,000 nested ``message/rfc822`` parts were answered 202
with empty text and no word of why."""

from __future__ import annotations

import pytest

from channels.email import interpret
from channels.mime_parser import MAX_DEPTH

pytestmark = pytest.mark.unit

WARNING = f"forwarded messages nested deeper than {MAX_DEPTH} levels not read"


def forwards(levels: int) -> bytes:
    body = b"From: x@example.com\r\nSubject: innermost\r\n\r\ndeep words\r\n"
    for i in range(levels):
        head = b"From: a@example.com\r\nSubject: fw %d\r\nContent-Type: message/rfc822\r\n\r\n"
        body = head % i + body
    return body


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 5000])
def test_forwards_nested_too_deep_are_named_in_parse_warnings(levels: int) -> None:
    _, interaction = interpret(forwards(levels))
    assert interaction is not None
    assert interaction.text == ""
    assert WARNING in interaction.metadata["parse_warnings"]


def test_forwards_as_deep_as_read_give_their_text_without_a_warning() -> None:
    _, interaction = interpret(forwards(MAX_DEPTH))
    assert interaction is not None
    assert interaction.text == "deep words"
    assert "parse_warnings" not in interaction.metadata
