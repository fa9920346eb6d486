"""An auto-reply to a sender who is not the ticket's customer (a reply that joined another
customer's thread: a colleague in copy, or anyone who names one of its Message-IDs) says
nothing of that customer's: it had greeted the sender by the customer's CRM name and
taken the ticket's subject when the sender's mail had none."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import orjson
import pytest

from router.app.embedded import EmbeddedServices
from tests.component.notifier.test_backlog import Notifier, notifier_on

pytestmark = pytest.mark.component

VICTORIA = {"email": "victoria@example.com", "name": "Victoria Crm", "tier": "gold"}
STRANGER = {"email": "mallory@example.net"}


@pytest.fixture
async def notifier(services: EmbeddedServices) -> AsyncIterator[Notifier]:
    async with notifier_on(services, "participant") as made:
        yield made


async def answer(notifier: Notifier, *, participant: bool) -> tuple[str, str]:
    """The subject and body of the auto-reply to the stranger's subjectless reply on
    Victoria's ticket "Password reset for acct 1234"."""
    reply_to = {"channel": "email", "customer": STRANGER, "inbox": "support@acme.example"}
    record = await notifier.record(
        VICTORIA["email"],
        reply_to={**reply_to, "participant": True} if participant else reply_to,
        thread={"message_id": "<m2@example.net>", "subject": None},
    )
    event = orjson.loads(record.value)
    event["data"]["ticket"]["subject"] = "Password reset for acct 1234"
    owner = event["data"]["ticket"]["customer_id"]
    await notifier.redis.set(notifier.keys.profile(owner), orjson.dumps(VICTORIA))
    record = dataclasses.replace(record, value=orjson.dumps(event))
    await notifier.handler.handle([record])
    [sent] = notifier.transport.sent[-1:]
    assert sent.delivery.to == STRANGER["email"]
    return sent.subject or "", sent.body


async def test_a_participant_gets_nothing_of_the_tickets_customer(notifier: Notifier) -> None:
    subject, body = await answer(notifier, participant=True)
    assert "Victoria" not in body
    assert body.startswith("Hello,")
    assert "Password reset" not in subject
    assert subject.startswith("Your request [T-")


async def test_the_customer_of_the_ticket_is_answered_with_what_is_known_of_them(
    notifier: Notifier,
) -> None:
    """The same auto-reply to the ticket's own customer: their CRM name, their subject."""
    subject, body = await answer(notifier, participant=False)
    assert body.startswith("Hello Victoria Crm,")
    assert subject.startswith("Re: Password reset for acct 1234 [T-")
