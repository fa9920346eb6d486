"""Parked notifications meet ``switchboard forget``, a provider's recovery and the end
of the retry time, against a real SMTP server: erasure wins over a parked auto-reply, a
recovered provider gets its backlog at once, and a dead letter says why."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from consumers.state.notifications import RetrySchedule
from router.app.forget import forget
from router.keys import Keys
from router.redis import RedisClient, make_redis, text
from router.settings import Settings
from router.topics import Topic
from tests.component.notifier.servers import smtp_server
from tests.component.notifier.test_outage import ROLES, notifier_settings, until
from tests.component.pipeline.conftest import Running, run_switchboard
from tests.conftest import read_topic

pytestmark = pytest.mark.component

ERASED = "forgetme@cust.example"
KEPT = "stays@cust.example"


def busy(address: str) -> str:
    """A temporary refusal naming the recipient, as real servers' often do."""
    return f"451 4.2.1 <{address}>: mailbox busy, try again later"


async def webform(sb: Running, email: str) -> None:
    resp = await sb.http.post(
        "/v1/channels/webform", json={"email": email, "subject": "Help", "message": "hello"}
    )
    assert resp.status_code == 202, resp.text


async def notifier_keys_text(redis: RedisClient, prefix: str) -> str:
    """Every key and value of the retry schedule and of the delivery ledger, as one text."""
    keys = Keys(prefix)
    parts: list[str] = []
    for pattern in (keys.notify_retries() + "*", keys.notification("*")):
        async for key in redis.scan_iter(match=pattern):
            kind = text(await redis.type(key))
            parts.append(text(key))
            if kind == "hash":
                for field, value in (await redis.hgetall(key)).items():
                    parts += [text(field), text(value)]
            elif kind == "zset":
                parts += [text(m) for m in await redis.zrange(key, 0, -1)]
            elif kind == "set":
                parts += [text(m) for m in await redis.smembers(key)]
            else:
                parts.append(text(await redis.get(key) or b""))
    return "\n".join(parts)


async def test_forget_removes_a_parked_auto_reply_and_it_is_never_sent(
    settings: Settings, tmp_path: Path
) -> None:
    with smtp_server() as (mailbox, smtp_url):
        configured = notifier_settings(settings, tmp_path, smtp_url)
        redis = make_redis(configured)
        schedule = RetrySchedule(redis, prefix=configured.topic_prefix)
        try:
            mailbox.down = busy(ERASED)
            async with run_switchboard(configured, ROLES) as sb:
                await webform(sb, ERASED)
                await until(lambda: mailbox.mails >= 2, 20, "the auto-reply was never tried")
                await webform(sb, KEPT)
                for _ in range(200):
                    if await schedule.waiting() == 2:
                        break
                    await asyncio.sleep(0.05)
                assert await schedule.waiting() == 2
                done = await forget(configured, ERASED)
                assert done.notifications == 1
                stored = await notifier_keys_text(redis, configured.topic_prefix)
                mailbox.down = None  # the server is back
                await until(lambda: len(mailbox.messages) >= 1, 10, "nothing sent after recovery")
                await asyncio.sleep(1.5)  # the erased customer's would arrive now
        finally:
            await redis.aclose()
    assert [str(m["To"]) for m in mailbox.messages] == [KEPT]
    assert ERASED not in stored
    assert KEPT in stored  # the other customer's parked auto-reply was there to be found


async def test_a_delivery_parked_for_a_ticket_erased_meanwhile_is_dropped_unsent(
    settings: Settings, tmp_path: Path
) -> None:
    """Belt and braces: a delivery parked by a record in flight while ``forget`` ran is
    not in what forget removed; the retry loop finds its ticket gone and drops it."""
    with smtp_server() as (mailbox, smtp_url):
        configured = notifier_settings(settings, tmp_path, smtp_url)
        redis = make_redis(configured)
        keys = Keys(configured.topic_prefix)
        schedule = RetrySchedule(redis, prefix=configured.topic_prefix)
        try:
            mailbox.down = "451 4.3.0 try again later"
            async with run_switchboard(configured, ROLES) as sb:
                await webform(sb, ERASED)
                await until(lambda: mailbox.mails >= 3, 20, "the auto-reply was not retried")
                owners = [k async for k in redis.scan_iter(match=keys.ticket_owner("*"))]
                assert len(owners) == 1
                await redis.delete(*owners)  # as forget does, after it looked for parked ones
                mailbox.down = None
                for _ in range(100):
                    if await schedule.waiting() == 0:
                        break
                    await asyncio.sleep(0.05)
                await asyncio.sleep(1.0)
                scraped = (await sb.http.get("/metrics")).text
                left = await notifier_keys_text(redis, configured.topic_prefix)
        finally:
            await redis.aclose()
    assert mailbox.messages == []
    assert nothing_of_theirs(left)
    assert 'switchboard_notifications_total{medium="email",outcome="erased"} 1.0' in scraped


def nothing_of_theirs(stored: str) -> bool:
    """Nothing of the message left in the retry schedule (its body and address)."""
    return ERASED not in stored and "hello" not in stored


@pytest.mark.slow
async def test_a_recovered_provider_gets_its_whole_backlog_at_once(
    settings: Settings, tmp_path: Path
) -> None:
    """The first parked email has backed off to a 16 s wait when the second is parked
    (2 s): once the second is sent, the first goes too, not 6 s later."""
    with smtp_server() as (mailbox, smtp_url):
        configured = notifier_settings(
            settings,
            tmp_path,
            smtp_url,
            notify_attempts=1,
            notify_backoff_s=1.0,
            notify_retry_max_backoff_s=60.0,
            notify_retry_for_s=120.0,
        )
        arrived: list[float] = []
        mailbox.down = "451 4.3.0 try again later"
        async with run_switchboard(configured, ROLES) as sb:
            await webform(sb, "first@cust.example")
            # in line, then retried after 2, 4 and 8 s: the next try is 16 s away
            await until(lambda: mailbox.mails >= 4, 30, "the first email was not retried")
            await webform(sb, "second@cust.example")
            await until(lambda: mailbox.mails >= 5, 10, "the second email was not tried")
            mailbox.down = None
            for _ in range(200):
                while len(arrived) < len(mailbox.messages):
                    arrived.append(time.monotonic())
                if len(arrived) >= 2:
                    break
                await asyncio.sleep(0.02)
    assert sorted(str(m["To"]) for m in mailbox.messages) == [
        "first@cust.example",
        "second@cust.example",
    ]
    assert arrived[1] - arrived[0] < 2.0


async def test_a_parked_email_out_of_retry_time_says_so_in_the_dead_letter_and_log(
    settings: Settings, tmp_path: Path
) -> None:
    with smtp_server() as (mailbox, smtp_url):
        configured = notifier_settings(settings, tmp_path, smtp_url, notify_retry_for_s=1.5)
        mailbox.down = busy("ada@example.com")
        with capture_logs() as logs:
            async with run_switchboard(configured, ROLES) as sb:
                await webform(sb, "ada@example.com")
                dead = await read_topic(configured, Topic.DEADLETTER, expect=1, timeout=20)
    assert mailbox.messages == []
    error = {k: v.decode() for k, v in dead[0].headers}["dlq.error"]
    assert re.search(r"email to ada@example\.com: gave up after \d s of retries: smtp: 451", error)
    [line] = [e for e in logs if e["event"] == "notification_deadlettered"]
    assert "gave up after" in line["answer"]
    assert "451 4.2.1 <<redacted-email>>: mailbox busy" in line["answer"]
    assert "ada@example.com" not in str(line)


async def test_a_permanent_refusal_during_retries_is_logged_with_the_redacted_answer(
    settings: Settings, tmp_path: Path
) -> None:
    with smtp_server() as (mailbox, smtp_url):
        configured = notifier_settings(settings, tmp_path, smtp_url)
        mailbox.down = "451 4.3.0 try again later"
        with capture_logs() as logs:
            async with run_switchboard(configured, ROLES) as sb:
                await webform(sb, "ada@example.com")
                await until(lambda: mailbox.mails >= 3, 20, "the email was not retried")
                mailbox.down = "550 5.1.1 <ada@example.com>: no such user"
                await read_topic(configured, Topic.DEADLETTER, expect=1, timeout=20)
    [line] = [e for e in logs if e["event"] == "notification_deadlettered"]
    assert line["answer"].endswith("550 5.1.1 <<redacted-email>>: no such user")
