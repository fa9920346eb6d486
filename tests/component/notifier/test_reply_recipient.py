"""Whom an auto-reply goes to, and from which number, when the notifier sends it later
than the router decided it (a restart, a backlog): the sender of the message it answers,
not the ticket's last sender, and through Twilio from the number they wrote to."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import SecretStr

from channels.signatures import twilio_signature
from router.settings import Settings
from router.topics import Topic
from tests.component.notifier.servers import smtp_server, twilio_server
from tests.component.notifier.support import rules_dir
from tests.component.pipeline.conftest import run_switchboard
from tests.conftest import read_topic

pytestmark = pytest.mark.component

JANE = (
    "From: Jane Doe <jane@example.com>\r\nTo: support@acme.test\r\n"
    "Cc: dave@partner.example\r\nSubject: Broken kettle\r\n"
    "Message-ID: <jane-1@example.com>\r\nDate: Thu, 03 Dec 2026 10:00:00 +0000\r\n\r\n"
    "My kettle broke.\r\n"
)
DAVE = (
    "From: Dave Partner <dave@partner.example>\r\nTo: support@acme.test\r\n"
    "Cc: jane@example.com\r\nSubject: Re: Broken kettle\r\n"
    "Message-ID: <dave-1@partner.example>\r\nIn-Reply-To: <jane-1@example.com>\r\n"
    "References: <jane-1@example.com>\r\nDate: Thu, 03 Dec 2026 10:01:00 +0000\r\n\r\n"
    "Same here.\r\n"
)


async def test_a_late_auto_reply_goes_to_whom_it_answers_from_the_number_they_wrote_to(
    settings: Settings, tmp_path: Path
) -> None:
    with smtp_server() as (mailbox, smtp_url), twilio_server() as (twilio, twilio_url):
        configured = settings.model_copy(
            update={
                "rules_path": rules_dir(tmp_path),
                "smtp_url": SecretStr(smtp_url),
                "smtp_from": "Acme Support <support@acme.test>",
                "twilio_account_sid": "AC0123456789",
                "twilio_auth_token": SecretStr("twilio-token"),
                "twilio_from": "+15550000000",
                "twilio_api_url": twilio_url,
                "public_url": "https://support.test",
            }
        )
        async with run_switchboard(configured, frozenset({"ingress", "router"})) as sb:
            for raw in (JANE, DAVE):  # Dave's reply-all joins Jane's ticket before any send
                resp = await sb.http.post(
                    "/v1/channels/email",
                    content=raw.encode(),
                    headers={"content-type": "message/rfc822"},
                )
                assert resp.status_code == 202, resp.text
            form = {"MessageSid": "SM1", "From": "+15550001111", "To": "+15550002222"}
            form["Body"] = "hi"
            url = "https://support.test/v1/channels/sms"
            signed = {"X-Twilio-Signature": twilio_signature("twilio-token", url, form.items())}
            resp = await sb.http.post("/v1/channels/sms", data=form, headers=signed)
            assert resp.status_code == 202, resp.text
            # Jane's ticket and its two messages, and the SMS ticket: routed, nothing sent
            await read_topic(configured, Topic.TICKETS, expect=7, timeout=20)
        async with run_switchboard(configured, frozenset({"notifier"})):
            for _ in range(200):
                if mailbox.messages and twilio.requests:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)  # anything more would arrive now
    assert [str(m["To"]) for m in mailbox.messages] == ["jane@example.com"]
    assert "Jane" in mailbox.messages[0].get_content()
    assert [(r["To"], r["From"]) for r in twilio.requests] == [("+15550001111", "+15550002222")]
