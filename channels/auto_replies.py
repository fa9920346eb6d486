"""Machine-sent mail: auto-replies, bounces, list traffic. None of it opens a ticket.

Headers first (RFC 3834 ``Auto-Submitted``, and the de-facto ones every helpdesk reads),
then the sender (``MAILER-DAEMON``, an empty ``<>``), then the subject prefixes
out-of-office replies carry in the languages customers write in. Subject prefixes are
matched at the start only, and single words ("Absence", "Ausente") only when a colon or
dash follows, so "Absence of invoice for order 1234" is still a customer's mail.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from channels.addresses import Mailbox

BOUNCE_SENDERS = ("mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon")
FLAG_HEADERS = (
    "x-autoreply",
    "x-autorespond",
    "x-autoresponder",
    "x-failed-recipients",
    "x-auto-response-suppress",
    "x-loop",
)
PRECEDENCE = ("bulk", "junk", "list", "auto_reply")

#: Phrases that only an auto-reply starts its subject with.
PHRASES = (
    # English
    r"out of (?:the )?office",
    r"automatic reply",
    r"auto(?:matic|mated)?[- ]?(?:reply|response|respond(?:er)?)",
    r"away from (?:the |my )?office",
    r"i am (?:currently )?out of (?:the )?office",
    r"on vacation",
    r"vacation reply",
    r"delivery status notification",
    r"undeliverable",
    r"undelivered mail",
    r"mail delivery (?:failed|failure|subsystem)",
    r"delivery failure",
    r"returned mail",
    r"failure notice",
    # German
    r"abwesenheitsnotiz",
    r"automatische antwort",
    r"automatische abwesenheits(?:notiz|nachricht)",
    r"abwesenheitsmeldung",
    r"nicht im b(?:ü|ue)ro",
    r"unzustellbar",
    # French
    r"r(?:é|e)ponse automatique",
    r"absent(?:e)? du bureau",
    r"message d'absence",
    r"non remis",
    # Spanish
    r"respuesta autom(?:á|a)tica",
    r"fuera de (?:la )?oficina",
    r"respuesta de ausencia",
    r"no se puede entregar",
    # Dutch
    r"automatisch antwoord",
    r"afwezigheidsbericht",
    r"niet (?:aanwezig|op kantoor)",
    r"onbestelbaar",
    # Portuguese
    r"resposta autom(?:á|a)tica",
    r"fora do escrit(?:ó|o)rio",
    r"mensagem de aus(?:ê|e)ncia",
    r"n(?:ã|a)o (?:é possível|foi possível) entregar",
    # Italian
    r"risposta automatica",
    r"fuori (?:sede|ufficio)",
    r"risposta di assenza",
    r"non recapitabile",
    # a few neighbours that write to the same support desks
    r"autosvar",
    r"automaattinen vastaus",
    r"automatyczna odpowied(?:ź|z)",
    r"automatick(?:á|a) odpov(?:ě|e)(?:ď|d)",
)
#: Words that are an auto-reply's subject only when a colon or a dash follows them.
WORDS = (
    r"absence",
    r"absent",
    r"abwesend",
    r"ausente",
    r"ausencia",
    r"aus(?:ê|e)ncia",
    r"afwezig",
    r"assente",
    r"assenza",
    r"vacation",
    r"autoreply",
)
SUBJECT = re.compile(
    r"^\s*(?:\[[^\]]{0,40}\]\s*)?(?:"
    + "|".join(PHRASES)
    + r")\b|^\s*(?:"
    + "|".join(WORDS)
    + r")\s*(?:[:\-–(]|$)",
    re.IGNORECASE,
)


def subject_reason(subject: str | None) -> str | None:
    if not subject:
        return None
    match = SUBJECT.match(subject)
    return f"subject: {match.group(0).strip().lower()}" if match else None


def _list_is_inbox(list_id: str, inboxes: Iterable[str]) -> bool:
    """A Google Group (or any list) used as the support address marks every customer's
    mail with its List-Id: ``<support.acme.test>`` for support@acme.test."""
    ident = list_id.rsplit("<", 1)[-1].strip(" >").lower()
    return any(ident == box.replace("@", ".") for box in inboxes)


def _bare_sender(raw_from: str) -> str | None:
    """``<>``, ``MAILER-DAEMON`` or ``Mail Delivery System <MAILER-DAEMON>``: a bounce
    whose From names no mailbox a customer could have."""
    angle = re.search(r"<([^<>]*)>", raw_from)
    if angle is not None and not angle.group(1).strip():
        return "<>"
    text = angle.group(1) if angle else re.sub(r"\([^)]*\)", " ", raw_from)
    words = text.strip().strip('"').lower().split()
    if words and words[0].split("@")[0] in BOUNCE_SENDERS:
        return words[0]
    return None


def auto_reply_reason(
    header: Callable[[str], str | None],
    *,
    senders: Iterable[Mailbox],
    raw_from: str | None,
    content_type: str,
    subject: str | None,
    inboxes: Iterable[str],
) -> str | None:
    """Why this message is machine-sent, or None. ``header`` reads one decoded header."""
    auto = _token(header("auto-submitted") or "")
    precedence = (header("precedence") or "").strip().lower()
    list_id = (header("list-id") or "").strip()
    return_path = header("return-path")
    bounce_from = _bare_sender(raw_from) if raw_from is not None else None
    checks = (
        (bool(auto) and auto != "no", f"auto-submitted: {auto}"),
        *((header(name) is not None, name) for name in FLAG_HEADERS),
        (precedence in PRECEDENCE, f"precedence: {precedence}"),
        (bool(list_id) and not _list_is_inbox(list_id, inboxes), "list-id"),
        (content_type == "multipart/report", "multipart/report"),
        *((b.email.split("@")[0] in BOUNCE_SENDERS, f"sender: {b.email}") for b in senders),
        (bounce_from is not None, f"sender: {bounce_from}"),
        (return_path is not None and return_path.strip() in ("<>", ""), "return-path: <>"),
    )
    return next((reason for hit, reason in checks if hit), None) or subject_reason(subject)


COMMENT = re.compile(r"\([^()]*\)")


def _token(value: str) -> str:
    """The keyword of a header such as ``Auto-Submitted: no (sent by a person)``: RFC 3834
    allows comments (CFWS) and parameters after it."""
    while COMMENT.search(value):  # innermost first: comments nest
        value = COMMENT.sub(" ", value)
    return value.split(";")[0].strip().lower()
