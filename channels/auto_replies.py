"""Machine-sent mail: auto-replies, bounces, list traffic. None of it opens a ticket.

Headers first (RFC 3834 ``Auto-Submitted``, list headers, and the de-facto ones every
helpdesk reads), then the sender (``MAILER-DAEMON``, an empty ``<>``, list software's
``owner-...@`` and ``...-request@``), then the subject, in the languages
customers write in. A subject counts only in the shapes responders and bounce generators
write: the phrase then a colon ("Automatic reply: <subject>", "Undeliverable: ...",
"Returned mail: see transcript for details"), the phrase as the whole subject ("Out of
Office", "failure notice", "Undelivered Mail Returned to Sender"), alone or with a
responder word ("Out of Office Reply"), or the phrase and an "until" naming a date or a
day ("Fuori ufficio fino al 7/12", "Out of office until Monday"); each after an optional
``[TAG]``. An unmistakable away phrase followed by a dash (or an en dash) or a bracket
("Out of Office - Order 123") is a responder's too, a single word such as "Vacation" is
not ("Vacation - please hold my delivery"). Helpdesks' acknowledgements ("[Request
received] ...", "Ticket #123 received") count likewise. A phrase followed by ordinary words
("Undeliverable parcel - where is my order?", "Out of office chair arrived broken") is a
customer writing, and opens a ticket. Where a shape could also be a customer's
("Request received: ...", "Out of Office - anything"), what responders write wins: a
missed auto-reply risks a mail loop with our acknowledgement.

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
from channels.itip import MACHINE_METHODS

BOUNCE_SENDERS = ("mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon")
FLAG_HEADERS = (
    "x-autoreply",
    "x-autorespond",
    "x-autoresponder",
    "x-failed-recipients",
    "x-loop",
)
#: Not ``X-Auto-Response-Suppress``: it asks other servers not to answer a message, and
#: Exchange Online stamps it on ordinary mail it relays (``DR, RN, NRN, OOF, AutoReply``
#: on a person's reply from Thunderbird), so it marks no auto-reply. Exchange's own
#: replies are found by their ``Auto-Submitted`` header or their "Automatic reply:"
#: subject. Discourse, osTicket and Redmine dropped it from their checks for that reason.
PRECEDENCE = ("bulk", "junk", "list", "auto_reply")
#: What marks list mail (RFC 2919, RFC 2369; fml, a list server that sets neither, its
#: ``X-MLServer``), in the order a reason names them. Not
#: List-Unsubscribe alone: sending services (Mailgun, SendGrid) add it to a person's
#: one-to-one mail too; a list that sets it sets List-Id or List-Post as well.
LIST_HEADERS = ("list-id", "list-post", "x-mlserver")
LIST_POST_ADDRESS = re.compile(r"<\s*mailto:([^>?\s]+)", re.IGNORECASE)
#: Headers naming the mail program a person wrote with; no bounce generator sets them.
MAIL_PROGRAM_HEADERS = ("user-agent", "x-mailer")

#: What out-of-office responders put in a subject, phrases no customer opens a sentence
#: with: after them a dash or a bracket is a responder's too ("Out of Office - until 12/3",
#: "Out of Office (until 12/3)").
AWAY = (
    # English
    r"out of (?:the )?office(?: auto-?reply)?",
    r"ooo",
    r"automatic reply",
    r"auto(?:matic|mated)?[- ]?(?:reply|response|respond(?:er)?)",
    r"away from (?:the |my )?office",
    r"i am (?:currently )?out of (?:the )?office",
    # German
    r"abwesenheitsnotiz",
    r"automatische antwort",
    r"automatische abwesenheits(?:notiz|nachricht)",
    r"abwesenheitsmeldung",
    r"nicht im b(?:ü|ue)ro",
    # French
    r"r(?:é|e)ponse automatique",
    r"absent(?:e)? du bureau",
    r"message d'absence",
    # Spanish
    r"respuesta autom(?:á|a)tica",
    r"fuera de (?:la )?oficina",
    r"respuesta de ausencia",
    # Dutch
    r"automatisch antwoord",
    r"afwezigheidsbericht",
    r"niet (?:aanwezig|op kantoor)",
    # Portuguese
    r"resposta autom(?:á|a)tica",
    r"fora do escrit(?:ó|o)rio",
    r"mensagem de aus(?:ê|e)ncia",
    # Italian
    r"risposta automatica",
    r"fuori (?:sede|ufficio)",
    r"risposta di assenza",
    # a few neighbours that write to the same support desks
    r"autosvar",
    r"automaattinen vastaus",
    r"automatyczna odpowied(?:ź|z)",
    r"automatick(?:á|a) odpov(?:ě|e)(?:ď|d)",
    r"poza biurem",
    r"urlaubsabwesenheit",
    # Outlook's "Automatic reply:" as its other languages write it
    r"automatiskt? svar",
    r"automatikus v(?:á|a)lasz",
    r"αυτόματη απάντηση",
    r"автоматический ответ",
    r"автоматична відповідь",
    r"автоматичен отговор",
    r"自动(?:回复|答复)",
    r"自動(?:回覆|回復|応答|返信)",
    r"자동 (?:회신|응답)",
    r"otomatik yan(?:ı|i)t",
    r"automatski odgovor",
    r"samodejni odgovor",
    r"r(?:ă|a)spuns automat",
    r"autom(?:ā|a)tisk(?:ā|a) atbilde",
    r"automatinis atsakymas",
    r"automaatvastus",
    r"תשובה אוטומטית",
    r"رد تلقائي",
    r"tr(?:ả|a) l(?:ờ|o)i t(?:ự|u) (?:độ|đo|do)ng",
    r"balasan (?:automatik|otomatis)",
)
#: Words a customer may open a sentence with ("Vacation - please hold my delivery",
#: "Absent (sick) - reschedule"): a responder's only before a colon, at the end, with a
#: dated "until", or followed by a responder word ("Vacation response: ...").
AWAY_WORDS = (
    r"on vacation",
    r"vacation",
    r"absen(?:ce|t)",
    r"abwesend",
    r"ausen(?:te|cia)",
    r"afwezig",
    r"aus(?:ê|e)ncia",
    r"assen(?:te|za)",
    r"fr(?:å|a)nvarande",
    r"nieobecno(?:ść|sc)",
)
#: What follows the away phrase in "Out of Office Reply", "Vacation response: ...".
RESPONDER = r"\s+(?:auto[- ]?reply|reply|response|notification|notice|message)"
#: What bounce generators (Exchange, Postfix, Exim, sendmail, qmail, Gmail) put in a subject.
BOUNCE = (
    r"delivery status notification(?: \((?:failure|delay|delayed|success|relay)\))?",
    r"undeliverable(?: mail| message)?",
    r"undelivered mail(?: returned to sender)?",
    r"mail delivery (?:failed|failure|subsystem)",
    r"delivery has failed to these recipients or groups",
    r"delivery (?:failure|delayed|has failed)",
    r"message not delivered",
    r"returned mail",
    r"failure notice",
    r"unzustellbar",
    r"nicht zustellbar",
    r"non remis",
    r"no se puede entregar",
    r"onbestelbaar",
    r"n(?:ã|a)o (?:é possível|foi possível) entregar",
    r"non recapitabile",
    r"kan inte levereras",
    r"niedostarczalne",
)
#: What helpdesks answer every new request with (Zendesk, Freshdesk, osTicket, OTRS).
ACK = (
    r"(?:your )?(?:request|ticket|case|enquiry|inquiry) received",
    r"(?:ticket|case|request) #?\s?[a-z]{0,8}-?\d{1,12} (?:has been )?received",
    r"we(?:'ve| have) received your (?:request|message|e-?mail|enquiry|inquiry|ticket)",
)
#: The "[Request received] <subject>" prefix of a helpdesk's acknowledgement.
ACK_TAG = r"\[\s*(?P<ack_tag>(?:request|ticket|case) received)\s*\]"
UNTIL = (
    r"until|till|through|bis(?: zum)?|jusqu'(?:au|à|a)|hasta(?: el)?|tot(?: en met)?"
    r"|at(?:é|e)(?: ao| a)?|fino (?:al|a)"
)
#: Words naming a day in an "until" clause without a digit ("until Monday").
DAY_WORDS = (
    r"mon(?:day)?|tue(?:s|sday)?|wed(?:nesday)?|thu(?:r|rs|rsday)?|fri(?:day)?"
    r"|sat(?:urday)?|sun(?:day)?|tomorrow|jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?"
    r"|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t|tember)?|oct(?:ober)?|nov(?:ember)?"
    r"|dec(?:ember)?|montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag|morgen"
    r"|lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|demain"
    r"|lunes|martes|mi(?:é|e)rcoles|jueves|viernes|s(?:á|a)bado|domingo|ma(?:ñ|n)ana"
    r"|maandag|dinsdag|woensdag|donderdag|vrijdag|zaterdag|zondag"
    r"|luned(?:ì|i)|marted(?:ì|i)|mercoled(?:ì|i)|gioved(?:ì|i)|venerd(?:ì|i)|sabato"
    r"|domenica|domani|segunda|ter(?:ç|c)a|quarta|quinta|sexta|amanh(?:ã|a)"
)
#: After the phrase: a colon (the original subject follows), the end of the subject, or
#: a short "until" clause naming a date or a day, at the end or before a colon.
SHAPE = (
    r"\s*(?:[:：]"
    r"|[.!]*\s*$"
    rf"|\s+(?:{UNTIL})\s+(?=[^:：\n]*?(?:\d|\b(?:{DAY_WORDS})\b))"
    r"[\w./\-,']{1,12}(?:\s+[\w./\-,']{1,12}){0,3}\s*[.!]?\s*(?:$|[:：]))"
)
#: A dash (or en or em dash) or a bracket after an unmistakable away phrase.
DASH = r"\s+[-–—](?=\s)|\s*\("
#: Lotus Notes / Domino's responder: "AUTO: Smith, John is out of the office. (returning
#: 05/01/2010)". In capitals and with an away word after it: "Auto: ..." may be a car.
NOTES = (
    r"(?-i:AUTO):(?=\s[^\n]{0,200}?\b(?:out of (?:the )?office|absent|abwesend|away"
    r"|returning|retour|zur(?:ü|ue)ck|r(?:ü|ue)ckkehr)\b)"
)
#: A responder's phrase as a tag: "[Automatyczna odpowiedź] Order 123", "[AUTO GENERATED]".
AWAY_TAG = rf"\[\s*(?P<away_tag>(?:{'|'.join(AWAY)})|auto[- ]?generated)\s*\]"
#: AOL's and others' suffix: "Re: Order 123 (Automatic Response)".
AWAY_SUFFIX = re.compile(
    r"\((?P<away_suffix>auto(?:matic|mated)?[- ]?(?:reply|response)|out of (?:the )?office)\)"
    r"\s*$",
    re.IGNORECASE,
)
SUBJECT = re.compile(
    rf"^\s*(?:{ACK_TAG}|{AWAY_TAG}|(?P<notes>{NOTES})|(?:\[[^\]]{{0,40}}\]\s*)?(?:"
    rf"(?P<bounce>{'|'.join(BOUNCE)})(?={SHAPE})"
    rf"|(?P<away>(?:{'|'.join(AWAY)})(?:{RESPONDER})?|(?:{'|'.join(AWAY_WORDS)}){RESPONDER})"
    rf"(?={SHAPE}|{DASH})"
    rf"|(?P<word>{'|'.join(AWAY_WORDS)})(?={SHAPE})"
    rf"|(?P<ack>{'|'.join(ACK)})(?={SHAPE})))",
    re.IGNORECASE,
)
#: Typographic apostrophes (U+2019 in "Message d\u2019absence") read as "'".
APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


def _subject_match(subject: str | None) -> re.Match[str] | None:
    """Whitespace collapsed first: it keeps the pattern's matching time linear."""
    if not subject:
        return None
    collapsed = " ".join(subject.translate(APOSTROPHES).split())
    return SUBJECT.match(collapsed) or AWAY_SUFFIX.search(collapsed[-40:])


def _reason(match: re.Match[str]) -> str:
    names = ("bounce", "away", "word", "ack", "ack_tag", "away_tag", "notes", "away_suffix")
    phrase = next(p for name in names if name in match.re.groupindex and (p := match[name]))
    return f"subject: {' '.join(phrase.lower().split())}"


def subject_reason(subject: str | None) -> str | None:
    """``subject: <phrase>`` when the subject alone has an auto-reply's or bounce's shape."""
    match = _subject_match(subject)
    return _reason(match) if match else None


def list_ident(list_id: str) -> str:
    """The identifier of a List-Id value: ``Support <support.acme.test>`` gives
    ``support.acme.test``."""
    return list_id.rsplit("<", 1)[-1].strip(" >").lower()


def list_ident_of(address: str) -> str:
    """The List-Id identifier a list at ``address`` carries, as Google Groups writes it:
    support@acme.test is ``support.acme.test``."""
    return address.lower().replace("@", ".")


def _list_header(header: Callable[[str], str | None]) -> str | None:
    """The first list header the message carries, or None. RFC 3834 section 2 asks
    responders not to answer list mail, and lists mark it with RFC 2919's List-Id or, in
    list software that sets no List-Id, RFC 2369's List-Post."""
    return next((name for name in LIST_HEADERS if (header(name) or "").strip()), None)


def _list_is_ours(header: Callable[[str], str | None], group_addresses: Iterable[str]) -> bool:
    """A Google Group (or any list) configured as one of our support addresses
    (``SWITCHBOARD_EMAIL_GROUP_ADDRESSES``) marks every customer's mail with its List-Id.
    From the headers alone it cannot be told from an outside list the inbox subscribes
    to, which is addressed To the list too. Without a List-Id, a List-Post naming one of
    those addresses marks it the same way."""
    groups = [box.lower() for box in group_addresses]
    list_id = (header("list-id") or "").strip()
    if list_id:
        return any(list_ident(list_id) == list_ident_of(box) for box in groups)
    posts = LIST_POST_ADDRESS.findall(header("list-post") or "")
    return any(post.strip().lower() in groups for post in posts)


def _list_sender(address: str) -> bool:
    """``owner-<list>@``, ``<list>-request@`` and Mailman's ``<list>-bounces@``: the
    addresses list software sends its own mail from (RFC 3834 section 2), never a
    person's. Not ``-admin`` or ``-owner``: ``it-admin@`` and ``product-owner@`` are
    people's mailboxes."""
    local = address.strip().strip("<>").rpartition("@")[0].lower()
    return local.startswith("owner-") or local.endswith(("-request", "-bounces"))


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
    group_addresses: Iterable[str] = (),
    itip_method: str | None = None,
) -> str | None:
    """Why this message is machine-sent, or None. ``header`` reads one decoded header;
    ``group_addresses``: our support addresses that are lists, whose list headers mark
    every customer's mail (``SWITCHBOARD_EMAIL_GROUP_ADDRESSES``); ``itip_method``: the
    iTIP method (RFC 5546) of a mail whose only content is a calendar message. A
    ``REPLY`` ("Accepted: Onboarding call") is written by a calendar program."""
    auto = _token(header("auto-submitted") or "")
    # Exchange/Outlook rules and other mailers: Reply, Forward, Group, Mirror
    generated = _token(header("x-autogenerated") or "")
    precedence = (header("precedence") or "").strip().lower()
    list_header = _list_header(header)
    our_list = list_header is not None and _list_is_ours(header, group_addresses)
    if our_list and precedence == "list":  # a Google Group marks every mail it relays
        precedence = ""
    return_path = header("return-path")
    bounce_from = _bare_sender(raw_from) if raw_from is not None else None
    checks = (
        (bool(auto) and auto != "no", f"auto-submitted: {auto}"),
        (bool(generated) and generated != "no", f"x-autogenerated: {generated}"),
        *((header(name) is not None, name) for name in FLAG_HEADERS),
        (precedence in PRECEDENCE, f"precedence: {precedence}"),
        (list_header is not None and not our_list, list_header),
        *((_list_sender(b.email), f"list sender: {b.email}") for b in senders),
        (_list_sender(return_path or ""), f"list sender: {(return_path or '').strip()}"),
        (content_type == "multipart/report", "multipart/report"),
        (itip_method in MACHINE_METHODS, f"calendar {(itip_method or '').lower()}"),
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
