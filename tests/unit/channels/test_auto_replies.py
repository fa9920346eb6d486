"""Auto-replies and bounces (issue 8): headers, subjects in seven languages, and bounces
whose From names no mailbox. Fixtures under tests/fixtures/email/auto-replies/."""

from __future__ import annotations

from pathlib import Path

import pytest

from channels.auto_replies import subject_reason
from channels.email import interpret
from channels.mime import parse_email

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "email" / "auto-replies"
LANGUAGES = ("en", "de", "fr", "es", "nl", "pt", "it")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("x-auto-response-suppress.eml", "x-auto-response-suppress"),
        ("x-loop.eml", "x-loop"),
        ("list-id.eml", "list-id"),
        ("precedence-auto-reply.eml", "precedence: auto_reply"),
    ],
)
def test_headers_mark_auto_replies(name: str, reason: str) -> None:
    assert parse_email((FIXTURES / name).read_bytes()).auto_reply_reason == reason


SUBJECT_FIXTURES = sorted(FIXTURES.glob("subject-*.eml"))


def test_every_language_has_a_subject_fixture() -> None:
    langs = {p.stem.removeprefix("subject-").split("-")[0] for p in SUBJECT_FIXTURES}
    assert langs == set(LANGUAGES)


@pytest.mark.parametrize("eml", SUBJECT_FIXTURES, ids=lambda p: p.stem)
def test_out_of_office_subjects_are_auto_replies(eml: Path) -> None:
    parsed, interaction = interpret(eml.read_bytes())
    assert parsed.auto_reply_reason is not None
    assert parsed.auto_reply_reason.startswith("subject: ")
    assert interaction is not None
    assert interaction.auto_reply is True


@pytest.mark.parametrize(
    "subject",
    [
        "Abwesend: bis 7.12.",
        "Automatische Abwesenheitsnotiz",
        "Nicht im Büro",
        "Absent du bureau",
        "Fuori ufficio fino al 7/12",
        "Niet aanwezig: terug op maandag",
        "Fora do escritório",
        "Auto-Reply: Re: your order",
        "[EXT] Out of Office: Re: invoice",
        "Undeliverable: invoice",
    ],
)
def test_more_subject_forms(subject: str) -> None:
    assert subject_reason(subject) is not None


@pytest.mark.parametrize(
    "subject",
    [
        "Absence of invoice for order #1234",
        "Re: Automatic reply settings do not work",
        "Question about out of office hours",
        "Ausente el repartidor",
        "Invoice",
        None,
    ],
)
def test_customer_subjects_are_not_auto_replies(subject: str | None) -> None:
    assert subject_reason(subject) is None


def test_a_customer_mentioning_an_absence_opens_a_ticket() -> None:
    parsed, interaction = interpret((FIXTURES / "human-mentions-absence.eml").read_bytes())
    assert parsed.auto_reply_reason is None
    assert interaction is not None
    assert interaction.auto_reply is False


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("bounce-bare-mailer-daemon.eml", "sender: mailer-daemon"),
        ("bounce-empty-display.eml", "sender: <>"),
    ],
)
def test_bounce_with_no_mailbox_in_from_is_a_bounce_not_refused(name: str, reason: str) -> None:
    parsed, interaction = interpret((FIXTURES / name).read_bytes())
    assert parsed.sender is None
    assert parsed.auto_reply_reason == reason
    assert interaction is not None
    assert interaction.auto_reply is True
    assert interaction.metadata["auto_reply_reason"] == reason
    assert interaction.sender_key() == "email:anonymous"


def test_a_google_group_as_the_support_address_is_not_list_mail() -> None:
    raw = (
        b"From: anna@example.de\r\nTo: support@acme.test\r\n"
        b"List-Id: <support.acme.test>\r\nSubject: Invoice\r\n\r\nHello\r\n"
    )
    assert parse_email(raw).auto_reply_reason is None


def test_a_mail_without_any_from_is_still_refused() -> None:
    _, interaction = interpret(b"To: support@acme.test\r\nSubject: hi\r\n\r\nbody\r\n")
    assert interaction is None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("no (sent by a person)", None),  # RFC 3834 allows a comment after the keyword
        ("(typed (by hand)) no", None),
        ("auto-replied (vacation)", "auto-submitted: auto-replied"),
        ("auto-generated; owner-email=x@example.com", "auto-submitted: auto-generated"),
    ],
)
def test_auto_submitted_is_read_past_comments_and_parameters(
    value: str, reason: str | None
) -> None:
    raw = f"From: dana@example.com\nTo: help@example.com\nAuto-Submitted: {value}\n\nhi"
    assert parse_email(raw.encode()).auto_reply_reason == reason
