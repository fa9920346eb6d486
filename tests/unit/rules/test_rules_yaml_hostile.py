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
