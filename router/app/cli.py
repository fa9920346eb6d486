"""The ``switchboard`` command. Composition root: it may import every package.

This module holds the commands that run the service (``dev``, ``run``, ``topics``,
``state``, ``bench``); the tools that read and repair what it wrote are in ``tools_cli``.
Startup problems are one line naming the setting (exit 2), never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

from router.app.signals import EarlySignals, StartupInterrupted


def _run_as_the_command() -> bool:
    """Whether this process is the ``switchboard`` command (its script, or ``python -m
    router.app``), not a program or a test importing the module."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name == "router.app.__main__":
        return True
    return Path(getattr(main, "__file__", None) or "").name == "switchboard"


# Taken before the imports below (some 0.4 s): a Ctrl-C or SIGTERM meanwhile is kept, and
# main() acts on it at once ("interrupted"), instead of a traceback out of an import.
_ENTRY = EarlySignals().__enter__() if _run_as_the_command() else None

import asyncio  # noqa: E402
import contextlib  # noqa: E402
import ipaddress  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
from collections.abc import Callable, Coroutine  # noqa: E402
from typing import TYPE_CHECKING, Annotated, Any  # noqa: E402

import structlog  # noqa: E402
import typer  # noqa: E402
from rich.markup import escape  # noqa: E402

from router.app.console import (  # noqa: E402
    app,
    err,
    fail,
    help_as_paragraphs,
    json_logs,
    load_rules_or_exit,
    out,
    preflight,
    preflight_kafka_redis,
    run_until_signal,
    settings_or_exit,
    state_app,
    topics_app,
    unless_stopped,
)
from router.app.output import CannotWrite, GuardedStdout, drop_stdout  # noqa: E402
from router.errors import ConfigError, Unrecoverable  # noqa: E402
from router.kafka_check import check_kafka  # noqa: E402
from router.logs import configure_logging  # noqa: E402
from router.redis import shown_url  # noqa: E402
from router.settings import (  # noqa: E402
    SECRET_SETTINGS,
    SecretChannel,
    Settings,
    unknown_settings,
)
from router.topic_admin import ensure_topics  # noqa: E402

if TYPE_CHECKING:
    from router.app.embedded import EmbeddedServices

DEV_GRACE_S = 5.0  # for the roles to let go once an embedded server is gone


def warn_unknown_settings() -> None:
    """One warning per ``SWITCHBOARD_*`` variable no setting reads (a typo such as
    ``SWITCHBOARD_KAFKA_REPLICATION`` leaves its setting at the default without a word),
    with the closest real name. Not refused: other tools may share the prefix."""
    for name, meant in unknown_settings(os.environ):
        structlog.get_logger("switchboard").warning(
            "unknown_setting", variable=name, did_you_mean=meant
        )


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _secret_names(channels: list[SecretChannel]) -> str:
    return " and ".join(dict.fromkeys(SECRET_SETTINGS[channel] for channel in channels))


def refuse_public_open_channels(settings: Settings) -> None:
    """A channel without its secret (chat, voice, email; Twilio's auth token, Meta's app
    secret) accepts anyone's messages as anyone: reachable from other hosts, that is
    refused unless SWITCHBOARD_OPEN_CHANNELS says it is meant."""
    channels = settings.unauthenticated_channels()
    if not channels or is_loopback(settings.http_host):
        return
    which = " and ".join(channels)
    fail(
        ConfigError(
            SECRET_SETTINGS[channels[0]],
            f"{which} would accept anyone on {settings.http_host}; set "
            f"{_secret_names(channels)}, or list {','.join(channels)} in "
            f"SWITCHBOARD_OPEN_CHANNELS to leave {'it' if len(channels) == 1 else 'them'} "
            "open on purpose",
        )
    )


SHORT_TOKEN = 32
"""Characters below which an API token is warned of: guessable online, given time."""


def warn_open_channels(settings: Settings) -> None:
    """One log line once the ingress serves, while chat or voice accept anyone; one more
    while any API token is short (how many, never which)."""
    log = structlog.get_logger("switchboard")
    channels = settings.unauthenticated_channels()
    if channels:
        log.warning(
            "unauthenticated_channels",
            channels=channels,
            repair=f"set {_secret_names(channels)}, or list them in SWITCHBOARD_OPEN_CHANNELS",
        )
    short = sum(len(token) < SHORT_TOKEN for token in settings.tokens())
    if short:
        log.warning(
            "api_tokens_short",
            tokens=short,
            repair=f"give SWITCHBOARD_API_TOKENS, SWITCHBOARD_API_READ_TOKENS and "
            f"SWITCHBOARD_API_ACTION_TOKENS tokens of {SHORT_TOKEN} random characters or more "
            "(openssl rand -hex 24)",
        )


@state_app.command("archive")
def state_archive() -> None:
    """Give every settled ticket in Redis its archive timer: its last change plus
    SWITCHBOARD_CLOSED_RETENTION_S (a resolved one's, not before its reopen window is
    over). Run it once after upgrading to a version that archives closed or resolved
    tickets, or after shortening the retention: the timers role sets the timer when it
    reads a ticket's close or resolution, and moves none it set before. Safe while the
    roles run, and to run again; the timers role then archives the tickets past the
    retention within seconds."""
    import time

    from rich.progress import Progress, SpinnerColumn, TextColumn

    from router.app.backfill import schedule_archives

    settings = settings_or_exit()
    if settings.closed_retention_s <= 0:
        out.print("SWITCHBOARD_CLOSED_RETENTION_S is 0: tickets are kept for good, nothing to do.")
        return

    async def main(stop: asyncio.Event) -> None:
        del stop
        await preflight(settings)
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=err) as bar:
            task = bar.add_task("reading the customers' tickets", total=None)

            def progress(customers: int, settled: int) -> None:
                bar.update(task, description=f"{customers:,} customers read, {settled:,} settled")

            done = await schedule_archives(settings, time.time(), progress)
        out.print(
            f"customers read: {done.customers:,}; settled tickets given their archive "
            f"timer: {done.settled:,}, of which past the retention "
            f"({settings.closed_retention_s:,} s): {done.due:,}, which the timers role "
            "archives now.",
            highlight=False,
            soft_wrap=True,
        )

    run_until_signal(main, tool=True)


@app.command()
def dev(
    rules: Annotated[Path | None, typer.Option(help="Rules file or directory.")] = None,
    port: Annotated[
        int | None, typer.Option(help="HTTP port (default: setting).", min=0, max=65535)
    ] = None,
) -> None:
    """Run every role in one process; embeds Kafka and Redis unless they are configured."""
    from router.app.embedded import EmbeddedServices
    from router.app.reload import hangup_stops, sighup_taken

    services = EmbeddedServices()
    entered = EarlySignals.current()  # the entry point's; a new one called otherwise
    hangup = hangup_stops()
    with contextlib.nullcontext(entered) if entered else EarlySignals() as signals:
        try:
            with signals.raising():
                settings = _dev_settings(services, rules, port)
            with sighup_taken() if hangup else contextlib.nullcontext():
                run_until_signal(
                    _dev_main(settings, services),
                    early=signals,
                    also_stop_on=(signal.SIGHUP,) if hangup else (),
                    options={"SWITCHBOARD_HTTP_PORT": "--port"} if port is not None else {},
                )
        except StartupInterrupted:
            pass  # Ctrl-C or SIGTERM before the roles ran: stopped like after it
        finally:
            signals.install()  # a second signal must not cut the servers' stop short
            services.stop()
        out.print("stopped")


def _dev_settings(services: EmbeddedServices, rules: Path | None, port: int | None) -> Settings:
    """The settings of ``dev``, with the embedded broker and valkey started for those
    not configured."""
    from router.app.embedded import on_embedded_broker

    base = settings_or_exit(warn_unknown=False)  # logged below, as the roles log
    configure_logging(base.log_format, base.log_level)
    warn_unknown_settings()
    overrides: dict[str, Any] = {}
    if rules is not None:
        overrides["rules_path"] = rules
    if port is not None:
        overrides["http_port"] = port
    named = "--rules" if rules is not None else "SWITCHBOARD_RULES_PATH"
    load_rules_or_exit(rules or base.rules_path, named)
    if not base.kafka.bootstrap_servers:
        services.start_kafka()
        overrides["kafka"] = on_embedded_broker(base.kafka, services.bootstrap_servers)
    if not base.redis.url:
        services.start_redis()
        overrides["redis"] = base.redis.model_copy(update={"url": services.redis_url})
    return base.model_copy(update=overrides)


def _dev_main(
    settings: Settings, services: EmbeddedServices
) -> Callable[[asyncio.Event], Coroutine[Any, Any, None]]:
    from router.app import roles

    def ready(url: str, stop: asyncio.Event) -> None:
        if stop.is_set():
            return  # stopping already: no banner inviting requests
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

    async def run_roles(stop: asyncio.Event) -> None:
        await preflight_kafka_redis(settings)
        if stop.is_set():
            return
        await ensure_topics(settings)
        if stop.is_set():
            return
        await roles.run_roles(
            settings,
            set(roles.ROLES),
            stop,
            on_ready=lambda url: ready(url, stop),
            print_notifications=True,
        )

    async def main(stop: asyncio.Event) -> None:
        if stop.is_set():
            return
        await _unless_embedded_exits(run_roles(stop), services, stop)

    return main


async def _unless_embedded_exits(
    work: Coroutine[Any, Any, None], services: EmbeddedServices, stop: asyncio.Event
) -> None:
    """Run ``work``; should an embedded server exit under it (killed, crashed), stop it
    (``stop``, then cancelled after DEV_GRACE_S) and raise Unrecoverable naming the
    server: the roles would only log failures against it for ever."""
    running = asyncio.create_task(work)
    watching = asyncio.create_task(services.watch())
    try:
        await asyncio.wait({running, watching}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:  # a second Ctrl-C: the roles stop at once too
        running.cancel()
        raise
    finally:
        watching.cancel()
    gone = services.exited()
    if gone is None:
        return await running
    stop.set()
    await asyncio.wait({running}, timeout=DEV_GRACE_S)
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)  # its failure follows from this
    raise Unrecoverable(str(gone), "what it held is gone; start switchboard dev again")


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
    # the process's roles on every line, those written outside a role's task too (a
    # role stopping, the topic watch, a failed start): the role tasks name their own
    structlog.contextvars.bind_contextvars(role="+".join(sorted(wanted)))
    settings = settings_or_exit(warn_unknown=False)  # logged below, with the role
    configure_logging(settings.log_format, settings.log_level)
    warn_unknown_settings()
    if "ingress" in wanted:
        refuse_public_open_channels(settings)
    if wanted & {"router", "timers"}:
        load_rules_or_exit(settings.rules_path)

    async def main(stop: asyncio.Event) -> None:
        if not await unless_stopped(preflight(settings), stop):
            return
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
        elif check.outcome == "refused" and not check.found_policy:  # not created
            warn(f"[bold red]error:[/] {'refused':8} {name}: the broker refused it ({reason})")
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
        if check.retention_ms is not None:
            warn(
                f"warning: topic {name} keeps records for retention.ms={check.retention_ms}, "
                f"not the {settings.kafka.retention_ms} configured "
                "(SWITCHBOARD_KAFKA_RETENTION_MS, applied when a topic is created); not "
                "changed: a shorter retention deletes records at once, change it with your "
                "Kafka tools if you accept it"
            )
        if check.min_insync is not None:
            warn(
                f"warning: topic {name} has min.insync.replicas={check.min_insync}: an "
                "acks=all write is then acknowledged with fewer than 2 replicas in sync, "
                "and a leader lost then loses an event answered 202; set it to 2 with "
                "your Kafka tools (topics ensure creates topics so)"
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
def state_rebuild(
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Rebuild even while a role's consumer group has live members (by default "
            "it refuses, naming the groups).",
        ),
    ] = False,
) -> None:
    """Restore Redis from Kafka after Redis lost its data (run with every role stopped)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from router.app import roles
    from router.app.rebuild import (
        RolesRunning,
        mark_rebuilt,
        rebuild,
        release_erased,
        roles_still_running,
    )

    settings = settings_or_exit()
    load_rules_or_exit(settings.rules_path)

    async def main(stop: asyncio.Event) -> None:
        del stop
        await preflight(settings)
        if not force and (live := await roles_still_running(settings)):
            raise RolesRunning(live)  # before the spinner: one line, nothing else
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=err) as bar:
            task = bar.add_task("reading", total=None)

            def progress(topic: str, records: int) -> None:
                bar.update(task, description=f"reading {topic}: {records:,} records")

            done = await rebuild(settings, progress, force=True, mark=False)  # checked
            records = done.lifecycle  # read once: rebuilding writes nothing to Kafka
            bar.update(task, description=f"replaying {len(records):,} lifecycle records")
            skipped = await roles.replay_tickets(settings, records)
            await release_erased(settings, done.gone)
            await mark_rebuilt(settings)  # last: a rebuild cut short leaves roles refusing
        unreadable = (
            f", {skipped:,} unreadable records skipped (see the dead-letter topic)"
            if skipped
            else ""
        )
        out.print(
            f"restored {done.tickets:,} tickets and {done.identities:,} identities "
            f"({done.erased:,} erased and {done.archived:,} archived tickets left out); "
            f"recomputed timers and metric windows from {len(records):,} lifecycle records "
            f"({done.metric_windows:,} windows keep their revisions{unreadable}). "
            "Start the roles again.",
            highlight=False,
            soft_wrap=True,
        )

    run_until_signal(main, tool=True)


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
    from router.app.bench import BenchInterrupted, RoleExited, run_bench

    settings = settings_or_exit()
    configure_logging(settings.log_format, "warning")

    async def main(stop: asyncio.Event) -> None:
        progress = err if json_out else out  # stdout holds the one JSON object
        await run_bench(settings, events, stop, out, as_json=json_out, soak=soak, progress=progress)

    try:
        run_until_signal(main)
    except BenchInterrupted:
        err.print("bench interrupted", highlight=False)
        raise typer.Exit(130) from None
    except RoleExited as exc:  # its own error line is above; everything else is stopped
        err.print(f"error: bench: {exc} (its error is above); no report", highlight=False)
        raise typer.Exit(1) from None


def _mount_tools() -> None:
    """The tools' commands register on the app, listed after the service's."""
    from router.app import tools_cli  # noqa: F401 - imported for its commands


_mount_tools()
help_as_paragraphs(app)  # every command is registered by now, the rules' and tools' too


def main() -> None:
    """The ``switchboard`` command. From its first line, the first SIGINT or SIGTERM stops
    it with one line (a traceback out of an import otherwise, or for SIGTERM no word at
    all): "interrupted", exit 130; ``dev``, a service stopped by Ctrl-C, says "stopped",
    exit 0, as when it runs. A write to ``--out`` or standard output that fails (a full
    disk) is one line too, exit 2."""
    sys.stdout = GuardedStdout(sys.stdout)
    with _ENTRY or EarlySignals() as signals:
        try:
            with signals.raising():
                _run_app()
        except StartupInterrupted:
            if _command() == "dev":
                out.print("stopped")
                sys.exit(0)
            err.print("interrupted", highlight=False)
            sys.exit(130)
        except CannotWrite as exc:
            if exc.what == "to standard output":
                drop_stdout()
            err.print(f"error: {exc}", highlight=False, soft_wrap=True, markup=False)
            sys.exit(2)
        except ConfigError as exc:  # raised outside a command body: said as fail() says it
            try:
                fail(exc)
            except typer.Exit as done:
                sys.exit(done.exit_code)


def _run_app() -> None:
    """The command line's command. Where the operator asked for JSON logs, a usage error
    (a mistyped option in a manifest: ``run --roles router``) is one ``startup_failed``
    record too, exit 2, not a box of text a log pipeline cannot read."""
    if not json_logs():
        app()
        return
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as exc:  # typer's own click: a usage error, a bad file
        shown = getattr(exc, "format_message", None)
        message = shown() if shown else str(exc)
        if not message:  # a group named alone: its help is what it answers
            sys.exit(getattr(exc, "exit_code", 2))
        try:
            fail(ConfigError("command line", message))
        except typer.Exit as done:
            sys.exit(done.exit_code)
    except typer.Abort:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


def _command() -> str | None:
    """The command named on the command line (before its options)."""
    return next((arg for arg in sys.argv[1:] if not arg.startswith("-")), None)


__all__ = ["app", "main"]
