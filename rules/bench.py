"""How long one evaluation takes: for a given ruleset and a generated 1,000-rule set.

The generated set imitates a large helpdesk: routing per inbox and per product, tags
by channel and language, priority by customer tier and channel, and keyword
rules with no cheap pre-check (about 15% of the rules), the kind the engine must test
on every event. Events draw from the same vocabulary, so rules really match.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from router.vocabulary import CHANNELS
from rules.engine import RuleSet
from rules.loader import load_ruleset, loads_ruleset

EXAMPLES = Path(__file__).parent / "examples"
NOW = datetime(2026, 3, 4, 15, 30, tzinfo=UTC)

_VOCABULARY = """
invoice refund charge payment card billing subscription upgrade downgrade cancel login
password reset error crash outage slow timeout bug install update sync export import api
token webhook integration mobile android ios browser printer shipping delivery tracking
return exchange warranty damaged missing order quote pricing demo trial license seat
contract renewal discount coupon gift account profile email notification report
dashboard chart filter search upload download
"""
_WORDS = tuple(_VOCABULARY.split())
_FILLER_TEXT = "hello please could you help me with the thanks regards we our my it is not"
_FILLER = tuple(_FILLER_TEXT.split())
_CHANNELS = CHANNELS
_LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pt", "ja")
_TIERS = ("free", "pro", "gold", "platinum")


@dataclass(frozen=True)
class BenchFigures:
    """Per-event evaluation time in microseconds."""

    name: str
    rules: int
    events: int
    mean_us: float
    p50_us: float
    p99_us: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def generate_ruleset_yaml(rules: int = 1000, *, seed: int = 7) -> str:
    """A large, realistic ruleset as YAML text (it goes through the real loader)."""
    rnd = random.Random(seed)
    queues = [f"q{i:02d}" for i in range(40)]
    lines = ["version: 1", "queues:"]
    lines += [f"  {q}: {{skills: [{q}]}}" for q in queues]
    lines += ["defaults: {queue: q00, priority: normal}", "rules:"]
    for n in range(rules):
        kind = rnd.random()
        words = rnd.sample(_WORDS, 3)
        queue = rnd.choice(queues)
        if kind < 0.35:
            cond = f"{{inbox: support{rnd.randrange(200)}@brand{rnd.randrange(5)}.example"
            if rnd.random() < 0.5:
                cond += f', subject: {{matches: "(?i)\\\\b({words[0]}|{words[1]})"}}'
            then = f"{{queue: {queue}}}"
        elif kind < 0.55:
            product = f"p{rnd.randrange(50)}"
            cond = f"{{metadata.product: {product}, text: {{contains: [{words[0]}, {words[1]}]}}"
            then = f"{{queue: {queue}, tags: [{words[0]}]}}"
        elif kind < 0.70:
            chans = ", ".join(rnd.sample(_CHANNELS, 2))
            cond = f"{{channel: {{in: [{chans}]}}, language: {rnd.choice(_LANGUAGES)}"
            then = f"{{tags: [lang-{n}]}}"
        elif kind < 0.85:
            cond = (
                f"{{customer.tier: {{in: [{rnd.choice(_TIERS)}]}}, channel: {rnd.choice(_CHANNELS)}"
            )
            then = "{priority: high}"
        elif kind < 0.95:
            cond = f"{{text: {{contains: [{', '.join(words)}]}}"
            then = f"{{tags: [kw-{words[0]}]}}"
        else:
            subject = f"{{subject: {{contains: {words[0]}}}}}"
            text = f"{{text: {{starts_with: {words[1]}}}}}"
            cond = f"{{any: [{subject}, {text}]"
            then = f"{{tags: [any-{n}]}}"
        lines.append(f"  - name: rule {n}")
        lines.append(f"    if: {cond}}}")
        lines.append(f"    then: {then}")
    return "\n".join(lines) + "\n"


def generate_events(count: int, *, seed: int = 11) -> list[dict[str, Any]]:
    """Inbound events over the same vocabulary as the generated rules."""
    rnd = random.Random(seed)
    events = []
    for _ in range(count):
        words = [rnd.choice(_FILLER if rnd.random() < 0.95 else _WORDS) for _ in range(60)]
        events.append(
            {
                "channel": rnd.choice(_CHANNELS),
                "inbox": f"support{rnd.randrange(200)}@brand{rnd.randrange(5)}.example",
                "subject": " ".join(rnd.sample(_WORDS, 2)).capitalize(),
                "text": " ".join(words),
                "language": rnd.choice(_LANGUAGES),
                "customer": {"email": "a@b.example", "tier": rnd.choice(_TIERS)},
                "ticket": {"reopen_count": rnd.choice((0, 0, 0, 1, 2))},
                "metadata": {"product": f"p{rnd.randrange(50)}"},
            }
        )
    return events


def measure(name: str, ruleset: RuleSet, events: Sequence[dict[str, Any]]) -> BenchFigures:
    """Time each evaluation (after a warm-up pass) and summarise."""
    for facts in events[: min(len(events), 200)]:
        ruleset.evaluate(facts, now=NOW)
    timings = []
    clock = time.perf_counter_ns
    for facts in events:
        start = clock()
        ruleset.evaluate(facts, now=NOW)
        timings.append(clock() - start)
    timings.sort()
    return BenchFigures(
        name=name,
        rules=len(ruleset.rules) + len(ruleset.escalations),
        events=len(timings),
        mean_us=round(statistics.fmean(timings) / 1000, 2),
        p50_us=round(timings[len(timings) // 2] / 1000, 2),
        p99_us=round(timings[min(len(timings) - 1, int(len(timings) * 0.99))] / 1000, 2),
    )


def run_bench(
    path: str | Path | None = None, *, events: int = 5000, rules: int = 1000
) -> list[BenchFigures]:
    """Figures for the ruleset at ``path`` (default: the examples) and a generated set."""
    sample = generate_events(events)
    given = load_ruleset(path or EXAMPLES)
    generated = loads_ruleset(generate_ruleset_yaml(rules), file=f"<generated {rules} rules>")
    return [
        measure(str(path or "rules/examples"), given, sample),
        measure(f"generated {rules} rules", generated, sample),
    ]
