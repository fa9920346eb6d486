"""The ``switchboard`` command. Composition root: it may import every package.

Startup problems are one line naming the setting (exit 2), never a traceback.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import signal
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import structlog
import typer
from rich.console import Console
from rich.markup import escape

from router.errors import ConfigError, Unrecoverable
from router.events import iso, utcnow
from router.kafka import check_kafka
from router.logs import configure_logging
from router.redis import check_redis, shown_url
from router.settings import SecretChannel, Settings, load_settings
from router.topic_admin import ensure_topics, missing_topics

if TYPE_CHECKING:
    from router.app.report.windows import Period

app = typer.Typer(
    name="switchboard",
    help="Event-driven omnichannel ticket router on Kafka and Redis.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
topics_app = typer.Typer(help="Manage the Kafka topics of the registry.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")
state_app = typer.Typer(help="Repair the state kept in Redis.", no_args_is_help=True)
app.add_typer(state_app, name="state")
out = Console()
err = Console(stderr=True)


def _mount_rules() -> None:
    from rules.cli import app as rules_app

    app.add_typer(rules_app, name="rules", help="Check, test, explain and simulate rules.")


_mount_rules()


def fail(exc: ConfigError, errors: Sequence[object] = ()) -> None:
    """One line naming the setting (after the located ``errors`` behind it, one a line),
    exit 2. Where the operator asked for JSON logs (``SWITCHBOARD_LOG_FORMAT=json`` set,
    as the container image does), it is one JSON log record instead, the errors in its
    ``errors`` list: it may be all a crash-looping process writes, and must be shippable
    whole."""
    if os.environ.get("SWITCHBOARD_LOG_FORMAT", "").strip().lower() == "json":
        record: dict[str, Any] = {
            "event": "startup_failed",
            "level": "error",
            "logger": "switchboard",
            "timestamp": iso(utcnow()),
            "setting": exc.setting,
            "error": exc.message,
        }
        if errors:
            record["errors"] = [str(error) for error in errors]
        sys.stderr.write(orjson.dumps(record).decode() + "\n")
        raise typer.Exit(2)
    for error in errors:
        err.print(str(error), highlight=False, soft_wrap=True, markup=False)
    err.print(f"[bold red]error:[/] {exc.setting}: {exc.message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def writable_or_exit(path: Path, option: str = "--out") -> None:
    """Refuse an output file that cannot be written before any work is done, in one line
    (exit 2): finding out after reading every topic would waste the run. A missing
    directory is named, not created: a typo must not leave directories behind."""
    problem = _unwritable(path)
    if problem is not None:
        err.print(
            f"[bold red]error:[/] cannot write {option} {escape(str(path))}: {escape(problem)}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(2)


def _unwritable(path: Path) -> str | None:
    """Why ``path`` cannot be written, or None. Opening it to append is the one true test
    (permissions, read-only or virtual file systems); a file the test created is removed."""
    if path.is_dir():
        return "it is a directory"
    parent = path.parent
    if not parent.is_dir():
        return f"{parent} is not a directory" if parent.exists() else f"{parent} does not exist"
    existed = path.exists()
    try:
        with path.open("ab"):
            pass
    except OSError as exc:
        if exc.errno == errno.ENOENT:  # the directory is there: it takes no new files
            return f"cannot create a file in {parent}"
        return exc.strerror or str(exc)
    if not existed:
        path.unlink(missing_ok=True)
    return None


def settings_or_exit(**overrides: Any) -> Settings:
    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        fail(exc)
        raise  # unreachable: fail() exits


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it is installed (it comes with ``uvicorn[standard]``): a faster event
    loop for every role; the standard one otherwise."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run_until_signal(
    main: Callable[[asyncio.Event], Coroutine[Any, Any, None]], *, interruptible: bool = False
) -> None:
    """Run ``main(stop)``; SIGINT/SIGTERM set ``stop`` for a graceful shutdown, and a
    second one stops at once. An ``interruptible`` command (one that reads and writes
    nothing a role depends on: a report, a check, an export) stops at the first: exit 130."""
    interrupted = False

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()

        def on_signal() -> None:
            nonlocal interrupted
            if (interruptible or stop.is_set()) and task is not None:
                interrupted = True
                task.cancel()
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        await main(stop)

    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as loop_runner:
            loop_runner.run(runner())
    except asyncio.CancelledError:
        if not interrupted:
            raise
        err.print("interrupted", highlight=False)
        raise typer.Exit(130) from None
    except ConfigError as exc:
        fail(exc)
    except Unrecoverable as exc:
        # One line in the log stream (JSON in production) that names the repair.
        structlog.get_logger("switchboard").error(
            "role_stopped", reason=exc.message, repair=exc.hint
        )
        raise typer.Exit(1) from None


async def preflight(settings: Settings) -> None:
    """Fail fast on anything a role cannot run without, naming the setting."""
    await preflight_kafka_redis(settings)
    missing = await missing_topics(settings)
    if missing:
        raise ConfigError(
            "SWITCHBOARD_TOPIC_PREFIX",
            f"{len(missing)} topics missing (e.g. {missing[0]}); run `switchboard topics ensure`",
        )


def load_rules_or_exit(path: Path) -> None:
    from rules import RuleSetInvalid, load_ruleset

    try:
        load_ruleset(path)
    except RuleSetInvalid as exc:
        problem = f"{path}: {len(exc.errors)} rule errors"
        fail(ConfigError("SWITCHBOARD_RULES_PATH", problem), exc.errors)
    except OSError as exc:
        fail(ConfigError("SWITCHBOARD_RULES_PATH", f"cannot read {path}: {exc.strerror}"))


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _secret_names(channels: list[SecretChannel]) -> str:
    return " and ".join(f"SWITCHBOARD_{channel.upper()}_SECRET" for channel in channels)


def refuse_public_open_channels(settings: Settings) -> None:
    """Chat and voice without a secret accept anyone's messages as anyone: reachable from
    other hosts, that is refused unless SWITCHBOARD_OPEN_CHANNELS says it is meant."""
    channels = settings.unauthenticated_channels()
    if not channels or is_loopback(settings.http_host):
        return
    which = " and ".join(channels)
    fail(
        ConfigError(
            f"SWITCHBOARD_{channels[0].upper()}_SECRET",
            f"{which} would accept anyone on {settings.http_host}; set "
            f"{_secret_names(channels)}, or list {','.join(channels)} in "
            f"SWITCHBOARD_OPEN_CHANNELS to leave {'it' if len(channels) == 1 else 'them'} "
            "open on purpose",
        )
    )


def warn_open_channels(settings: Settings) -> None:
    """One log line once the ingress serves, while chat or voice accept anyone."""
    channels = settings.unauthenticated_channels()
    if channels:
        structlog.get_logger("switchboard").warning(
            "unauthenticated_channels",
            channels=channels,
            repair=f"set {_secret_names(channels)}, or list them in SWITCHBOARD_OPEN_CHANNELS",
        )


@app.command()
def dev(
    rules: Annotated[Path | None, typer.Option(help="Rules file or directory.")] = None,
    port: Annotated[
        int | None, typer.Option(help="HTTP port (default: setting).", min=0, max=65535)
    ] = None,
) -> None:
    """Run every role in one process; embeds Kafka and Redis unless they are configured."""
    from router.app import roles
    from router.app.embedded import EmbeddedServices

    base = settings_or_exit()
    configure_logging(base.log_format, base.log_level)
    overrides: dict[str, Any] = {}
    if rules is not None:
        overrides["rules_path"] = rules
    if port is not None:
        overrides["http_port"] = port
    load_rules_or_exit(rules or base.rules_path)
    services = EmbeddedServices()
    try:
        if not base.kafka.bootstrap_servers:
            services.start_kafka()
            overrides["kafka"] = base.kafka.model_copy(
                update={"bootstrap_servers": services.bootstrap_servers}
            )
        if not base.redis.url:
            services.start_redis()
            overrides["redis"] = base.redis.model_copy(update={"url": services.redis_url})
        settings = base.model_copy(update=overrides)

        def ready(url: str) -> None:
            warn_open_channels(settings)
            lines = [
                "[bold green]Switchboard is running[/]  (Ctrl-C to stop)",
                f"  HTTP ingress     {url}  (docs: {url}/docs)",
                f"  Kafka bootstrap  {settings.kafka.bootstrap_servers}",
                f"  Redis            {shown_url(settings.redis.url)}",
                f"  Rules            {settings.rules_path}",
                f"  Try: curl -X POST {url}/v1/channels/webform "
                "-d email=ada@example.com -d message=hello",
                f"       SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS={settings.kafka.bootstrap_servers} "
                + (
                    f"SWITCHBOARD_TOPIC_PREFIX={settings.topic_prefix} "
                    if settings.topic_prefix != Settings.model_fields["topic_prefix"].default
                    else ""
                )
                + "switchboard tail tickets",
            ]
            for line in lines:
                out.print(line, highlight=False, soft_wrap=True)

        async def main(stop: asyncio.Event) -> None:
            await preflight_kafka_redis(settings)
            await ensure_topics(settings)
            await roles.run_roles(
                settings, set(roles.ROLES), stop, on_ready=ready, print_notifications=True
            )

        run_until_signal(main)
    finally:
        services.stop()
    out.print("stopped")


async def preflight_kafka_redis(settings: Settings) -> None:
    await check_kafka(settings)
    await check_redis(settings)


@app.command()
def run(
    role: Annotated[
        list[str],
        typer.Option(help="ingress | router | timers | metrics | notifier | all (repeatable)."),
    ],
    accept_empty_state: Annotated[
        bool,
        typer.Option(
            "--accept-empty-state",
            help="Go on although Redis lost its state (its marker is missing); "
            "prefer `switchboard state rebuild`.",
        ),
    ] = False,
) -> None:
    """Production: run the given roles against the configured Kafka and Redis."""
    from router.app import roles as roles_mod

    wanted = set(roles_mod.ROLES) if "all" in role else set(role)
    unknown = wanted - set(roles_mod.ROLES)
    if unknown:
        choices = ", ".join((*roles_mod.ROLES, "all"))
        fail(ConfigError("--role", f"unknown role {sorted(unknown)[0]!r}; choose from {choices}"))
    settings = settings_or_exit()
    configure_logging(settings.log_format, settings.log_level)
    if "ingress" in wanted:
        refuse_public_open_channels(settings)
    if wanted & {"router", "timers"}:
        load_rules_or_exit(settings.rules_path)

    async def main(stop: asyncio.Event) -> None:
        await preflight(settings)
        await roles_mod.run_roles(
            settings,
            wanted,
            stop,
            accept_empty_state=accept_empty_state,
            on_ready=(lambda _: warn_open_channels(settings)) if "ingress" in wanted else None,
        )

    run_until_signal(main)


@topics_app.command("ensure")
def topics_ensure() -> None:
    """Create every topic that is missing (idempotent); metric and state topics compacted.

    Existing topics are checked against the registry: a wrong cleanup policy is altered
    (exit 1 when the broker refuses), too few partitions are reported, never added. One
    line per topic on stdout; what is wrong, one line each, on stderr."""

    from router.topic_admin import TopicCheck

    settings = settings_or_exit()
    refused = False

    def warn(line: str) -> None:
        err.print(line, highlight=False, soft_wrap=True)

    def show(check: TopicCheck) -> None:
        name, compacted = check.name, "compacted" if check.compacted else ""
        reason = escape(check.reason)
        if check.outcome == "altered":
            change = f"cleanup.policy {check.found_policy} -> {check.policy}"
            out.print(f"{'altered':8} {name} {change}", highlight=False)
        elif check.outcome == "refused":
            warn(
                f"[bold red]error:[/] topic {name} has cleanup.policy={check.found_policy}, "
                f"expected {check.policy}; the broker refused to change it ({reason}): change "
                "it with your Kafka tools, or delete the topic (losing its records) and rerun"
            )
        else:
            out.print(f"{check.outcome:8} {name} {compacted}".rstrip(), highlight=False)
        if check.outcome == "unchecked":
            warn(
                f"warning: cannot read the configuration of {name} ({reason}); "
                f"its cleanup.policy is not checked (expected {check.policy})"
            )
        if check.partitions is not None:
            warn(
                f"warning: topic {name} has {check.partitions} partitions, fewer than the "
                f"{settings.kafka.partitions} configured (SWITCHBOARD_KAFKA_PARTITIONS); "
                "not adding any: that moves keys to other partitions, add them by hand "
                "if you accept it"
            )

    async def main(stop: asyncio.Event) -> None:
        nonlocal refused
        del stop
        await check_kafka(settings)
        for check in (await ensure_topics(settings)).values():
            refused |= check.outcome == "refused"
            show(check)

    run_until_signal(main)
    if refused:
        raise typer.Exit(1)


@state_app.command("rebuild")
def state_rebuild() -> None:
    """Restore Redis from Kafka after Redis lost its data (run with every role stopped)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from router.app import roles
    from router.app.rebuild import read_all, rebuild
    from router.topics import Topic

    settings = settings_or_exit()
    load_rules_or_exit(settings.rules_path)

    async def main(stop: asyncio.Event) -> None:
        del stop
        await preflight(settings)
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=err) as bar:
            task = bar.add_task("reading", total=None)

            def progress(topic: str, records: int) -> None:
                bar.update(task, description=f"reading {topic}: {records:,} records")

            done = await rebuild(settings, progress)
            records = await read_all(settings, Topic.TICKETS, progress)
            bar.update(task, description=f"replaying {len(records):,} lifecycle records")
            await roles.replay_tickets(settings, records)
        out.print(
            f"restored {done.tickets:,} tickets and {done.identities:,} identities "
            f"({done.erased:,} erased tickets left out); recomputed timers and metric "
            f"windows from {len(records):,} lifecycle records "
            f"({done.metric_windows:,} windows keep their revisions). "
            "Start the roles again.",
            highlight=False,
            soft_wrap=True,
        )

    run_until_signal(main)


@app.command()
def tail(  # noqa: PLR0917 - typer maps each option to a parameter
    topic: Annotated[str, typer.Argument(help="Full topic name or registry name, e.g. tickets")],
    from_beginning: Annotated[bool, typer.Option(help="Start at the earliest record.")] = True,
    limit: Annotated[int, typer.Option(help="Stop after N records (0: no limit).", min=0)] = 0,
    follow: Annotated[bool, typer.Option(help="Keep reading new records until Ctrl-C.")] = False,
    full: Annotated[bool, typer.Option(help="Print each record's value.")] = False,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="One JSON object per record (`rules simulate` reads them)."),
    ] = False,
    windows: Annotated[
        int, typer.Option(help="Metric topics: show the last N windows (0: all).", min=0)
    ] = 40,
) -> None:
    """Print a topic's records up to its end (with --follow: and new ones as they come).

    Metric topics print as a table (with --json: as lines like any topic). A topic that
    does not exist is one line and exit 2."""
    from router.app.tail import UnknownTopic, tail_topic

    settings = settings_or_exit()

    async def main(stop: asyncio.Event) -> None:
        await check_kafka(settings)
        await tail_topic(
            settings,
            topic,
            stop,
            out,
            from_beginning=from_beginning,
            limit=limit,
            follow=follow,
            full=full,
            as_json=as_json,
            windows=windows,
        )

    try:
        run_until_signal(main)
    except UnknownTopic as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


@app.command()
def bench(
    events: Annotated[int, typer.Option(help="Inbound events to push through.", min=1)] = 5000,
    soak: Annotated[
        int,
        typer.Option(help="Also push N events and print each role's RSS at every 10 %.", min=0),
    ] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Pipeline, roles alone, ingress and latency next to the raw Kafka passthrough."""
    from router.app.bench import BenchInterrupted, run_bench

    settings = settings_or_exit()
    configure_logging(settings.log_format, "warning")

    async def main(stop: asyncio.Event) -> None:
        await run_bench(settings, events, stop, out, as_json=json_out, soak=soak)

    try:
        run_until_signal(main)
    except BenchInterrupted:
        err.print("bench interrupted", highlight=False)
        raise typer.Exit(130) from None


@app.command()
def forget(
    customer: Annotated[str, typer.Option(help="Email, phone (E.164) or customer id C-...")],
) -> None:
    """Erase a customer's identities and thread state; tombstone their ticket snapshots."""
    from router.app.forget import forget as erase

    settings = settings_or_exit()
    try:
        from router.app.forget import identity_of

        identity_of(customer)
    except ValueError as exc:
        err.print(f"error: --customer: {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None

    async def main(stop: asyncio.Event) -> None:
        del stop
        await preflight_kafka_redis(settings)
        done = await erase(settings, customer)
        if done.customer_id is None:
            out.print("no such customer: nothing stored, nothing to erase", highlight=False)
            return
        out.print(
            f"forgot {done.customer_id}: {len(done.tickets)} tickets erased in Redis, "
            f"{len(done.tickets)} tombstones written to {settings.topic_prefix}.ticket-state",
            highlight=False,
            soft_wrap=True,
        )
        freed = ", ".join(f"{t} ({a})" for t, a in sorted(done.released.items()))
        out.print(
            f"seats freed: {freed or 'none'}; {done.timers} timers dropped; "
            "tickets taken out of the waiting line and backlog",
            highlight=False,
            soft_wrap=True,
        )

    run_until_signal(main)


@app.command()
def asyncapi(
    out_file: Annotated[Path | None, typer.Option("--out", help="Write to a file.")] = None,
) -> None:
    """Print the AsyncAPI 3.0 document of every topic, generated from the code."""
    import orjson

    from router.app.asyncapi import build

    settings = settings_or_exit()
    if out_file:
        writable_or_exit(out_file)
    text = orjson.dumps(build(settings.topic_prefix), option=orjson.OPT_INDENT_2).decode()
    if out_file:
        out_file.write_text(text + "\n")
        err.print(f"wrote {out_file}")
    else:
        sys.stdout.write(text + "\n")


def period_or_exit(start: str, end: str) -> Period:
    """``--from``/``--to`` as a period, or one line naming the wrong option and exit 2."""
    from router.app.report import period_of

    try:
        return period_of(start, end)
    except ValueError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def reading_progress() -> Callable[[str, int], None]:
    """Progress of a tool reading topics: a line per topic, at most one a second."""
    shown: dict[str, float] = {}

    def progress(topic: str, records: int) -> None:
        now = time.monotonic()
        if now - shown.get(topic, -1.0) >= 1.0:
            shown[topic] = now
            err.print(f"reading {topic}: {records:,} records", highlight=False)

    return progress


@app.command()
def report(
    from_: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD) or ISO time.")],
    to: Annotated[str, typer.Option("--to", help="Last day, included (or an ISO time).")],
    out_file: Annotated[Path, typer.Option("--out", help="The HTML file.")] = Path("report.html"),
    recompute: Annotated[
        bool, typer.Option("--recompute", help="Recompute the windows from `tickets`.")
    ] = False,
) -> None:
    """Write one self-contained HTML report: summary, charts over time, definitions."""
    from router.app.report import write_report

    period = period_or_exit(from_, to)
    settings = settings_or_exit()
    writable_or_exit(out_file)

    async def main(stop: asyncio.Event) -> None:
        del stop
        await check_kafka(settings)

        progress = reading_progress()
        done = await write_report(
            settings, period, out_file, recompute=recompute, progress=progress
        )
        for topic, records in done.records_read.items():
            err.print(f"read {topic}: {records:,} records", highlight=False)
        err.print(
            f"wrote {done.path} ({done.size / 1024:,.0f} KiB, {done.windows:,} metric windows)",
            highlight=False,
            soft_wrap=True,
        )

    run_until_signal(main, interruptible=True)


metrics_app = typer.Typer(help="Check the metric topics.", no_args_is_help=True)
app.add_typer(metrics_app, name="metrics")


@metrics_app.command("verify")
def metrics_verify(
    from_: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD) or ISO time.")],
    to: Annotated[str, typer.Option("--to", help="Last day, included (or an ISO time).")],
    limit: Annotated[int, typer.Option(help="Print at most this many differences.")] = 200,
) -> None:
    """Recount every metric window from `tickets` and diff it against the compacted
    metric topics, key by key; exit 1 on any difference (backlog gauges excluded)."""
    from router.app.verify import verify

    period = period_or_exit(from_, to)
    settings = settings_or_exit()
    failed = False

    async def main(stop: asyncio.Event) -> None:
        nonlocal failed
        del stop
        await check_kafka(settings)
        progress = reading_progress()
        done = await verify(settings, period, progress)
        for topic, records in done.records_read.items():
            err.print(f"read {topic}: {records:,} records", highlight=False)
        for difference in done.differences[:limit]:
            out.print(str(difference), highlight=False, soft_wrap=True)
        if len(done.differences) > limit:
            out.print(f"... and {len(done.differences) - limit:,} more", highlight=False)
        out.print(
            f"{done.events:,} lifecycle events ({done.duplicates:,} re-published copies), "
            f"{done.windows_recounted:,} windows recounted, {done.windows_found:,} on the "
            f"metric topics: {len(done.differences):,} "
            f"difference{'' if len(done.differences) == 1 else 's'}",
            highlight=False,
            soft_wrap=True,
        )
        failed = not done.ok

    run_until_signal(main, interruptible=True)
    if failed:
        raise typer.Exit(1)


@app.command()
def simulate(  # noqa: PLR0917 - typer maps each option to a parameter
    roster: Annotated[Path, typer.Option("--roster", help="The roster file (YAML).")],
    events: Annotated[Path, typer.Option("--events", help="A day of inbound events (JSONL).")],
    rules_path: Annotated[
        Path | None, typer.Option("--rules", help="Rules (default: SWITCHBOARD_RULES_PATH).")
    ] = None,
    against: Annotated[
        Path | None, typer.Option("--against", help="A second roster, side by side.")
    ] = None,
    target: Annotated[
        str | None,
        typer.Option("--target", help="Size the groups to meet e.g. first_response=90%."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write an HTML page.")] = None,
) -> None:
    """Staffing what-if: replay a recorded day against a roster in virtual time.

    The router's own rules, SLA clocks and assignment choose, as they would live."""
    from router.app.simulate.command import Request, run
    from router.app.simulate.roster import RosterInvalid
    from router.app.simulate.target import parse_target
    from rules import RuleSetInvalid

    settings = settings_or_exit()
    if out_file is not None:
        writable_or_exit(out_file)
    # "error": an event line the router cannot take is reported by its line in the
    # events file (``simulate.command``), not by the router's log of an internal offset
    configure_logging(settings.log_format, "error")
    try:
        request = Request(
            roster,
            events,
            rules_path or settings.rules_path,
            against,
            parse_target(target) if target else None,
            as_json,
            out_file,
            settings.reopen_window_s,
        )
        asyncio.run(run(request, out, err))
    except RosterInvalid as exc:
        fail(ConfigError(exc.setting, f"{len(exc.errors)} roster errors"), exc.errors)
    except RuleSetInvalid as exc:
        fail(ConfigError("--rules", f"{len(exc.errors)} rule errors"), exc.errors)
    except ConfigError as exc:
        fail(exc)


export_app = typer.Typer(help="Export topics for replay.", no_args_is_help=True)
app.add_typer(export_app, name="export")


@export_app.command("inbound")
def export_inbound(
    from_: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD) or ISO time.")],
    to: Annotated[str, typer.Option("--to", help="Last day, included (or an ISO time).")],
    out_file: Annotated[Path, typer.Option("--out", help="The JSONL file.")],
    pseudonymize: Annotated[
        bool, typer.Option("--pseudonymize", help="Hash identities, keep thread structure.")
    ] = False,
    salt: Annotated[
        str | None, typer.Option("--salt", help="Hash key, to make exports agree.")
    ] = None,
) -> None:
    """Write the inbound events of a period as JSONL (the --events of `simulate`)."""
    from router.app.export import export_inbound as export

    period = period_or_exit(from_, to)
    settings = settings_or_exit()
    writable_or_exit(out_file)

    async def main(stop: asyncio.Event) -> None:
        del stop
        await check_kafka(settings)
        done = await export(
            settings,
            period,
            out_file,
            pseudonymize=pseudonymize,
            salt=salt,
            progress=reading_progress(),
        )
        skipped = (
            f" ({done.skipped:,} in the period left out: not valid interaction events, "
            "the router dead-lettered them)"
            if done.skipped
            else ""
        )
        err.print(
            f"read {done.read:,} inbound records, wrote {done.written:,} to {done.path}" + skipped,
            highlight=False,
            soft_wrap=True,
        )

    run_until_signal(main, interruptible=True)


def main() -> None:
    try:
        app()
    except ConfigError as exc:  # raised outside a command body: said as fail() says it
        try:
            fail(exc)
        except typer.Exit as done:
            sys.exit(done.exit_code)


__all__ = ["app", "main"]
