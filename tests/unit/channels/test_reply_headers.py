"""Reply headers the library's patterns miss, in the forms mailers write them: with the
old message below unquoted, or above ``>`` quotes; and Outlook header blocks the library
finds only from a later field on. The customer's own words stay in ``text``, the header
and everything below it go to ``quoted``."""

from __future__ import annotations

import time

import pytest

from channels.replies import split_reply

pytestmark = pytest.mark.unit

OWN = "Danke, das hat geholfen.\n\nGruß\nAnna"
OLD = "Your ticket 4711 was received.\nWe will answer within a day."
HEADERS = [
    "El 19/03/2026 11:34, Juan Pérez <juan.perez@acme.test> escribió:",
    "W dniu 7 stycznia 2026 15:24 użytkownik Jan Kowalski <jan@acme.test> napisał:",
    "W dniu 2026-01-07 14:23, jan@acme.test pisze:",
    'In data 11 ottobre 2026 21:11:31 "Support" <support@acme.test> ha scritto:',
    "Em 10 de julho de 2026 às 16:32:35, Support (\nsupport@acme.test) escreveu:",
    "pe 20. lokakuuta 2026 klo 17.50 Support\n<support@acme.test> kirjoitti:",
    "ср, 30 апр. 2026 г. в 15:19, Support <support@acme.test>:",
    "在 2026年11月8日，下午2:23，Support <support@acme.test> 写道：",
    "Support <support@acme.test>于2026年3月9日 周一下午9:10写道：",
    "2026. 11. 8. 오후 12:39 Support <support@acme.test> 작성:",
    "2026/11/08 14:26、Support <support@acme.test> のメッセージ:",
    "2026-03-20 8:48 GMT+01:00 Support <support@acme.test>:",
    '30.09.2026, 18.30, "Support Team" <support@acme.test>:',
    '11:00 AM, November 17, 2026, "Support" <support@acme.test>:',
    "On Wed, 14 Nov 2026 08:14:43 -0200 Support <support@acme.test> wrote",
    "Support <support@acme.test> schrieb:",
    "Le lun. 15 nov. 2026 à 19:42, Support <support@acme.test>\na écrit :",
    # Dutch (talon's, discourse's) and Yahoo's German
    "Op 13-02-2026 3:18 schreef Support <support@acme.test>:",
    "Op 18 juli 2026 10:23 schreef Support Team het volgende:",
    "Op 17-feb.-2026, om 13:18 heeft Support <support@acme.test> het volgende geschreven:",
    "Am Donnerstag, 3. Dezember 2026, 10:12:00 MEZ hat Support <support@acme.test> "
    "Folgendes geschrieben:",
]


@pytest.mark.parametrize("header", HEADERS)
def test_an_unquoted_old_message_below_a_reply_header_is_quoted(header: str) -> None:
    reply = split_reply(f"{OWN}\n\n{header}\n\n{OLD}")
    assert reply.text == OWN
    assert reply.quoted == f"{header}\n\n{OLD}"


@pytest.mark.parametrize("header", HEADERS)
def test_a_reply_header_above_a_quote_goes_with_the_quote(header: str) -> None:
    quote = "> Your ticket 4711 was received.\n> We will answer within a day."
    reply = split_reply(f"{OWN}\n\n{header}\n{quote}")
    assert reply.text == OWN
    assert reply.quoted == f"{header}\n{quote}"


def test_the_customers_line_above_a_wrapped_header_stays_theirs() -> None:
    header = '02.04.2026 14:20 пользователь "Support" <\nsupport@acme.test> написал:'
    reply = split_reply(f"Hello\n{header}\n\n{OLD}")
    assert reply.text == "Hello"
    assert reply.quoted == f"{header}\n\n{OLD}"


@pytest.mark.parametrize(
    "block",
    [
        "De : Support<mailto:support@acme.test>\nEnvoyé le :jeudi 15 décembre 2026 09:35\n"
        "À : anna@example.fr<mailto:anna@example.fr>\nObjet :Votre demande",
        "   De : Support<mailto:support@acme.test>\n   Envoyé le :jeudi 15 décembre 2026 09:35\n"
        "   À : anna@example.fr\n   Objet :Votre demande",
        "From: Support Team \n<a-really-long-automated-address@acme.test> \n"
        "Sent: Monday, August 26, 2026 4:37 PM\nTo: Anna <anna@example.com>\nSubject: Your request",
        '发件人: "acme.test" <support@acme.test>\n日期: 2026年3月6日 星期五 上午1:04\n'
        '收件人: "anna@example.cn" <anna@example.cn>\n主题: Order 4711 has been shipped',
        "-------- Oprindelig besked --------\nFra: Support <support@acme.test>\n"
        "Dato: 04.07.2026  17.45  (GMT+01:00)\nTil: anna@example.dk\nEmne: Din henvendelse",
    ],
    ids=["fr", "fr-indented", "from-wrapped", "zh", "da"],
)
def test_a_whole_header_block_goes_with_the_quote(block: str) -> None:
    reply = split_reply(f"{OWN}\n\n{block}\n\n{OLD}")
    assert reply.text == OWN
    assert reply.quoted is not None
    assert reply.quoted.startswith(block.strip().split("\n")[0].strip())


def test_a_french_header_block_above_a_quote_goes_with_the_quote() -> None:
    block = "De : Support [support@acme.test]\nA : Friday, 23 March 2026 5:08 p.m.\n"
    block += "Envoyé: Anna\nObjet : [ticket:4711] Anna"
    reply = split_reply(f"{OWN}\n\n{block}\n\n> A new comment was added.\n>\n> Thanks.")
    assert reply.text == OWN
    assert reply.quoted is not None
    assert reply.quoted.startswith("De : Support")


def test_the_quoted_history_keeps_its_header_whole() -> None:
    header = "Le 19 mars 2026 10:37, Support <support@acme.test> a écrit :"
    reply = split_reply(f"Merci.\n\n{header}\n\n{OLD}")
    assert (reply.text, reply.quoted) == ("Merci.", f"{header}\n\n{OLD}")


def test_nested_quotes_keep_their_lines_together() -> None:
    text = (
        "Agreed.\n\nOn Dec 15, 2026, at 2:00 PM, Jane <jane@acme.test> wrote:\n> Thanks.\n>\n"
        "> On Dec 14, 2026, at 10:00 AM, Bob <bob@acme.test> wrote:\n> > Question?"
    )
    reply = split_reply(text)
    assert reply.text == "Agreed."
    assert reply.quoted == text.split("\n\n", 1)[1]


@pytest.mark.parametrize(
    "text",
    [
        "Hi,\n\nPlease see what my colleague anna@example.com wrote:\n\nthe printer fails",
        "Hi,\n\nOn Monday my colleague wrote\n\nthe printer fails again",
        "Hola,\n\nEl lunes Juan escribió:\n\nla impresora falla",
        # the library's own patterns read these as reply headers: a colon, no address,
        # no date and time, and the customer's words below, not a > quote
        "Hallo,\n\nAm Montag schrieb ich Ihnen wegen meiner Bestellung:\n\n"
        "Die Lieferung 4711 ist unvollständig.\n\nGruß\nKarl",
        "Hi,\n\nOn Monday my colleague wrote:\n\nThe invoice 4711 is charged twice.",
        "Buongiorno,\n\nIl giorno 3 dicembre il mio collega ha scritto:\n\n"
        "L'ordine 4711 è arrivato rotto.",
        "Hi,\nmeeting at 10:30 on 12.03.2026, mail me at <a@example.com>:\n\nthanks",
        "Ok\n\nThe ticket from: me, sent on 12.03.2026 at 10:30\n\nthanks",
    ],
)
def test_a_customers_own_sentences_are_no_reply_header(text: str) -> None:
    reply = split_reply(text)
    assert (reply.text, reply.quoted) == (text, None)


def test_a_customers_own_field_lines_with_no_address_stay_theirs() -> None:
    own = "Le colis :\nDe : Berlin\nEnvoyé le : vendredi"
    header = "Le 19 mars 2026 10:37, Support <support@acme.test> a écrit :"
    reply = split_reply(f"{own}\n\n{header}\n> Bonjour")
    assert (reply.text, reply.quoted) == (own, f"{header}\n> Bonjour")


def test_many_header_like_lines_are_read_in_linear_time() -> None:
    line = "30.09.2026, 18.30, Name <a@b.c> x\n"
    text = "Hi\n\n" + (line + "\n") * 3000 + "<" * 20_000 + "@" * 20_000
    started = time.perf_counter()
    split_reply(text)
    assert time.perf_counter() - started < 5


def test_a_customers_sentence_the_library_takes_for_a_header_does_not_hide_a_real_one() -> None:
    own = "Hi,\n\nOn Monday my colleague wrote:\n\nThe invoice 4711 is charged twice."
    header = "On Tue, Dec 1, 2026 at 9:00 AM, Support <support@acme.test> wrote:"
    reply = split_reply(f"{own}\n\n{header}\n> Your ticket was received.")
    assert (reply.text, reply.quoted) == (own, f"{header}\n> Your ticket was received.")


def test_a_bare_header_above_a_quote_is_still_a_header() -> None:
    reply = split_reply("Thanks!\n\nOn Monday Support wrote:\n> Your ticket was received.")
    assert (reply.text, reply.quoted) == (
        "Thanks!",
        "On Monday Support wrote:\n> Your ticket was received.",
    )
