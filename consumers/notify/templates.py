"""Message templates from the rules repository, rendered in Jinja2's sandbox.

The templates live in ``templates/`` beside the rule files (``rules.analysis.templates_dir``). A
template ``NAME`` (what ``auto_reply: NAME`` or a notify target names) is up to three
files: ``NAME.subject.j2`` (the email subject, one line; optional), ``NAME.email.j2``
(the email body) and ``NAME.sms.j2`` (SMS and WhatsApp, cut to Twilio's 1,600 characters).
Rule authors are not trusted
with the process: the sandbox refuses attribute access outside the data handed in.
Templates are re-read when their file changes, so a rules deploy updates them live.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import ChainableUndefined, FileSystemLoader, TemplateError, TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment

from router.errors import InvalidEvent

MAX_SUBJECT = 200
MAX_TEXT = 1600
"""Twilio refuses a longer SMS or WhatsApp body (error 21617): the page would be lost."""
ELLIPSIS = "\u2026"


BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
"""Bidirectional embeddings, overrides and isolates: in a customer's name or subject they
make a message from our address read otherwise than it is written. Right-to-left text
needs none of them; they go."""


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str | None
    body: str


class Templates:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._env = SandboxedEnvironment(
            loader=FileSystemLoader(directory),
            undefined=ChainableUndefined,
            autoescape=False,  # plain text: email text/plain bodies and SMS
            keep_trailing_newline=False,
            auto_reload=True,
            finalize=_shown,  # a field the customer left empty reads as nothing, not "None"
        )

    def render(self, name: str, medium: str, context: dict[str, Any]) -> Rendered:
        """``medium`` is ``email`` or ``sms``. A missing or broken template is an
        ``InvalidEvent``: retrying gives the same answer, so the record is dead-lettered."""
        try:
            body = self._env.get_template(f"{name}.{medium}.j2").render(context).strip()
            if medium == "sms":
                body = text_message(body)
            subject = None
            if medium == "email":
                subject = self._subject(name, context)
        except TemplateNotFound as exc:
            raise InvalidEvent(f"no template {exc.name!r} in {self.directory}") from None
        except TemplateError as exc:
            raise InvalidEvent(f"template {name!r} ({medium}): {exc}") from None
        return Rendered(
            None if subject is None else BIDI_CONTROLS.sub("", subject),
            BIDI_CONTROLS.sub("", body) + "\n",
        )

    def _subject(self, name: str, context: dict[str, Any]) -> str:
        """``NAME.subject.j2`` rendered, with ``reply_subject`` (what is used without it:
        "Re: " and the answered email's subject, its own prefixes dropped)."""
        ticket = context.get("ticket") or {}
        answered = (context.get("message") or {}).get("subject") or ticket.get("subject")
        reply = one_line(f"Re: {REPLY_PREFIX.sub('', answered)}" if answered else "Your request")
        try:
            template = self._env.get_template(f"{name}.subject.j2")
        except TemplateNotFound:
            return reply
        return one_line(template.render({**context, "reply_subject": reply}))


#: The reply and forward prefixes mailers put before a subject ("Re:", "RE[2]:", "AW:",
#: "SV:", "Antw:", "回复:"), however many: a reply's subject has one "Re:" (RFC 5322
#: section 3.6.5), and mail clients thread on the subject after it.
REPLY_PREFIX = re.compile(
    r"^(?:\s*(?:re|aw|sv|vs|antw|antwort|odp|ynt|r|rif|回复|答复|回覆)(?:\[\d+\])?\s*[:：]\s*)+",
    re.IGNORECASE,
)


def _shown(value: Any) -> Any:
    return "" if value is None else value


def one_line(text: str) -> str:
    """A header's worth of text: line breaks (a customer's subject may hold them, and
    they would inject headers) and runs of space become one space; at most MAX_SUBJECT."""
    return " ".join(text.split())[:MAX_SUBJECT]


def text_message(text: str) -> str:
    """An SMS or WhatsApp body Twilio takes: at most MAX_TEXT characters, counted as
    UTF-16 units (an emoji is two) to be safe, cut between characters and ended with an
    ellipsis when it was longer. A shortened page is better than a refused one."""
    if utf16_units(text) <= MAX_TEXT:
        return text
    kept, used = [], 0
    for char in text:
        used += utf16_units(char)
        if used > MAX_TEXT - len(ELLIPSIS):
            break
        kept.append(char)
    return "".join(kept).rstrip() + ELLIPSIS


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2
