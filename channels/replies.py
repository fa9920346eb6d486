"""Splitting an email body into the customer's new text and everything else.

``mail-parser-reply`` finds reply headers (``On ... wrote:``, Outlook ``From:/Sent:``
blocks, ``-----Original Message-----``) in 13 languages. A signature (``-- ``, "Sent
from my iPhone") stays in the text: the customer wrote it, and only the quoted history
is split off (talon's standard replies expect exactly that). The shapes the library
misses are handled here, the way talon does it: a ``>`` quote introduced by a header
line in a language it does not know (``... пользователь ... написал:``); a quote placed
*above* the answer (``Am ... schrieb ...:`` then ``>`` lines, then the reply), which is
looked for before the library runs because its header patterns would cut the answer
off; Lotus Notes' ``-----Name wrote: -----`` banner; the separator lines above a quoted or
forwarded message in the languages the library only knows the headers of
(``-----Ursprüngliche Nachricht-----``, ``---------- Forwarded message ---------``,
Apple Mail's ``Begin forwarded message:``) and Outlook's line of underscores above a
``From:`` header block, which start the quote as the library's English
``-----Original Message-----`` does; Spanish Outlook's header block, whose
``Enviado el:`` line the library does not know; reply headers the library's patterns
miss, whether the old message below is ``>`` quoted or not (``El ... escribió:`` with
one space, Polish ``W dniu ... napisał:`` / ``pisze:``, ``In data ... ha scritto:``,
``Em ... escreveu:``, Finnish ``... klo 17.50 ... kirjoitti:``, Chinese ``写道``, Korean
``작성:``, Japanese ``のメッセージ:``, Gmail's ``2014-03-20 8:48 GMT+01:00 Name
<address>:``, ``On ... wrote`` with no colon, a French header wrapped before ``a écrit
:``): a paragraph of at most three lines with an address in brackets, or a date and a
time, that ends so; the start of a header block (``De : ... <address>`` / ``Envoyé le
:``, ``From: Name`` with the address wrapped below it) the library found only from a
later field on; and, for HTML-only mail, the quote
containers of Outlook, Outlook on the web, Lotus Notes, Gmail, Apple Mail, Thunderbird
and Yahoo, which :func:`split_html` cuts off before the HTML becomes text. Agents
always have the full text: what is cut from ``text`` is in ``quoted``. An inline reply
(answers written between the quoted questions) is not split at all: like talon, it is
recognised first and kept whole, as the answers mean nothing without their questions.

The library strips every line; the reply is mapped back onto the original lines so that
indentation (code, numbered steps, tables in plain text) survives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from mailparser_reply.constants import MAIL_LANGUAGES, QUOTED_MATCH_INCLUDE
from mailparser_reply.parser import EmailMessage

from channels.html_quotes import quote_start
from channels.regex_guard import TimeBounded, guarded, time_budget

LANGUAGES = tuple(lang for lang in MAIL_LANGUAGES if lang != "david")
#: Spanish Outlook's header block (``De:``, ``Enviado el:``, ``Para:``, ``Asunto:``), as
#: the library writes its Spanish block but with ``Enviado el:``, which the library does
#: not know: it found the block only from ``Para:`` on, and cut a forward's header block
#: in two (``De:`` and ``Enviado el:`` left as the customer's text).
SPANISH_OUTLOOK_HEADER = (
    r"((?:(?:^|\n|\n" + QUOTED_MATCH_INCLUDE + r")[* ]*"
    r"(?:De|Enviado(?:[ \t]+el)?|Para|Asunto|Fecha|CC|Organización):[ *]*(?:\s{,2}).*){2,}"
    r"(?:\n.*){,1})"
)


class _Replies(EmailMessage):  # type: ignore[misc]  # the library ships no types
    """The library's reader without its signature and disclaimer search: it runs two more
    pattern sets over every reply it finds (a sixth of reading a short mail) for the
    ``signatures`` and ``disclaimers`` of each, which :func:`split_reply` never reads (a
    signature stays in the customer's text); the replies' ``headers`` and ``content``, all
    it reads, do not depend on them."""

    def _process_signatures_disclaimers(self, *_: object) -> tuple[list[str], str]:
        return [], ""  # whatever a later release passes it


def header_pattern(library: EmailMessage) -> re.Pattern[str]:
    """The library's reply header patterns, and Spanish Outlook's header block."""
    headers = library.HEADER_REGEX
    return re.compile(f"{headers.pattern}|{SPANISH_OUTLOOK_HEADER}", headers.flags)


def _library_patterns() -> dict[str, Any]:
    """The library's header, disclaimer and signature regexes for our languages.

    It joins them from its language tables for every message it reads (a fifth of an
    email's parsing cost); built once here and handed to each ``EmailMessage``, they are
    the same compiled patterns."""
    template = EmailMessage(text="", languages=list(LANGUAGES), keep_hyphen_lists=True)
    headers = guarded(header_pattern(template))
    return {
        "_header_regex": TimeBounded(headers, HEADER_SCAN_S, "reply headers"),
        "_disclaimers_regex": guarded(template.DISCLAIMERS_REGEX),
        "_signature_regex": guarded(template.SIGNATURE_REGEX),
    }


#: The most the reply header patterns may take over one text (a 64 KiB reply of short
#: lines takes about 0.1 s): past it, no header is found and the text stays whole.
HEADER_SCAN_S = 1.0
#: ... and over one message, every search of it together (``split_reply``).
HEADER_BUDGET_S = 0.15
LIBRARY_PATTERNS = _library_patterns()
MAX_SCAN_CHARS = 64 * 1024
INTRO_HINT = re.compile(
    r"@|\d{1,2}:\d{2}|\bkl(?:o|\.)?[ \t]?\d{1,2}\.\d{2}|\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|<\s*$"
)
#: The colons a reply header ends with: ASCII and the full-width one (U+FF1A) of Chinese
#: and Japanese mailers.
INTRO_COLONS = (":", "\uff1a")
MAX_INTRO_LINES = 3
#: A reply header is a line or two of an address and a date; longer is a paragraph.
MAX_INTRO_CHARS = 400
#: "wrote" (or "message of") at the end of a reply header, in the forms the library's
#: patterns miss: ``El ... escribió:`` with one space, ``W dniu ... napisał:``, ``...
#: pisze:``, ``In data ... ha scritto:``, ``Em ... escreveu:``, ``... kirjoitti:``,
#: ``... schrieb:`` with no date, a French header wrapped before ``a écrit :``; Chinese
#: ``写道`` (before a full-width colon), Korean ``작성:``, Japanese Apple Mail's
#: ``のメッセージ:``, which need no space before them.
WROTE = (
    r"wrote|schrieb|geschrieben|a [ée]crit|escribi[óo]|ha scritto|schreef|geschreven"
    r"|het volgende|escreveu|skrev|skriver|napisa(?:ł|l)a?|pisze|kirjoitti|написала?|napsala?"
)
#: "wrote" anywhere in a header that ends with the sender's address (Dutch ``Op ... schreef
#: Name <address>:``, as German ``Am ... schrieb Name <address>:``).
WROTE_WORD = re.compile(r"(?<!\w)(?:" + WROTE + r")(?!\w)", re.IGNORECASE)
CJK_WROTE = r"写道|寫道|작성|のメッセージ"
INTRO_END = re.compile(
    r"(?:(?<!\w)(?:" + WROTE + r")|" + CJK_WROTE + r")[ \t]*[:\uff1a]\Z", re.IGNORECASE
)
#: Gmail's and others' header with no verb, which opens with the date or the weekday:
#: ``2014-03-20 8:48 GMT+01:00 Name <address>:``, Russian Gmail's weekday, date and
#: time then ``Name <address>:``, ``Wednesday, 17 November 2021, 3:32 PM +0300 from
#: ... <address>:``.
DATED_START = re.compile(r"\A(?:\d|\w{1,12}\.?,)")
ADDRESS_END = re.compile(r"<[^<>\s]+@[^<>\s]+>[ \t]*[:\uff1a]\Z")
#: ``On ... wrote`` with its colon lost.
ON_WROTE = re.compile(r"\AOn\s.*\swrote\Z")
#: An address in brackets, as mailers write it after the sender's name (a bare address
#: is as likely the customer's prose: "my colleague anna@example.com wrote:").
BRACKETED_ADDRESS = re.compile(
    r"[<(\[][ \t]*(?:mailto:)?[^\s<>()\[\]@]+@[^\s<>()\[\]@]+[ \t]*[>)\]]"
)
TIME = re.compile(r"(?<![\d.])\d{1,2}[:.]\d{2}(?![\d.])")
DATE = re.compile(r"(?<!\d)(?:\d{1,4}[./-] ?\d{1,2}[./-] ?\d{1,4}|(?:19|20)\d{2})(?!\d)")
#: The fields of a reply's or forward's header block (Outlook, Gmail, Apple Mail) in the
#: languages we read, with the space French writes before the colon and the full-width
#: colon of Chinese mailers. The block starts with its sender ("From:").
FROM_FIELD = (
    r"From|Von|De|De la|Da|Van|Från|Fra|Od|Lähettäjä|От|Від|Kimden|Feladó|Από|Dari|Từ"
    r"|מאת|من|จาก|发件人|發件人|寄件者|差出人|보낸 사람"
)
OTHER_FIELDS = (
    r"Sent|Date|Datum|Dato|Data|Fecha|Envoy[ée](?:[ \t]+le)?|Enviad[oa](?:[ \t]+(?:el|em))?"
    r"|Gesendet|Reply-To|Antwort an|R[ée]pondre [àa]|Responder a"
    r"|Inviato|Verzonden|Skickat|Sendt|Wysłano|Odesláno|Lähetetty|To|An|À|A|Para|Aan|Till"
    r"|Til|Do|Komu|Vastaanottaja|Cc|Subject|Betreff|Objet|Asunto|Oggetto|Onderwerp|Ämne"
    r"|Emne|Temat|Předmět|Aihe|Assunto"
    r"|Отправлено|Дата|Кому|Копия|Тема|Надіслано|Копія"  # Russian, Ukrainian
    r"|Gönderildi|Gönderilme Tarihi|Kime|Bilgi|Konu"  # Turkish
    r"|Elküldve|Címzett|Másolatot kap|Tárgy"  # Hungarian
    r"|Στάλθηκε|Προς|Κοιν\.?|Θέμα"  # Greek
    r"|Trimis|Către|Subiect"  # Romanian
    r"|Dikirim|Kepada|Perihal|Subjek"  # Indonesian
    r"|Đã gửi|Đến|Chủ đề"  # Vietnamese
    r"|נשלח|אל|עותק|נושא"  # Hebrew
    r"|تم الإرسال|أرسل|إلى|نسخة|الموضوع"  # Arabic
    r"|ส่ง|ถึง|เรื่อง"  # Thai
    r"|日期|发送时间|發送時間|寄件日期|收件人|收件者|主题|主題|主旨|抄送|副本"  # Chinese
    r"|送信日時|宛先|件名"  # Japanese
    r"|보낸 날짜|받는 사람|참조|제목"  # Korean
)
SENDER_FIELD = re.compile(r"[ \t]*\*?(?:" + FROM_FIELD + r")\*?[ \t]*[:\uff1a]", re.IGNORECASE)
HEADER_FIELD = re.compile(
    r"[ \t]*\*?(?:" + FROM_FIELD + "|" + OTHER_FIELDS + r")\*?[ \t]*[:\uff1a]", re.IGNORECASE
)
#: A sender's address wrapped onto a line of its own below ``From: Name``.
ADDRESS_LINE = re.compile(r"[ \t]*<?(?:mailto:)?[^\s<>@]+@[^\s<>@]+>?[ \t]*\Z")
LOTUS_BANNER = re.compile(
    r"^\s*-{3,}\s*.{1,200}?\s(?:wrote|schrieb|a écrit|escribió|ha scritto|schreef|escreveu)"
    r"\s*:?\s*-{3,}\s*$",
    re.IGNORECASE | re.MULTILINE,
)
#: "Original message" and "forwarded message" in the separators Outlook, Gmail,
#: Thunderbird and webmailers write between dashes, in the languages we read.
SEPARATOR_PHRASES = (
    r"original[- ]?(?:message|nachricht)|forwarded message",
    r"urspr(?:ü|ue)ngliche nachricht|weitergeleitete nachricht",
    r"message d['’]origine|message original|message transf(?:é|e)r(?:é|e)",
    r"mensaje original|mensaje reenviado",
    r"oorspronkelijk bericht|origineel bericht|doorgestuurd bericht",
    r"messaggio originale|messaggio inoltrato",
    r"mensagem original|mensagem (?:re)?encaminhada",
    r"oprindelig (?:meddelelse|besked)|videresendt (?:meddelelse|besked)|opprinnelig melding",
    r"ursprungligt meddelande|originalmeddelande|vidarebefordrat meddelande",
    r"alkuper(?:ä|a)inen viesti|v(?:ä|a)litetty viesti",
    r"oryginalna wiadomo(?:ś|s)(?:ć|c)|wiadomo(?:ś|s)(?:ć|c) oryginalna"
    r"|przekazana wiadomo(?:ś|s)(?:ć|c)",
    r"p(?:ů|u)vodn(?:í|i) zpr(?:á|a)va|p(?:ř|r)eposlan(?:á|a) zpr(?:á|a)va",
    r"исходное сообщение|пересылаемое сообщение|пересланное сообщение",
    r"оригінальне повідомлення|вихідне повідомлення|переслане повідомлення",
    r"(?:ö|o)zg(?:ü|u)n ileti|orijinal mesaj|iletilen mesaj",
    r"eredeti (?:ü|u)zenet|tov(?:á|a)bb(?:í|i)tott (?:ü|u)zenet",
    r"αρχικό μήνυμα|προωθημένο μήνυμα",
    r"mesaj(?:ul)? original|mesaj redirecționat",
    r"pesan asli|pesan yang diteruskan",
    r"th(?:ư|u) g(?:ố|o)c|th(?:ư|u) (?:đ|d)(?:ã|a) chuy(?:ể|e)n ti(?:ế|e)p",
    r"הודעה מקורית|הודעה שהועברה",
    r"الرسالة الأصلية|الرسالة المعاد توجيهها",
    r"ข้อความต้นฉบับ",
    r"原始邮件|原始郵件|转发的邮件|轉寄郵件",
    r"元のメッセージ|転送されたメッセージ|원본 메시지|전달된 메시지",
)
#: Apple Mail's line above a forwarded message, in the same languages.
FORWARD_INTROS = (
    r"begin forwarded message",
    r"anfang der weitergeleiteten nachricht",
    r"d(?:é|e)but du message (?:r(?:é|e)exp(?:é|e)di(?:é|e)|transf(?:é|e)r(?:é|e))",
    r"inicio del mensaje reenviado",
    r"begin doorgestuurd bericht",
    r"inizio messaggio inoltrato",
    r"in(?:í|i)cio da mensagem (?:re)?encaminhada",
)
#: The "From:" of the header block Outlook writes below its line of underscores.
HEADER_FROM = r"(?:From|Von|De|Da|Van|Från|Fra|Od|Lähettäjä)[ \t]*:"
#: Outlook's line of underscores above a reply's or forward's header block (desktop and
#: Outlook on the web): a separator only when a ``From:`` follows within two lines,
#: else it is a customer's own rule (above a signature, say) and stays in the text.
UNDERSCORE_SEPARATOR = r"_{20,}(?=[ \t]*\n(?:[ \t]*\n){0,2}[ \t]*" + HEADER_FROM + ")"
#: That line of underscores cut off from the header block below it (what is left of
#: a forward the library split at its ``From:``).
UNDERSCORE_LINE = re.compile(r"^[ \t]*_{20,}[ \t]*$", re.MULTILINE)
QUOTE_SEPARATOR = re.compile(
    r"^[ \t]*(?:-{2,}[ \t]*(?:"
    + "|".join(SEPARATOR_PHRASES)
    + r")[ \t]*-{2,}|(?:"
    + "|".join(FORWARD_INTROS)
    + r")[ \t]*:|"
    + UNDERSCORE_SEPARATOR
    + r")[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
SIGNATURE_START = re.compile(
    r"\s*(?:--\s*$|_{2,}\s*$|(?:Sent from|Get Outlook for|Gesendet von|Von meinem"
    r"|Envoy[ée] de|Enviado desde|Inviato da|Verzonden vanaf)\b)",
    re.IGNORECASE,
)
LONE_LINK = re.compile(r"\s*[(<\[]?\s*(?:https?://|mailto:|www\.)\S*\s*[)>\]]?\s*$", re.IGNORECASE)
SIG_SEPARATOR = "-- "


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
    if j < 0 or _is_quote(lines[j]):
        return quote_at
    top = _intro_top(lines, j)
    if top is not None:
        return top
    if not lines[j].rstrip().endswith(INTRO_COLONS):
        return quote_at
    start = j
    for k in (j - 1, j - 2):
        if k >= 0 and lines[k].strip() and INTRO_HINT.search(lines[k]):
            start = k
        else:
            break
    return start


def _written(line: str) -> bool:
    """A line of text: neither blank nor quoted."""
    return bool(line.strip()) and not _is_quote(line)


def _is_reply_intro(lines: list[str]) -> bool:
    """Whether ``lines`` (at most ``MAX_INTRO_LINES``) are a reply header in one of the
    forms the library misses: an address, or a date and a time, ending in "wrote:"; a
    date, a time and ``Name <address>:``; ``On ... wrote`` with an address."""
    if not 0 < len(lines) <= MAX_INTRO_LINES or sum(map(len, lines)) > MAX_INTRO_CHARS:
        return False
    head = " ".join(line.strip() for line in lines)
    addressed = BRACKETED_ADDRESS.search(head) is not None
    # INTRO_END ends in a colon: a head without one at its end needs no search of it
    if head.endswith(INTRO_COLONS) and INTRO_END.search(head):
        return addressed or _dated(head)
    if ADDRESS_END.search(head):
        return _dated(head) and (
            DATED_START.match(head) is not None or bool(WROTE_WORD.search(head))
        )
    return addressed and ON_WROTE.match(head) is not None


def _dated(head: str) -> bool:
    """Whether ``head`` holds a date and a time; looked for only where it decides (each
    search costs as much as the rest of the test of a line)."""
    return DATE.search(head) is not None and TIME.search(head) is not None


def _intro_top(lines: list[str], last: int) -> int | None:
    """Where a reply header the library misses begins, if one ends at line ``last``: the
    line itself, or up to two lines above it with a date, a time or an address (a header
    wrapped by the mailer); the customer's words above them are not part of it."""
    found = None
    for top in range(last, max(last - MAX_INTRO_LINES, -1), -1):
        if top < last and not (_written(lines[top]) and INTRO_HINT.search(lines[top])):
            break
        if _is_reply_intro(lines[top : last + 1]):
            found = top
    return found


def _intro_paragraph(lines: list[str]) -> int | None:
    """Where the first reply header the library misses (:func:`_is_reply_intro`) begins,
    if one ends a paragraph of ``lines``."""
    for last, line in enumerate(lines):
        if _written(line) and (last + 1 == len(lines) or not _written(lines[last + 1])):
            top = _intro_top(lines, last)
            if top is not None:
                return top
    return None


def _header_block(lines: list[str]) -> int | None:
    """Where a header block at the very end of ``lines`` begins (``From:`` / ``De :`` with
    the sender's address, on its line or wrapped onto the next, then ``Sent:`` /
    ``Envoyé le :``): what is left of a block the library found only from a later field."""
    end = len(lines)
    while end > 0 and not lines[end - 1].strip():
        end -= 1
    top = end
    while top > 0 and (HEADER_FIELD.match(lines[top - 1]) or ADDRESS_LINE.match(lines[top - 1])):
        top -= 1
    sender = next((k for k in range(top, end) if SENDER_FIELD.match(lines[k])), None)
    if sender is None or end - sender < 2 or "@" not in lines[sender] + lines[sender + 1]:
        return None  # a sender with no address ("From: Berlin / To: Hamburg") is prose
    return sender


def _field_block(lines: list[str]) -> int | None:
    """Where the first header block of a reply or forward begins, in any of the languages
    of ``FROM_FIELD``: a sender field naming an address (on its line or the next), then at
    least two more fields on the lines right below it (``От: ... <a@b>`` / ``Отправлено:``
    / ``Кому:`` / ``Тема:``), as Outlook writes them above the old message. A sender with
    no address ("From: Berlin") and a lone field are a customer's prose."""
    for at, line in enumerate(lines):
        if not SENDER_FIELD.match(line) or "@" not in line + "".join(lines[at + 1 : at + 2]):
            continue
        below = at + 1
        if below < len(lines) and ADDRESS_LINE.match(lines[below]):
            below += 1
        fields = 0
        while below < len(lines) and HEADER_FIELD.match(lines[below]):
            fields, below = fields + 1, below + 1
        if fields >= 2:
            return at
    return None


def _cut_history(reply: str, *, cut_below: bool) -> tuple[str, str]:
    """``(reply, history)``: ``reply`` cut at a reply header the library missed, with the
    unquoted old message below it; and, when the history was cut off right below the
    reply (``cut_below``) or is cut here, at the start of a header block the library
    found only part of."""
    lines = reply.split("\n")
    found = [k for k in (_intro_paragraph(lines), _field_block(lines)) if k is not None]
    at = min(found, default=None)
    if at is not None and any(line.strip() for line in lines[:at]):
        lines, history = lines[:at], lines[at:]
    elif cut_below:
        history = []
    else:
        return reply, ""
    block = _header_block(lines)
    if block is not None and any(line.strip() for line in lines[:block]):
        lines, history = lines[:block], lines[block:] + history
    return "\n".join(lines), "\n".join(history).strip()


def _is_intro(lines: list[str]) -> bool:
    """Whether the non-blank ``lines`` are a header introducing a quote (``On ... wrote:``)."""
    intro = [line for line in lines if line.strip()]
    return (
        0 < len(intro) <= MAX_INTRO_LINES
        and intro[-1].rstrip().endswith(INTRO_COLONS)
        and INTRO_HINT.search(" ".join(intro)) is not None
    ) or _is_reply_intro(intro)


def _has_header(lines: list[str]) -> bool:
    """Whether a reply header (``From:``/``Sent:``, ``On ... wrote:``, ``El ... escribió:``)
    is among ``lines``."""
    text = "\n".join(line.strip() for line in lines)
    return (
        LIBRARY_PATTERNS["_header_regex"].search(text) is not None
        or _intro_paragraph(lines) is not None
    )


def _answers(lines: list[str]) -> bool:
    """Whether unquoted ``lines`` next to a quote are the customer's words, not a quote's
    header, another message's header block, or a long link the quoting wrapped."""
    written = [line for line in lines if line.strip()]
    if not written or _is_intro(written) or _has_header(written):
        return False
    return not all(LONE_LINK.match(line) for line in written)


def _inline(text: str) -> bool:
    """Whether the customer answered inside the quote, as talon recognises it: words of
    their own between two ``>`` blocks, or below the quote when they also wrote above it
    (and what is below is more than a signature). History in another form above the
    first ``>`` (an Outlook header block) means the quotes belong to that history."""
    lines = text.split("\n")
    quoted = [i for i, line in enumerate(lines) if _is_quote(line)]
    if not quoted:
        return False
    gaps = [lines[a + 1 : b] for a, b in pairwise(quoted) if b > a + 1]
    after = [line for line in lines[quoted[-1] + 1 :] if line.strip()]
    if not after and not any(line.strip() for gap in gaps for line in gap):
        return False  # nothing written between or below the quotes (most replies): no
        # need for the header patterns below, the costliest step of reading a reply
    before = lines[: _intro_start(lines, quoted[0])]
    if _has_header(before):
        return False
    if any(_answers(gap) for gap in gaps):
        return True
    return (
        any(line.strip() for line in before)
        and _answers(after)
        and not SIGNATURE_START.match(after[0])
    )


def _split_quotes(text: str) -> tuple[str, str]:
    """Talon's rule for ``>`` blocks the header patterns missed."""
    lines = text.split("\n")
    first = next((i for i, line in enumerate(lines) if _is_quote(line)), None)
    if first is None:
        return text, ""
    last = max(i for i, line in enumerate(lines) if _is_quote(line))
    start = _intro_start(lines, first)
    before = "\n".join(lines[:start]).strip("\n")
    after = "\n".join(lines[last + 1 :]).strip("\n")
    if not before.strip() and after.strip():
        return after, "\n".join(lines[: last + 1]).strip()
    if before.strip() and after.strip():
        return text, ""
    return before, "\n".join(lines[start:]).strip()


def _quote_above(text: str) -> tuple[str, str] | None:
    """``(answer, quote)`` when the message opens with a quote and the answer follows."""
    lines = text.split("\n")
    first = next((i for i, line in enumerate(lines) if _is_quote(line)), None)
    if first is None:
        return None
    above = [line for line in lines[:first] if line.strip()]
    own = lines[: _intro_start(lines, first)]
    if above and (any(line.strip() for line in own) or not _is_intro(above)):
        # the customer's words above the header: a top-posted reply, not a quote above
        return None
    end = first
    while end < len(lines) and (_is_quote(lines[end]) or not lines[end].strip()):
        end += 1
    rest = lines[end:]
    if not any(line.strip() for line in rest) or any(_is_quote(line) for line in rest):
        return None
    return "\n".join(rest), "\n".join(lines[:end]).strip()


def _banner(text: str) -> re.Match[str] | None:
    """The first line that starts the history by itself: a Lotus Notes banner or a
    separator such as ``-----Ursprüngliche Nachricht-----``."""
    found = (LOTUS_BANNER.search(text), QUOTE_SEPARATOR.search(text))
    return min((m for m in found if m is not None), key=lambda m: m.start(), default=None)


def _restore(original: str, stripped: str) -> str:
    """``stripped`` (the library's lines, each stripped) with the original lines' indentation."""
    source = original.split("\n")
    at = 0
    out: list[str] = []
    for line in stripped.split("\n"):
        key = line.strip()
        if not key:
            out.append("")
            continue
        j = at
        while j < len(source) and source[j].strip() != key:
            j += 1
        if j == len(source):
            out.append(line)
            continue
        out.append(source[j] if source[j] == SIG_SEPARATOR else source[j].rstrip())
        at = j + 1
    return "\n".join(out)


def _trim(text: str) -> str:
    lines = text.rstrip().split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines)


def split_html(html: str) -> tuple[str, str]:
    """``(own, history)``: the HTML before the first quote container (``html_quotes``),
    and the rest."""
    start = quote_start(html)
    if start is None or not re.sub(r"<[^<>]*+>|&nbsp;|\s", "", html[:start]):
        return html, ""
    return html[:start], html[start:]


def _history(text: str, rest: list[Any]) -> str:
    """The library's replies after the first, as one text: the library cuts its (stripped)
    ``text`` at every group of its header patterns, a header's inner groups too (``Le`` /
    ``19 mars 2014 ... a écrit :``, each ``On ... wrote:`` inside a ``>`` quote), so the
    history is taken whole from where the first of them starts."""
    if not rest:
        return ""
    start = text.find(rest[0].headers) if rest[0].headers else -1
    if start < 0:
        return "\n\n".join(r.content for r in rest if r.content)
    return text[start:].strip()


def _weak(header: str, content: str) -> bool:
    """A header of the library's that is a customer's words: a line ending in "wrote:",
    or a block of fields, with no address, date or time, above words that are not ``>``
    quoted ("Am Montag schrieb ich Ihnen wegen meiner Bestellung:", "On Monday my
    colleague wrote:", "Von: Berlin / An: Hamburg").
    A mailer's header names the sender's address or the date and time it quotes, or
    introduces a ``>`` quote; cutting there put the customer's own words in the history."""
    line = header.strip()
    if not line or INTRO_HINT.search(line) or re.match(r"[-_*=]{3,}", line):
        return False
    # a block of fields ("Von: Berlin / An: Hamburg / Betreff: Paket 4711") naming no
    # address, date or time is the customer's too; Outlook's names the date it was sent
    below = content[content.find(header) + len(header) :] if header in content else content
    first = next((text for text in below.split("\n") if text.strip()), "")
    return not _is_quote(first)


def _trusted(text: str, replies: list[Any]) -> tuple[str, list[Any]]:
    """The library's first reply and the rest, read past the headers that are a customer's
    sentence (:func:`_weak`): their text stays with the reply above them. ``text`` is the
    library's, in which it found the headers one after the other."""
    rest = replies[1:]
    k = next((i for i, r in enumerate(rest) if not _weak(r.headers, r.content)), len(rest))
    if k == 0:
        return replies[0].content, rest
    if k == len(rest):
        return text, []
    at = 0
    for reply in rest[: k + 1]:  # as the library found them: each after the one before
        at = text.find(reply.headers, at + 1 if at > 0 else at)
    return text[:at], rest[k:]


def split_reply(body: str) -> Reply:
    """The new text of a reply (its signature included) and the quoted history, if any.
    The reply header patterns share ``HEADER_BUDGET_S`` over the whole message."""
    with time_budget(HEADER_BUDGET_S):
        return _split_reply(body)


def _split_reply(body: str) -> Reply:
    text = _trim(body.replace("\r\n", "\n"))
    if not text.strip():
        return Reply("", None)
    if _inline(text[:MAX_SCAN_CHARS]):
        # Answers between the questions: only with the questions do they make sense.
        return Reply(text, None)
    quoted: list[str] = []
    above = _quote_above(text[:MAX_SCAN_CHARS])
    if above is not None:
        text, quote = _trim(above[0] + text[MAX_SCAN_CHARS:]), above[1]
    banner = _banner(text[:MAX_SCAN_CHARS])
    banner_quote = ""
    if banner is not None and text[: banner.start()].strip():
        text, banner_quote = _trim(text[: banner.start()]), text[banner.start() :].strip()
    head, tail = text[:MAX_SCAN_CHARS], text[MAX_SCAN_CHARS:]
    message = _Replies(
        text=head, languages=list(LANGUAGES), keep_hyphen_lists=True, **LIBRARY_PATTERNS
    ).read()
    first, rest = _trusted(message.text, message.replies)
    reply, quoted_here = _split_quotes(_restore(head, first))
    quoted = [q for q in (quoted_here, _history(message.text, rest)) if q]
    if banner_quote:
        quoted.append(banner_quote)
    if above is not None:
        quoted.append(quote)
    reply, history = _cut_history(reply, cut_below=bool(quoted_here or rest or banner_quote))
    if history:
        quoted.insert(0, history)
    if tail.strip():
        if quoted:
            quoted.append(tail.strip())
        else:
            reply = f"{reply}{tail}"
    reply = _trim(reply)
    if not UNDERSCORE_LINE.sub("", QUOTE_SEPARATOR.sub("", reply)).strip():
        # Nothing but quotes and headers: keep it all as text rather than publish nothing.
        return Reply(_trim(body.replace("\r\n", "\n")), None)
    return Reply(reply, "\n\n".join(quoted) or None)
