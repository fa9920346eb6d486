"""Languages: detected among those the rules name, the channel's word first, the CRM's
last; and the FCR definition of the ``metrics`` section, checked like every section."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rules import RuleSetInvalid, loads_ruleset
from rules.language import (
    FIRST_CHARS,
    MAX_CHARS,
    MIN_CONFIDENCE,
    SHORT_CHARS,
    detect,
    detect_many,
    fill_language,
    language_of,
)
from rules.model import FcrDefinition

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
CODES = ("en", "de", "fr", "es")
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
HEADER = "version: 1\nqueues: {general: {}}\ndefaults: {queue: general}\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hallo, meine Rechnung ist falsch. Können Sie mir bitte helfen?", "de"),
        ("Bonjour, ma facture est fausse, pouvez-vous m'aider ?", "fr"),
        ("Hola, mi factura está mal, ¿me pueden ayudar?", "es"),
        ("Hi, my invoice is wrong, can you help me please?", "en"),
    ],
)
def test_a_message_is_detected_among_the_configured_languages(text: str, expected: str) -> None:
    found = language_of(None, text, CODES)
    assert (found.language, found.source) == (expected, "detected")
    assert found.confidence is not None
    assert found.confidence >= MIN_CONFIDENCE


def test_a_start_that_tells_nothing_is_read_on_up_to_the_limit() -> None:
    """The detector stops early only when the first characters decide; a message that
    opens with a reference number is still read far enough to find its language."""
    opening = "Ref " + "4411-" * 23 + " "
    assert len(opening) >= FIRST_CHARS
    german = opening + "Hallo, meine Rechnung ist falsch. Können Sie mir bitte helfen?"
    assert len(german) <= MAX_CHARS
    found = language_of(None, german, CODES)
    assert (found.language, found.source) == ("de", "detected")


def test_detecting_many_at_once_answers_as_one_at_a_time() -> None:
    """The router detects a round's messages together (the parallel API, in a thread);
    every answer must be the one ``detect`` gives, unsure and empty texts included."""
    texts = [
        "",
        "ok 42",
        "Hallo, meine Rechnung ist falsch. Können Sie mir bitte helfen?",
        "Bonjour, ma facture est fausse, pouvez-vous m'aider ?",
        "Ref " + "4411-" * 23 + " Hallo, meine Rechnung ist falsch. Können Sie mir helfen?",
        "Password reset\n" + "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 5,
        "Hola, mi factura está mal, ¿me pueden ayudar? " * 6,
    ]
    known = detect_many(texts, CODES)
    assert known.found == {text: detect(text, CODES) for text in texts}
    assert detect_many(texts, ("en",)).found == dict.fromkeys(texts)
    found = language_of(None, texts[2], CODES, known=known)
    assert (found.language, found.source) == ("de", "detected")


EXAMPLE_CODES = ("en", "de", "fr", "es", "it", "nl", "pt")


@pytest.mark.parametrize(
    ("text", "codes", "was"),
    [
        ("hello my order is late", ("en", "de", "fr"), "de"),
        ("how do I reset my password", EXAMPLE_CODES, "it"),
        ("order 4521 is missing", EXAMPLE_CODES, "nl"),
        ("the driver left it at the wrong door", EXAMPLE_CODES, "nl"),
        ("falta el pedido 4521", EXAMPLE_CODES, "pt"),
    ],
)
def test_a_short_message_is_never_given_a_wrong_language(
    text: str, codes: tuple[str, ...], was: str
) -> None:
    """Short texts are read in high-accuracy mode: once detected as ``was``, now their
    own language or, when the detector is unsure, none (the CRM's is the fallback)."""
    assert len(text) < SHORT_CHARS
    right = "es" if was == "pt" else "en"
    found = detect(text, codes)
    assert found is None or found[0] == right
    assert detect_many([text], codes).found[text] == found


def test_short_and_long_texts_in_one_batch_answer_as_one_at_a_time() -> None:
    texts = [
        "hello my order is late",
        "where is my parcel",
        "Hi, my invoice is wrong, can you help me please? The total counts two months.",
        "wo ist mein paket",
    ]
    assert detect_many(texts, EXAMPLE_CODES).found == {t: detect(t, EXAMPLE_CODES) for t in texts}


def test_the_channel_wins_and_the_crm_is_the_fallback_when_detection_is_unsure() -> None:
    german = "Hallo, meine Rechnung ist falsch. Können Sie mir bitte helfen?"
    assert language_of("fr", german, CODES).source == "channel"
    unsure = language_of(None, "ok 42", CODES, {"language": "de"})
    assert (unsure.language, unsure.source) == ("de", "crm")
    assert language_of(None, "ok 42", CODES).language is None
    assert language_of(None, german, ()).language is None  # nothing configured: no detection


def test_fill_language_completes_the_facts_the_rules_see() -> None:
    facts = {"subject": "Rechnung", "text": "Meine Rechnung ist leider doppelt abgebucht worden."}
    fill_language(facts, CODES)
    assert (facts["language"], facts["language_source"]) == ("de", "detected")
    crm = {"text": "", "customer": {"language": "fr"}}
    fill_language(crm, CODES)
    assert (crm["language"], crm["language_source"]) == ("fr", "crm")


def test_the_message_text_decides_over_an_english_subject_line() -> None:
    """A reply in French under a subject line the thread started in English."""
    facts = {
        "subject": "Re: Your order confirmation, shipping details and the delivery date "
        "we promised for your order number 1234",
        "text": "Bonjour, je n'ai toujours pas reçu ma commande. Pouvez-vous vérifier "
        "où elle se trouve et me dire quand elle arrivera ? Merci beaucoup.",
    }
    fill_language(facts, CODES)
    assert facts["language"] == "fr"


def test_a_rule_on_language_matches_a_detected_message() -> None:
    rules = loads_ruleset(
        HEADER
        + "languages: [en, de]\n"
        + "rules:\n  - {name: german, if: {language: de}, then: {tags: [german]}}\n"
    )
    facts = {"channel": "email", "text": "Guten Tag, mein Paket ist nicht angekommen."}
    fill_language(facts, rules.languages)
    assert rules.evaluate(facts, now=NOW).tags == ("german",)


def test_bad_languages_are_located_errors() -> None:
    with pytest.raises(RuleSetInvalid) as caught:
        loads_ruleset(HEADER + "languages: [en, german, xx]\n", file="r.yaml")
    assert [str(e) for e in caught.value.errors] == [
        "r.yaml:4:17: a language is a two-letter ISO 639-1 code in lower case (hint: e.g. en, de)",
        "r.yaml:4:25: language 'xx' cannot be detected (hint: see docs/rules.md#languages)",
    ]
    with pytest.raises(RuleSetInvalid, match=r"r\.yaml:4:12: languages must be a list"):
        loads_ruleset(HEADER + "languages: en\n", file="r.yaml")


def test_the_fcr_definition_is_read_checked_and_hashed() -> None:
    assert loads_ruleset(HEADER).metrics.fcr == FcrDefinition()
    rules = loads_ruleset(
        HEADER + "metrics: {fcr: {max_public_replies: 2, reopen_window: 3d, channels: [chat]}}\n"
    )
    fcr = rules.metrics.fcr
    assert (fcr.max_customer_contacts, fcr.max_public_replies) == (1, 2)
    assert (fcr.reopen_window, fcr.channels) == (timedelta(days=3), frozenset({"chat"}))
    assert fcr.hash != FcrDefinition().hash
    assert (
        fcr.hash
        == loads_ruleset(
            HEADER + "metrics:\n  fcr:\n    channels: [chat]\n    reopen_window: 72h\n"
            "    max_public_replies: 2\n"
        ).metrics.fcr.hash
    )  # the same definition, spelled differently
    with pytest.raises(RuleSetInvalid) as caught:
        loads_ruleset(
            HEADER
            + "metrics: {fcr: {max_replies: 1, max_customer_contacts: 0, channels: [fax]}}\n",
            file="r.yaml",
        )
    messages = [str(e) for e in caught.value.errors]
    assert any(m.startswith("r.yaml:4:17: unknown key 'max_replies'") for m in messages), messages
    assert any("max_customer_contacts must be a whole number of at least 1" in m for m in messages)
    assert any("unknown channel 'fax'" in m for m in messages)


def test_an_empty_list_of_fcr_channels_is_an_error() -> None:
    """``channels: []`` had loaded as "no channel counts": first-contact resolution
    silently at zero for every ticket."""
    with pytest.raises(RuleSetInvalid) as caught:
        loads_ruleset(HEADER + "metrics: {fcr: {channels: []}}\n", file="r.yaml")
    assert [str(e) for e in caught.value.errors] == [
        "r.yaml:4:27: fcr channels must not be an empty list (hint: name the channels whose "
        "tickets count, e.g. channels: [chat, email], or leave channels out to count every "
        "channel)"
    ]


def test_explain_says_where_the_language_came_from(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps({"channel": "email", "subject": "Hilfe", "text": "Mein Paket ist nicht da."}),
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "rules.cli", "explain", "rules/examples", str(event)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("language:"))
    assert line.startswith("language: de (detected among en, de, fr, es, it, nl, pt, confidence ")
    assert "  MATCH    german speakers" in result.stdout.splitlines()
