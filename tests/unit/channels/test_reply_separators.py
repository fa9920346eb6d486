"""The separator line above a quoted or forwarded message (``-----Ursprüngliche
Nachricht-----``, Gmail's ``---------- Forwarded message ---------``, Apple Mail's
``Begin forwarded message:``) belongs to the quote, in every language, as the English
``-----Original Message-----`` does."""

from __future__ import annotations

import pytest

from channels.replies import split_reply

pytestmark = pytest.mark.unit

ANSWER = "Hallo,\n\ndie Rechnung stimmt nicht.\n\nGruß\nAnna"
HEADERS = {
    "de": "Von: Support <support@acme.test>\nGesendet: Montag, 3. November 2025 10:00\n"
    "An: Anna <anna@example.de>\nBetreff: Ihre Anfrage",
    "en": "From: Support <support@acme.test>\nSent: Monday, November 3, 2025 10:00 AM\n"
    "To: Anna <anna@example.com>\nSubject: Your request",
    "gmail": "From: Support <support@acme.test>\nDate: Mon, Nov 3, 2025 at 10:00 AM\n"
    "Subject: Your request\nTo: <anna@example.com>",
    "fr": "De : Support <support@acme.test>\nEnvoyé : lundi 3 novembre 2025 10:00\n"
    "À : Anna <anna@example.fr>\nObjet : Votre demande",
    "es": "De: Support <support@acme.test>\nEnviado el: lunes, 3 de noviembre de 2025 10:00\n"
    "Para: Anna <anna@example.es>\nAsunto: Su solicitud",
    "nl": "Van: Support <support@acme.test>\nVerzonden: maandag 3 november 2025 10:00\n"
    "Aan: Anna <anna@example.nl>\nOnderwerp: Uw aanvraag",
    "it": "Da: Support <support@acme.test>\nInviato: lunedì 3 novembre 2025 10:00\n"
    "A: Anna <anna@example.it>\nOggetto: La sua richiesta",
}
SEPARATORS = [
    ("-----Ursprüngliche Nachricht-----", "de"),
    ("-----Message d'origine-----", "fr"),
    ("-----Mensaje original-----", "es"),
    ("-----Oorspronkelijk bericht-----", "nl"),
    ("-----Messaggio originale-----", "it"),
    ("---------- Forwarded message ---------", "gmail"),
    ("---------- Weitergeleitete Nachricht ----------", "de"),
    ("-------- Original-Nachricht --------", "de"),
    ("Begin forwarded message:", "gmail"),
    ("Anfang der weitergeleiteten Nachricht:", "de"),
    ("-----Original Message-----", "en"),
]


@pytest.mark.parametrize(("separator", "lang"), SEPARATORS, ids=[s for s, _ in SEPARATORS])
def test_the_separator_goes_with_the_quote(separator: str, lang: str) -> None:
    body = f"{ANSWER}\n\n{separator}\n{HEADERS[lang]}\n\nAlter Text hier.\n"
    reply = split_reply(body)
    assert reply.text == ANSWER
    assert reply.quoted is not None
    assert reply.quoted.startswith(separator)
    assert reply.quoted.endswith("Alter Text hier.")


@pytest.mark.parametrize(("separator", "lang"), SEPARATORS[:3], ids=[s for s, _ in SEPARATORS[:3]])
def test_the_separator_goes_with_the_quote_in_a_crlf_mail(separator: str, lang: str) -> None:
    body = f"{ANSWER}\n\n{separator}\n{HEADERS[lang]}\n\nAlter Text hier.\n"
    assert split_reply(body.replace("\n", "\r\n")).text == ANSWER


@pytest.mark.parametrize(
    "separator",
    ["-----Ursprüngliche Nachricht-----", "-----Original Message-----", "Begin forwarded message:"],
)
def test_a_separator_with_no_header_block_below_still_starts_the_quote(separator: str) -> None:
    reply = split_reply(f"Siehe unten.\n\n{separator}\nDer alte Text ohne Kopfzeilen.\n")
    assert reply.text == "Siehe unten."
    assert reply.quoted == f"{separator}\nDer alte Text ohne Kopfzeilen."


@pytest.mark.parametrize(("separator", "lang"), SEPARATORS, ids=[s for s, _ in SEPARATORS])
def test_a_forward_with_nothing_written_keeps_the_whole_mail_as_text(
    separator: str, lang: str
) -> None:
    """Nothing of the customer's own above the separator: the text is not just a line
    of dashes, it is the whole forward."""
    body = f"{separator}\n{HEADERS[lang]}\n\nAlter Text hier."
    reply = split_reply(body)
    assert reply.text == body
    assert reply.quoted is None


@pytest.mark.parametrize(
    "line",
    ["----- Notes -----", "-- original message follows below, see --", "Begin here:"],
)
def test_a_customers_own_dashed_lines_stay_in_the_text(line: str) -> None:
    body = f"Hello,\n\n{line}\nThe printer is jammed again.\n\nThanks\nAnna"
    assert split_reply(body).text == body


def test_a_separator_inside_a_quote_is_part_of_that_quote() -> None:
    body = (
        "Thanks, that worked.\n\nOn Mon, 3 Nov 2025 at 10:00, Support <support@acme.test> "
        "wrote:\n> Try again.\n> -----Ursprüngliche Nachricht-----\n> Von: Anna\n"
    )
    reply = split_reply(body)
    assert reply.text == "Thanks, that worked."
    assert reply.quoted is not None
    assert "> -----Ursprüngliche Nachricht-----" in reply.quoted


UNDERSCORES = "_" * 32  # what Outlook desktop and Outlook on the web write
OUTLOOK = ["en", "de", "fr", "es", "nl", "it"]


@pytest.mark.parametrize("lang", OUTLOOK)
def test_outlooks_underscore_line_goes_with_the_quote(lang: str) -> None:
    body = f"{ANSWER}\n\n{UNDERSCORES}\n{HEADERS[lang]}\n\nAlter Text hier.\n"
    reply = split_reply(body)
    assert reply.text == ANSWER
    assert reply.quoted == f"{UNDERSCORES}\n{HEADERS[lang]}\n\nAlter Text hier."


def test_outlooks_underscore_line_with_a_blank_line_below_goes_with_the_quote() -> None:
    body = f"{ANSWER}\r\n\r\n{UNDERSCORES}\r\n\r\n{HEADERS['en']}\r\n\r\nOld text\r\n"
    reply = split_reply(body)
    assert reply.text == ANSWER
    assert reply.quoted is not None
    assert reply.quoted.startswith(UNDERSCORES)


@pytest.mark.parametrize("lang", ["en", "de", "es"])
def test_an_outlook_forward_with_nothing_written_keeps_the_whole_mail_as_text(lang: str) -> None:
    body = f"{UNDERSCORES}\n{HEADERS[lang]}\n\nAlter Text hier."
    reply = split_reply(body)
    assert reply.text == body
    assert reply.quoted is None


def test_an_underscore_line_with_no_header_block_below_starts_no_quote() -> None:
    body = f"Hello,\n\nthe printer is jammed.\n{'_' * 24}\nAnna Smith\nACME GmbH"
    reply = split_reply(body)
    assert (reply.text, reply.quoted) == (body, None)


@pytest.mark.parametrize(
    "separator", ["-----Wiadomość oryginalna-----", "-----Oryginalna wiadomość-----"]
)
def test_polish_outlooks_separator_goes_with_the_quote_in_either_order(separator: str) -> None:
    headers = "Od: Support <support@acme.test>\nWysłano: poniedziałek, 3 listopada 2025 10:00"
    body = f"{ANSWER}\n\n{separator}\n{headers}\n\nStary tekst.\n"
    reply = split_reply(body)
    assert reply.text == ANSWER
    assert reply.quoted == f"{separator}\n{headers}\n\nStary tekst."


#: The date line of a Spanish header block: Outlook desktop's, Outlook on the web's and
#: Gmail's (all but the first are header names mail-parser-reply knows).
SPANISH_SENT = ["Enviado el", "Enviado", "Fecha"]


def spanish_headers(sent: str) -> str:
    return HEADERS["es"].replace("Enviado el:", f"{sent}:")


@pytest.mark.parametrize("sent", SPANISH_SENT)
def test_a_reply_above_a_spanish_header_block_splits_at_the_block(sent: str) -> None:
    """No separator line above the block (Outlook on the web, a mobile client): the
    whole block, ``De:`` line and all, is the quote."""
    body = f"{ANSWER}\n\n{spanish_headers(sent)}\n\nTexto anterior.\n"
    reply = split_reply(body)
    assert reply.text == ANSWER
    assert reply.quoted == f"{spanish_headers(sent)}\n\nTexto anterior."


@pytest.mark.parametrize("sent", SPANISH_SENT)
@pytest.mark.parametrize("above", ["", "-----Mensaje original-----\n", f"{UNDERSCORES}\n"])
def test_a_spanish_forward_with_nothing_written_keeps_the_whole_mail_as_text(
    above: str, sent: str
) -> None:
    body = f"{above}{spanish_headers(sent)}\n\nTexto anterior."
    reply = split_reply(body)
    assert (reply.text, reply.quoted) == (body, None)


#: Outlook's header block as it writes it in the languages beyond the library's: sender,
#: date, recipient, subject (labels from Outlook's localised builds).
FIELDS = {
    "ru": ("От", "Отправлено", "Кому", "Тема"),
    "uk": ("Від", "Надіслано", "Кому", "Тема"),
    "ja": ("差出人", "送信日時", "宛先", "件名"),
    "zh-TW": ("寄件者", "寄件日期", "收件者", "主旨"),
    "ko": ("보낸 사람", "보낸 날짜", "받는 사람", "제목"),
    "tr": ("Kimden", "Gönderildi", "Kime", "Konu"),
    "hu": ("Feladó", "Elküldve", "Címzett", "Tárgy"),
    "el": ("Από", "Στάλθηκε", "Προς", "Θέμα"),
    "ro": ("De la", "Trimis", "Către", "Subiect"),
    "he": ("מאת", "נשלח", "אל", "נושא"),
    "ar": ("من", "تم الإرسال", "إلى", "الموضوع"),
    "vi": ("Từ", "Đã gửi", "Đến", "Chủ đề"),
    "id": ("Dari", "Dikirim", "Kepada", "Perihal"),
    "th": ("จาก", "ส่ง", "ถึง", "เรื่อง"),
    "pt-PT": ("De", "Enviada", "Para", "Assunto"),
    "fi": ("Lähettäjä", "Lähetetty", "Vastaanottaja", "Aihe"),
    "cs": ("Od", "Odesláno", "Komu", "Předmět"),
}
OLD_TEXT = "Our refund policy allows returns within 30 days."


def outlook_block(lang: str) -> str:
    sender, sent, to, subject = FIELDS[lang]
    return (
        f"{sender}: Anna Support <support@acme.test>\n{sent}: 3.12.2026 10:12\n"
        f"{to}: kunde@example.com\n{subject}: RE: Order 4711"
    )


SEPARATORS_MORE = [
    "-----Исходное сообщение-----",
    "-----Вихідне повідомлення-----",
    "-----原始邮件-----",
    "-----元のメッセージ-----",
    "-----원본 메시지-----",
    "-----Özgün İleti-----",
    "-----Eredeti üzenet-----",
    "-----Αρχικό μήνυμα-----",
    "-----Mesaj original-----",
    "-----הודעה מקורית-----",
    "-----Thư gốc-----",
    "-----Pesan Asli-----",
]


@pytest.mark.parametrize(
    "start",
    [outlook_block(lang) for lang in sorted(FIELDS)] + SEPARATORS_MORE,
    ids=[f"block-{lang}" for lang in sorted(FIELDS)] + SEPARATORS_MORE,
)
def test_outlooks_header_block_or_separator_in_more_languages_starts_the_quote(
    start: str,
) -> None:
    """Below no separator and no > quote, the block (or "original message" separator) and
    the old message had stayed in the text: an agent read the history as the customer's,
    and a rule on "refund" matched the support team's own words."""
    reply = split_reply(f"{ANSWER}\n\n{start}\n\n{OLD_TEXT}\n")
    assert reply.text == ANSWER
    assert reply.quoted == f"{start}\n\n{OLD_TEXT}"


@pytest.mark.parametrize(
    "own",
    [
        # the reply library's own Outlook patterns (English, German...) had cut these
        "Die Sendung:\nVon: Berlin\nAn: Hamburg\nBetreff: Paket 4711\n\nBitte prüfen.",
        "The parcel:\nFrom: Berlin\nTo: Hamburg\nSubject: parcel 4711\n\nPlease check.",
        "Посылка:\nОт: Москва\nКому: Иван\nТема: заказ 4711\n\nПроверьте, пожалуйста.",
    ],
)
def test_a_customers_field_lines_naming_no_address_date_or_time_stay_theirs(own: str) -> None:
    reply = split_reply(own)
    assert (reply.text, reply.quoted) == (own, None)
