"""Rule files as others write them, hostile or careless (an outside audit with the YAML
test suite's material): each had crashed, hung or been read otherwise than YAML 1.2
says. Every one is now a located error or the 1.2 reading."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from rules import RuleSetInvalid, load_ruleset, loader, loads_ruleset

pytestmark = pytest.mark.unit

BASE = "version: 1\nqueues: {general: {}}\ndefaults: {queue: general}\n"
NOW = datetime(2026, 3, 4, 10, tzinfo=UTC)


def errors_of(text: str) -> list[str]:
    with pytest.raises(RuleSetInvalid) as caught:
        loads_ruleset(text, "r.yaml")
    return [str(error) for error in caught.value.errors]


@pytest.mark.parametrize("version", ["1.1", "1.0", "1.3"])
def test_a_yaml_directive_for_another_version_is_a_located_error(version: str) -> None:
    """1.1 had switched the reader to 1.1 (``no`` read as false, ``0777`` as 511, every
    test case flipped); 1.0 and 1.3 had ended in an AssertionError with no location."""
    assert errors_of(f"%YAML {version}\n---\n{BASE}") == [
        f"r.yaml:1:1: rule files are YAML {version.join(('1.2, and this one says %YAML ', ''))}"
        " (hint: remove the %YAML line: YAML 1.2 is read without it)"
    ]


def test_a_yaml_1_2_directive_is_read() -> None:
    assert loads_ruleset(f"%YAML 1.2\n---\n{BASE}", "r.yaml").queues


def test_a_lone_surrogate_is_a_located_error_not_a_crash() -> None:
    """``"\\ud800"`` had crashed the rule set's hash (UnicodeEncodeError)."""
    text = BASE + 'rules:\n  - name: "bad \\ud800"\n    then: {tags: ["x"]}\n'
    [error] = errors_of(text)
    assert error.startswith("r.yaml:5:11: a lone surrogate")
    keyed = 'version: 1\nqueues: {"q\\udfff": {}}\ndefaults: {queue: general}\n'
    assert any(e.startswith("r.yaml:2:10: a lone surrogate") for e in errors_of(keyed))


def test_a_date_and_time_is_the_text_as_written_as_yaml_1_2_reads_it() -> None:
    """Read as a timestamp, it was compared as ``2026-03-04T10:00:00``, and the text as
    sent never matched."""
    text = (
        BASE + "rules:\n  - {name: r, if: {metadata.t: 2026-03-04 10:00:00}, then: {tags: [x]}}\n"
    )
    ruleset = loads_ruleset(text, "r.yaml")
    decision = ruleset.evaluate({"metadata": {"t": "2026-03-04 10:00:00"}}, now=NOW)
    assert decision.matched == ("r",) or list(decision.matched) == ["r"]


@pytest.mark.parametrize("written", ["0b101", "1_000", "+0x1F"])
def test_a_yaml_1_1_number_is_text_and_no_number_to_compare(written: str) -> None:
    rule = f"{{name: r, if: {{ticket.contacts: {{gt: {written}}}}}, then: {{tags: [x]}}}}"
    text = BASE + f"rules:\n  - {rule}\n"
    [error] = errors_of(text)
    assert "'gt' needs a number, got a string" in error


def test_a_file_past_the_size_limit_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``rules check /dev/zero`` had read until memory ran out."""
    monkeypatch.setattr(loader, "MAX_RULE_FILE_BYTES", 1024)
    big = tmp_path / "big.yaml"
    big.write_text(BASE + "#" * 2000 + "\n")
    with pytest.raises(RuleSetInvalid) as caught:
        load_ruleset(big)
    [error] = caught.value.errors
    assert "cannot read rule file: larger than" in str(error)


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_a_rule_file_saved_as_utf16_or_utf32_with_its_mark_is_read(
    tmp_path: Path, codec: str
) -> None:
    """YAML 1.2 reads UTF-16 and UTF-32 by their byte order mark, and Windows editors save
    "Unicode" so; such a file had been refused as not UTF-8."""
    text = BASE + "rules:\n  - {name: café, if: {subject: {contains: größe}}, then: {tags: [t]}}\n"
    saved = tmp_path / "rules.yaml"
    saved.write_bytes(("\ufeff" + text).encode(codec))
    plain = tmp_path / "plain.yaml"
    plain.write_text(text, encoding="utf-8")
    assert load_ruleset(saved).hash == load_ruleset(plain).hash
    assert [rule.name for rule in load_ruleset(saved).rules] == ["café"]


def test_a_utf16_mark_over_bytes_that_are_not_utf16_is_a_located_error(tmp_path: Path) -> None:
    saved = tmp_path / "rules.yaml"
    saved.write_bytes(b"\xff\xfe" + BASE.encode("utf-16-le") + b"x")
    with pytest.raises(RuleSetInvalid) as caught:
        load_ruleset(saved)
    assert [str(error) for error in caught.value.errors] == [
        f"{saved}:1:1: not UTF-16 text, though it opens with UTF-16's byte order mark"
        " (hint: save the rule file as UTF-8)"
    ]


@pytest.mark.parametrize(
    ("value", "shown"),
    [('!regex "inv.*"', "!regex"), ("!!binary aW52", "!!binary"), ("!!set {inv}", "!!set")],
)
def test_a_yaml_tag_rule_files_do_not_know_is_a_located_error(value: str, shown: str) -> None:
    """A tag had been dropped and the value read as plain text: ``!regex "inv.*"`` looked
    like a pattern and matched only the text ``inv.*``."""
    text = BASE + f"rules:\n  - {{name: r, if: {{subject: {{contains: {value}}}}}, then: {{}}}}\n"
    assert errors_of(text)[0] == (
        f"r.yaml:5:40: the YAML tag {shown} has no meaning in a rule file"
        " (hint: remove the tag: values are text, numbers, true/false, lists and mappings)"
    )


def test_core_schema_tags_still_read() -> None:
    text = BASE + "rules:\n  - {name: !!str r, if: {subject: {contains: !!str 5}}, then: {}}\n"
    assert [rule.name for rule in loads_ruleset(text, "r.yaml").rules] == ["r"]


def test_deep_block_nesting_is_located_at_the_level_too_deep() -> None:
    """Indentation nested past the parser's recursion had been reported at 1:1, as if
    the file's first line were wrong; it now names the line that goes too deep."""
    nested = "".join(" " * level + "k:\n" for level in range(1, 3000))
    errors = errors_of("version: 1\nx:\n" + nested)
    assert errors == [
        "r.yaml:66:66: YAML nested too deeply"
        " (hint: rules need only a few levels of nesting: flatten the deepest part)"
    ]


def test_a_search_that_gives_up_under_not_does_not_make_the_rule_match() -> None:
    """``not`` of a search that gave up had matched: a crafted text switched on every
    rule written ``not: {text: {matches: ...}}``, and ``explain`` hid why."""
    rules = loads_ruleset(
        BASE + 'rules:\n  - {name: d, if: {not: {text: {matches: "^(a|aa)+$"}}}, then: {}}\n'
    )
    crafted = rules.evaluate({"channel": "email", "text": "a" * 50 + "!"}, now=NOW)
    assert crafted.matched == ()
    assert rules.evaluate({"channel": "email", "text": "hello"}, now=NOW).matched == ("d",)
    [evaluation] = crafted.evaluations
    assert evaluation.failed_condition is not None
    assert "a search in it gave up, so neither holds" in evaluation.failed_condition


@pytest.mark.parametrize(("op", "matched"), [("gt", ("r",)), ("lt", ("r",)), ("gte", ())])
def test_an_ordered_test_on_a_list_field_tests_any_element(op: str, matched: tuple[str]) -> None:
    """Every other test reads a list field element by element; ``gt`` had been false."""
    limit = {"gt": 100, "lt": 10, "gte": 501}[op]
    rules = loads_ruleset(
        BASE + f"rules:\n  - {{name: r, if: {{metadata.amounts: {{{op}: {limit}}}}}, then: {{}}}}\n"
    )
    facts = {"channel": "email", "metadata": {"amounts": [5, "500"]}}
    assert rules.evaluate(facts, now=NOW).matched == matched


def test_a_calendar_whose_only_shift_is_refused_has_that_one_error() -> None:
    """A second error, "a calendar needs at least one shift in the week", had followed
    for a calendar whose author wrote one."""
    text = BASE + 'calendars:\n  c: {timezone: UTC, hours: {mon: ["22:00-06:00"]}}\n'
    assert [e.split(":", 3)[3].strip() for e in errors_of(text)] == [
        "shift '22:00-06:00' ends before it starts; split a night shift over two days"
        " (22:00-24:00 and 00:00-06:00) (hint: write shifts like 09:00-17:00)"
    ]


def test_a_dotted_path_goes_on_into_the_items_of_a_list() -> None:
    """``metadata.order.product_items.product_retailer_id`` (a WhatsApp order's SKUs)
    had stopped at the list: missing, so no such condition ever matched."""
    rules = loads_ruleset(
        BASE
        + "rules:\n"
        + "  - {name: sku, if: {metadata.order.items.sku: A1}, then: {}}\n"
        + "  - {name: big, if: {metadata.order.items.quantity: {gt: 5}}, then: {}}\n"
        + "  - {name: absent, if: {metadata.order.items.colour: {exists: false}}, then: {}}\n"
        + "  - {name: tagged, if: {metadata.order.items.tags: {contains: gift}}, then: {}}\n"
    )
    items = [{"sku": "B2", "quantity": 1}, {"sku": "A1", "quantity": 9, "tags": ["gift"]}]
    facts = {"channel": "whatsapp", "metadata": {"order": {"items": items}}}
    assert rules.evaluate(facts, now=NOW).matched == ("sku", "big", "absent", "tagged")
    few = {"channel": "whatsapp", "metadata": {"order": {"items": [{"sku": "B2"}]}}}
    assert rules.evaluate(few, now=NOW).matched == ("absent",)


def test_a_number_past_any_float_as_an_operand_is_a_located_error() -> None:
    """It had stopped the loader with an OverflowError from ``float(operand)``."""
    huge = "1" + "0" * 400
    text = BASE + f"rules:\n  - {{name: r, if: {{metadata.amount: {{gt: {huge}}}}}, then: {{}}}}\n"
    assert errors_of(text) == [
        "r.yaml:5:42: 'gt' needs a number of at most about 1.8e308, got one of 401 digits "
        "(hint: no fact is that large, so the test would be constant: compare with a number, "
        "e.g. {gt: 1000000}, or drop it)"
    ]


def test_a_duration_of_thousands_of_digits_is_a_located_error() -> None:
    """Python refuses to read an int of over 4,300 digits: it had been a ValueError."""
    digits = "1" * 5000
    assert errors_of(BASE + f"sla:\n  s: {{first_response: {digits}d}}\n") == [
        f"r.yaml:5:23: duration '{digits}d' for first_response is longer than 100 years "
        "(hint: durations are at most 100 years: use at most 36500d)"
    ]


@pytest.mark.parametrize("group", ["(?:", "("])
def test_a_pattern_whose_groups_nest_too_deep_is_a_located_error(group: str) -> None:
    """200 nested groups had ended in a RecursionError of the regex parser (250 of the
    pattern analysis of ``rules check``)."""
    pattern = group * 200 + "a" + ")" * 200
    text = BASE + f'rules:\n  - {{name: r, if: {{text: {{matches: "{pattern}"}}}}, then: {{}}}}\n'
    assert errors_of(text) == [
        "r.yaml:5:36: bad regular expression: its groups nest 200 deep, more than 100 "
        "(hint: nest fewer groups: a group around one group adds nothing)"
    ]


def test_a_pattern_with_groups_nested_100_deep_loads() -> None:
    pattern = "(" * 100 + "a" + ")" * 100
    text = BASE + f'rules:\n  - {{name: r, if: {{text: {{matches: "{pattern}"}}}}, then: {{}}}}\n'
    assert loads_ruleset(text).evaluate({"text": "a"}, now=NOW).matched == ("r",)
