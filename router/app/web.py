"""The HTTP side of a process: the ingress app with its producer and Redis client, the
topic watch behind its readiness, the listening socket and the uvicorn server."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import math
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

import uvicorn
from fastapi import FastAPI

from channels.app import create_app
from channels.deps import IngressContext
from channels.protocol import HttpLimits, problem_on_failure, problem_protocol
from channels.publish import Publisher
from channels.state_marker import StateMarker
from consumers.state.agents import AgentStore
from consumers.state.threads import RedisThreadStore
from router.app.read_api import include_read_api
from router.errors import BackendUnavailable, ConfigError
from router.health import NotReady, ReadyCheck
from router.kafka import make_producer, stop_producer
from router.observability import Telemetry
from router.redis import make_redis, serves_every_key
from router.settings import Settings
from router.topic_watch import TopicWatch
from router.topics import TopicNames
from router.tuning import tune_gc

SERVER_ROUTE = "server"
"""The ``route`` of the answers the HTTP server gives before any route is known."""


@dataclass
class Ingress:
    app: FastAPI
    context: IngressContext
    extra_checks: dict[str, ReadyCheck] = field(default_factory=dict)


def kafka_ready(watch: TopicWatch) -> ReadyCheck:
    """Ready while the last topic listing succeeded recently and found every topic."""

    def check() -> None:
        if watch.existing is None or watch.error is not None:
            raise NotReady(f"broker not answering ({watch.error or 'not checked yet'})")
        missing = watch.missing()
        if missing:
            raise NotReady(f"topics missing: {', '.join(missing)}")

    return check


@asynccontextmanager
async def topic_watch(settings: Settings, *, adopt: bool = False) -> AsyncIterator[TopicWatch]:
    """A TopicWatch refreshed in the background while the context is open; ``adopt``: the
    process runs no consumer role (see ``TopicWatch``)."""
    watch = TopicWatch(settings, adopt=adopt)
    await watch.refresh()
    stop = asyncio.Event()
    task = asyncio.create_task(watch.run(stop), name="topic-watch")
    try:
        yield watch
    finally:
        stop.set()
        # a refresh in flight against a hung broker would hold the stop for its timeout
        done, _ = await asyncio.wait({task}, timeout=WATCH_STOP_S)
        if not done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


WATCH_STOP_S = 1.0
"""How long a stopping process waits for the topic watch's refresh in flight."""


@asynccontextmanager
async def ingress(
    settings: Settings, telemetry: Telemetry | None = None, watch: TopicWatch | None = None
) -> AsyncIterator[Ingress]:
    """The HTTP ingress with its producer and Redis client, started and torn down together."""
    async with AsyncExitStack() as stack:
        if watch is None:  # an ingress of its own: no consumer shares the watch
            watch = await stack.enter_async_context(topic_watch(settings, adopt=True))
        producer = make_producer(settings)
        await producer.start()
        stack.push_async_callback(stop_producer, producer)  # bounded: a hung broker
        redis = make_redis(settings)
        stack.push_async_callback(redis.aclose)
        publisher = Publisher(
            producer,
            redis,
            TopicNames(settings.topic_prefix),
            seen_ttl_s=settings.redis.dedupe_ttl_s,
            timeout_s=settings.kafka.request_timeout_ms / 1000,
            limits=settings.limits(),
            content_window_s=settings.ingress_dedupe_window_s,
            topics=watch,
        )
        stack.push_async_callback(publisher.close)  # first out: before Redis and Kafka

        marker = StateMarker(redis, settings.topic_prefix)
        with contextlib.suppress(BackendUnavailable):  # Redis not there yet: seen later
            await marker.lost()

        async def redis_ready() -> None:
            await serves_every_key(redis)
            await marker.lost()  # the probes keep the marker seen

        threads = RedisThreadStore(
            redis, ttl_s=settings.redis.dedupe_ttl_s, prefix=settings.topic_prefix
        )
        ctx = IngressContext(
            settings=settings,
            publisher=publisher,
            telemetry=telemetry or Telemetry(),
            ticket_owners=threads.ticket_owners,
            ticket_reads=threads.tickets,
            ready_checks={"kafka": kafka_ready(watch), "redis": redis_ready},
            state_lost=marker.lost,
        )
        app = create_app(ctx)
        read_state = include_read_api(app, settings, redis)
        ctx.known_queues = read_state.queues
        ctx.rules_version = read_state.rules_version
        ctx.ready_checks["rules"] = read_state.ready_note  # a role holding rules says its own
        ctx.known_agents = AgentStore(redis, prefix=settings.topic_prefix).known
        yield Ingress(app, ctx)


HOST_ERRNOS = frozenset({errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT})


def bind_http(settings: Settings) -> socket.socket:
    """Take the HTTP port before anything else starts, so a taken port is one clear line."""
    return _bind(settings.http_host, settings.http_port, "SWITCHBOARD_HTTP_PORT")


def bind_probes(settings: Settings) -> socket.socket | None:
    """Take the probe port (``SWITCHBOARD_PROBE_PORT``), when one is set."""
    if settings.probe_port is None:
        return None
    return _bind(settings.http_host, settings.probe_port, "SWITCHBOARD_PROBE_PORT")


PROBE_LIMITS = HttpLimits(header_timeout_s=5.0, body_timeout_s=5.0, max_connections=64)
"""The probe port's: a kubelet, a load balancer and a scraper or two, each with a
connection at a time; a client that holds one open without asking is closed in 5 s."""


def _bind(host: str, port: int, port_setting: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto TCP, so that asyncio sets TCP_NODELAY on every accepted connection
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        # a name that does not resolve, or an address this machine does not have, is the
        # host's fault; a port in use or below 1024 without the right, the port's
        host_fault = isinstance(exc, socket.gaierror) or exc.errno in HOST_ERRNOS
        setting = "SWITCHBOARD_HTTP_HOST" if host_fault else port_setting
        raise ConfigError(setting, f"cannot listen on {host}:{port} ({exc.strerror})") from None
    sock.listen(2048)
    return sock


def http_limits(settings: Settings) -> HttpLimits:
    return HttpLimits(
        header_timeout_s=settings.http_header_timeout_s,
        body_timeout_s=settings.http_body_timeout_s,
        max_connections=settings.http_max_connections,
        keep_alive_s=settings.http_keep_alive_s,
    )


async def serve(
    app: Callable[..., Awaitable[None]],
    sock: socket.socket,
    stop: asyncio.Event,
    on_ready: Callable[[str], None] | None,
    settings: Settings | None = None,
    *,
    telemetry: Telemetry | None = None,
    limits: HttpLimits | None = None,
) -> None:
    """Serve ``app`` (the ingress, or the bench's baseline app) on ``sock`` until ``stop``.

    The HTTP parser is httptools when installed (``uvicorn[standard]``), else h11, both
    answering unparseable requests with problem+json and bounding slow or idle
    connections and their number by ``settings`` (``problem_protocol``). After ``stop``,
    requests in flight have ``SWITCHBOARD_HTTP_SHUTDOWN_TIMEOUT_S`` to finish; those
    still running are cancelled and answered ``503`` problem+json (``problem_on_failure``)
    rather than uvicorn's plain-text ``500``. The answers the server gives itself count
    in ``telemetry``'s ``switchboard_http_requests_total`` as route ``server``. No
    WebSocket: nothing here serves one. ``limits`` replaces the settings' (the probe
    port's own). The event loop is the caller's: ``server.serve`` runs in it, so
    uvicorn's ``loop`` setting would not apply here; uvloop is chosen where the
    process's loop is created.
    """
    if settings is None:  # the defaults
        grace = Settings.model_fields["http_shutdown_timeout_s"].default
    else:
        grace = settings.http_shutdown_timeout_s
    if limits is None:
        limits = HttpLimits() if settings is None else http_limits(settings)
    config = uvicorn.Config(
        problem_on_failure(app),
        http=problem_protocol(limits, _counted(telemetry) if telemetry else None),
        ws="none",
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=grace,
        timeout_keep_alive=math.ceil(limits.keep_alive_s),
    )
    server = uvicorn.Server(config)
    # The CLI owns SIGINT/SIGTERM and sets ``stop``; uvicorn must not take them over.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    # Everything built so far (modules, models, the app) lives as long as the process:
    # kept out of the collector's full passes, which otherwise stall every request in
    # flight for tens of milliseconds while they walk it; and the young generation is
    # collected every 20,000 allocations rather than 700 (a request makes hundreds of
    # short-lived objects, none in cycles), as the consumers do (``tune_gc``).
    tune_gc()
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if serving.done():
            await serving
        await asyncio.sleep(0.02)
    if on_ready:
        host, port = sock.getsockname()[:2]
        on_ready(f"http://{host}:{port}")
    await stop.wait()
    server.should_exit = True
    await serving


def _counted(telemetry: Telemetry) -> Callable[[int], None]:
    """Counts an answer the HTTP server gave itself (a request no app saw)."""

    def count(status: int) -> None:
        telemetry.http_requests.labels(SERVER_ROUTE, str(status)).inc()

    return count
