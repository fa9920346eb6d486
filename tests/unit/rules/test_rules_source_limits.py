"""The limits of a rule file's YAML: the alias limit counts what aliases expand to, not
the nodes written out in the file, and a limit hit is one error, not a cascade."""

from __future__ import annotations

import pytest

from rules import RuleSetInvalid, loads_ruleset
from rules.source import MAX_NODES, parse_yaml

pytestmark = pytest.mark.unit

HEADER = "version: 1\nqueues: {general: {}}\ndefaults: {queue: general}\n"


def written_out(nodes: int) -> str:
    """A plain list of ``nodes`` scalars, no alias anywhere."""
    return "version: 1\nlabels:\n" + "".join(f"  - l{i}\n" for i in range(nodes))


def test_a_large_file_without_aliases_is_no_billion_laughs() -> None:
    """A big rule file (12,000 rules is 940 KB, some 200,000 nodes) was refused."""
    root, errors = parse_yaml(written_out(MAX_NODES + 10), "big.yaml")
    assert errors == []
    assert root is not None


def test_aliases_past_the_limit_are_one_error() -> None:
    """Expanded past MAX_NODES: one error at the alias, none of the null values it used
    to put in the place of the rest ("expected a list, got null" by the hundred)."""
    nine = ", ".join(["*a"] * 9)
    text = HEADER + "a: &a [x, x, x, x, x, x, x, x, x]\n"
    text += "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{nine.replace('a', chr(97 + i))}]\n" for i in range(6)
    )  # 9**7, about 4.8 million nodes
    text += "rules:\n" + "".join(f"  - {{name: r{i}, then: {{tags: [t]}}}}\n" for i in range(50))
    with pytest.raises(RuleSetInvalid) as caught:
        loads_ruleset(text, "laughs.yaml")
    [error] = caught.value.errors
    assert f"the aliases expand to more than {MAX_NODES:,} nodes" in str(error)
    assert str(error).startswith("laughs.yaml:")


def test_aliases_under_the_limit_load() -> None:
    text = (
        HEADER
        + "rules:\n  - {name: r, then: {tags: &tags [a, b, c]}}\n"
        + "".join(f"  - {{name: r{i}, then: {{tags: *tags}}}}\n" for i in range(1000))
    )
    ruleset = loads_ruleset(text, "aliases.yaml")
    assert len(ruleset.rules) == 1001
    tags = ruleset.rules[-1].action("tags")
    assert tags is not None
    assert tags.value == ("a", "b", "c")
