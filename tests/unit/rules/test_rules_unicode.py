"""Text that looks the same to a reader is the same to a rule.

A customer's app may send "café" composed (one code point for "é") or decomposed ("e"
plus a combining accent), hide a zero-width space or a soft hyphen inside a keyword, or
type it in full-width letters; a rule file saved on another system may spell a queue
name decomposed. What each operator normalizes is in docs/rules.md (Operators).
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules import RuleSetInvalid, loads_ruleset
from rules.fields import folded

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
HEADER = """version: 1
queues: {general: {}}
defaults: {queue: general}
rules:
"""
NFD_CAFE = "cafe\u0301"
NFD_JOSE = "Jose\u0301"


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def matches(condition: str, facts: dict[str, Any]) -> bool:
    rs = loads_ruleset(HEADER + f"  - name: r\n    if: {condition}\n    then: {{tags: [hit]}}\n")
    return rs.evaluate(facts, now=NOW).matched == ("r",)


def load_errors(text: str) -> list[str]:
    with pytest.raises(RuleSetInvalid) as caught:
        loads_ruleset(text, "rules.yaml")
    return [str(error) for error in caught.value.errors]


# -- 1. canonically equivalent text is equal for every operator ---------------------------

EQUIVALENT = [
    # every operator finds "café" in decomposed text, as contains always did
    ("{text: {contains: [café]}}", {"text": NFD_CAFE}, True),
    ("{text: café}", {"text": NFD_CAFE}, True),
    ("{text: {equals: café}}", {"text": NFD_CAFE}, True),
    ("{text: {in: [café, tea]}}", {"text": NFD_CAFE}, True),
    ("{text: {not_in: [café, tea]}}", {"text": NFD_CAFE}, False),
    ('{text: {matches: "^café$"}}', {"text": NFD_CAFE}, True),
    ("{customer.name: José}", {"customer": {"name": NFD_JOSE}}, True),
    ("{ticket.tags: {in: [español]}}", {"ticket": {"tags": ["x", nfd("español")]}}, True),
    ("{ticket.tags: español}", {"ticket": {"tags": [nfd("español")]}}, True),
    # a rule file that spells the operand decomposed matches composed text
    (f"{{customer.name: {NFD_JOSE}}}", {"customer": {"name": "José"}}, True),
    (f"{{customer.name: {{in: [{NFD_JOSE}]}}}}", {"customer": {"name": "José"}}, True),
    (f'{{text: {{matches: "^{NFD_CAFE}$"}}}}', {"text": "café"}, True),
    # still case-sensitive, as documented
    ("{text: café}", {"text": nfd("CAFÉ")}, False),
    ('{text: {matches: "café"}}', {"text": nfd("CAFÉ")}, False),
    ('{text: {matches: "(?i)café"}}', {"text": nfd("CAFÉ")}, True),
    # not a different letter: "e" alone is not "é"
    ("{text: cafe}", {"text": NFD_CAFE}, False),
]


@pytest.mark.parametrize(("condition", "facts", "expected"), EQUIVALENT)
def test_canonically_equivalent_text_compares_equal(
    condition: str, facts: dict[str, Any], expected: bool
) -> None:
    assert matches(condition, facts) is expected


def test_the_index_agrees_with_the_rules_on_decomposed_text() -> None:
    """Rules indexed by their ``equals``/``in`` value are tested when the text is
    decomposed (and when the rule file is), exactly as without the index."""
    rules = "".join(
        f"  - name: r{i}\n    if: {{customer.name: {name}}}\n    then: {{tags: [t{i}]}}\n"
        for i, name in enumerate(["José", NFD_JOSE, "Zoë", "Ana"])
    )
    rs = loads_ruleset(HEADER + rules)
    for name in ("José", NFD_JOSE):
        decision = rs.evaluate({"customer": {"name": name}}, now=NOW)
        assert decision.matched == ("r0", "r1")
        assert rs.evaluate_all_rules({"customer": {"name": name}}, now=NOW) == ["r0", "r1"]


# -- 2. invisible characters and compatibility forms do not hide a keyword ----------------

HIDDEN_REFUND = [
    "please ref\u200bund me",  # zero-width space
    "please re\u200dfund me",  # zero-width joiner
    "please re\u200cfund me",  # zero-width non-joiner
    "please RE\u00adFUND me",  # soft hyphen
    "please \u200erefund\u200f me",  # LRM, RLM
    "please \u2066re\u2069fund me",  # bidi isolates
    "please r\u2060efund me",  # word joiner
    "please re\ufefffund me",  # zero-width no-break space (BOM)
    "please ＲＥＦＵＮＤ me",  # full-width letters
    "please Ｒｅｆｕｎｄ me",
]


@pytest.mark.parametrize("text", HIDDEN_REFUND)
def test_invisible_and_full_width_characters_do_not_hide_a_keyword(text: str) -> None:
    assert matches("{text: {contains: refund}}", {"text": text})
    assert matches("{text: {contains_all: [please, refund]}}", {"text": text})
    assert matches("{text: {starts_with: pleaserefund}}", {"text": text.replace(" ", "")})


def test_operands_are_folded_like_the_text() -> None:
    assert matches("{text: {contains: ＲＥＦＵＮＤ}}", {"text": "a refund"})
    assert matches('{text: {contains: "ref\u00adund"}}', {"text": "a refund"})
    assert matches("{subject: {starts_with: ＦＷＤ}}", {"subject": "fwd: invoice"})


def test_ligatures_and_compatibility_letters_fold() -> None:
    assert matches("{text: {contains: file}}", {"text": "the \ufb01le is broken"})  # ﬁ
    assert matches("{text: {contains: [straße]}}", {"text": "STRASSE 1"})


def test_list_fields_are_folded_per_element() -> None:
    assert matches("{ticket.tags: {contains: vip}}", {"ticket": {"tags": ["ＶＩＰ"]}})
    assert matches("{ticket.tags: {contains: vip}}", {"ticket": {"tags": ["v\u200bip"]}})


@pytest.mark.parametrize("op", ["contains", "contains_all", "starts_with"])
def test_a_keyword_of_only_invisible_characters_is_an_error_pointing_at_matches(op: str) -> None:
    """These operators drop what does not show: folded, such a keyword is empty and
    would find nothing (before, it was looked for as written): an error at its place,
    not a rule that silently stops firing, with ``matches`` as the way to find them."""
    yaml = (
        "version: 1\nqueues: {general: {}, security: {}}\ndefaults: {queue: general}\n"
        f'rules:\n  - {{name: r, if: {{subject: {{{op}: ["\\u202e"]}}}}, '
        "then: {queue: security}}\n"
    )
    with pytest.raises(RuleSetInvalid) as caught:
        loads_ruleset(yaml)
    [error] = caught.value.errors
    assert error.line == 5
    assert "only such characters" in error.message
    assert "matches" in (error.hint or "")
    assert matches('{text: {matches: "\u200b"}}', {"text": "hel\u200blo"})


def test_homoglyphs_are_out_of_scope() -> None:
    """Cyrillic "\u0435" is another letter, not a form of Latin "e" (docs/rules.md)."""
    assert not matches("{text: {contains: refund}}", {"text": "r\u0435fund"})


def test_equals_and_matches_see_invisible_characters() -> None:
    """Only the case-insensitive operators drop invisible characters: ``equals`` and
    ``matches`` compare what was sent (composed)."""
    assert not matches("{customer.name: Ana}", {"customer": {"name": "An\u200ba"}})
    assert matches('{text: {matches: "\\u200b"}}', {"text": "a\u200bb"})


# -- 3. case folding is stable ------------------------------------------------------------

# the code points whose case folding is not NFC (U+01F0 "ǰ", polytonic Greek)
UNSTABLE = [
    0x01F0, 0x0390, 0x03B0, 0x1E96, 0x1E97, 0x1E98, 0x1E99, 0x1F50, 0x1F52, 0x1F54, 0x1F56,
    0x1FB6, 0x1FB7, 0x1FC6, 0x1FC7, 0x1FD2, 0x1FD3, 0x1FD6, 0x1FD7, 0x1FE2, 0x1FE3, 0x1FE4,
    0x1FE6, 0x1FE7, 0x1FF6, 0x1FF7,
]  # fmt: skip


def test_the_unstable_code_points_are_the_ones_listed() -> None:
    found = [
        cp
        for cp in range(0x3000)
        if not unicodedata.is_normalized("NFC", unicodedata.normalize("NFC", chr(cp)).casefold())
    ]
    assert found == UNSTABLE


@pytest.mark.parametrize("cp", UNSTABLE, ids=hex)
def test_folding_is_stable_for_every_unstable_code_point(cp: str) -> None:
    text = chr(cp)
    assert folded(folded(text)) == folded(text)
    assert folded(nfd(text)) == folded(text)
    assert folded(text.upper()) == folded(text.lower())


def test_greek_month_is_found_in_capitals() -> None:
    assert folded("μαΐου") in folded("ΜΑΪ́ΟΥ")
    assert matches("{text: {contains: μαΐου}}", {"text": "15 ΜΑΪ́ΟΥ 2026"})
    assert matches("{text: {contains: ǰ}}", {"text": "J\u030c"})


@given(st.text(max_size=20))
def test_folding_is_idempotent_and_ignores_canonical_spelling(text: str) -> None:
    once = folded(text)
    assert folded(once) == once
    assert folded(nfd(text)) == once
    assert unicodedata.is_normalized("NFKC", once)


# -- 5. names ------------------------------------------------------------------------------


def test_a_queue_name_with_an_invisible_character_is_an_error_at_its_place() -> None:
    text = 'version: 1\nqueues: {general: {}, "ref\\u200bund": {}}\nrules: []\n'
    (error,) = load_errors(text)
    assert error.startswith("rules.yaml:2:23: queue name 'ref\\u200bund' contains U+200B")
    assert "ZERO WIDTH SPACE" in error


def test_a_rule_name_with_a_control_or_bidi_character_is_an_error() -> None:
    text = HEADER + '  - name: "vip\\u202e"\n    then: {tags: [x]}\n'
    (error,) = load_errors(text)
    assert error.startswith("rules.yaml:5:11: rule name 'vip\\u202e' contains U+202E")
    text = HEADER + '  - name: "vip\\a"\n    then: {tags: [x]}\n'
    (error,) = load_errors(text)
    assert error.startswith("rules.yaml:5:11: rule name 'vip\\x07' contains U+0007")


def test_a_decomposed_reference_finds_the_composed_queue() -> None:
    decomposed = nfd("soporte-español")
    rs = loads_ruleset(
        "version: 1\nqueues: {general: {}, soporte-español: {}}\n"
        "defaults: {queue: general}\nrules:\n"
        f"  - name: r\n    if: {{channel: email}}\n    then: {{queue: {decomposed}}}\n"
    )
    decision = rs.evaluate({"channel": "email"}, now=NOW)
    assert decision.queue == "soporte-español"


def test_one_queue_spelled_two_ways_is_a_duplicate() -> None:
    decomposed = nfd("soporte-español")
    text = f"version: 1\nqueues: {{general: {{}}, soporte-español: {{}}, {decomposed}: {{}}}}\n"
    errors = load_errors(text + "rules: []\n")
    assert any("duplicate" in error and "soporte-español" in error for error in errors)


@pytest.mark.parametrize(
    "name",
    ["⚠️ escalations", "👩\u200d💻 devs", "می\u200cخواهم"],
    ids=["variation-selector", "emoji-zwj", "persian-zwnj"],
)
def test_a_name_spelt_with_joiners_or_variation_selectors_still_loads(name: str) -> None:
    """They spell the emoji or the word: a ruleset naming such a queue loaded before the
    check of characters that do not show, and must still."""
    yaml = (
        f'version: 1\nqueues: {{general: {{}}, "{name}": {{}}}}\ndefaults: {{queue: general}}\n'
        f'rules:\n  - {{name: r, if: {{text: {{contains: [w]}}}}, then: {{queue: "{name}"}}}}\n'
    )
    assert name in loads_ruleset(yaml).queues
