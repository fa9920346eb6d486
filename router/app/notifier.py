"""Assembles the notifier role: a transport per medium from the settings (the log where a
provider is not configured, as in ``dev``), templates and targets from the rules
repository, and the ledger in Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog

from consumers.notifier import RETRY_RUN_S, NotifierHandler
from consumers.notify.targets import NotifyTargets
from consumers.notify.templates import Templates
from consumers.notify.throttle import ReplyThrottle
from consumers.notify.transports import (
    ConsoleTransport,
    SmtpTransport,
    Transport,
    TwilioTransport,
    parse_smtp_url,
)
from consumers.outbox import Send
from consumers.state.notifications import CLAIM_S, NotificationLedger, RetrySchedule
from consumers.state.threads import RedisThreadStore
from router.observability import Telemetry
from router.redis import RedisClient
from router.settings import Settings
from rules.analysis import templates_dir

log = structlog.get_logger("switchboard.notifier")


def claim_s(settings: Settings) -> float:
    """How long a retry loop's claim on a parked delivery holds: past the longest send a
    run may start (``RETRY_RUN_S`` into it), every step of an SMTP send at its limit:
    connect, EHLO, STARTTLS, EHLO, AUTH, MAIL and RCPT, then DATA's two waits (the go
    ahead, the final reply). A claim that lapsed under a slow send let another notifier
    take the delivery, find it "sending" (a crash, to it) and send it again."""
    steps = 8 * settings.smtp_timeout_s + 2 * settings.smtp_data_timeout_s
    return max(CLAIM_S, RETRY_RUN_S + steps)


def transports(settings: Settings, *, show: bool = False) -> dict[str, Transport]:
    """``email``, ``sms`` and ``whatsapp``: the configured provider, else the console
    (printed only when ``show``: ``dev``)."""
    console = ConsoleTransport(settings.smtp_from, show=show)
    email: Transport = console
    if settings.smtp_url is not None:
        server = parse_smtp_url(settings.smtp_url.get_secret_value())
        email = SmtpTransport(
            server,
            settings.smtp_from,
            timeout_s=settings.smtp_timeout_s,
            data_timeout_s=settings.smtp_data_timeout_s,
        )
    sms: Transport = console
    sid, token, sender = (
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        settings.twilio_from,
    )
    if sid and token is not None and sender:
        sms = TwilioTransport(
            settings.twilio_api_url,
            sid,
            token.get_secret_value(),
            sender,
            timeout_s=settings.smtp_timeout_s,
        )
    printed = [m for m, t in (("email", email), ("sms", sms)) if t is console]
    if printed:
        log.warning(
            "notifier_printing",
            media=printed,
            repair=(
                "set SWITCHBOARD_SMTP_URL for email; SWITCHBOARD_TWILIO_ACCOUNT_SID, "
                "SWITCHBOARD_TWILIO_AUTH_TOKEN and SWITCHBOARD_TWILIO_FROM for SMS and WhatsApp"
            ),
        )
    return {"email": email, "sms": sms, "whatsapp": sms}


@asynccontextmanager
async def notifier_handler(
    settings: Settings,
    redis: RedisClient,
    send: Send,
    stop: asyncio.Event,
    telemetry: Telemetry | None = None,
    *,
    show: bool = False,
) -> AsyncIterator[NotifierHandler]:
    media = transports(settings, show=show)
    directory = settings.templates_path or templates_dir(settings.rules_path)
    handler = NotifierHandler(
        RedisThreadStore(redis, ttl_s=settings.redis.dedupe_ttl_s, prefix=settings.topic_prefix),
        NotificationLedger(redis, prefix=settings.topic_prefix, ttl_s=settings.redis.dedupe_ttl_s),
        media,
        send,
        templates=Templates(directory),
        targets=NotifyTargets(directory),
        attempts=settings.notify_attempts,
        backoff_s=settings.notify_backoff_s,
        retries=RetrySchedule(
            redis,
            prefix=settings.topic_prefix,
            claim_s=claim_s(settings),
        ),
        retry_for_s=settings.notify_retry_for_s,
        retry_max_backoff_s=settings.notify_retry_max_backoff_s,
        sender=settings.smtp_from,
        max_age_s=settings.notify_max_age_s,
        stop=stop,
        telemetry=telemetry,
        throttle=ReplyThrottle(
            redis,
            prefix=settings.topic_prefix,
            limit=settings.auto_reply_limit,
            window_s=settings.auto_reply_window_s,
        ),
    )
    retrying = asyncio.create_task(handler.retry_loop(), name="notifier-retries")
    try:
        yield handler
    finally:
        # stopping: the retry loop finishes the sends it began; failing: it is cancelled
        # (its claims lapse, and the ledger sends what was cut off once more, at most)
        if not stop.is_set():
            retrying.cancel()
        # a send in flight may be waiting for the server's answer to its message
        grace = settings.smtp_timeout_s + settings.smtp_data_timeout_s + 5
        _, pending = await asyncio.wait([retrying], timeout=grace)
        for task in pending:
            task.cancel()
            log.warning("notifier_retries_cancelled")
        for transport in {id(t): t for t in media.values()}.values():
            await transport.close()
