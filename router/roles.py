"""Composition root: assembles each role from settings. Only this and the CLI import
``channels``, ``rules`` and ``consumers``; nothing imports this module back."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from channels.app import create_app
from channels.deps import IngressContext
from channels.publish import Publisher
from consumers.metrics import MetricsHandler
from consumers.routing import RoutingHandler
from consumers.runner import BatchHandler, run_consumer
from consumers.timers import TimersHandler
from consumers.windows import CONTRIBUTORS
from router.agents import AgentStore
from router.errors import ConfigError
from router.health import ReadyCheck, ops_app
from router.kafka import make_admin, make_consumer, make_producer
from router.observability import Telemetry
from router.redis import make_redis
from router.settings import Settings
from router.state import RedisThreadStore
from router.topics import Topic, TopicNames
from rules import RuleSetHolder


@dataclass
class Ingress:
    app: FastAPI
    context: IngressContext
    extra_checks: dict[str, ReadyCheck] = field(default_factory=dict)


def kafka_ready(settings: Settings) -> ReadyCheck:
    async def check() -> None:
        admin = make_admin(settings)
        try:
            await admin.start()
            await admin.list_topics()
        finally:
            await admin.close()

    return check


@asynccontextmanager
async def ingress(settings: Settings, telemetry: Telemetry | None = None) -> AsyncIterator[Ingress]:
    """The HTTP ingress with its producer and Redis client, started and torn down together."""
    async with AsyncExitStack() as stack:
        producer = make_producer(settings)
        await producer.start()
        stack.push_async_callback(producer.stop)
        redis = make_redis(settings)
        stack.push_async_callback(redis.aclose)
        publisher = Publisher(
            producer,
            redis,
            TopicNames(settings.topic_prefix),
            seen_ttl_s=settings.redis.dedupe_ttl_s,
        )

        async def redis_ready() -> None:
            await redis.ping()

        ctx = IngressContext(
            settings=settings,
            publisher=publisher,
            telemetry=telemetry or Telemetry(),
            ready_checks={"kafka": kafka_ready(settings), "redis": redis_ready},
        )
        yield Ingress(create_app(ctx), ctx)


@asynccontextmanager
async def _producer(settings: Settings) -> AsyncIterator[AIOKafkaProducer]:
    producer = make_producer(settings)
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


async def _consume(
    settings: Settings,
    topics: tuple[Topic, ...],
    handler: BatchHandler,
    stop: asyncio.Event,
    *,
    telemetry: Telemetry,
) -> None:
    consumer = make_consumer(settings, handler.name, *topics)
    await consumer.start()
    try:
        await run_consumer(
            consumer,
            handler,
            stop,
            telemetry=telemetry,
            max_records=settings.kafka.max_poll_records,
        )
    finally:
        await consumer.stop()


async def watch_rules(holder: RuleSetHolder, stop: asyncio.Event) -> None:
    """Hot reload: on a saved file, and on SIGHUP where this is the main thread."""
    sighup = _reload_on_sighup(holder)
    try:
        await holder.watch(stop)
    finally:
        if sighup:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)


async def run_router(
    settings: Settings, stop: asyncio.Event, telemetry: Telemetry, holder: RuleSetHolder
) -> None:
    """The routing consumer: inbound messages and helpdesk actions -> ticket lifecycle and
    ticket-state."""
    redis = make_redis(settings)
    try:
        async with _producer(settings) as producer:
            handler = RoutingHandler(
                RedisThreadStore(
                    redis, ttl_s=settings.redis.dedupe_ttl_s, prefix=settings.topic_prefix
                ),
                producer,
                TopicNames(settings.topic_prefix),
                lambda: holder.current,
                agents=AgentStore(redis, prefix=settings.topic_prefix),
                reopen_window=timedelta(seconds=settings.reopen_window_s),
                telemetry=telemetry,
            )
            await _consume(
                settings, (Topic.INBOUND, Topic.ACTIONS), handler, stop, telemetry=telemetry
            )
    finally:
        await redis.aclose()


def _reload_on_sighup(holder: RuleSetHolder) -> bool:
    """``kill -HUP`` re-reads the rules; only possible from the main thread's loop."""
    if threading.current_thread() is not threading.main_thread():
        return False
    holder.install_sighup(asyncio.get_running_loop())
    return True


async def run_timers(
    settings: Settings, stop: asyncio.Event, telemetry: Telemetry, holder: RuleSetHolder
) -> None:
    """The SLA timer worker: ticket lifecycle -> warnings, breaches and escalations."""
    redis = make_redis(settings)
    try:
        async with _producer(settings) as producer:
            handler = TimersHandler(
                redis,
                RedisThreadStore(
                    redis, ttl_s=settings.redis.dedupe_ttl_s, prefix=settings.topic_prefix
                ),
                agents=AgentStore(redis, prefix=settings.topic_prefix),
                producer=producer,
                names=TopicNames(settings.topic_prefix),
                rules=lambda: holder.current,
                prefix=settings.topic_prefix,
            )
            await _consume(settings, (Topic.TICKETS,), handler, stop, telemetry=telemetry)
    finally:
        await redis.aclose()


async def run_metrics(settings: Settings, stop: asyncio.Event, telemetry: Telemetry) -> None:
    """The metric consumers: ticket lifecycle -> compacted metric topics."""
    redis = make_redis(settings)
    try:
        async with _producer(settings) as producer:
            handler = MetricsHandler(
                redis,
                producer,
                TopicNames(settings.topic_prefix),
                list(CONTRIBUTORS),
                window_s=settings.metrics_window_s,
                lateness_s=settings.metrics_lateness_s,
                ttl_s=settings.redis.dedupe_ttl_s,
                telemetry=telemetry,
                prefix=f"{settings.topic_prefix}:m",
            )
            await _consume(settings, (Topic.TICKETS,), handler, stop, telemetry=telemetry)
    finally:
        await redis.aclose()


ROLES = ("ingress", "router", "timers", "metrics")


async def run_roles(
    settings: Settings,
    roles: set[str],
    stop: asyncio.Event,
    *,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Run the given roles in this process until ``stop`` is set, sharing one HTTP port.

    A role that fails stops the others: a half-running process is worse than a restart.
    """
    telemetry = Telemetry()
    holder = RuleSetHolder(settings.rules_path) if roles & {"router", "timers"} else None
    sock = bind_http(settings)
    async with AsyncExitStack() as stack:
        stack.callback(sock.close)
        checks: dict[str, ReadyCheck] = {"kafka": kafka_ready(settings)}
        if "ingress" in roles:
            ing = await stack.enter_async_context(ingress(settings, telemetry))
            app = ing.app
            checks = ing.context.ready_checks
        else:
            redis = make_redis(settings)
            stack.push_async_callback(redis.aclose)

            async def redis_ready() -> None:
                await redis.ping()

            checks["redis"] = redis_ready
            app = ops_app(telemetry, lambda: checks)
        if holder is not None:
            rules_holder = holder

            async def rules_ready() -> None:
                if rules_holder.current is None:
                    raise RuntimeError("no rules loaded")

            checks["rules"] = rules_ready
        tasks = [asyncio.create_task(_serve(app, sock, stop, on_ready), name="http")]
        if holder is not None:
            tasks.append(asyncio.create_task(watch_rules(holder, stop), name="rules"))
        if holder is not None and "router" in roles:
            tasks.append(
                asyncio.create_task(run_router(settings, stop, telemetry, holder), name="router")
            )
        if holder is not None and "timers" in roles:
            timers = run_timers(settings, stop, telemetry, holder)
            tasks.append(asyncio.create_task(timers, name="timers"))
        if "metrics" in roles:
            tasks.append(
                asyncio.create_task(run_metrics(settings, stop, telemetry), name="metrics")
            )
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)


def bind_http(settings: Settings) -> socket.socket:
    """Take the HTTP port before anything else starts, so a taken port is one clear line."""
    host, port = settings.http_host, settings.http_port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto TCP, so that asyncio sets TCP_NODELAY on every accepted connection
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            "SWITCHBOARD_HTTP_PORT", f"cannot listen on {host}:{port} ({exc.strerror})"
        ) from None
    sock.listen(2048)
    return sock


async def _serve(
    app: FastAPI,
    sock: socket.socket,
    stop: asyncio.Event,
    on_ready: Callable[[str], None] | None,
) -> None:
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    # The CLI owns SIGINT/SIGTERM and sets ``stop``; uvicorn must not take them over.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
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
