"""What every ``switchboard`` command shares: the Typer app, the consoles, and how a
command fails (one line naming the setting, exit 2), runs until a signal, and reports
progress. The commands themselves are in ``cli`` (running the service) and ``tools_cli``
(reading, checking and repairing what it wrote).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import inspect
import os
import signal
import sys
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import orjson
import structlog
import typer
from aiokafka.errors import KafkaConnectionError
from rich.console import Console
from rich.markup import escape

from router.app.signals import STOP_SIGNALS, EarlySignals, StartupInterrupted
from router.errors import BackendUnavailable, ConfigError, Unrecoverable
from router.events import iso, utcnow
from router.kafka_check import check_kafka
from router.logs import Sampled
from router.redis import UNAVAILABLE, check_redis
from router.settings import Settings, load_settings, unknown_settings
from router.topic_admin import missing_topics

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


def help_as_paragraphs(typer_app: typer.Typer) -> None:
    """Typer shows a docstring's line breaks as written, so one wrapped for the source
    came out ragged at any other width, and RST's double backquotes showed as they are.
    Each command's help (here and in the groups below) becomes one line per paragraph,
    for the terminal to wrap; a paragraph led by ``\\b`` is kept as written."""
    for info in typer_app.registered_commands:
        text = info.help if info.help is not None else inspect.getdoc(info.callback)
        if text:
            info.help = as_paragraphs(text)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            help_as_paragraphs(group.typer_instance)


def as_paragraphs(text: str) -> str:
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(
        paragraph
        if paragraph.startswith("\b")
        else " ".join(line.strip() for line in paragraph.splitlines()).replace("``", "")
        for paragraph in paragraphs
    )


def _mount_rules() -> None:
    from rules.cli import app as rules_app

    app.add_typer(
        rules_app,
        name="rules",
        help="Check, test, explain and simulate rules.",
        callback=_rules_settings,
    )


def _rules_settings(ctx: typer.Context) -> None:
    """The rule tools read few settings, but a bad value or a misspelt name is said as for
    every command (one line and exit 2; a warning with the closest name). Not for
    ``--help``, which works whatever the settings."""
    if ctx.resilient_parsing or "--help" in sys.argv[1:]:
        return
    settings_or_exit()


_mount_rules()


def fail(exc: ConfigError, errors: Sequence[object] = ()) -> None:
    """One line naming the setting (after the located ``errors`` behind it, one a line),
    exit 2. Where the operator asked for JSON logs (``SWITCHBOARD_LOG_FORMAT=json`` set,
    as the container image does), it is one JSON log record instead, the errors in its
    ``errors`` list: it may be all a crash-looping process writes, and must be shippable
    whole."""
    if not json_logs():
        for error in errors:
            err.print(str(error), highlight=False, soft_wrap=True, markup=False)
    listed = {"errors": [str(error) for error in errors]} if errors else {}
    text = f"{exc.setting}: {exc.message}"
    _stderr_line("error", text, "startup_failed", setting=exc.setting, error=exc.message, **listed)
    raise typer.Exit(2)


def json_logs() -> bool:
    """Whether the operator asked for JSON logs (``SWITCHBOARD_LOG_FORMAT=json``, as the
    container image sets it), read before the settings are: a failed start says so in
    the format asked for."""
    return os.environ.get("SWITCHBOARD_LOG_FORMAT", "").strip().lower() == "json"


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


def settings_or_exit(*, warn_unknown: bool = True, **overrides: Any) -> Settings:
    """The settings, or one line naming the one that is wrong (exit 2). ``warn_unknown``:
    a line per ``SWITCHBOARD_*`` variable no setting reads, with the closest real name
    (``topics ensure`` with ``SWITCHBOARD_KAFKA_PARTITION=12`` had made 6 partitions
    without a word); the roles log it instead, once their logging is set up."""
    try:
        settings = load_settings(**overrides)
    except ConfigError as exc:
        fail(exc)
        raise  # unreachable: fail() exits
    if warn_unknown:
        for name, meant in unknown_settings(os.environ):
            guess = f"; did you mean {meant}?" if meant else ""
            _stderr_line(
                "warning",
                f"{name} is no setting{guess}",
                "unknown_setting",
                variable=name,
                did_you_mean=meant,
            )
    return settings


def _stderr_line(level: str, text: str, event: str, **fields: Any) -> None:
    """A line to the operator on stderr: a JSON log record where they asked for JSON logs
    (with the role when one is bound), else ``level: text``."""
    if json_logs():
        record: dict[str, Any] = {
            "event": event,
            "level": level,
            "logger": "switchboard",
            "timestamp": iso(utcnow()),
            **structlog.contextvars.get_contextvars(),  # the role, once it is known
            **fields,
        }
        sys.stderr.write(orjson.dumps(record).decode() + "\n")
        return
    colour = "red" if level == "error" else "yellow"
    err.print(f"[bold {colour}]{level}:[/] {escape(text)}", highlight=False, soft_wrap=True)


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it is installed (it comes with ``uvicorn[standard]``): a faster event
    loop for every role; the standard one otherwise."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def counted(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 ticket``, ``2 tickets``: a count with its noun in the number it takes."""
    return f"{count:,} {noun if count == 1 else nouns or noun + 's'}"


log = structlog.get_logger("switchboard")
BACKEND_SETTINGS = {
    "kafka": "SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS",
    "redis": "SWITCHBOARD_REDIS_URL",
}
ABANDONED = "Future exception was never retrieved"
ABANDONED_ERRORS = (*UNAVAILABLE, KafkaConnectionError)
T = TypeVar("T")
ABANDONED_LINES = Sampled()


def quiet_abandoned(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The event loop's error handler: a Redis, Kafka or socket failure that nobody awaited
    any more (redis-py's per-node calls of a cluster pipeline that a deadline gave up on, a
    node failing meanwhile; aiokafka's requests in flight on a broker's connection, failed
    when it closes after their caller stopped waiting) is one warning line, not an error
    with a traceback: the call that gave up has already been answered 503 or retried, or
    the role is stopping. Anything else as asyncio says."""
    error = context.get("exception")
    if context.get("message") == ABANDONED and isinstance(error, ABANDONED_ERRORS):
        held_back = ABANDONED_LINES.take(type(error).__name__)
        if held_back is not None:  # one line every few seconds while a backend is down
            described = f"{type(error).__name__}: {error}"[:200]
            log.warning("backend_call_abandoned", error=described, held_back=held_back)
        return
    loop.default_exception_handler(context)


def run_interrupting(work: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a CPU-bound ``work`` whose awaits never wait (``simulate``, in virtual time):
    an event loop would see a signal only once the work is done. Here the first SIGINT or
    SIGTERM raises StartupInterrupted at whatever line the work is on, unwinding it through
    its ``finally`` (a file it was writing is removed): "interrupted", exit 130, as an
    ``interruptible`` command of ``run_until_signal``."""
    entered = EarlySignals.current()
    with contextlib.nullcontext(entered) if entered else EarlySignals() as signals:
        try:
            with signals.raising():
                asyncio.run(work())
        except StartupInterrupted:
            err.print("interrupted", highlight=False)
            raise typer.Exit(130) from None


def run_until_signal(
    main: Callable[[asyncio.Event], Coroutine[Any, Any, None]],
    *,
    interruptible: bool = False,
    early: EarlySignals | None = None,
    also_stop_on: Sequence[signal.Signals] = (),
    options: Mapping[str, str] | None = None,
    tool: bool = False,
) -> None:
    """Run ``main(stop)``; SIGINT/SIGTERM (and the signals ``also_stop_on``) set ``stop``
    for a graceful shutdown, and a second one stops at once. An ``interruptible`` command
    (one that reads and writes nothing a role depends on: a report, a check, an export)
    stops at the first: exit 130. A signal that ``early`` (by default the innermost
    EarlySignals entered) kept before the loop ran counts as the first. A ConfigError
    naming a setting that an option of the command set (``options``: setting to option)
    names the option. A ``tool`` (an ``interruptible`` command is one) that loses Kafka
    or Redis after its start-up check says so in one line, exit 1; a role raises on."""
    interrupted = False
    early = early if early is not None else EarlySignals.current()

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

        for sig in (*STOP_SIGNALS, *also_stop_on):
            loop.add_signal_handler(sig, on_signal)
        loop.set_exception_handler(quiet_abandoned)
        if early is not None and early.received is not None:
            on_signal()
        await main(stop)

    try:
        with (
            early.handed_over() if early is not None else contextlib.nullcontext(),
            asyncio.Runner(loop_factory=loop_factory()) as loop_runner,
        ):
            loop_runner.run(runner())
    except asyncio.CancelledError:
        if not interrupted:
            raise
        err.print("interrupted", highlight=False)
        raise typer.Exit(130) from None
    except ConfigError as exc:
        option = (options or {}).get(exc.setting)
        fail(ConfigError(option, exc.message) if option else exc)
    except BackendUnavailable as exc:
        if not (tool or interruptible):  # a role's: its own lines say what happened
            raise
        # a tool's read of a backend lost after the start-up check: a run part way
        setting = BACKEND_SETTINGS.get(exc.backend, "")
        err.print(
            f"error: {setting}: {exc} (lost after it answered at the start); run it again",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(1) from None
    except Unrecoverable as exc:
        # One line in the log stream (JSON in production) that names the repair.
        structlog.get_logger("switchboard").error(
            "role_stopped", reason=exc.message, repair=exc.hint
        )
        raise typer.Exit(1) from None


async def done_or_stopped(work: Coroutine[Any, Any, T], stop: asyncio.Event) -> asyncio.Task[T]:
    """``work`` as a task, returned once it is done or ``stop`` is set, whichever is first:
    the caller decides what a stop means for it."""
    task = asyncio.create_task(work)
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    return task


async def unless_stopped(work: Coroutine[Any, Any, None], stop: asyncio.Event) -> bool:
    """Await ``work`` unless ``stop`` is set first (a SIGTERM while a role still checks
    its backends): then it is cancelled, and False. A stop asked for is no start-up
    failure: a role checking a paused broker had waited out the check and reported one."""
    task = await done_or_stopped(work, stop)
    if task.done():
        task.result()  # its error, if any
        return True
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    return False


async def preflight(settings: Settings) -> None:
    """Fail fast on anything a role cannot run without, naming the setting."""
    await preflight_kafka_redis(settings)
    missing = await missing_topics(settings)
    if missing:
        raise ConfigError(
            "SWITCHBOARD_TOPIC_PREFIX",
            f"{len(missing)} topics missing (e.g. {missing[0]}); run `switchboard topics ensure`",
        )


def load_rules_or_exit(path: Path, setting: str = "SWITCHBOARD_RULES_PATH") -> None:
    """The rules at ``path`` load, or their errors and one line naming ``setting`` (the
    option, where the path came from one), exit 2."""
    from rules import RuleSetInvalid, load_ruleset

    try:
        load_ruleset(path)
    except RuleSetInvalid as exc:
        count = len(exc.errors)
        problem = f"{path}: {counted(count, 'rule error')}"
        fail(ConfigError(setting, problem), exc.errors)
    except OSError as exc:
        fail(ConfigError(setting, f"cannot read {path}: {exc.strerror}"))


async def preflight_kafka_redis(settings: Settings) -> None:
    await check_kafka(settings)
    await check_redis(settings)


def refuse(exc: Exception) -> NoReturn:
    """A wrong option or input, as one line ``error: ...``, and exit 2."""
    err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    raise typer.Exit(2) from None


def whole_windows(period: Period, window_s: int) -> Period:
    """``period`` widened to whole metric windows, saying so on stderr when it moved; one
    line and exit 2 when a window would end past any datetime."""
    try:
        whole = period.whole(window_s)
    except ValueError as exc:
        refuse(exc)
    if whole != period:
        err.print(
            f"note: metric windows are {window_s:,} s: reading whole windows, {whole.spelled()}",
            highlight=False,
            soft_wrap=True,
        )
    return whole


def period_or_exit(start: str, end: str) -> Period:
    """``--from``/``--to`` as a period, or one line naming the wrong option and exit 2."""
    from router.app.report import period_of

    try:
        return period_of(start, end)
    except ValueError as exc:
        refuse(exc)


def reading_progress() -> Callable[[str, int], None]:
    """Progress of a tool reading topics: a line per topic at most once a second, the
    first a second after the read began, so a topic read within it is said once, by the
    tool's own summary line."""
    shown: dict[str, float] = {}

    def progress(topic: str, records: int) -> None:
        now = time.monotonic()
        if now - shown.setdefault(topic, now) >= 1.0:
            shown[topic] = now
            err.print(f"reading {escape(topic)}: {records:,} records", highlight=False)

    return progress
