"""Calendar mail (iMIP, RFC 6047): the iTIP method of a ``text/calendar`` part and the
words of an invitation.

A reply to an invitation ("Accepted: Onboarding call", ``METHOD:REPLY``, RFC 5546), a
counter-proposal, a declined counter, a cancellation or a refresh request is written by a
calendar program, not by a person: with no text of its own it is machine mail (see
:mod:`channels.auto_replies`). An invitation (``REQUEST``, ``PUBLISH``, ``ADD``) sent with
no text part has its words only in the event: its ``SUMMARY`` and ``DESCRIPTION`` (RFC
5545, unfolded and unescaped) are its text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: The part of a calendar that is read: far more than any invitation's event needs.
MAX_CALENDAR_CHARS = 256 * 1024
#: The description kept as an invitation's text (the text limit cuts later, lower).
MAX_DESCRIPTION_CHARS = 16 * 1024
FOLD = re.compile(r"\r?\n[ \t]")
ESCAPED = re.compile(r"\\([nN,;:\\])")
EVENT_COMPONENTS = frozenset({"VEVENT", "VTODO"})
#: iTIP methods (RFC 5546, 1.4) a calendar program sends on its own: answers and
#: bookkeeping about a meeting, with no words of a person when no text part comes along.
MACHINE_METHODS = frozenset({"REPLY", "COUNTER", "DECLINECOUNTER", "CANCEL", "REFRESH"})
#: iTIP methods that carry an event to someone: its summary and description are words.
INVITATION_METHODS = frozenset({"REQUEST", "PUBLISH", "ADD"})


@dataclass(frozen=True, slots=True)
class Calendar:
    """What a calendar part says: its iTIP method (upper case) and its first event's
    summary and description."""

    method: str | None = None
    summary: str = ""
    description: str = ""

    def text(self) -> str:
        """The invitation's words: summary, then description, each where present."""
        return "\n\n".join(t for t in (self.summary, self.description) if t)


def _unescape(value: str) -> str:
    return ESCAPED.sub(lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def _property(line: str) -> tuple[str, str] | None:
    """``(NAME, value)`` of a content line ``NAME;param="a:b":value``: the value starts
    at the first colon outside a quoted parameter value."""
    quoted = False
    for at, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            return line[:at].split(";", 1)[0].strip().upper(), line[at + 1 :]
    return None


def read_calendar(text: str, declared_method: str | None = None) -> Calendar:
    """The method (``declared_method``, the Content-Type's ``method`` parameter, else the
    calendar's ``METHOD``) and the first event's summary and description."""
    body = FOLD.sub("", text[:MAX_CALENDAR_CHARS])
    method = (declared_method or "").strip().upper() or None
    stack: list[str] = []
    summary = description = ""
    seen_event = False
    for line in body.splitlines():
        found = _property(line)
        if found is None:
            continue
        name, value = found
        if name == "BEGIN":
            stack.append(value.strip().upper())
        elif name == "END":
            if stack and stack[-1] in EVENT_COMPONENTS:
                seen_event = True
            if stack:
                stack.pop()
        elif name == "METHOD" and method is None and stack == ["VCALENDAR"]:
            method = value.strip().upper() or None
        elif stack and stack[-1] in EVENT_COMPONENTS and not seen_event:
            if name == "SUMMARY" and not summary:
                summary = " ".join(_unescape(value).split())
            elif name == "DESCRIPTION" and not description:
                description = _unescape(value)[:MAX_DESCRIPTION_CHARS].strip()
    return Calendar(method, summary, description)
