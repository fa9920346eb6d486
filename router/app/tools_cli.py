"""The ``switchboard`` tools that read, check and repair what the service wrote:
``tail``, ``forget``, ``asyncapi``, ``report``, ``metrics verify``, ``simulate`` and
``export``. Registered on the app of ``console`` when ``cli`` imports this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from router.app.console import (
    app,
    counted,
    err,
    fail,
    out,
    period_or_exit,
    preflight_kafka_redis,
    reading_progress,
    refuse,
    run_interrupting,
    run_until_signal,
    settings_or_exit,
    whole_windows,
    writable_or_exit,
)
from router.app.output import guarded, write_file
from router.errors import ConfigError
from router.kafka_check import check_kafka
from router.logs import configure_logging
from router.topics import Topic, TopicNames


@app.command()
def tail(  # noqa: PLR0917 - typer maps each option to a parameter
    topic: Annotated[str, typer.Argument(help="Full topic name or registry name, e.g. tickets")],
    from_beginning: Annotated[bool, typer.Option(help="Start at the earliest record.")] = True,
    limit: Annotated[int, typer.Option(help="Stop after N records (0: no limit).", min=0)] = 0,
    follow: Annotated[bool, typer.Option(help="Keep reading new records until Ctrl-C.")] = False,
    full: Annotated[bool, typer.Option(help="Print each record's headers and value.")] = False,
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

    shown: list[int] = []

    async def main(stop: asyncio.Event) -> None:
        await check_kafka(settings)
        shown.append(
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
        )

    try:
        run_until_signal(main)
    except UnknownTopic as exc:
        refuse(exc)
    if shown == [0] and not follow:  # said on stderr: a pipe reading stdout gets nothing
        why = "the topic is empty" if from_beginning else "--no-from-beginning needs --follow"
        err.print(f"no records on {escape(topic)} ({why})", highlight=False, soft_wrap=True)


@app.command()
def forget(
    customer: Annotated[
        str,
        typer.Option(
            help="Email, phone (E.164), an identity as the read API spells it "
            "(email:..., phone:..., chat:<handle>, crm:<id>) or a customer id "
            "(C- and 16 hex digits)"
        ),
    ],
) -> None:
    """Erase a customer's identities and thread state; tombstone their ticket snapshots.

    Exit codes: 0 erased, or no such customer (said on stdout: erasing twice is not an
    error); 1 Kafka or Redis failed midway (run it again: each step is idempotent); 2 a
    wrong --customer, a missing ticket-state topic or no Switchboard state in that Redis
    database (a wrong SWITCHBOARD_TOPIC_PREFIX or SWITCHBOARD_REDIS_URL: nothing erased).
    """
    from router.app.forget import forget as erase
    from router.app.forget import identity_of
    from router.errors import BackendUnavailable

    settings = settings_or_exit()
    try:
        identity_of(customer)
    except ValueError as exc:
        err.print(f"error: --customer: {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None

    async def main(stop: asyncio.Event) -> None:
        del stop
        await preflight_kafka_redis(settings)
        try:
            done = await erase(settings, customer)
        except BackendUnavailable as exc:
            err.print(f"error: {exc}; run forget again to finish", highlight=False, markup=False)
            raise typer.Exit(1) from None
        if done.customer_id is None:
            out.print("no such customer: nothing stored, nothing to erase", highlight=False)
            return
        tickets = len(done.tickets)
        out.print(
            f"forgot {done.customer_id}: {counted(tickets, 'ticket')} erased in Redis, "
            f"{counted(tickets, 'tombstone')} written to {settings.topic_prefix}.ticket-state; "
            "taken out of the tickets of others they wrote on",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
        freed = ", ".join(f"{t} ({a})" for t, a in sorted(done.released.items()))
        out.print(
            f"seats freed: {freed or 'none'}; {counted(done.timers, 'timer')} dropped; "
            f"{counted(done.notifications, 'parked notification')} dropped; "
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
        write_file(out_file, (text + "\n").encode())
        err.print(f"wrote {out_file}", markup=False)
    else:
        sys.stdout.write(text + "\n")


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
    period = whole_windows(period, settings.metrics_window_s)
    writable_or_exit(out_file)
    configure_logging(settings.log_format, "warning")  # on stderr: stdout is the result

    async def main(stop: asyncio.Event) -> None:
        del stop
        await check_kafka(settings)

        progress = reading_progress()
        done = await write_report(
            settings, period, out_file, recompute=recompute, progress=progress
        )
        for topic, records in done.records_read.items():
            err.print(f"read {topic}: {counted(records, 'record')}", highlight=False, markup=False)
        windows = counted(done.windows, "metric window")
        err.print(
            f"wrote {done.path} ({done.size / 1024:,.0f} KiB, {windows})",
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
    limit: Annotated[
        int, typer.Option(help="Print at most this many differences (0: none).", min=0)
    ] = 200,
) -> None:
    """Recount every metric window from `tickets` and diff it against the compacted
    metric topics, key by key; exit 1 on any difference (backlog gauges excluded)."""
    from router.app.verify import verify

    period = period_or_exit(from_, to)
    settings = settings_or_exit()
    period = whole_windows(period, settings.metrics_window_s)
    failed = False
    configure_logging(settings.log_format, "warning")  # on stderr: stdout is the result

    async def main(stop: asyncio.Event) -> None:
        nonlocal failed
        del stop
        await check_kafka(settings)
        progress = reading_progress()
        done = await verify(settings, period, progress)
        for topic, records in done.records_read.items():
            err.print(f"read {topic}: {counted(records, 'record')}", highlight=False, markup=False)
        for difference in done.differences[:limit]:
            out.print(str(difference), highlight=False, soft_wrap=True)
        if len(done.differences) > limit:
            out.print(f"... and {len(done.differences) - limit:,} more", highlight=False)
        if done.caveat:
            out.print(f"note: {done.caveat}", highlight=False, soft_wrap=True, markup=False)
        still = (
            f", {counted(done.windows_open, 'window')} still being counted not compared "
            "(run it again to compare them)"
            if done.windows_open
            else ""
        )
        out.print(
            f"{counted(done.events, 'lifecycle event')} "
            f"({counted(done.duplicates, 're-published copy', 're-published copies')}), "
            f"{counted(done.windows_recounted, 'window')} recounted, {done.windows_found:,} on "
            f"the metric topics: {counted(len(done.differences), 'difference')}{still}",
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
        # Ctrl-C or a full disk before the run is complete leaves no page, half or whole
        with guarded(out_file) if out_file else contextlib.nullcontext():
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
            # CPU-bound: Ctrl-C and SIGTERM interrupt it where it is
            run_interrupting(lambda: run(request, out, err))
    except RosterInvalid as exc:
        n = len(exc.errors)
        fail(ConfigError(exc.setting, f"{n} roster error{'' if n == 1 else 's'}"), exc.errors)
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

    if salt is not None and not pseudonymize:
        # a salt asks for pseudonyms: without --pseudonymize the file had held every
        # address and name in clear, without a word
        err.print("error: --salt goes with --pseudonymize", highlight=False)
        raise typer.Exit(2)
    period = period_or_exit(from_, to)
    settings = settings_or_exit()
    writable_or_exit(out_file)
    configure_logging(settings.log_format, "warning")  # on stderr: stdout is the result

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
        if done.copies:
            skipped += f" ({done.copies:,} copies of events already written left out)"
        err.print(
            f"read {counted(done.read, 'inbound record')}, wrote {done.written:,} to "
            f"{done.path}" + skipped,
            highlight=False,
            soft_wrap=True,
            markup=False,
        )

    run_until_signal(main, interruptible=True)


deadletter_app = typer.Typer(
    help="Send dead letters back once their cause is fixed.", no_args_is_help=True
)
app.add_typer(deadletter_app, name="deadletter")


@deadletter_app.command("replay")
def deadletter_replay(  # noqa: PLR0917 - typer maps each option to a parameter
    topic: Annotated[
        str | None,
        typer.Option(help="Only dead letters from this topic (e.g. inbound, or its full name)."),
    ] = None,
    consumer: Annotated[
        str | None,
        typer.Option(help="Only those this role set aside: router, timers, metrics, notifier."),
    ] = None,
    error: Annotated[
        str | None, typer.Option(help="Only those whose reason (dlq.error) contains this text.")
    ] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="Dead-lettered from this day or ISO time.")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="... up to this day, included.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be replayed; send nothing.")
    ] = False,
    again: Annotated[
        bool, typer.Option("--again", help="Also send those a previous replay sent.")
    ] = False,
) -> None:
    """Send dead letters back to the topic they came from, for the role that set them
    aside, once the cause is fixed. Each is replayed once (marked in Redis); the copy
    carries the original key, bytes and headers.

    Exit codes: 0 done; 1 the broker refused some copies or Kafka/Redis failed midway
    (run it again: what was marked sent is not sent again); 2 a wrong option or setting."""
    from router.app.replay import Choice, replay, summary
    from router.errors import BackendUnavailable

    if (from_ is None) != (to is None):
        err.print("error: --from and --to go together", highlight=False)
        raise typer.Exit(2)
    period = period_or_exit(from_, to) if from_ and to else None
    from router.app.roles import CONSUMED

    settings = settings_or_exit()
    names = TopicNames(settings.topic_prefix)
    source = names(Topic(topic)) if topic in {t.value for t in Topic} else topic
    if source is not None and names.parse(source) is None:
        known = ", ".join(t.value for t in Topic)
        err.print(f"error: --topic: no topic {topic!r}: one of {known}", highlight=False)
        raise typer.Exit(2)
    if consumer is not None and consumer not in CONSUMED:
        err.print(f"error: --consumer: one of {', '.join(CONSUMED)}", highlight=False)
        raise typer.Exit(2)
    choice = Choice(topic=source, consumer=consumer, error=error, period=period)
    failed = False

    async def main(stop: asyncio.Event) -> None:
        nonlocal failed
        del stop
        await preflight_kafka_redis(settings)

        def sending(sent: int, total: int) -> None:
            err.print(f"sent {sent:,} of {total:,}", highlight=False)

        try:
            done = await replay(
                settings,
                choice,
                dry_run=dry_run,
                again=again,
                progress=reading_progress(),
                sending=sending,
            )
        except BackendUnavailable as exc:
            err.print(
                f"error: {exc}; run it again: what was marked sent is not sent again (the "
                "copies of the chunk in flight may be, which their roles drop by event id)",
                highlight=False,
                markup=False,
            )
            raise typer.Exit(1) from None
        for line in summary(done, names(Topic.DEADLETTER), dry_run=dry_run):
            out.print(line, highlight=False, soft_wrap=True, markup=False)
        failed = done.refused > 0

    run_until_signal(main, interruptible=True)
    if failed:
        raise typer.Exit(1)
