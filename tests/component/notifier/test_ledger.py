"""The delivery ledger on valkey: each branch of ``notifications.lua``."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from consumers.state.notifications import NotificationLedger
from router.app.embedded import EmbeddedServices
from router.redis import make_client
from tests.conftest import make_settings

pytestmark = pytest.mark.component


@pytest.fixture
async def ledger(services: EmbeddedServices) -> AsyncIterator[NotificationLedger]:
    prefix = f"ledger-{uuid.uuid4().hex[:8]}"
    client = make_client(make_settings(services, prefix))
    try:
        yield NotificationLedger(client, prefix=prefix, ttl_s=600)
    finally:
        await client.aclose()


async def test_a_sent_delivery_is_never_sent_again(ledger: NotificationLedger) -> None:
    first = await ledger.begin("d1", max_attempts=3)
    assert (first.verdict, first.attempts, first.unknown) == ("send", 1, 0)
    await ledger.finish("d1", "sent", "250 OK")
    again = await ledger.begin("d1", max_attempts=3)
    assert (again.verdict, again.answer) == ("done", "250 OK")
    assert (await ledger.state("d1"))["state"] == "sent"


async def test_a_crash_inside_the_send_allows_one_more_send_never_two(
    ledger: NotificationLedger,
) -> None:
    await ledger.begin("d2", max_attempts=5)  # ... and the process dies
    resend = await ledger.begin("d2", max_attempts=5)
    assert (resend.verdict, resend.attempts, resend.unknown) == ("send", 2, 1)
    third = await ledger.begin("d2", max_attempts=5)  # died again inside the resend
    assert (third.verdict, third.unknown) == ("uncertain", 2)
    # never sent again, and uncertain until reported (dead letter), then settled
    assert (await ledger.begin("d2", max_attempts=5)).verdict == "uncertain"
    await ledger.finish("d2", "maybe_sent", third.answer)
    assert (await ledger.begin("d2", max_attempts=5)).verdict == "done"


async def test_a_parked_delivery_is_sent_only_by_the_retry_loop(
    ledger: NotificationLedger,
) -> None:
    await ledger.begin("d5", max_attempts=5)
    await ledger.finish("d5", "parked", "451 try later")
    again = await ledger.begin("d5", max_attempts=5)  # the redelivered batch passes it over
    assert (again.verdict, again.answer) == ("parked", "451 try later")
    retry = await ledger.begin("d5", max_attempts=5, retrying=True)
    assert (retry.verdict, retry.attempts) == ("send", 2)


async def test_an_unanswered_send_counts_like_a_crash(ledger: NotificationLedger) -> None:
    await ledger.begin("d3", max_attempts=5)
    await ledger.finish("d3", "retry", "smtp: timed out", unknown=True)
    second = await ledger.begin("d3", max_attempts=5)
    assert (second.verdict, second.unknown) == ("send", 1)
    await ledger.finish("d3", "retry", "smtp: timed out", unknown=True)
    assert (await ledger.begin("d3", max_attempts=5)).verdict == "uncertain"


async def test_refusals_use_up_the_attempts(ledger: NotificationLedger) -> None:
    for attempt in (1, 2):
        begun = await ledger.begin("d4", max_attempts=2)
        assert (begun.verdict, begun.attempts) == ("send", attempt)
        await ledger.finish("d4", "retry", f"451 try later ({attempt})")
    out = await ledger.begin("d4", max_attempts=2)
    assert (out.verdict, out.answer, out.unknown) == ("exhausted", "451 try later (2)", 0)
    await ledger.finish("d4", "failed", out.answer)
    assert (await ledger.begin("d4", max_attempts=2)).verdict == "done"


async def test_a_replayed_dead_letter_starts_a_failed_delivery_afresh_only(
    ledger: NotificationLedger,
) -> None:
    """``deadletter replay`` sends a dead letter back once its cause is fixed: a delivery
    that failed gets its attempts again; one that may have been delivered, or was sent,
    is not sent again."""
    for attempt in (1, 2):
        await ledger.begin("d6", max_attempts=2)
        await ledger.finish("d6", "retry", f"535 auth failed ({attempt})")
    await ledger.finish("d6", "failed", "535 auth failed")
    assert (await ledger.begin("d6", max_attempts=2)).verdict == "done"  # a redelivery
    replayed = await ledger.begin("d6", max_attempts=2, replay=True)
    assert (replayed.verdict, replayed.attempts, replayed.unknown) == ("send", 1, 0)
    await ledger.finish("d6", "sent", "250 OK")
    assert (await ledger.begin("d6", max_attempts=2, replay=True)).verdict == "done"

    await ledger.begin("d7", max_attempts=5)
    await ledger.begin("d7", max_attempts=5)
    await ledger.begin("d7", max_attempts=5)  # uncertain: it may have been delivered
    await ledger.finish("d7", "maybe_sent", "no answer")
    assert (await ledger.begin("d7", max_attempts=5, replay=True)).verdict == "done"


async def test_a_replay_keeps_the_sends_that_ended_without_an_answer(
    ledger: NotificationLedger,
) -> None:
    """One send that may have been delivered, then a refusal for good: the replay sends
    once more, and one more send without an answer makes it uncertain, never a third."""
    await ledger.begin("d8", max_attempts=2)
    await ledger.finish("d8", "retry", "smtp: timed out", unknown=True)
    await ledger.begin("d8", max_attempts=2)
    await ledger.finish("d8", "failed", "550 mailbox full")
    replayed = await ledger.begin("d8", max_attempts=2, replay=True)
    assert (replayed.verdict, replayed.attempts, replayed.unknown) == ("send", 1, 1)
    await ledger.finish("d8", "retry", "smtp: timed out", unknown=True)
    assert (await ledger.begin("d8", max_attempts=2)).verdict == "uncertain"
