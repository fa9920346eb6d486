"""Splitting an email body into the customer's new text and everything else.

``mail-parser-reply`` finds reply headers (``On ... wrote:``, Outlook ``From:/Sent:``
blocks, ``-----Original Message-----``) in 13 languages and signatures (``-- ``, "Sent
from my iPhone", "Best regards"). Two shapes it misses are handled here, after it ran,
the way talon does it: a ``>`` quote introduced by a header line in a language it does
not know (``... пользователь ... написал:``), and bottom-posting (quote first, answer
below). Agents always have the full text: what is cut from ``text`` is in ``quoted``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailparser_reply.constants import MAIL_LANGUAGES
from mailparser_reply.parser import EmailMessage

LANGUAGES = tuple(lang for lang in MAIL_LANGUAGES if lang != "david")
MAX_SCAN_CHARS = 64 * 1024
INTRO_HINT = re.compile(r"@|\d{1,2}:\d{2}|\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|<\s*$")


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    quoted: str | None


def _is_quote(line: str) -> bool:
    return line.lstrip().startswith(">")


def _intro_start(lines: list[str], quote_at: int) -> int:
    """Where the header line(s) introducing the quote at ``quote_at`` begin."""
    j = quote_at - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    if j < 0 or not lines[j].rstrip().endswith(":"):
        return quote_at
    start = j
    for k in (j - 1, j - 2):
        if k >= 0 and lines[k].strip() and INTRO_HINT.search(lines[k]):
            start = k
        else:
            break
    return start


def _split_quotes(text: str) -> tuple[str, str]:
    """Talon's rule for ``>`` blocks the header patterns missed."""
    lines = text.split("\n")
    first = next((i for i, line in enumerate(lines) if _is_quote(line)), None)
    if first is None:
        return text, ""
    last = max(i for i, line in enumerate(lines) if _is_quote(line))
    start = _intro_start(lines, first)
    before = "\n".join(lines[:start]).strip()
    after = "\n".join(lines[last + 1 :]).strip()
    if not before and after:
        return after, "\n".join(lines[: last + 1]).strip()
    if before and after:
        return text, ""
    return before, "\n".join(lines[start:]).strip()


def split_reply(body: str) -> Reply:
    """The new text of a reply and the quoted history plus signature, if any."""
    text = body.replace("\r\n", "\n").strip()
    if not text:
        return Reply("", None)
    head, tail = text[:MAX_SCAN_CHARS], text[MAX_SCAN_CHARS:]
    message = EmailMessage(text=head, languages=list(LANGUAGES), keep_hyphen_lists=True).read()
    first, rest = message.replies[0], message.replies[1:]
    signature = first.signatures or ""
    own = first.content.replace(signature, "").strip() if signature else first.content
    reply, quoted_here = _split_quotes(own)
    quoted = [q for q in (signature, quoted_here, *(r.content for r in rest)) if q]
    if tail.strip():
        if quoted:
            quoted.append(tail.strip())
        else:
            reply = f"{reply}{tail}".strip()
    if not reply:
        # Nothing but quotes and headers: keep it all as text rather than publish nothing.
        return Reply(text, None)
    return Reply(reply, "\n\n".join(quoted) or None)
