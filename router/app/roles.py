"""Composition root: assembles each role from settings and runs the roles of one process
together (``switchboard run`` and ``dev``). The HTTP side is in ``web.py``."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import socket
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from channels.app import document_server_answers
from channels.problems import install_http_errors
from consumers.domain.windows import CONTRIBUTORS
from consumers.metrics import MetricsHandler
from consumers.outbox import Send
from consumers.routing import RoutingHandler
from consumers.runner import (
    TOPICS_GONE_HINT,
    BatchHandler,
    ConsumerState,
    InFlight,
    Record,
    run_consumer,
)
from consumers.state.agents import AgentStore
from consumers.state.epoch import StateEpoch
from consumers.state.threads import RedisThreadStore
from consumers.timers import TimersHandler
from router.app.notifier import notifier_handler
from router.app.reload import answer_sighup, watch_rules
from router.app.web import (
    PROBE_LIMITS,
    bind_http,
    bind_probes,
    ingress,
    kafka_ready,
    serve,
    topic_watch,
)
from router.errors import Unrecoverable
from router.health import NotReady, ReadyCheck, ops_app
from router.kafka import group_has_history, make_consumer, make_producer, publish, stop_producer
from router.observability import Telemetry
from router.redis import RedisClient, make_redis, serves_every_key
from router.settings import Settings
from router.topic_watch import TopicWatch
from router.topics import OutRecord, Topic, TopicNames
from rules import RuleSetHolder

log = structlog.get_logger("switchboard.roles")


@asynccontextmanager
async def _producer(settings: Settings) -> AsyncIterator[AIOKafkaProducer]:
    producer = make_producer(settings)
    await producer.start()
    try:
        yield producer
    finally:
        await stop_producer(producer)


@dataclass
class Shared:
    """What the consumer roles of one process share: metrics, the topic watch, the state
    marker, and each consumer's readiness."""

    telemetry: Telemetry
    watch: TopicWatch
    epoch: StateEpoch | None = None
    consumers: list[ConsumerState] = field(default_factory=list)


CONSUMED: dict[str, tuple[Topic, ...]] = {
    "router": (Topic.INBOUND, Topic.ACTIONS),
    "timers": (Topic.TICKETS,),
    "metrics": (Topic.TICKETS,),
    "notifier": (Topic.TICKETS,),
}


async def _consume(
    settings: Settings,
    handler: BatchHandler,
    stop: asyncio.Event,
    shared: Shared,
) -> None:
    topics = CONSUMED[handler.name]
    state = ConsumerState(handler.name)
    shared.consumers.append(state)
    epoch = shared.epoch

    async def guard() -> None:
        missing = shared.watch.missing(*topics)
        if missing:
            raise Unrecoverable(f"topics gone: {', '.join(missing)}", TOPICS_GONE_HINT)
        if epoch is not None:
            await epoch.check()

    await guard()
    in_flight = InFlight()
    consumer = make_consumer(settings, handler.name, *topics, listener=in_flight)
    await consumer.start()
    try:
        await run_consumer(
            consumer,
            handler,
            stop,
            telemetry=shared.telemetry,
            max_records=settings.kafka.max_poll_records,
            guard=guard,
            state=state,
            commit_timeout_s=settings.kafka.request_timeout_ms / 1000,
            in_flight=in_flight,
        )
    finally:
        await _stop_consumer(consumer)


LEAVE_GROUP_S = 5.0
"""How long a stopping role waits to leave its consumer group. With the broker away,
aiokafka would wait about 30 s for a coordinator, past an orchestrator's grace period
(Kubernetes kills at 30 s); the offsets are committed after every batch already, and
the group drops a member that left silently after its session timeout."""


async def _stop_consumer(consumer: AIOKafkaConsumer) -> None:
    """Leave the group, within ``LEAVE_GROUP_S``. A broker that went first (Ctrl-C
    reaches the embedded one too) makes aiokafka's fetcher end in a cancellation of its
    own: that is a clean stop."""
    try:
        await asyncio.wait_for(consumer.stop(), LEAVE_GROUP_S)
    except TimeoutError:
        log.warning("consumer_left_without_leave_group", waited_s=LEAVE_GROUP_S)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # we are being cancelled ourselves: let it through
    log.info("consumer_stopped")


async def establish_epoch(
    settings: Settings, redis: RedisClient, roles: set[str], *, accept_empty: bool
) -> StateEpoch:
    """Read (or on a first start write) the state marker; refuse lost state."""
    epoch = StateEpoch(redis, settings.topic_prefix)
    history = False
    for role in sorted(roles & set(CONSUMED)):
        history = history or await group_has_history(settings, role, *CONSUMED[role])
    await epoch.establish(has_history=history, accept_empty=accept_empty)
    if accept_empty:
        log.warning("state_marker_accepted", key=epoch.key)
    return epoch


async def run_router(
    settings: Settings, stop: asyncio.Event, shared: Shared, holder: RuleSetHolder
) -> None:
    """The routing consumer: inbound messages and helpdesk actions -> ticket lifecycle and
    ticket-state."""
    redis = make_redis(settings)
    try:
        async with _producer(settings) as producer:
            handler = RoutingHandler(
                RedisThreadStore(
                    redis,
                    ttl_s=settings.redis.dedupe_ttl_s,
                    prefix=settings.topic_prefix,
                    defers=False,  # it publishes at the end of its poll: see commit.lua
                ),
                sender(producer, settings, "router"),
                TopicNames(settings.topic_prefix),
                lambda: holder.current,
                agents=AgentStore(redis, prefix=settings.topic_prefix),
                reopen_window=timedelta(seconds=settings.reopen_window_s),
                telemetry=shared.telemetry,
                limits=settings.limits(),
            )
            await _consume(settings, handler, stop, shared)
    finally:
        await redis.aclose()


def sender(producer: AIOKafkaProducer, settings: Settings, consumer: str) -> Send:
    """How a consumer publishes: acked produce, refused records dead-lettered."""
    return functools.partial(
        publish,
        producer,
        TopicNames(settings.topic_prefix),
        consumer=consumer,
        limits=settings.limits(),
    )


def timers_handler(
    settings: Settings,
    redis: RedisClient,
    producer: AIOKafkaProducer,
    holder: RuleSetHolder,
    telemetry: Telemetry | None = None,
    *,
    send: Send | None = None,
) -> TimersHandler:
    """``send``: instead of the role's own (``sender``), as the replay of a rebuild does."""
    return TimersHandler(
        redis,
        RedisThreadStore(redis, ttl_s=settings.redis.dedupe_ttl_s, prefix=settings.topic_prefix),
        agents=AgentStore(redis, prefix=settings.topic_prefix),
        send=send or sender(producer, settings, "timers"),
        rules=lambda: holder.current,
        prefix=settings.topic_prefix,
        shards=settings.timers_shards,
        limits=settings.limits(),
        telemetry=telemetry,
        closed_retention_s=settings.closed_retention_s,
        reopen_window_s=settings.reopen_window_s,
    )


def metrics_handler(
    settings: Settings,
    redis: RedisClient,
    producer: AIOKafkaProducer,
    telemetry: Telemetry,
    *,
    send: Send | None = None,
) -> MetricsHandler:
    """``send``: instead of the role's own (``sender``), as the replay of a rebuild does."""
    return MetricsHandler(
        redis,
        send or sender(producer, settings, "metrics"),
        list(CONTRIBUTORS),
        window_s=settings.metrics_window_s,
        lateness_s=settings.metrics_lateness_s,
        ttl_s=settings.redis.dedupe_ttl_s,
        telemetry=telemetry,
        prefix=settings.topic_prefix,
        limits=settings.limits(),
    )


class SkipDeadletters:
    """The ``Send`` of a rebuild's replay: everything but dead letters goes through ``send``;
    a dead letter is dropped and its record counted. The live timers and metrics roles
    dead-letter an unreadable record when they read it (once each); a replay that did it
    again would add two more copies on every rebuild."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.skipped: set[tuple[bytes, ...]] = set()
        """Where each unreadable record is: its topic, partition and offset."""

    async def __call__(self, records: list[OutRecord]) -> None:
        kept = []
        for record in records:
            if record.topic is not Topic.DEADLETTER:
                kept.append(record)
                continue
            headers = dict(record.headers)
            self.skipped.add(
                tuple(headers.get(h, b"") for h in ("dlq.topic", "dlq.partition", "dlq.offset"))
            )
        await self._send(kept)


async def replay_tickets(settings: Settings, records: list[Record], *, chunk: int = 500) -> int:
    """Recompute the timers and metrics state from the whole ``tickets`` topic with those
    roles' own handlers (``switchboard state rebuild``). Their dedupe markers make the
    replay safe to repeat, and to overlap with what the roles read next. Returns how many
    unreadable records were skipped: not dead-lettered again (``SkipDeadletters``), said
    in one warning line that points to the dead-letter topic."""
    holder = RuleSetHolder(settings.rules_path, detects=False)  # timers: no detection
    redis = make_redis(settings)
    try:
        async with _producer(settings) as producer:
            timers = SkipDeadletters(sender(producer, settings, "timers"))
            metrics = SkipDeadletters(sender(producer, settings, "metrics"))
            handlers: list[BatchHandler] = [
                timers_handler(settings, redis, producer, holder, send=timers),
                metrics_handler(settings, redis, producer, Telemetry(), send=metrics),
            ]
            for handler in handlers:
                for start in range(0, len(records), chunk):
                    await handler.handle(records[start : start + chunk])
    finally:
        await redis.aclose()
    skipped = len(timers.skipped | metrics.skipped)
    if skipped:
        log.warning(
            "rebuild.unreadable_records_skipped",
            records=skipped,
            see=TopicNames(settings.topic_prefix)(Topic.DEADLETTER),
            note="not dead-lettered again: the timers and metrics roles do when they read them",
        )
    return skipped


async def run_timers(
    settings: Settings, stop: asyncio.Event, shared: Shared, holder: RuleSetHolder
) -> None:
    """The SLA timer worker: ticket lifecycle -> warnings, breaches and escalations."""
    redis = make_redis(settings)
    try:
        async with _producer(settings) as producer:
            handler = timers_handler(settings, redis, producer, holder, shared.telemetry)
            try:
                await _consume(settings, handler, stop, shared)
            finally:
                await handler.close()
    finally:
        await redis.aclose()


async def run_metrics(settings: Settings, stop: asyncio.Event, shared: Shared) -> None:
    """The metric consumers: ticket lifecycle -> compacted metric topics."""
    redis = make_redis(settings)
    try:
        async with _producer(settings) as producer:
            handler = metrics_handler(settings, redis, producer, shared.telemetry)
            try:
                await _consume(settings, handler, stop, shared)
            finally:
                await handler.close()
    finally:
        await redis.aclose()


async def run_notifier(
    settings: Settings, stop: asyncio.Event, shared: Shared, *, show: bool = False
) -> None:
    """The notifier: ``.notification`` events -> email (SMTP), SMS and WhatsApp (Twilio);
    without a provider, printed when ``show`` (``dev``), else not sent."""
    redis = make_redis(settings)
    try:
        async with (
            _producer(settings) as producer,
            notifier_handler(
                settings,
                redis,
                sender(producer, settings, "notifier"),
                stop,
                shared.telemetry,
                show=show,
            ) as handler,
        ):
            await _consume(settings, handler, stop, shared)
    finally:
        await redis.aclose()


ROLES = ("ingress", "router", "timers", "metrics", "notifier")


async def run_roles(
    settings: Settings,
    roles: set[str],
    stop: asyncio.Event,
    *,
    on_ready: Callable[[str], None] | None = None,
    accept_empty_state: bool = False,
    print_notifications: bool = False,
) -> None:
    """Run the given roles in this process until ``stop`` is set, sharing one HTTP port.
    ``print_notifications``: without a provider, the notifier prints messages (``dev``).

    A role that fails stops the others: a half-running process is worse than a restart.
    """
    telemetry = Telemetry()
    holder = (
        RuleSetHolder(settings.rules_path, detects="router" in roles)
        if roles & {"router", "timers"}
        else None
    )
    sock = bind_http(settings)
    async with AsyncExitStack() as stack:
        stack.callback(sock.close)
        probe_sock = bind_probes(settings)
        if probe_sock is not None:
            stack.callback(probe_sock.close)
        # an ingress alone may adopt a replaced broker; consumer roles must stop on it
        watch = await stack.enter_async_context(topic_watch(settings, adopt=roles == {"ingress"}))
        shared = Shared(telemetry, watch)
        checks: dict[str, ReadyCheck] = {"kafka": kafka_ready(watch)}
        if "ingress" in roles:
            ing = await stack.enter_async_context(ingress(settings, telemetry, watch))
            app = ing.app
            checks = ing.context.ready_checks
        else:
            app = ops_app(telemetry, lambda: checks)
            install_http_errors(app)  # here: router.health must not import channels
            document_server_answers(app)  # its 431, served by the same HTTP server
        redis = make_redis(settings)
        stack.push_async_callback(redis.aclose)

        async def redis_ready() -> None:
            await serves_every_key(redis)

        checks.setdefault("redis", redis_ready)
        if roles & set(CONSUMED):
            shared.epoch = await establish_epoch(
                settings, redis, roles, accept_empty=accept_empty_state
            )
            checks["consumers"] = functools.partial(consumers_ready, shared)
        if holder is not None:  # loaded at start, or the role did not start
            checks["rules"] = holder.ready_note  # still ready when a reload failed: said
        http_role = "ingress" if "ingress" in roles else ",".join(sorted(roles))
        tasks = [
            _named(
                serve(app, sock, stop, on_ready, settings, telemetry=shared.telemetry),
                "http",
                role=http_role,
            ),
            *_role_tasks(
                settings, roles, stop, shared, holder, print_notifications=print_notifications
            ),
        ]
        if probe_sock is not None:
            tasks.append(
                _serve_probes(probe_sock, stop, settings, telemetry, lambda: checks, role=http_role)
            )
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        except asyncio.CancelledError:  # a second signal: stop now, not after the drain
            for task in tasks:
                task.cancel()
            raise
        finally:
            stop.set()
            await _drain(tasks, drain_s(settings, roles))


DRAIN_S = 25.0
"""How long a stopping process waits for its roles to finish what they hold (a batch and
its commit, the HTTP answers in flight) before it cancels them: under the 30 s an
orchestrator gives, and far over what a stop takes (about 2 s under load). A consumer
that never joined its group (a broker whose group is stuck) would otherwise keep the
process alive until it is killed."""


def drain_s(settings: Settings, roles: frozenset[str] | set[str]) -> float:
    """``DRAIN_S``, or longer for the waits a role is allowed: the ingress's answers in
    flight (``SWITCHBOARD_HTTP_SHUTDOWN_TIMEOUT_S``), the notifier's send in flight (its
    SMTP steps and the wait for the answer to the message)."""
    wanted = [DRAIN_S]
    if "ingress" in roles:
        wanted.append(settings.http_shutdown_timeout_s + 5.0)
    if "notifier" in roles:
        wanted.append(settings.smtp_data_timeout_s + 2 * settings.smtp_timeout_s + 5.0)
    return max(wanted)


async def _drain(tasks: list[asyncio.Task[None]], within_s: float) -> None:
    """Wait for the roles to stop, then cancel those still running (logged): what they
    held is redelivered to the next process, as after a crash, and applied once."""
    _, late = await asyncio.wait(tasks, timeout=within_s)
    if late:
        names = sorted(t.get_name() for t in late)
        log.warning("role_stop_timed_out", tasks=names, waited_s=within_s)
        for task in late:
            task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def consumers_ready(shared: Shared) -> None:
    """Ready once every consumer of the process has joined its group, none stuck."""
    waiting = [c.name for c in shared.consumers if not c.joined]
    if waiting or not shared.consumers:
        raise NotReady(f"not joined yet: {', '.join(waiting) or 'starting'}")
    now = time.monotonic()
    stuck = [why for c in shared.consumers if (why := c.stuck(now))]
    if stuck:
        raise NotReady("; ".join(stuck))


def _serve_probes(
    sock: socket.socket,
    stop: asyncio.Event,
    settings: Settings,
    telemetry: Telemetry,
    checks: Callable[[], Mapping[str, ReadyCheck]],
    *,
    role: str,
) -> asyncio.Task[None]:
    """The probe port (``SWITCHBOARD_PROBE_PORT``): the probes and ``/metrics`` on
    connections of their own, answered while the traffic port is at its cap."""
    probes = ops_app(telemetry, checks)
    install_http_errors(probes)

    def listening(url: str) -> None:
        log.info("probes_listening", url=url, routes="/healthz /readyz /metrics")

    return _named(
        serve(probes, sock, stop, listening, settings, limits=PROBE_LIMITS),
        "probes",
        role=role,
    )


def _named(
    coro: Coroutine[Any, Any, None], name: str, *, role: str | None = None
) -> asyncio.Task[None]:
    """A role's task: every log line written in it, and in the tasks it starts (a
    consumer's, a library's), names the role (``role``), so the lines of a process
    running several roles (``dev``) can be told apart."""
    context = contextvars.copy_context()
    context.run(structlog.contextvars.bind_contextvars, role=role or name)
    return asyncio.create_task(coro, name=name, context=context)


def _role_tasks(
    settings: Settings,
    roles: set[str],
    stop: asyncio.Event,
    shared: Shared,
    holder: RuleSetHolder | None,
    *,
    print_notifications: bool = False,
) -> list[asyncio.Task[None]]:
    tasks = []
    if holder is None:
        tasks.append(asyncio.create_task(answer_sighup(stop, roles), name="sighup"))
    else:
        # its lines name the roles the rules serve, as every line of a role does
        watching = watch_rules(holder, stop, shared.telemetry)
        tasks.append(_named(watching, "rules", role=",".join(sorted(roles))))
        if "router" in roles:
            router = run_router(settings, stop, shared, holder)
            tasks.append(_named(router, "router"))
        if "timers" in roles:
            timers = run_timers(settings, stop, shared, holder)
            tasks.append(_named(timers, "timers"))
    if "metrics" in roles:
        metrics = run_metrics(settings, stop, shared)
        tasks.append(_named(metrics, "metrics"))
    if "notifier" in roles:
        notifier = run_notifier(settings, stop, shared, show=print_notifications)
        tasks.append(_named(notifier, "notifier"))
    return tasks
