"""``rules check``'s warning for a ``matches`` pattern that can run away: a repeat inside
a repeat (``(a+)+``, ``(\\w+\\s?)*``) or a repeated choice whose alternatives can begin
alike (``(a|aa)+``, ``(.|\\s)*``), the shapes behind most catastrophic backtracking.
On a crafted customer text such a search gives up after its time limit and counts as no
match (``rules.operators``): the rule silently stops matching the messages it is for.
A possessive repeat or an atomic group never backtracks and is left alone."""

from __future__ import annotations

from collections.abc import Iterable

from rules.engine import RuleSet
from rules.errors import Mark, RuleWarning
from rules.never_match import leaves
from rules.pattern_shape import nested_repeat, overlapping_alternatives


def runaway_patterns(ruleset: RuleSet) -> Iterable[RuleWarning]:
    for rule in ruleset.rules + ruleset.escalations:
        for leaf in leaves(rule.condition):
            if leaf.op != "matches":
                continue
            pattern = getattr(leaf.operand, "pattern", None)
            if not isinstance(pattern, str):
                continue
            if nested_repeat(pattern):
                shape = "a repeat inside a repeat"
                hint = (
                    "repeat once: (a+)+ is a+, (\\w+\\s?)+ is [\\w\\s]+; or make the inner "
                    "repeat possessive (a++)"
                )
            elif overlapping_alternatives(pattern):
                shape = "a repeated choice whose alternatives can begin alike"
                hint = (
                    "let the alternatives begin differently: (a|aa)+ is a+, (.|\\s)* is "
                    "[\\s\\S]*; or make the repeat possessive ((?:a|aa)++)"
                )
            else:
                continue
            yield RuleWarning(
                leaf.mark or Mark("<rules>", 1, 1),
                f'{leaf.field} matches "{pattern}": {shape} can take very long on a '
                "crafted text; such a search gives up after 50 ms (200 ms for all of an "
                "event's) and counts as no match",
                hint,
            )
