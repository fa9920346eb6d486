"""Machine-sent mail: auto-replies, bounces, list traffic. None of it opens a ticket.

Headers first (RFC 3834 ``Auto-Submitted``, and the de-facto ones every helpdesk reads),
then the sender (``MAILER-DAEMON``, an empty ``<>``), then the subject, in the languages
customers write in. A subject counts only in the shapes responders and bounce generators
write: the phrase then a colon ("Automatic reply: <subject>", "Undeliverable: ...",
"Returned mail: see transcript for details"), the phrase as the whole subject ("Out of
Office", "failure notice", "Undelivered Mail Returned to Sender"), or the phrase and a
dated "until" ("Fuori ufficio fino al 7/12"); each after an optional ``[TAG]``. A phrase
followed by ordinary words ("Undeliverable parcel - where is my order?", "Out of office
chair arrived broken") is a customer writing, and opens a ticket.

A bounce subject in its real shape ("Unzustellbar: Paket 1234 kam zurück") is also what a
customer may type about a parcel. Bounces are written by mail servers, never by a mail
program, so such a subject on a message that names its mail program (``User-Agent``,
``X-Mailer``) is a customer's. Out-of-office subjects get no such exception: mail
programs do send those (Thunderbird and Apple Mail vacation rules).
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
#: Headers naming the mail program a person wrote with; no bounce generator sets them.
MAIL_PROGRAM_HEADERS = ("user-agent", "x-mailer")

#: What out-of-office responders put in a subject.
AWAY = (
    # English
    r"out of (?:the )?office(?: auto-?reply)?",
    r"automatic reply",
    r"auto(?:matic|mated)?[- ]?(?:reply|response|respond(?:er)?)",
    r"away from (?:the |my )?office",
    r"i am (?:currently )?out of (?:the )?office",
    r"on vacation",
    r"vacation(?: reply)?",
    r"absen(?:ce|t)",
    # German
    r"abwesenheitsnotiz",
    r"automatische antwort",
    r"automatische abwesenheits(?:notiz|nachricht)",
    r"abwesenheitsmeldung",
    r"nicht im b(?:ü|ue)ro",
    r"abwesend",
    # French
    r"r(?:é|e)ponse automatique",
    r"absent(?:e)? du bureau",
    r"message d'absence",
    # Spanish
    r"respuesta autom(?:á|a)tica",
    r"fuera de (?:la )?oficina",
    r"respuesta de ausencia",
    r"ausen(?:te|cia)",
    # Dutch
    r"automatisch antwoord",
    r"afwezigheidsbericht",
    r"niet (?:aanwezig|op kantoor)",
    r"afwezig",
    # Portuguese
    r"resposta autom(?:á|a)tica",
    r"fora do escrit(?:ó|o)rio",
    r"mensagem de aus(?:ê|e)ncia",
    r"aus(?:ê|e)ncia",
    # Italian
    r"risposta automatica",
    r"fuori (?:sede|ufficio)",
    r"risposta di assenza",
    r"assen(?:te|za)",
    # a few neighbours that write to the same support desks
    r"autosvar",
    r"automaattinen vastaus",
    r"automatyczna odpowied(?:ź|z)",
    r"automatick(?:á|a) odpov(?:ě|e)(?:ď|d)",
)
#: What bounce generators (Exchange, Postfix, Exim, sendmail, qmail, Gmail) put in a subject.
BOUNCE = (
    r"delivery status notification(?: \((?:failure|delay|delayed|success|relay)\))?",
    r"undeliverable",
    r"undelivered mail(?: returned to sender)?",
    r"mail delivery (?:failed|failure|subsystem)",
    r"delivery (?:failure|delayed|has failed)",
    r"returned mail",
    r"failure notice",
    r"unzustellbar",
    r"non remis",
    r"no se puede entregar",
    r"onbestelbaar",
    r"n(?:ã|a)o (?:é possível|foi possível) entregar",
    r"non recapitabile",
)
UNTIL = (
    r"until|till|through|bis(?: zum)?|jusqu'(?:au|à|a)|hasta(?: el)?|tot(?: en met)?"
    r"|at(?:é|e)(?: ao| a)?|fino (?:al|a)"
)
#: After the phrase: a colon (the original subject follows), the end of the subject, or
#: a short "until" clause with a date in it.
SHAPE = (
    r"\s*(?:[:：]"
    r"|[.!]*\s*$"
    rf"|\s+(?:{UNTIL})\s+(?=[^\n]*\d)[\w./\-]{{1,12}}(?:\s+[\w./\-]{{1,12}}){{0,2}}\s*[.!]?\s*$)"
)
SUBJECT = re.compile(
    r"^\s*(?:\[[^\]]{0,40}\]\s*)?(?:(?P<bounce>"
    + "|".join(BOUNCE)
    + r")|(?P<away>"
    + "|".join(AWAY)
    + r"))(?="
    + SHAPE
    + ")",
    re.IGNORECASE,
)


def _subject_match(subject: str | None) -> re.Match[str] | None:
    return SUBJECT.match(subject) if subject else None


def _reason(match: re.Match[str]) -> str:
    phrase = match.group("bounce") or match.group("away")
    return f"subject: {' '.join(phrase.lower().split())}"


def subject_reason(subject: str | None) -> str | None:
    """``subject: <phrase>`` when the subject alone has an auto-reply's or bounce's shape."""
    match = _subject_match(subject)
    return _reason(match) if match else None


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
    # Exchange/Outlook rules and other mailers: Reply, Forward, Group, Mirror
    generated = _token(header("x-autogenerated") or "")
    precedence = (header("precedence") or "").strip().lower()
    list_id = (header("list-id") or "").strip()
    our_list = bool(list_id) and _list_is_inbox(list_id, inboxes)
    if our_list and precedence == "list":  # a Google Group marks every mail it relays
        precedence = ""
    return_path = header("return-path")
    bounce_from = _bare_sender(raw_from) if raw_from is not None else None
    checks = (
        (bool(auto) and auto != "no", f"auto-submitted: {auto}"),
        (bool(generated) and generated != "no", f"x-autogenerated: {generated}"),
        *((header(name) is not None, name) for name in FLAG_HEADERS),
        (precedence in PRECEDENCE, f"precedence: {precedence}"),
        (bool(list_id) and not our_list, "list-id"),
        (content_type == "multipart/report", "multipart/report"),
        *((b.email.split("@")[0] in BOUNCE_SENDERS, f"sender: {b.email}") for b in senders),
        (bounce_from is not None, f"sender: {bounce_from}"),
        (return_path is not None and return_path.strip() in ("<>", ""), "return-path: <>"),
    )
    found = next((reason for hit, reason in checks if hit), None)
    if found is not None:
        return found
    match = _subject_match(subject)
    if match is None:
        return None
    if match.group("bounce") and any(header(name) for name in MAIL_PROGRAM_HEADERS):
        return None  # a bounce's words, written in a person's mail program
    return _reason(match)


COMMENT = re.compile(r"\([^()]*\)")


def _token(value: str) -> str:
    """The keyword of a header such as ``Auto-Submitted: no (sent by a person)``: RFC 3834
    allows comments (CFWS) and parameters after it."""
    while COMMENT.search(value):  # innermost first: comments nest
        value = COMMENT.sub(" ", value)
    return value.split(";")[0].strip().lower()
