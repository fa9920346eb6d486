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
