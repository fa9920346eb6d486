"""A file that is not there is a usage error for every ``rules`` subcommand: one line
naming it, exit 2. Exit 1 stays for errors in rules (and cases) that were read."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.rules.test_rules_cli import CASES, EXAMPLES, run

pytestmark = pytest.mark.unit

MISSING = Path("no-such-dir/missing.yaml")
EVENT = EXAMPLES.parent / "does-not-exist.json"


@pytest.mark.parametrize(
    ("args", "missing"),
    [
        (["check", MISSING], MISSING),
        (["test", MISSING, "--cases", CASES], MISSING),
        (["test", EXAMPLES, "--cases", MISSING], MISSING),
        (["explain", MISSING, EVENT], MISSING),
        (["explain", EXAMPLES, EVENT], EVENT),
        (["explain", EXAMPLES, CASES, "--customer", MISSING], MISSING),
        (["simulate", MISSING, "--events", EVENT], MISSING),
        (["simulate", EXAMPLES, "--events", EVENT], EVENT),
        (["simulate", EXAMPLES, "--events", CASES, "--against", MISSING], MISSING),
        (["bench", MISSING], MISSING),
    ],
    ids=lambda value: " ".join(map(str, value)) if isinstance(value, list) else None,
)
def test_a_missing_file_is_one_line_and_exit_2(args: list[str | Path], missing: Path) -> None:
    result = run(*args)
    assert (result.returncode, result.stderr, result.stdout) == (
        2,
        f"error: {missing}: no such file\n",
        "",
    )


def test_rule_errors_in_a_file_that_exists_still_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nqueues: {general: {}}\nrules: [{name: r, then: {queue: x}}]\n")
    result = run("check", bad)
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1] == f"1 error in {bad}"
