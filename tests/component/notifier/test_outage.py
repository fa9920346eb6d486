"""A provider outage and what the notifier does about it, against a real SMTP server:
an email refused for now (451) is parked and sent once the server is back, while other
notifications go out meanwhile; one sent twice without an answer is dead-lettered as
maybe delivered, never sent a third time; a reply naming only our auto-reply's
Message-ID joins the ticket the auto-reply was sent on."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from channels.signatures import twilio_signature
from router.settings import Settings
from router.topics import Topic
from tests.component.notifier.servers import Gate, smtp_server, twilio_server
from tests.component.notifier.support import rules_dir
from tests.component.pipeline.conftest import Running, run_switchboard
from tests.conftest import read_topic

pytestmark = pytest.mark.component

TOKEN = "twilio-token"
PUBLIC = "https://support.test"
ROLES = frozenset({"ingress", "router", "notifier"})
RFC822 = {"content-type": "message/rfc822"}


def notifier_settings(settings: Settings, tmp_path: Path, smtp_url: str, **update: Any) -> Settings:
    return settings.model_copy(
        update={
            "rules_path": rules_dir(tmp_path),
            "smtp_url": SecretStr(smtp_url),
            "smtp_from": "Acme Support <support@acme.test>",
            "public_url": PUBLIC,
            "notify_attempts": 2,
            "notify_backoff_s": 0.05,
            "notify_retry_max_backoff_s": 0.5,
            "notify_retry_for_s": 60.0,
            **update,
        }
    )


async def until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def post_sms(sb: Running, sender: str, body: str) -> None:
    form = {"MessageSid": f"SM-{sender}", "From": sender, "To": "+15550000000", "Body": body}
    signature = twilio_signature(TOKEN, PUBLIC + "/v1/channels/sms", form.items())
    resp = await sb.http.post(
        "/v1/channels/sms", data=form, headers={"X-Twilio-Signature": signature}
    )
    assert resp.status_code == 202, resp.text


@pytest.mark.slow
async def test_an_smtp_outage_parks_the_email_and_sends_it_once_after_recovery(
    settings: Settings, tmp_path: Path
) -> None:
    with smtp_server() as (mailbox, smtp_url), twilio_server() as (twilio, twilio_url):
        configured = notifier_settings(
            settings,
            tmp_path,
            smtp_url,
            twilio_account_sid="AC0123456789",
            twilio_auth_token=SecretStr(TOKEN),
            twilio_from="+15550000000",
            twilio_api_url=twilio_url,
        )
        mailbox.down = "451 4.3.0 try again later"
        async with run_switchboard(configured, ROLES) as sb:
            resp = await sb.http.post(
                "/v1/channels/webform",
                json={"email": "ada@example.com", "subject": "Login", "message": "hello"},
            )
            assert resp.status_code == 202, resp.text
            await until(lambda: mailbox.mails >= 2, 20, "the email was never tried")
            await post_sms(sb, "+15550001111", "hi there")  # unrelated, after the email
            await until(lambda: len(twilio.requests) >= 1, 10, "the SMS waited on the email")
            # far longer than the in-line sends (2 x 0.05 s) and several parked retries
            await until(lambda: mailbox.mails >= 6, 20, "the parked email was not retried")
            assert mailbox.messages == []
            while_parked = (await sb.http.get("/metrics")).text
            mailbox.down = None  # the server is back
            await until(lambda: len(mailbox.messages) >= 1, 10, "never sent after recovery")
            await asyncio.sleep(1.5)  # a duplicate would arrive now
            scraped = (await sb.http.get("/metrics")).text
        dead = await read_topic(configured, Topic.DEADLETTER, expect=0, timeout=1)

    assert [str(m["To"]) for m in mailbox.messages] == ["ada@example.com"]
    assert dead == []
    assert 'switchboard_notifications_total{medium="email",outcome="parked"} 1.0' in scraped
    assert 'switchboard_notifications_total{medium="email",outcome="sent"} 1.0' in scraped
    assert 'switchboard_notifications_total{medium="sms",outcome="sent"} 1.0' in scraped
    assert 'switchboard_notifications_parked{medium="email"} 1.0' in while_parked
    assert 'switchboard_notifications_parked{medium="sms"} 0.0' in while_parked
    oldest = re.search(
        r'switchboard_notifications_oldest_parked_seconds\{medium="email"\} ([\d.]+)', while_parked
    )
    assert oldest
    assert 0 < float(oldest.group(1)) < 60
    assert 'switchboard_notifications_parked{medium="email"} 0.0' in scraped
    assert 'switchboard_notifications_oldest_parked_seconds{medium="email"} 0.0' in scraped


@pytest.mark.slow
async def test_twilios_retry_after_is_honoured(settings: Settings, tmp_path: Path) -> None:
    """429 with ``Retry-After: 6``: longer than a wait in line, so the SMS is parked, and
    asked again no sooner than Twilio said (the configured backoff is 0.05 s)."""
    with smtp_server() as (_, smtp_url), twilio_server() as (twilio, twilio_url):
        configured = notifier_settings(
            settings,
            tmp_path,
            smtp_url,
            twilio_account_sid="AC0123456789",
            twilio_auth_token=SecretStr(TOKEN),
            twilio_from="+15550000000",
            twilio_api_url=twilio_url,
        )
        twilio.answers["+15550001111"] = [(429, {"code": 20429, "message": "Too Many Requests"})]
        twilio.retry_after["+15550001111"] = "6"
        async with run_switchboard(configured, ROLES) as sb:
            await post_sms(sb, "+15550001111", "hi there")
            await until(lambda: len(twilio.requests) >= 2, 30, "the SMS was never retried")
            await asyncio.sleep(0.5)
    assert [r["To"] for r in twilio.requests] == ["+15550001111", "+15550001111"]
    assert twilio.times[1] - twilio.times[0] >= 6.0


async def test_a_permanent_refusal_of_a_parked_email_dead_letters_it(
    settings: Settings, tmp_path: Path
) -> None:
    with smtp_server() as (mailbox, smtp_url):
        configured = notifier_settings(settings, tmp_path, smtp_url)
        mailbox.down = "451 4.3.0 try again later"
        async with run_switchboard(configured, ROLES) as sb:
            resp = await sb.http.post(
                "/v1/channels/webform", json={"email": "ada@example.com", "message": "hello"}
            )
            assert resp.status_code == 202, resp.text
            await until(lambda: mailbox.mails >= 3, 20, "the email was not retried")
            mailbox.down = "550 5.1.1 no such user"
            dead = await read_topic(configured, Topic.DEADLETTER, expect=1, timeout=20)
            scraped = (await sb.http.get("/metrics")).text
    assert mailbox.messages == []
    headers = {k: v.decode() for k, v in dead[0].headers}
    assert "550 5.1.1 no such user" in headers["dlq.error"]
    assert 'switchboard_notifications_total{medium="email",outcome="failed"} 1.0' in scraped


@pytest.mark.slow
async def test_an_email_unanswered_twice_is_dead_lettered_as_maybe_delivered(
    settings: Settings, tmp_path: Path
) -> None:
    """The server keeps the message but never answers (twice): a third send could
    deliver it a third time, so it is not sent again, and the dead letter says why."""
    with smtp_server() as (mailbox, smtp_url):
        configured = notifier_settings(
            settings, tmp_path, smtp_url, smtp_timeout_s=0.5, smtp_data_timeout_s=0.5
        )
        mailbox.gates = [Gate("DATA", 1), Gate("DATA", 2)]
        try:
            async with run_switchboard(configured, ROLES) as sb:
                resp = await sb.http.post(
                    "/v1/channels/webform", json={"email": "ada@example.com", "message": "hi"}
                )
                assert resp.status_code == 202, resp.text
                dead = await read_topic(configured, Topic.DEADLETTER, expect=1, timeout=20)
                await asyncio.sleep(1.5)  # a third send would come now
                scraped = (await sb.http.get("/metrics")).text
        finally:
            for gate in mailbox.gates:
                gate.opened.set()
    assert len(mailbox.messages) == 2
    assert len({str(m["Message-ID"]) for m in mailbox.messages}) == 1
    headers = {k: v.decode() for k, v in dead[0].headers}
    assert "may have been delivered" in headers["dlq.error"]
    assert "email to ada@example.com" in headers["dlq.error"]
    assert 'switchboard_notifications_total{medium="email",outcome="uncertain"} 1.0' in scraped


def tickets_of(records: list[Any]) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in records]


async def test_a_reply_naming_only_the_auto_reply_joins_its_ticket(
    settings: Settings, tmp_path: Path
) -> None:
    """A web form has no Message-ID of the customer's: their answer to our auto-reply
    names only the auto-reply's. Written from another address (their phone's mail app,
    a colleague), it still joins the ticket instead of opening a new one."""
    with smtp_server() as (mailbox, smtp_url):
        configured = notifier_settings(settings, tmp_path, smtp_url)
        async with run_switchboard(configured, ROLES) as sb:
            resp = await sb.http.post(
                "/v1/channels/webform",
                json={"email": "ada@example.com", "subject": "Login", "message": "hello"},
            )
            assert resp.status_code == 202, resp.text
            await until(lambda: len(mailbox.messages) >= 1, 20, "no auto-reply")
            auto_reply = mailbox.messages[0]
            ticket_id = str(auto_reply["X-Switchboard-Ticket"])
            reply = (
                "From: Ada at home <ada@home.example>\r\n"
                "To: support@acme.test\r\n"
                "Subject: Re: Login\r\n"
                "Message-ID: <answer-1@home.example>\r\n"
                f"In-Reply-To: {auto_reply['Message-ID']}\r\n"
                "Date: Fri, 04 Dec 2026 10:15:00 +0000\r\n"
                "\r\n"
                "Still cannot log in.\r\n"
            ).encode()
            resp = await sb.http.post("/v1/channels/email", content=reply, headers=RFC822)
            assert resp.status_code == 202, resp.text
            joined: list[dict[str, Any]] = []
            for _ in range(100):
                events = tickets_of(await read_topic(configured, Topic.TICKETS, expect=1))
                joined = [
                    e
                    for e in events
                    if "answer-1@home.example" in e["data"]["ticket"].get("message_ids", [])
                ]
                if joined:
                    break
                await asyncio.sleep(0.1)
    assert joined, "the reply was never routed"
    assert {e["data"]["ticket"]["id"] for e in joined} == {ticket_id}
    created = [e for e in events if e["type"].endswith(".created")]
    assert len(created) == 1  # no second ticket
