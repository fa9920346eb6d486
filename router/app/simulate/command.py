"""``switchboard simulate``: load the inputs, run, and show the result (a table, or the
``--json`` object), an HTML page with ``--out``, the roster found with ``--target``.

Progress and warnings go to stderr (rich), so stdout holds only the result."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from router.app.simulate.day import DayEvent, read_day
from router.app.simulate.engine import Result, simulate
from router.app.simulate.roster import Roster, check_against, dump_roster, load_roster
from router.app.simulate.target import Target, search
from router.errors import ConfigError
from router.events import utcnow
from router.vocabulary import SLA_TARGETS
from rules import RuleSet, load_ruleset


@dataclass(frozen=True, slots=True)
class Request:
    roster: Path
    events: Path
    rules: Path
    against: Path | None = None
    target: Target | None = None
    json: bool = False
    out: Path | None = None
    reopen_window_s: float = 7 * 24 * 3600


def _names(request: Request) -> tuple[str, str]:
    """How the two rosters are named in the table and on the page: their file names, or
    their paths where the names are the same (two ``roster.yaml`` of two teams)."""
    first = request.roster.name
    other = request.against.name if request.against is not None else ""
    if first == other and request.against is not None:
        return str(request.roster), str(request.against)
    return first, other


async def run(request: Request, out: Console, err: Console) -> None:
    """Raises ``ConfigError`` (roster, events, target) or ``RuleSetInvalid`` (rules)."""
    rules = load_ruleset(request.rules)
    roster = _roster(request.roster, "--roster", rules, err)
    other = _roster(request.against, "--against", rules, err) if request.against else None
    if other is not None and other.seed != roster.seed:
        err.print(
            f"note: --against runs with the seed of --roster ({roster.seed}, not "
            f"{other.seed}), so both rosters see the same handling and patience draws",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        other = replace(other, seed=roster.seed)
    names = _names(request)
    day = read_day(request.events)
    err.print(
        f"{len(day):,} events from {request.events}", highlight=False, markup=False, soft_wrap=True
    )
    runs: list[tuple[str, dict[str, Any]]] = []
    found_text: str | None = None
    if request.target is not None:
        found = await search(
            rules,
            roster,
            day,
            request.target,
            reopen_window_s=request.reopen_window_s,
            step=lambda line: err.print(line, highlight=False, markup=False, soft_wrap=True),
        )
        found_text = dump_roster(found.roster)
        runs.append((f"{names[0]} sized for {request.target}", found.result.report))
        err.print(f"{found.runs} runs; head count {found.roster.head_count()}", highlight=False)
        if found.unsized:
            groups = ", ".join(found.unsized)
            err.print(
                f"note: {groups}: no shift in the simulated period, kept as given",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
        _warn(found.result, request, err)
    else:
        result = await _run(rules, roster, day, request, err=err, name=names[0])
        runs.append((names[0], result.report))
    if other is not None:
        result = await _run(rules, other, day, request, err=err, name=names[1], lines=False)
        runs.append((names[1], result.report))
    if request.out is not None:
        _write_page(request, runs, found_text)
        err.print(f"wrote {request.out}", highlight=False, markup=False)
    if request.json:
        out.file.write(orjson.dumps(_json(runs, found_text)).decode() + "\n")
        return
    # With --target, stdout is the roster found (a file to run again) and the table of
    # the runs goes to stderr with their progress; without, the table is the result.
    shown = err if found_text is not None else out
    wide = Console(file=shown.file, width=max(shown.width, 160), no_color=not shown.is_terminal)
    wide.print(table(runs))
    if found_text is not None:  # plain text: a roster's [lists] are no rich markup
        out.file.write(f"# roster meeting {request.target}\n{found_text}")


def _roster(path: Path, option: str, rules: RuleSet, err: Console) -> Roster:
    """The roster, checked against the rules: errors raise (``RosterInvalid`` naming
    ``option``), warnings go to stderr."""
    roster = load_roster(path, option)
    for warning in check_against(roster, rules.queues, option):
        err.print(str(warning), highlight=False, soft_wrap=True)
    return roster


def _warn(result: Result, request: Request, err: Console, *, lines: bool = True) -> None:
    """What the figures alone would hide: event lines the router could not take (by
    their line in the file; the same for every roster, so ``lines`` once), and queues
    whose tickets no agent ever took."""
    for line, why in result.skipped if lines else ():
        err.print(
            f"{request.events}:{line}: skipped: {why}",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    if result.skipped and lines:
        count = len(result.skipped)
        err.print(f"{count} line{'' if count == 1 else 's'} skipped", highlight=False)
    for text in result.unserved:
        err.print(f"warning: {text}", highlight=False, soft_wrap=True, markup=False)


def _json(runs: list[tuple[str, dict[str, Any]]], found: str | None) -> dict[str, Any]:
    """One roster: the contract's object. ``--against``: ``{roster, against}`` holding
    one each. ``--target``: the object of the roster found, plus ``roster_found``."""
    if len(runs) == 1:
        return {**runs[0][1], "roster_found": found} if found else runs[0][1]
    first = {**runs[0][1], "roster_found": found} if found else runs[0][1]
    return {"roster": first, "against": runs[1][1]}


async def _run(
    rules: RuleSet,
    roster: Roster,
    day: list[DayEvent],
    request: Request,
    *,
    err: Console,
    name: str,
    lines: bool = True,
) -> Result:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    # a bar is for a terminal: elsewhere (a log, a pipe) it would leave an empty line
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task(f"simulating {name}", total=len(day))
        result = await simulate(
            rules,
            roster,
            day,
            reopen_window=timedelta(seconds=request.reopen_window_s),
            progress=lambda done, _: bar.update(task, completed=done),
        )
    err.print(
        f"{name}: {len(day):,} events, {len(result.outcomes):,} tickets offered, "
        f"{result.wall_s:.1f} s",
        highlight=False,
    )
    _warn(result, request, err, lines=lines)
    if day and not result.outcomes:  # a table of zeros would read like a result
        skipped = (
            f", {len(result.skipped):,} of them skipped (said above)" if result.skipped else ""
        )
        raise ConfigError(
            "--events",
            f"{request.events}: none of its {len(day):,} events opened a ticket{skipped}; "
            "nothing to simulate",
        )
    return result


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}s"


# ``unserved`` beside ``abandoned``: without it, offered != handled + abandoned
HEADS = (
    "offered",
    "handled",
    "abandoned",
    "unserved",
    "P(wait)",
    "wait mean",
    "p50",
    "p90",
    "occupancy",
)
SLA_HEADS = {"first_response": "SLA first", "next_response": "SLA next", "resolution": "SLA resol."}


def table(runs: list[tuple[str, dict[str, Any]]]) -> Table:
    """One row per queue (and one for all), per roster when there are two."""
    grid = Table(title="staffing what-if", expand=False)
    names = ["roster"] if len(runs) > 1 else []
    for col in (*names, "queue"):
        grid.add_column(col, no_wrap=True)
    for col in (*HEADS, *(SLA_HEADS[t] for t in SLA_TARGETS)):
        grid.add_column(col, justify="right", no_wrap=True)
    for label, report in runs:
        parts = [("all", report["overall"]), *report["queues"].items()]
        for queue, f in parts:
            grid.add_row(
                *([label] if names else []),
                queue,
                str(f["offered"]),
                str(f["handled"]),
                str(f["abandoned"]),
                str(f["unserved"]),
                _pct(f["p_wait"]),
                _secs(f["wait_mean_s"]),
                _secs(f["wait_p50_s"]),
                _secs(f["wait_p90_s"]),
                _pct(f["occupancy"]),
                *(_pct(f["sla"].get(t)) for t in SLA_TARGETS),
            )
    return grid


def _write_page(
    request: Request, runs: list[tuple[str, dict[str, Any]]], found: str | None
) -> None:
    from router.app.simulate.page import render

    html = render(
        runs, events=str(request.events), rules=str(request.rules), generated=utcnow(), found=found
    )
    assert request.out is not None
    request.out.write_text(html, encoding="utf-8")
