"""The simulation's speed on a large day: ``python -m router.app.simulate.bench``.

A generated day (100,000 inbound events by default, three customers per arrival in
the pool so most open their own ticket) replayed against a roster of 200 agents in
three skill groups on two shifts, with the example rules. Prints the wall time of the
simulation alone (generating the day is not counted) and the CPU time it took, which
is the figure to compare on a shared machine. A figure, not a test: the README quotes
one run.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

import orjson

import rules as rules_package
from router.app.simulate.day import parse_line
from router.app.simulate.engine import simulate
from router.app.simulate.generate import DaySpec, day_start, generate
from router.app.simulate.roster import loads_roster
from router.logs import configure_logging
from rules import load_ruleset

EXAMPLE_RULES = Path(rules_package.__file__).parent / "examples"
WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def bench_roster(agents: int) -> str:
    """``agents`` split 30/30/40 between billing, tech and all-round, each half on an
    early and half on a late shift (UTC), every day."""
    early = "{" + ", ".join(f'{d}: ["06:00-15:00"]' for d in WEEK) + "}"
    late = "{" + ", ".join(f'{d}: ["13:00-22:00"]' for d in WEEK) + "}"
    split = {"billing": 0.3, "tech": 0.3, "allround": 0.4}
    skills = {"billing": "[billing]", "tech": "[tech]", "allround": "[billing, tech, sales]"}
    counts = {g: round(agents * share) for g, share in split.items()}
    counts["allround"] += agents - sum(counts.values())
    lines = ["version: 1", "timezone: UTC", "seed: 1", "agents:"]
    for group, count in counts.items():
        for shift, hours in (("early", early), ("late", late)):
            n = count // 2 if shift == "early" else count - count // 2
            lines.append(
                f"  - {{group: {group}-{shift}, count: {n}, skills: {skills[group]}, "
                f"capacity: {{email: 4, chat: 2, webform: 4}}, shifts: {hours}}}"
            )
    lines += [
        "handling:",
        "  - {channel: chat, exponential: {mean: 4m}}",
        "  - {lognormal: {mean: 6m, sd: 3m}}",
        "patience: {chat: {exponential: {mean: 5m}}}",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    configure_logging("console", "warning")
    spec = DaySpec(day_start("2026-11-24"), args.events, seed=5, customers=3 * args.events)
    day = [parse_line(line, "generated") for line in generate(spec)]
    roster = loads_roster(bench_roster(args.agents), "bench-roster")
    started, cpu = time.perf_counter(), time.process_time()
    result = asyncio.run(simulate(load_ruleset(EXAMPLE_RULES), roster, day))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    overall = result.report["overall"]
    figures = {
        "events": len(day),
        "agents": roster.head_count(),
        "tickets_offered": overall["offered"],
        "handled": overall["handled"],
        "seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),
        "events_per_s": round(len(day) / wall),
    }
    if args.json:
        print(orjson.dumps(figures).decode())
    else:
        print(
            f"{figures['events']:,} events, {figures['agents']} agents: "
            f"{figures['tickets_offered']:,} tickets offered, {figures['handled']:,} handled; "
            f"simulated in {figures['seconds']} s, {figures['cpu_seconds']} s of CPU "
            f"({figures['events_per_s']:,} events/s)"
        )


if __name__ == "__main__":
    main()
