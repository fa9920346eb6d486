"""``rules check``'s warning for a ``matches`` pattern that can run away: a repeat inside
a repeat (``(a+)+``, ``(\\w+\\s?)*``), the shape behind most catastrophic backtracking.
On a crafted customer text such a search gives up after its time limit and counts as no
match (``rules.operators``): the rule silently stops matching the messages it is for.
A possessive repeat or an atomic group never backtracks and is left alone."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Iterable
from typing import Any

from rules.engine import RuleSet
from rules.errors import Mark, RuleWarning
from rules.never_match import leaves

sre: Any = importlib.import_module("re._constants")
sre_parse: Any = importlib.import_module("re._parser")


def runaway_patterns(ruleset: RuleSet) -> Iterable[RuleWarning]:
    for rule in ruleset.rules + ruleset.escalations:
        for leaf in leaves(rule.condition):
            if leaf.op != "matches":
                continue
            pattern = getattr(leaf.operand, "pattern", None)
            if isinstance(pattern, str) and nested_repeat(pattern):
                yield RuleWarning(
                    leaf.mark or Mark("<rules>", 1, 1),
                    f'{leaf.field} matches "{pattern}": a repeat inside a repeat can take '
                    "very long on a crafted text; such a search gives up after 50 ms (200 "
                    "ms for all of an event's) and counts as no match",
                    "repeat once: (a+)+ is a+, (\\w+\\s?)+ is [\\w\\s]+; or make the inner "
                    "repeat possessive (a++)",
                )


def nested_repeat(pattern: str) -> bool:
    """Whether ``pattern`` repeats, without bound, something that itself repeats a varying
    number of times."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            items = sre_parse.parse(pattern).data
    except Exception:  # noqa: BLE001 - the loader reports a pattern it cannot read
        return False
    return _nested(items, inside=False)


def _nested(items: list[Any], *, inside: bool) -> bool:
    for op, av in items:
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            low, high, body = av
            if inside and high != low:
                return True
            if _nested(body.data, inside=inside or high == sre.MAXREPEAT):
                return True
        elif (op is sre.SUBPATTERN and _nested(av[3].data, inside=inside)) or (
            op is sre.BRANCH and any(_nested(b.data, inside=inside) for b in av[1])
        ):
            return True
    return False
