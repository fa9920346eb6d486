"""The notifier role in-process against a real SMTP server and a Twilio stand-in: an
auto-reply by email and by SMS, a notify target on every medium, a provider error retried
with backoff, and one that is dead-lettered with the provider's answer."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import orjson
import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from channels.signatures import twilio_signature
from router.kafka import make_producer
from router.settings import Settings
from router.topics import Topic, TopicNames
from tests.component.notifier.servers import smtp_server, twilio_server
from tests.component.notifier.support import rules_dir
from tests.component.pipeline.conftest import run_switchboard
from tests.conftest import read_topic

pytestmark = pytest.mark.component

TOKEN = "twilio-token"
PUBLIC = "https://support.test"
SID = "AC0123456789"
ROLES = frozenset({"ingress", "router", "notifier"})


async def test_auto_replies_and_notify_targets_are_delivered(
    settings: Settings, tmp_path: Path
) -> None:
    with (
        smtp_server() as (mailbox, smtp_url),
        twilio_server() as (twilio, twilio_url),
        capture_logs() as logs,
    ):
        twilio.answers["+15559990000"] = [(503, {"code": 20500, "message": "busy"})]
        twilio.answers["whatsapp:+15558880000"] = [
            (400, {"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400})
        ]
        configured = settings.model_copy(
            update={
                "rules_path": rules_dir(tmp_path),
                "smtp_url": SecretStr(smtp_url),
                "smtp_from": "Acme Support <support@acme.test>",
                "twilio_account_sid": SID,
                "twilio_auth_token": SecretStr(TOKEN),
                "twilio_from": "+15550000000",
                "twilio_api_url": twilio_url,
                "public_url": PUBLIC,
                "notify_backoff_s": 0.05,
            }
        )
        async with run_switchboard(configured, ROLES) as sb:
            resp = await sb.http.post(
                "/v1/channels/webform",
                json={"email": "ada@example.com", "subject": "Login", "message": "hello"},
            )
            assert resp.status_code == 202, resp.text
            form = {"MessageSid": "SM1", "From": "+15550001111", "To": "+15550000000"}
            form["Body"] = "hi there"
            signature = twilio_signature(TOKEN, PUBLIC + "/v1/channels/sms", form.items())
            resp = await sb.http.post(
                "/v1/channels/sms", data=form, headers={"X-Twilio-Signature": signature}
            )
            assert resp.status_code == 202, resp.text
            resp = await sb.http.post(
                "/v1/channels/webform",
                json={"email": "bob@example.com", "message": "total outage here"},
            )
            assert resp.status_code == 202, resp.text
            dead = await read_topic(configured, Topic.DEADLETTER, expect=1, timeout=20)
            for _ in range(200):
                if len(mailbox.messages) >= 3 and len(twilio.requests) >= 4:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)  # anything more would arrive now
            scraped = (await sb.http.get("/metrics")).text
    counted = 'switchboard_consumer_records_total{consumer="notifier",outcome="deadlettered"} 1.0'
    assert counted in scraped  # the refused WhatsApp message, where an alert can see it

    by_to = {str(m["To"]): m for m in mailbox.messages}
    assert sorted(by_to) == ["ada@example.com", "bob@example.com", "oncall@ops.example"]
    ada = by_to["ada@example.com"]
    assert ada["Auto-Submitted"] == "auto-replied"
    assert ada["Message-ID"].endswith("@acme.test>")
    assert ada["Subject"].startswith("Re: Login [")
    ticket = ada["X-Switchboard-Ticket"]
    assert ticket in ada.get_content()
    # on call follows a ticket through every role by its id: the send is an info line
    sent_lines = [e for e in logs if e["event"] == "notification_sent"]
    assert {"log_level": "info", "ticket_id": ticket, "medium": "email"}.items() <= next(
        e for e in sent_lines if e["ticket_id"] == ticket
    ).items()
    [dead_line] = [e for e in logs if e["event"] == "notification_deadlettered"]
    assert dead_line["log_level"] == "error"
    oncall = by_to["oncall@ops.example"]
    assert oncall["Auto-Submitted"] == "auto-generated"
    assert oncall["Subject"].startswith("[URGENT] general")

    sent = [(r["To"], r["From"]) for r in twilio.requests]
    assert sent.count(("+15550001111", "+15550000000")) == 1  # the SMS auto-reply
    assert sent.count(("+15559990000", "+15550000000")) == 2  # 503, then sent
    assert sent.count(("whatsapp:+15558880000", "whatsapp:+15550000000")) == 1  # 400: no retry
    assert all(r["path"] == f"/2010-04-01/Accounts/{SID}/Messages.json" for r in twilio.requests)
    assert all(r["auth"].startswith("Basic ") for r in twilio.requests)
    sms = next(r for r in twilio.requests if r["To"] == "+15550001111")
    assert "Acme Support" in sms["Body"]

    assert len(dead) == 1
    headers = {k: v.decode() for k, v in dead[0].headers}
    assert headers["dlq.consumer"] == "notifier"
    assert "21211" in headers["dlq.error"]
    assert "whatsapp to +15558880000" in headers["dlq.error"]
    # the log line carries the provider's answer as the README names it, redacted
    [line] = [e for e in logs if e["event"] == "notification_deadlettered"]
    assert "21211" in line["answer"]
    assert "+15558880000" not in str(line)


async def test_without_providers_notifications_are_printed(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The ``dev`` default: nothing is sent, every message is printed on standard output,
    and the log says so without the recipient or the text."""
    configured = settings.model_copy(update={"rules_path": rules_dir(tmp_path)})
    with capture_logs() as logs:
        async with run_switchboard(configured, ROLES, dev=True) as sb:
            resp = await sb.http.post(
                "/v1/channels/webform",
                json={"email": "ada@example.com", "message": "total outage"},
            )
            assert resp.status_code == 202, resp.text
            for _ in range(200):
                if sum(e["event"] == "notification_printed" for e in logs) >= 4:
                    break
                await asyncio.sleep(0.05)
    printed = [e for e in logs if e["event"] == "notification_printed"]
    assert sorted(e["medium"] for e in printed) == ["email", "email", "sms", "whatsapp"]
    assert all("to" not in e and "body" not in e for e in printed)
    shown = capsys.readouterr().out
    for header in (
        "--- email to ada@example.com",
        "--- email to oncall@ops.example",
        "--- sms to +15559990000",
        "--- whatsapp to +15558880000",
    ):
        assert header in shown
    assert any(e["event"] == "notifier_printing" for e in logs)


async def test_in_production_without_providers_nothing_is_printed(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``run --role notifier`` without SMTP or Twilio: a container's standard output is
    shipped like its log, so customers' addresses and words are not printed there; the
    log says each message was not sent, without recipient or text."""
    configured = settings.model_copy(update={"rules_path": rules_dir(tmp_path)})
    with capture_logs() as logs:
        async with run_switchboard(configured, ROLES) as sb:
            resp = await sb.http.post(
                "/v1/channels/webform",
                json={"email": "ada@example.com", "message": "total outage"},
            )
            assert resp.status_code == 202, resp.text
            for _ in range(200):
                if sum(e["event"] == "notification_not_sent" for e in logs) >= 4:
                    break
                await asyncio.sleep(0.05)
    unsent = [e for e in logs if e["event"] == "notification_not_sent"]
    assert sorted(e["medium"] for e in unsent) == ["email", "email", "sms", "whatsapp"]
    assert not any(e["event"] == "notification_sent" for e in logs)  # none was
    assert all("to" not in e and "body" not in e for e in unsent)
    shown = capsys.readouterr().out
    assert "ada@example.com" not in shown
    assert "---" not in shown


async def test_a_stale_notification_is_passed_over_and_the_role_goes_on(
    settings: Settings, tmp_path: Path
) -> None:
    """A ``.notification`` older than the age limit (a replayed or back-dated event) is
    logged and skipped; the next fresh one is still delivered."""
    configured = settings.model_copy(update={"rules_path": rules_dir(tmp_path)})
    with capture_logs() as logs:
        async with run_switchboard(configured, ROLES, dev=True) as sb:
            resp = await sb.http.post(
                "/v1/channels/webform", json={"email": "ada@example.com", "message": "hi"}
            )
            assert resp.status_code == 202, resp.text
            tickets = await read_topic(configured, Topic.TICKETS, expect=3)
            notice = next(r for r in tickets if b".notification" in r.value)
            event = orjson.loads(notice.value)
            event["id"] = "replayed-notification"
            event["time"] = "2024-01-01T00:00:00Z"
            producer = make_producer(configured)
            await producer.start()
            try:
                await producer.send_and_wait(
                    TopicNames(configured.topic_prefix)(Topic.TICKETS),
                    orjson.dumps(event),
                    key=notice.key,
                    headers=list(notice.headers),
                )
            finally:
                await producer.stop()
            resp = await sb.http.post(
                "/v1/channels/webform", json={"email": "bob@example.com", "message": "hello"}
            )
            assert resp.status_code == 202, resp.text
            for _ in range(200):
                if sum(e["event"] == "notification_printed" for e in logs) >= 2:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
    stale = [e for e in logs if e["event"] == "notification_stale"]
    assert [e["event_id"] for e in stale] == ["replayed-notification"]
    assert sum(e["event"] == "notification_printed" for e in logs) == 2  # ada's and bob's


async def test_provider_answers_are_logged_without_addresses_or_numbers(
    settings: Settings, tmp_path: Path
) -> None:
    """An SMTP server names the address it refuses and Twilio the number: the warning
    lines keep the code and the reason, not the recipient; the dead letter keeps it."""
    with smtp_server() as (mailbox, smtp_url), twilio_server() as (twilio, twilio_url):
        mailbox.refuse["bob@example.com"] = (
            "550 5.1.1 <bob@example.com>: Recipient address rejected"
        )
        refused = {"code": 21211, "message": "The 'To' number +15559990000 is not valid"}
        twilio.answers["+15559990000"] = [(400, refused)]
        configured = settings.model_copy(
            update={
                "rules_path": rules_dir(tmp_path),
                "smtp_url": SecretStr(smtp_url),
                "twilio_account_sid": SID,
                "twilio_auth_token": SecretStr(TOKEN),
                "twilio_from": "+15550000000",
                "twilio_api_url": twilio_url,
            }
        )
        with capture_logs() as logs:
            async with run_switchboard(configured, ROLES) as sb:
                resp = await sb.http.post(
                    "/v1/channels/webform",
                    json={"email": "bob@example.com", "message": "total outage here"},
                )
                assert resp.status_code == 202, resp.text
                dead = await read_topic(configured, Topic.DEADLETTER, expect=2, timeout=20)
    failed = [e for e in logs if e["event"] == "notification_send_failed"]
    answers = sorted(str(e["answer"]) for e in failed)
    assert answers == [
        "smtp: 550 5.1.1 <<redacted-email>>: Recipient address rejected",
        "twilio: 400 " + json.dumps(refused).replace("+15559990000", "<redacted-phone>"),
    ]
    logged = repr([e for e in logs if str(e["event"]).startswith("notification")])
    assert "bob@example.com" not in logged
    assert "15559990000" not in logged
    errors = sorted(dict(r.headers)["dlq.error"].decode() for r in dead)
    assert "bob@example.com" in errors[0]
    assert "+15559990000" in errors[1]
