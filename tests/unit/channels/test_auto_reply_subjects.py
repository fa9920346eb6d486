"""Which subjects mark an auto-reply or a bounce: only the shapes responders and bounce
generators write (phrase then colon, phrase as the whole subject, phrase "until" a date),
never a customer's sentence that merely starts with the same words."""

from __future__ import annotations

import pytest

from channels.auto_replies import subject_reason
from channels.email import interpret

pytestmark = pytest.mark.unit

CUSTOMER_SUBJECTS = [
    "Undeliverable parcel - where is my order 8812?",
    "Auto reply feature not working",
    "Returned mail label needed",
    "Delivery failure of order 5521",
    "On vacation next week, please hold my delivery",
    "Out of office chair arrived broken",
    "Automatic reply settings missing",
    "Failure notice from your app when paying",
    "Autoresponder does not send",
    # near the shapes added for responders that send no Auto-Submitted header
    "Out of office-chair broken",
    "Message not delivered to my colleague",
    "My request received no answer",
    "Ticket #123 received?",
    "Out of office until next week, then I move house",
    "Unzustellbar: Paket 1234 kam zurück",
]


def _mail(subject: str, extra: str = "User-Agent: Mozilla Thunderbird 128.3\n") -> bytes:
    return (
        "From: Quentin Hart <quentin@buyer.example>\nTo: support@acme.test\n"
        f"Subject: {subject}\nMessage-ID: <q1@buyer.example>\n{extra}"
        "Content-Type: text/plain; charset=utf-8\n\nHello, please help me with this.\n"
    ).encode()


@pytest.mark.parametrize("subject", CUSTOMER_SUBJECTS)
def test_a_customer_subject_starting_like_an_auto_reply_opens_a_ticket(subject: str) -> None:
    parsed, interaction = interpret(_mail(subject))
    assert parsed.auto_reply_reason is None
    assert interaction is not None
    assert interaction.auto_reply is False
    assert "auto_reply_reason" not in interaction.metadata


@pytest.mark.parametrize("subject", CUSTOMER_SUBJECTS[:-1])
def test_a_phrase_followed_by_ordinary_words_is_no_auto_reply_shape(subject: str) -> None:
    assert subject_reason(subject) is None
    _, interaction = interpret(_mail(subject, extra=""))
    assert interaction is not None
    assert interaction.auto_reply is False


@pytest.mark.parametrize(
    ("subject", "reason"),
    [
        # Outlook / Exchange and their translations
        ("Automatic reply: Your request #1234", "subject: automatic reply"),
        ("Out of Office: Re: invoice", "subject: out of office"),
        ("Out of Office AutoReply: Re: invoice", "subject: out of office autoreply"),
        ("[EXT] Out of Office: Re: invoice", "subject: out of office"),
        ("Réponse automatique : Votre demande", "subject: réponse automatique"),
        ("Automatische Antwort: Ihre Anfrage", "subject: automatische antwort"),
        ("Undeliverable: Your request #1234", "subject: undeliverable"),
        ("Unzustellbar: Ihre Anfrage #1234", "subject: unzustellbar"),
        ("Non remis : Votre demande", "subject: non remis"),
        ("No se puede entregar: Su solicitud", "subject: no se puede entregar"),
        ("Onbestelbaar: Uw aanvraag", "subject: onbestelbaar"),
        ("Non recapitabile: La sua richiesta", "subject: non recapitabile"),
        ("Não é possível entregar: O seu pedido", "subject: não é possível entregar"),
        # Gmail, sendmail, Exim, qmail, Postfix: their whole fixed subjects
        (
            "Delivery Status Notification (Failure)",
            "subject: delivery status notification (failure)",
        ),
        ("Delivery Status Notification (Delay)", "subject: delivery status notification (delay)"),
        ("Returned mail: see transcript for details", "subject: returned mail"),
        ("Mail delivery failed: returning message to sender", "subject: mail delivery failed"),
        ("failure notice", "subject: failure notice"),
        ("Undelivered Mail Returned to Sender", "subject: undelivered mail returned to sender"),
        # the phrase as the whole subject, or with a dated "until"
        ("Out of office", "subject: out of office"),
        ("Nicht im Büro.", "subject: nicht im büro"),
        ("Fuori ufficio fino al 7/12", "subject: fuori ufficio"),
        ("Out of office until 12/3", "subject: out of office"),
        ("Abwesend: bis 7.12.", "subject: abwesend"),
    ],
)
def test_genuine_auto_reply_and_bounce_subjects(subject: str, reason: str) -> None:
    assert subject_reason(subject) == reason
    raw = (
        f"From: Microsoft Outlook <robot@mx.acme.test>\nTo: support@acme.test\n"
        f"Subject: {subject}\nContent-Type: text/plain; charset=utf-8\n\nAway.\n"
    ).encode()
    parsed, interaction = interpret(raw)
    assert parsed.auto_reply_reason == reason
    assert interaction is not None
    assert interaction.auto_reply is True


@pytest.mark.parametrize(
    "subject",
    [
        "On vacation until 5 May, please hold my parcel",
        "Out of office until next week I cannot accept deliveries",
        "Vacation - please hold my delivery",
        "Absent (sick) - reschedule my appointment",
    ],
)
def test_until_and_dashes_do_not_make_a_sentence_an_auto_reply(subject: str) -> None:
    assert subject_reason(subject) is None


@pytest.mark.parametrize(
    "program", ["User-Agent: Mozilla Thunderbird 128.3", "X-Mailer: Apple Mail (2.3774)"]
)
def test_a_bounce_subject_typed_in_a_mail_program_is_a_customer(program: str) -> None:
    """Bounces are written by mail servers; a message naming its mail program is a person's."""
    _, interaction = interpret(_mail("Unzustellbar: Paket 1234 kam zurück", f"{program}\n"))
    assert interaction is not None
    assert interaction.auto_reply is False


def test_a_bounce_subject_without_a_mail_program_is_a_bounce() -> None:
    parsed, _ = interpret(_mail("Unzustellbar: Paket 1234 kam zurück", extra=""))
    assert parsed.auto_reply_reason == "subject: unzustellbar"


def test_an_out_of_office_sent_by_a_mail_program_is_still_an_auto_reply() -> None:
    """Thunderbird and Apple Mail vacation rules send out-of-office replies themselves."""
    parsed, interaction = interpret(_mail("Out of Office: Re: your request #1234"))
    assert parsed.auto_reply_reason == "subject: out of office"
    assert interaction is not None
    assert interaction.auto_reply is True


def test_headers_still_decide_before_the_mail_program() -> None:
    raw = _mail("Undeliverable: Your request", "User-Agent: x\nAuto-Submitted: auto-replied\n")
    assert interpret(raw)[0].auto_reply_reason == "auto-submitted: auto-replied"


@pytest.mark.parametrize(
    ("subject", "reason"),
    [
        # bounces, whole subject or before a colon
        ("Undeliverable mail", "subject: undeliverable mail"),
        ("Undeliverable message", "subject: undeliverable message"),
        (
            "Delivery has failed to these recipients or groups",
            "subject: delivery has failed to these recipients or groups",
        ),
        ("Message not delivered", "subject: message not delivered"),
        ("Nicht zustellbar: Ihre Anfrage #1234", "subject: nicht zustellbar"),
        ("Kan inte levereras: Din fråga", "subject: kan inte levereras"),
        ("Niedostarczalne: Zamówienie 1234", "subject: niedostarczalne"),
        # away phrase and a responder word, a dash or bracket, or "until" a day
        ("Out of Office Reply", "subject: out of office reply"),
        ("Out of Office Notification", "subject: out of office notification"),
        ("Out of office - until 12/3", "subject: out of office"),
        ("Out of Office – Order 123", "subject: out of office"),
        ("Out of Office (until 12/3)", "subject: out of office"),
        ("Out of office until Monday", "subject: out of office"),
        ("Out of office until Monday, Dec 8", "subject: out of office"),
        ("Abwesend bis Montag", "subject: abwesend"),
        ("OOO: Re: invoice", "subject: ooo"),
        ("Vacation response: Re: invoice", "subject: vacation response"),
        ("Frånvarande: Re: faktura", "subject: frånvarande"),
        ("Nieobecność: Re: faktura", "subject: nieobecność"),
        ("Poza biurem: Re: faktura", "subject: poza biurem"),
        # the typographic apostrophe (U+2019) reads as "'"
        ("Message d\u2019absence", "subject: message d'absence"),
        ("Absent jusqu\u2019au 15/12", "subject: absent"),
        # helpdesk acknowledgements
        ("[Request received] Order 123", "subject: request received"),
        ("Request received: Order 123", "subject: request received"),
        ("Ticket #123 received", "subject: ticket #123 received"),
        ("We\u2019ve received your request", "subject: we've received your request"),
    ],
)
def test_responder_subjects_without_a_responder_header_are_auto_replies(
    subject: str, reason: str
) -> None:
    """A responder that sends no Auto-Submitted or X-Autoreply header is known by its
    subject alone; answering it would start a mail loop."""
    assert subject_reason(subject) == reason
    raw = (
        f"From: Helpdesk <help@vendor.example>\nTo: support@acme.test\n"
        f"Subject: {subject}\nContent-Type: text/plain; charset=utf-8\n\nNoted.\n"
    ).encode()
    parsed, interaction = interpret(raw)
    assert parsed.auto_reply_reason == reason
    assert interaction is not None
    assert interaction.auto_reply is True


#: Outlook's "Automatic reply:" in the languages of its other builds, and other
#: responders' shapes that carry no Auto-Submitted header (checked by an outside audit
#: against known responder formats: each had opened a ticket).
MORE_RESPONDERS = [
    "Automatisk svar: Ordre 123",
    "Automatiskt svar: Order 123",
    "Automatikus válasz: Rendelés 123",
    "Αυτόματη απάντηση: Παραγγελία 123",
    "Автоматический ответ: Заказ 123",
    "Автоматична відповідь: Замовлення 123",
    "Автоматичен отговор: Поръчка 123",
    "自动回复: 订单 123",
    "自動回覆: 訂單 123",
    "自動応答: 注文 123",
    "자동 회신: 주문 123",
    "Otomatik yanıt: Sipariş 123",
    "Automatski odgovor: Narudžba 123",
    "Samodejni odgovor: Naročilo 123",
    "Răspuns automat: Comanda 123",
    "Automātiskā atbilde: Pasūtījums 123",
    "Automatinis atsakymas: Užsakymas 123",
    "Automaatvastus: Tellimus 123",
    "תשובה אוטומטית: הזמנה 123",
    "رد تلقائي: الطلب 123",
    "Trả lời tự động: Đơn hàng 123",
    "Balasan automatik: Pesanan 123",
    "Balasan Otomatis: Pesanan 123",
    "Urlaubsabwesenheit",
    "AUTO: Jean Dupont est absent(e). (retour le 05/01/2010)",
    "Re: Order 123 (Automatic Response)",
    "[Automatyczna odpowiedź] Order 123",
    "[AUTO GENERATED] Some subject",
]


@pytest.mark.parametrize("subject", MORE_RESPONDERS)
def test_more_responders_without_a_header_are_auto_replies(subject: str) -> None:
    assert subject_reason(subject) is not None


@pytest.mark.parametrize(
    "subject",
    [
        "Auto: Unfall am Montag",  # "Auto" is a car: Notes writes AUTO in capitals
        "AUTO: Schaden am Kotflügel",  # and an away word after it
        "Re: My order (automatic reply was useless)",
        "Automatisk svar vedr. faktura",  # no colon: a customer's sentence
        "[Support] Refund for order 5521",
    ],
)
def test_near_those_shapes_a_customer_still_opens_a_ticket(subject: str) -> None:
    assert subject_reason(subject) is None
