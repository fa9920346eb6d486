"""``simulate --target first_response=90%``: the smallest head count per group (a skill
set on a shift pattern, one ``group:`` entry of the roster) that meets an SLA target on
the recorded day.

The search runs the simulation itself, so it sees the router's rules, calendars and
assignment: first every group is doubled until the target is met (or a limit says it
cannot be), then each group in turn is cut to the smallest count that still meets it,
the others staying as they are. Handling times and patience are drawn per ticket (see
``engine``), so every run of the search replays the same work and only staffing
changes. Named agents (``id:``) are kept as they are, and so is a group none of whose
agents is on shift while the day is worked (a weekend group on a Monday): the day says
nothing about it, and cutting it to nobody would print a roster without the weekend as
meeting the target.

A target the day cannot measure fails at once instead of after every doubling: no
ticket has its clock, or, with every group staffed and every ticket served, no such
clock is met or due before the run ends (a follow-up whose agent is off until another
day), so the share is undefined whatever the head count. Tickets left unserved are
another story (a queue nobody has the skills for): the doublings say so.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from router.app.simulate.day import DayEvent
from router.app.simulate.engine import Result, simulate
from router.app.simulate.roster import MAX_GROUP, Roster
from router.errors import ConfigError
from router.events import Ticket
from router.vocabulary import SLA_TARGETS
from rules import RuleSet

MAX_DOUBLINGS = 8
_TARGET = re.compile(r"\s*([a-z_]+)\s*=\s*(\d+(?:\.\d+)?)\s*(%?)\s*")

Step = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Target:
    sla: str
    share: float

    def __str__(self) -> str:
        """The share as given (``99.5%``, not rounded to ``100%``)."""
        return f"{self.sla}={round(self.share * 100, 6):g}%"

    def met_by(self, report: dict[str, Any]) -> bool:
        """Every queue whose tickets had this clock complies (and so the whole day)."""
        parts = [report["overall"], *report["queues"].values()]
        shares = [p["sla"].get(self.sla) for p in parts]
        return all(s is None or s >= self.share for s in shares) and shares[0] is not None

    def missed_in(self, report: dict[str, Any]) -> dict[str, float]:
        """The queues whose tickets had this clock and fell short, with their share: the
        target is judged per queue, so the day's share alone does not say why a run
        missed it."""
        shares = {q: f["sla"].get(self.sla) for q, f in report["queues"].items()}
        return {q: s for q, s in shares.items() if s is not None and s < self.share}


def parse_target(text: str) -> Target:
    """``first_response=90%`` (or ``=90``): PCT is a percentage. ConfigError naming the
    option otherwise, and for a value below 1 with a decimal point and no ``%``
    (``=0.9``): a fraction meaning 90 % and a percentage meaning 0.9 % look alike, and
    guessing wrong would size the roster for the other one (``0.9%`` says 0.9 %)."""
    match = _TARGET.fullmatch(text)
    if match is None or match.group(1) not in SLA_TARGETS:
        targets = ", ".join(SLA_TARGETS)
        raise ConfigError("--target", f"{text!r}: write TARGET=PCT, TARGET one of {targets}")
    number, percent = match.group(2), match.group(3)
    value = float(number)
    if not percent and "." in number and 0 < value < 1:
        raise ConfigError(
            "--target",
            f"{text!r}: PCT is a percentage, and {number} is ambiguous: write "
            f"{match.group(1)}={round(value * 100, 6):g} for {round(value * 100, 6):g}%, "
            f"or {match.group(1)}={number}% if {number}% is meant",
        )
    share = value / 100
    if not 0 < share <= 1:
        raise ConfigError("--target", f"{text!r}: the share must be above 0% and at most 100%")
    return Target(match.group(1), share)


@dataclass(slots=True)
class Found:
    roster: Roster
    result: Result
    runs: int
    unsized: list[str]  # groups with no shift in the simulated period, kept as given


async def search(
    rules: RuleSet,
    roster: Roster,
    day: list[DayEvent],
    target: Target,
    *,
    reopen_window_s: float,
    step: Step | None = None,
) -> Found:
    groups = [s.name for s in roster.staff if s.group]
    if not groups:
        raise ConfigError("--target", "the roster has no 'group:' entries to size")
    _refuse_clashes(roster)
    window = timedelta(seconds=reopen_window_s)
    # every run by its head counts: the halving can land on counts a doubling (or an
    # earlier halving) ran already, and a run is deterministic, so none is run twice
    done: dict[tuple[int, ...], Result] = {}

    async def run(counts: dict[str, int]) -> Result:
        key = tuple(counts[g] for g in groups)
        if key in done:
            return done[key]
        result = await simulate(rules, roster.with_counts(counts), day, reopen_window=window)
        done[key] = result
        if step:
            shown = ", ".join(f"{g}={counts[g]}" for g in groups)
            verdict = _verdict(result, target)
            step(f"run {len(done)}: {shown}: {target.sla} {_share(result, target)} ({verdict})")
        return result

    given = {s.name: s.count for s in roster.staff if s.group}
    counts = dict(given)
    best = await run(counts)
    if not any(_has_clock(o.ticket, target.sla) for o in best.outcomes):
        raise ConfigError(
            "--target",
            f"no ticket had a {target.sla} clock on this day (with the roster as given), "
            "so no head count can meet it; choose another target",
        )
    doublings = 0
    while not target.met_by(best.report):
        if _unmeasurable(best, target, counts):
            raise ConfigError(
                "--target",
                f"the day measures no {target.sla} clock: none was met or due before the "
                "simulated day's work ended (every group staffed, every ticket served), "
                f"so no head count can meet {target}; choose another target",
            )
        if doublings == MAX_DOUBLINGS:
            raise ConfigError(
                "--target",
                f"{target} is not met even with {MAX_DOUBLINGS} doublings of every group "
                "(does some queue have no agent with its skills on shift?)",
            )
        doubled = {g: min(MAX_GROUP, max(1, 2 * n)) for g, n in counts.items()}
        if doubled == counts:
            raise ConfigError(
                "--target",
                f"{target} is not met even with {MAX_GROUP:,} agents in every group "
                "(does some queue have no agent with its skills on shift?)",
            )
        counts = doubled
        best = await run(counts)
        doublings += 1
    unsized = []
    for group in groups:
        if counts[group] and not _works_in(best, roster.with_counts(counts), group):
            unsized.append(group)
            counts[group] = given[group]
            best = await run(counts)  # the same figures: those agents never worked
            continue
        low, high = 0, counts[group]  # high meets the target
        while low < high:
            middle = (low + high) // 2
            trial = await run({**counts, group: middle})
            if target.met_by(trial.report):
                high, best = middle, trial
            else:
                low = middle + 1
        counts[group] = high
    # ``best`` is the run of exactly these counts (the last one that met the target; a
    # run is deterministic), and each count was run and listed once
    return Found(roster.with_counts(counts), best, len(done), unsized)


def _works_in(result: Result, roster: Roster, group: str) -> bool:
    """Was some agent of the group on shift at some time in the run?"""
    [staff] = [s for s in roster.staff if s.group and s.name == group]
    return any(a in result.on_shift for a in staff.agent_ids())


def _refuse_clashes(roster: Roster) -> None:
    """A group grown by the search names its agents ``<group>-1`` .. ``<group>-N``: an
    agent the roster names so already (a named ``tech-2`` beside ``group: tech``) would
    become the same agent as a member, and the roster printed back would not load."""
    taken = {agent: entry for entry in roster.staff for agent in entry.agent_ids()}
    for entry in roster.staff:
        if not entry.group:
            continue
        member = re.compile(re.escape(entry.name) + r"-[1-9][0-9]*")
        clashes = sorted(
            a for a, other in taken.items() if other is not entry and member.fullmatch(a)
        )
        if clashes:
            other = taken[clashes[0]]
            raise ConfigError(
                "--target",
                f"{entry.mark}: group '{entry.name}' cannot be sized: grown, it would name "
                f"an agent '{clashes[0]}', as {other.mark} does already; rename one of them",
            )


def _has_clock(ticket: Ticket, sla: str) -> bool:
    clock = ticket.sla.get(sla)
    return clock is not None and clock.due is not None


def _unmeasurable(result: Result, target: Target, counts: dict[str, int]) -> bool:
    """Nothing measured although nobody was missing: more agents would only end the
    day's work sooner. A group of nobody, or a ticket nobody could take, leaves hope."""
    return _measured(result, target) is None and all(counts.values()) and not result.unserved


def _measured(result: Result, target: Target) -> float | None:
    """The day's share of the target's clocks met; None when none was met or due."""
    share: float | None = result.report["overall"]["sla"].get(target.sla)
    return share


def _verdict(result: Result, target: Target) -> str:
    """``met``, or ``missed`` and the queues that missed it (``missed: tech 93.1%``)."""
    if target.met_by(result.report):
        return "met"
    missed = target.missed_in(result.report)
    queues = ", ".join(
        f"{q or '(none)'} {_below(s, target.share)}" for q, s in sorted(missed.items())
    )
    return f"missed: {queues}" if queues else "missed"


def _below(share: float, target: float) -> str:
    """A share under the target, with the decimals that show it is (94.96 % of a 95 %
    target is ``94.96%``, not ``95.0%``)."""
    for digits in range(1, 4):
        if round(share * 100, digits) < target * 100:
            break
    return f"{share:.{digits}%}"


def _share(result: Result, target: Target) -> str:
    share = _measured(result, target)
    return "n/a" if share is None else f"{share:.1%}"
