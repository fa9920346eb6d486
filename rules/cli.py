"""``switchboard rules ...``: the rule author's tools (check, test, explain, simulate, bench).

Mounted by ``router/cli.py``; also runs alone as ``python -m rules.cli``. Errors and
warnings print as ``file:line:col: ...`` so editors and CI can link to them.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import structlog
import typer

from rules.analysis import (
    find_warnings,
    notification_warnings,
    skipped_files,
    template_warnings,
    templates_dir,
)
from rules.casefile import CaseFileInvalid, CaseResult, load_cases, run_case
from rules.decision import Decision
from rules.engine import RuleSet
from rules.errors import RuleError, RuleSetInvalid
from rules.language import Detected, fill_language
from rules.loader import load_ruleset
from rules.model import DEFAULT_TRIGGER, TRIGGERS, Rule
from rules.replay import (
    SimulationReport,
    facts_from,
    load_json,
    load_profile,
    missing_crm_fields,
    opened_at,
    parse_time,
    read_events,
    record_not_routed,
    simulate,
    unknown_facts,
)

app = typer.Typer(
    name="rules",
    help="Check, test, explain and simulate routing rules.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

PathArg = Annotated[Path, typer.Argument(help="A rule file or a directory of *.yaml files.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
TriggerOpt = Annotated[
    str, typer.Option(help="Trigger to evaluate: " + ", ".join(TRIGGERS), show_default=True)
]
NowOpt = Annotated[
    str | None, typer.Option(help="Evaluation time, ISO 8601 with offset (default: now).")
]
CustomerOpt = Annotated[
    Path | None,
    typer.Option(
        "--customer",
        help="The customer's CRM profile (YAML or JSON, as customer.upserted gives it: "
        "{tier: gold, attributes: {arr: 250000}}), which the router has stored.",
    ),
]
PROGRESS_BYTES = 1_000_000
SHOWN = 20  # differing events ``rules simulate --against`` lists by default
CURRENT = {"queue": "queue", "priority": "priority", "sla": "sla_policy"}  # ticket.* field


def _echo(text: str = "") -> None:
    typer.echo(text)


def _error(text: str) -> None:
    """A line saying why the command cannot do its work, on stderr: stdout holds the
    report alone (``--json | jq`` stays JSON)."""
    typer.echo(f"error: {text}", err=True)


def _logs_to_stderr() -> None:
    """Warnings the rules log while evaluating (``rule_pattern_timed_out``) go to stderr,
    once each, so stdout holds the report alone and ``--json`` stays JSON."""
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))


def _load(path: Path, *, report: bool = False) -> RuleSet:
    """The ruleset, or every error printed and exit 1: on stdout where the errors are the
    command's report (``rules check``), on stderr where they stop another report."""
    try:
        return load_ruleset(path)
    except RuleSetInvalid as exc:
        for error in exc.errors:
            typer.echo(str(error), err=not report)
        typer.echo(f"{_count(len(exc.errors), 'error')} in {path}", err=not report)
        raise typer.Exit(1) from None


def _existing(*paths: Path | None) -> None:
    """Every path given exists, or one line naming the first that does not, exit 2: a
    wrong argument is a usage error (exit 1 stays for errors in rules that were read)."""
    for path in paths:
        if path is not None and not path.exists():
            _error(f"{path}: no such file")
            raise typer.Exit(2)


def _now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    parsed = parse_time(value)
    if parsed is None:
        _error(f"--now {value!r} is not an ISO 8601 time with offset (2026-03-04T10:00:00Z)")
        raise typer.Exit(2)
    return parsed


def _trigger(value: str) -> str:
    if value not in TRIGGERS:
        _error(f"unknown trigger {value!r}; expected one of: {', '.join(TRIGGERS)}")
        raise typer.Exit(2)
    return value


def _count(number: int, noun: str, plural: str | None = None) -> str:
    return f"{number} {noun if number == 1 else plural or noun + 's'}"


def _summary(ruleset: RuleSet) -> str:
    rules = [r for r in ruleset.listed if r.kind == "rule"]
    escalations = [r for r in ruleset.listed if r.kind == "escalation"]
    return (
        f"{_listed(rules, 'rule')}, "
        f"{_listed(escalations, 'escalation')}, "
        f"{_count(len(ruleset.queues), 'queue')}, "
        f"{_count(len(ruleset.sla_policies), 'SLA policy', 'SLA policies')}, "
        f"{_count(len(ruleset.calendars), 'calendar')}; version {ruleset.version}"
    )


def _listed(rules: list[Rule], noun: str) -> str:
    """``18 rules`` or, when some are ``enabled: false``, ``18 rules (1 disabled)``."""
    disabled = sum(not rule.enabled for rule in rules)
    return _count(len(rules), noun) + (f" ({disabled} disabled)" if disabled else "")


@app.command()
def check(
    path: PathArg,
    templates: Annotated[
        Path | None,
        typer.Option(
            help="The notifier's templates directory; default: SWITCHBOARD_TEMPLATES_PATH "
            "as the notifier reads it, else templates/ beside the rules.",
            envvar="SWITCHBOARD_TEMPLATES_PATH",
        ),
    ] = None,
) -> None:
    """Validate rules: errors exit 1; warnings are printed but pass; a missing PATH exits 2."""
    _existing(path)
    if templates is not None and not templates.is_dir():
        # the notifier refuses to start on it: a check must not pass with warnings
        _error(f"{templates}: no such directory (--templates, SWITCHBOARD_TEMPLATES_PATH)")
        raise typer.Exit(2)
    ruleset = _load(path, report=True)
    warnings = find_warnings(ruleset)
    warnings += notification_warnings(ruleset, templates or templates_dir(path))
    warnings += template_warnings(ruleset, templates or templates_dir(path))
    warnings += skipped_files(path)
    warnings.sort(key=lambda w: (w.mark.file, w.mark.line, w.mark.col))
    for warning in warnings:
        _echo(str(warning))
    suffix = f" ({_count(len(warnings), 'warning')})" if warnings else ""
    _echo(f"ok: {_summary(ruleset)}{suffix}")


def _diff_lines(result: CaseResult) -> list[str]:
    lines = []
    for mismatch in result.mismatches:
        lines.append(f"    {mismatch.field}:")
        lines.append(f"    - expected: {json.dumps(mismatch.expected, ensure_ascii=False)}")
        lines.append(f"    + actual:   {json.dumps(mismatch.actual, ensure_ascii=False)}")
    return lines


@app.command("test")
def test_cases(
    path: PathArg,
    cases: Annotated[Path, typer.Option("--cases", help="YAML file of test cases.")],
) -> None:
    """Run rule unit tests: each case's event must produce the expected decision."""
    _existing(path, cases)
    ruleset = _load(path)
    try:
        loaded = load_cases(cases)
    except CaseFileInvalid as exc:
        for error in exc.errors:
            _echo(str(error))
        raise typer.Exit(1) from None
    if not loaded:
        _echo(
            f"error: {cases}: no cases to run (write at least one under 'cases:'; "
            "an emptied file would pass unseen)"
        )
        raise typer.Exit(1)
    results = [run_case(ruleset, case) for case in loaded]
    failed = [r for r in results if not r.passed]
    for result in results:
        mark = result.case.mark
        status = "PASS" if result.passed else "FAIL"
        _echo(f"{status} {result.case.name} ({mark.file}:{mark.line})")
        for line in _diff_lines(result):
            _echo(line)
    _echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed:
        raise typer.Exit(1)


def _read_event(
    file: Path, profile: dict[str, Any] | None
) -> tuple[dict[str, Any], datetime | None, str | None]:
    """The event file's facts (with the customer's CRM ``profile``), time and why the
    router would not route it (None: it would); a UTF-8 byte order mark is ignored,
    anything that is not UTF-8 is named by line, not shown as a traceback."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        _error(f"cannot read event {file}: {exc.strerror or exc}")
        raise typer.Exit(2) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        _error(f"{file}:{line}: not UTF-8 text")
        raise typer.Exit(2) from None
    try:
        record = load_json(text)
    except ValueError as exc:
        _error(f"cannot read event {file}: {exc}")
        raise typer.Exit(2) from None
    found = facts_from(record, profile)
    if found is None:
        _error(f"{file} holds neither facts nor a switchboard.interaction.received event")
        raise typer.Exit(2)
    misspelt = unknown_facts(record)
    if misspelt:
        for problem in misspelt:
            _error(f"{file}: {problem}")
        raise typer.Exit(2)
    return found[0], found[1], record_not_routed(record)


@app.command()
def explain(
    path: PathArg,
    event: Annotated[Path, typer.Argument(help="A JSON file: facts, a CloudEvent or a dump line.")],
    *,
    trigger: TriggerOpt = DEFAULT_TRIGGER,
    now: NowOpt = None,
    customer: CustomerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show every rule, matched or not (and which condition failed), then the decision.

    Rules and escalations that listen to other triggers than --trigger are listed too,
    as not evaluated, so the author sees the whole file and why each rule did not take
    part; so are disabled rules (enabled: false), which never run.

    A message the router would not route (an auto-reply, a call that is no customer
    contact) is evaluated all the same, with a note saying so.

    Without --customer, the CRM-only customer fields the rules read and the event does
    not carry are named in a note: explain reads them as null, the router would not.
    """
    _existing(path, event, customer)
    _logs_to_stderr()
    ruleset = _load(path)
    profile = _profile(customer) if customer is not None else None
    facts, event_time, skipped_by_router = _read_event(event, profile)
    at = _now(now) if now is not None else event_time or _now(None)
    facts = opened_at(facts, at, _trigger(trigger))
    language = fill_language(facts, ruleset.languages)
    decision = ruleset.evaluate(facts, trigger=_trigger(trigger), now=at)
    unknown = missing_crm_fields(ruleset.rules_for(trigger), facts) if profile is None else []
    everything = ruleset.listed
    evaluated = {e.name: e for e in decision.evaluations}
    stopped_by = decision.matched[-1] if decision.matched else None
    if as_json:
        found = {
            "value": language.language,
            "source": language.source,
            "confidence": language.confidence,
        }
        skipped = [
            {"name": rule.name, "disabled": True}
            if not rule.enabled
            else {"name": rule.name, "listens_to": list(rule.triggers)}
            if trigger not in rule.triggers
            else {"name": rule.name, "stopped_by": stopped_by}
            for rule in everything
            if rule.name not in evaluated
        ]
        report = {
            "now": at.isoformat(),
            "language": found,
            "not_routed": skipped_by_router,
            "crm_unknown": unknown,
            **decision.to_dict(),
            "sla_times": {
                target: {"due": due.isoformat(), "warn_at": warn.isoformat() if warn else None}
                for target, (due, warn) in _sla_times(ruleset, decision, at).items()
            },
            "not_evaluated": skipped,
        }
        _echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    _echo(f"rules {ruleset.version} · trigger {trigger} · now {at.isoformat()}")
    _echo(f"ruleset hash: {ruleset.hash}")
    _echo(f"language: {_language_line(language, ruleset.languages)}")
    if skipped_by_router:
        _echo(f"note: the router would not route this message ({skipped_by_router});")
        _echo("      the rules are shown as if it did")
    if unknown:
        _echo(f"note: {', '.join(unknown)} come from the customer's CRM profile")
        _echo("      (customer.upserted), which explain does not have: read as null here;")
        _echo("      give the profile with --customer FILE, e.g. {tier: gold, attributes: {...}}")
    width = max((len(r.name) for r in everything), default=0)
    for rule in everything:
        evaluation = evaluated.get(rule.name)
        if not rule.enabled:
            _echo(f"  -        {rule.name:<{width}}  disabled (enabled: false): never runs")
        elif trigger not in rule.triggers:
            listens = ", ".join(rule.triggers)
            _echo(f"  -        {rule.name:<{width}}  not evaluated: listens to {listens}")
        elif evaluation is None:
            _echo(
                f"  -        {rule.name:<{width}}  not evaluated: '{stopped_by}' stopped the pass"
            )
        elif evaluation.matched:
            _echo(f"  MATCH    {rule.name}")
        else:
            _echo(f"  no match {rule.name:<{width}}  {evaluation.failed_condition}")
    _echo("decision:")
    for key in (
        "queue",
        "priority",
        "sla",
        "tags",
        "remove_tags",
        "assign",
        "auto_reply",
        "notify",
    ):
        value = getattr(decision, key)
        if value or key in CURRENT:
            shown = ", ".join(value) if isinstance(value, tuple) else value
            source = next((a.rule for a in reversed(decision.actions) if a.action == key), None)
            _echo(
                f"  {key + ':':<12} {shown or _unset(key, decision, facts)}"
                + (f"  (by {source})" if source and not isinstance(value, tuple) else "")
            )
    for target, (due, warn) in _sla_times(ruleset, decision, at).items():
        warning = f", warning {warn.isoformat()}" if warn else ""
        _echo(f"  {target + ':':<15} due {due.isoformat()}{warning}")


def _sla_times(
    ruleset: RuleSet, decision: Decision, at: datetime
) -> dict[str, tuple[datetime, datetime | None]]:
    """When a new ticket's clocks would fall due (and warn), in UTC, under the decided
    policy and priority, started at ``at``: the calendar arithmetic a rule author wants
    to check. Only for a new ticket: a later trigger's clocks depend on its history."""
    if decision.trigger != DEFAULT_TRIGGER or not decision.sla or not decision.priority:
        return {}
    policy = ruleset.sla_policies.get(decision.sla)
    if policy is None:
        return {}
    times = {}
    for target in ("first_response", "resolution"):
        found = policy.times(target, decision.priority, at)
        if found is not None:
            due, warn = found
            times[target] = (due.astimezone(UTC), warn.astimezone(UTC) if warn else None)
    return times


def _unset(key: str, decision: Decision, facts: dict[str, Any]) -> str:
    """What an unset queue, priority or sla means: none on a new ticket (after the
    defaults), else the ticket keeps what it has (its current value, when known)."""
    if decision.trigger == DEFAULT_TRIGGER:
        return "none"
    ticket = facts.get("ticket")
    current = ticket.get(CURRENT[key]) if isinstance(ticket, Mapping) else None
    return f"unchanged ({current})" if current else "unchanged"


def _profile(file: Path) -> dict[str, Any]:
    """The ``--customer`` profile, or the problem with it printed and exit 2."""
    try:
        return load_profile(file)
    except RuleError as exc:
        _error(f"{exc}")
        raise typer.Exit(2) from None


def _language_line(found: Detected, codes: tuple[str, ...]) -> str:
    if found.source == "detected":
        return (
            f"{found.language} (detected among {', '.join(codes)}, confidence {found.confidence})"
        )
    if found.source == "crm":
        return f"{found.language} (from the customer's CRM profile: detection was unsure)"
    if found.source is not None:
        return f"{found.language} (as the {found.source} said)"
    if not codes:
        return "none (the channel did not say; no 'languages' in the rules to detect)"
    return "none (the channel did not say, detection was unsure and no CRM language)"


def _show_counter(title: str, counter: Counter[str], total: int, limit: int = 10) -> None:
    _echo(f"{title}:")
    for name, count in counter.most_common(limit):
        _echo(f"  {name:<24} {count:>7}  {100 * count / max(total, 1):5.1f}%")
    if len(counter) > limit:
        _echo(f"  ... {len(counter) - limit} more")


def _refuse_rejected(report: SimulationReport, events: Path) -> None:
    """Lines of misspelt facts, as ``explain`` reports them, and exit 2: the report
    would count them as messages without those facts."""
    if not report.rejected:
        return
    for rejected in report.rejected:
        for problem in rejected.problems:
            _error(f"{events}:{rejected.line}: {problem}")
    typer.echo(f"{_count(len(report.rejected), 'line')} of misspelt facts in {events}", err=True)
    raise typer.Exit(2)


def _refuse_no_inbound(report: SimulationReport, events: Path) -> None:
    """A file in which no line is an inbound event (a ``tickets`` dump, a metrics
    tail) has nothing to simulate: exit 1 saying so, rather than an empty report that
    looks like a run."""
    if report.evaluated or report.not_routed.total() or not report.skipped:
        return
    for line, reason in report.skipped_examples:
        _error(f"{events}:{line}: skipped: {reason}")
    _error(
        f"no inbound events in {events}: all {_count(report.skipped, 'line')} "
        "skipped; simulate replays switchboard.interaction.received events "
        "(switchboard tail inbound --json, or switchboard export inbound) or plain facts"
    )
    raise typer.Exit(1)


@app.command("simulate")
def simulate_cmd(
    path: PathArg,
    *,
    events: Annotated[
        Path, typer.Option("--events", help="JSONL: facts, CloudEvents or dump lines.")
    ],
    against: Annotated[
        Path | None, typer.Option("--against", help="Compare with these (older) rules.")
    ] = None,
    trigger: TriggerOpt = DEFAULT_TRIGGER,
    now: NowOpt = None,
    as_json: JsonOpt = False,
    show: Annotated[
        int,
        typer.Option(
            "--show",
            min=0,
            help="With --against: how many differing events to list (0: all); --json lists all.",
        ),
    ] = SHOWN,
) -> None:
    """Replay recorded events through the rules; with --against, show what would change."""
    _existing(path, events, against)
    _logs_to_stderr()
    ruleset = _load(path)
    old = _load(against) if against is not None else None
    at = _now(now)
    if not events.is_file():
        _error(f"{events} is a directory, not an events file")
        raise typer.Exit(2)
    stream = read_events(events)
    keep = None if as_json or show == 0 else show  # text keeps only what it prints
    show_progress = not as_json and sys.stdout.isatty() and events.stat().st_size > PROGRESS_BYTES
    if show_progress:
        from rich.progress import Progress

        with events.open("rb") as counted:
            lines = sum(1 for _ in counted)
        with Progress(transient=True) as progress:
            task = progress.add_task("simulating", total=lines)
            report = simulate(
                ruleset,
                stream,
                against=old,
                trigger=_trigger(trigger),
                now=at,
                on_event=lambda: progress.advance(task),
                keep=keep,
            )
    else:
        report = simulate(
            ruleset, stream, against=old, trigger=_trigger(trigger), now=at, keep=keep
        )
    _refuse_rejected(report, events)
    _refuse_no_inbound(report, events)
    if as_json:
        _echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
        return
    not_routed = report.not_routed.total()
    _echo(
        f"rules {report.version}: {report.evaluated} events evaluated, {report.skipped} skipped"
        + (f", {not_routed} not routed (the router opens no ticket for them)" if not_routed else "")
    )
    for line, reason in report.skipped_examples:
        _echo(f"  {events}:{line}: skipped: {reason}")
    for reason, count in report.not_routed.most_common():
        _echo(f"  not routed: {count} × {reason}")
    if report.crm_unknown:
        _echo(
            f"  note: {report.crm_unknown} of {report.evaluated} evaluated events met rules "
            f"reading {', '.join(report.crm_fields)}, which come from the customer's CRM "
            "profile (customer.upserted): simulate does not have it and read them as null"
        )
    _show_counter("queues", report.queues, report.evaluated)
    _show_counter("priorities", report.priorities, report.evaluated)
    _show_counter("tags", report.tags, report.evaluated)
    if report.against_version is not None:
        _show_against(report)


def _show_against(report: SimulationReport) -> None:
    """What routes differently: how many, per field, the queue moves, then the events
    kept (``--show``) and how many more ``--json`` would list."""
    share = 100 * report.changed / max(report.evaluated, 1)
    _echo(
        f"against {report.against_version}: {report.changed} of {report.evaluated} events "
        f"route differently ({share:.1f}%)"
    )
    if report.changed:
        _echo("  by field: " + ", ".join(f"{k} {n}" for k, n in report.by_field().items()))
    for (old_queue, new_queue), count in report.moves.most_common(10):
        _echo(f"  {old_queue} -> {new_queue}: {count}")
    if len(report.moves) > 10:
        _echo(f"  ... and {len(report.moves) - 10} more queue moves (--json lists all)")
    for example in report.examples:
        changes = "; ".join(_difference(k, v) for k, v in example["changes"].items())
        _echo(f"  line {example['line']}: {changes}")
    if report.changed > len(report.examples):
        _echo(f"  ... and {report.changed - len(report.examples)} more (--json lists all)")


def _difference(key: str, change: Any) -> str:
    """One field of a differing event: ``queue: "general" -> "sales"``, ``tags: +vip -sales``."""
    if isinstance(change, dict):
        return f"{key}: " + " ".join(
            [f"+{v}" for v in change["added"]] + [f"-{v}" for v in change["removed"]]
        )
    return f"{key}: {json.dumps(change[0])} -> {json.dumps(change[1])}"


@app.command()
def bench(
    path: Annotated[
        Path | None, typer.Argument(help="Ruleset to time (default: rules/examples).")
    ] = None,
    events: Annotated[
        int, typer.Option("--events", min=100, help="Events per measurement.")
    ] = 5000,
    as_json: JsonOpt = False,
) -> None:
    """Evaluation time per event for a ruleset and for a generated 1,000-rule set."""
    from rules.bench import run_bench

    _existing(path)
    if path is not None:
        _load(path)
    figures = run_bench(path, events=events)
    if as_json:
        _echo(json.dumps([f.to_dict() for f in figures], indent=2))
        return
    _echo(f"{'ruleset':<28} {'rules':>6} {'events':>7} {'mean µs':>9} {'p50 µs':>8} {'p99 µs':>8}")
    for f in figures:
        times = f"{f.mean_us:>9.1f} {f.p50_us:>8.1f} {f.p99_us:>8.1f}"
        _echo(f"{f.name:<28} {f.rules:>6} {f.events:>7} {times}")


if __name__ == "__main__":
    app()
