"""Retries are safe by default: a web form or chat message without an idempotency key is
recognised by sender and content within the dedupe window, and an answer whose outcome is
unknown says so, distinctly from one where nothing was written."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import httpx
import pytest
from aiokafka.errors import KafkaTimeoutError

from channels.problems import Problem
from channels.publish import Publisher
from router.errors import BackendUnavailable, OutcomeUnknown
from router.events import Customer, Interaction
from router.redis import make_redis
from router.settings import Settings
from router.topics import Topic, TopicNames
from tests.component.channels.support import assert_problem
from tests.conftest import read_topic

pytestmark = pytest.mark.component

FORM = {"email": "ada@example.com", "subject": "Refund", "message": "my invoice is wrong"}


async def test_a_webform_resent_without_a_key_is_a_duplicate(
    ingress_client: httpx.AsyncClient, settings: Settings
) -> None:
    first = await ingress_client.post("/v1/channels/webform", json=FORM)
    again = await ingress_client.post("/v1/channels/webform", json=FORM)
    other = await ingress_client.post("/v1/channels/webform", json={**FORM, "message": "other"})
    assert first.status_code == again.status_code == other.status_code == 202
    assert again.json() == {"id": first.json()["id"], "duplicate": True}
    assert other.json()["id"] != first.json()["id"]
    assert len(await read_topic(settings, Topic.INBOUND, expect=2)) == 2


async def test_a_chat_message_resent_without_ids_is_a_duplicate(
    ingress_client: httpx.AsyncClient,
) -> None:
    body = {"conversation_id": "c-1", "visitor": {"id": "v-7"}, "text": "hello"}
    first = await ingress_client.post("/v1/channels/chat", json=body)
    again = await ingress_client.post("/v1/channels/chat", json=body)
    assert first.status_code == again.status_code == 202
    assert again.json() == {"id": first.json()["id"], "duplicate": True}


class StalledProducer:
    """A producer whose broker takes the record and never confirms it."""

    async def send(self, *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        del args, kwargs
        return asyncio.get_running_loop().create_future()


class DeafProducer:
    """A producer that never gets the record into its buffer (no metadata, say)."""

    async def send(self, *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        del args, kwargs
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")


@pytest.mark.parametrize(
    ("producer", "error"), [(StalledProducer(), OutcomeUnknown), (DeafProducer(), None)]
)
async def test_the_deadline_covers_the_whole_produce(
    settings: Settings, producer: Any, error: type[Exception] | None
) -> None:
    redis = make_redis(settings)
    publisher = Publisher(
        producer, redis, TopicNames(settings.topic_prefix), seen_ttl_s=60, timeout_s=0.3
    )
    data = Interaction(channel="webform", customer=Customer(email="ada@example.com"), text="hi")
    started = asyncio.get_running_loop().time()
    try:
        with pytest.raises(BackendUnavailable) as caught:
            await publisher.interaction("/test", "p-1", data)
    finally:
        await publisher.close()
        await redis.aclose()
    assert asyncio.get_running_loop().time() - started < 1.0
    if error is None:
        assert not isinstance(caught.value, OutcomeUnknown)
    else:
        assert isinstance(caught.value, error)


async def test_outcome_unknown_is_a_distinct_problem(settings: Settings) -> None:
    from router.app import web

    redis = make_redis(settings)
    async with web.ingress(settings) as ing:
        ing.context.publisher = stalled = Publisher(
            StalledProducer(),  # type: ignore[arg-type]
            redis,
            TopicNames(settings.topic_prefix),
            seen_ttl_s=60,
            timeout_s=0.2,
        )
        transport = httpx.ASGITransport(app=ing.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://i") as client:
            resp = await client.post(
                "/v1/channels/webform", json=FORM, headers={"idempotency-key": "k-1"}
            )
        await stalled.close()
    await redis.aclose()
    problem = assert_problem(resp, 503)
    assert problem["type"].endswith("/outcome-unknown")
    assert "Idempotency-Key" in problem["detail"]
    assert resp.headers["retry-after"]


async def test_a_write_that_fails_after_its_answer_logs_no_unretrieved_error(
    settings: Settings,
) -> None:
    """Answered outcome-unknown, the broker's late refusal is read, not left for asyncio
    to log as an error ("Future exception was never retrieved") when it is collected."""
    futures: list[asyncio.Future[Any]] = []

    class LateRefusal(StalledProducer):
        async def send(self, *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
            futures.append(await super().send(*args, **kwargs))
            return futures[-1]

    redis = make_redis(settings)
    publisher = Publisher(
        LateRefusal(),  # type: ignore[arg-type]
        redis,
        TopicNames(settings.topic_prefix),
        seen_ttl_s=60,
        timeout_s=0.1,
    )
    data = Interaction(channel="webform", customer=Customer(email="ada@example.com"), text="hi")
    unhandled: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    gc.collect()  # what earlier tests of this worker left behind is not this test's
    loop.set_exception_handler(lambda _, context: unhandled.append(context))
    try:
        with pytest.raises(OutcomeUnknown):
            await publisher.interaction("/test", "p-2", data)
        [future] = futures
        future.set_exception(KafkaTimeoutError())
        await asyncio.sleep(0)  # the done callbacks run
        del future, futures[:]
        gc.collect()
    finally:
        loop.set_exception_handler(None)
        await publisher.close()
        await redis.aclose()
    # only the refusal of this test's record: another test's leftover client may be
    # collected meanwhile, with an error of its own
    refusals = [c for c in unhandled if isinstance(c.get("exception"), KafkaTimeoutError)]
    assert refusals == [], unhandled


class SlowProducer:
    """A producer whose broker confirms every record after ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.sent = 0

    async def send(self, *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        del args, kwargs
        self.sent += 1
        loop = asyncio.get_running_loop()
        confirmed: asyncio.Future[Any] = loop.create_future()
        loop.call_later(self.delay, confirmed.set_result, None)
        return confirmed


@pytest.mark.parametrize(
    ("first", "second", "answer"),
    [("same", "same", "duplicate"), ("one", "another", 422)],
)
async def test_copies_on_two_replicas_are_one_write(
    settings: Settings, first: str, second: str, answer: str | int
) -> None:
    """Two ingress replicas (two publishers, one Redis) get the same id at the same
    instant: the one that claimed it writes; the other waits for it and answers it as a
    duplicate, or 422 when the same Idempotency-Key names another request. Before, both
    wrote and both answered new."""
    redis = make_redis(settings)
    names = TopicNames(settings.topic_prefix)
    one, two = SlowProducer(0.3), SlowProducer(0.3)
    replicas = [
        Publisher(p, redis, names, seen_ttl_s=60, timeout_s=2.0)  # type: ignore[arg-type]
        for p in (one, two)
    ]
    data = Interaction(channel="webform", customer=Customer(email="ada@example.com"), text="hi")
    try:
        a, b = await asyncio.gather(
            replicas[0].interaction("/test", "k-1", data, fingerprint=first),
            replicas[1].interaction("/test", "k-1", data, fingerprint=second),
            return_exceptions=True,
        )
    finally:
        await redis.aclose()
    assert one.sent + two.sent == 1  # one write
    [written] = [r for r in (a, b) if not isinstance(r, BaseException) and not r.duplicate]
    other = b if written is a else a
    if answer == "duplicate":
        assert not isinstance(other, BaseException)
        assert (other.id, other.duplicate) == (written.id, True)
    else:
        assert isinstance(other, Problem)
        assert other.status == 422


async def test_copies_of_a_keyless_webform_at_once_are_one_write(settings: Settings) -> None:
    """A form sent twice at the same instant without an Idempotency-Key: the copy reads
    the id the first just minted for that content, and must find its claim. Before, the
    first skipped the claim, so both wrote and both answered new."""
    redis = make_redis(settings)
    names = TopicNames(settings.topic_prefix)
    slow = SlowProducer(0.3)
    publisher = Publisher(slow, redis, names, seen_ttl_s=60, timeout_s=2.0)  # type: ignore[arg-type]
    data = Interaction(channel="webform", customer=Customer(email="conc@example.com"), text="same")
    try:
        answers = await asyncio.gather(
            *(publisher.interaction("/test", None, data) for _ in range(5))
        )
    finally:
        await redis.aclose()
    assert slow.sent == 1
    assert len({a.id for a in answers}) == 1
    assert sorted(a.duplicate for a in answers) == [False, True, True, True, True]


class LateProducer(SlowProducer):
    """A producer whose broker confirms (or refuses, ``fails``) every record only after
    the ingress's deadline: the answer is outcome-unknown, the record may still land."""

    def __init__(self, delay: float, *, fails: bool = False) -> None:
        super().__init__(delay)
        self.fails = fails

    async def send(self, *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        del args, kwargs
        self.sent += 1
        loop = asyncio.get_running_loop()
        settled: asyncio.Future[Any] = loop.create_future()
        if self.fails:
            loop.call_later(self.delay, settled.set_exception, KafkaTimeoutError())
        else:
            loop.call_later(self.delay, settled.set_result, None)
        return settled


@pytest.mark.parametrize("fails", [False, True])
async def test_copies_of_a_write_whose_outcome_is_unknown_write_nothing_more(
    settings: Settings, fails: bool
) -> None:
    """Copies on two replicas while the broker is slow to confirm: each copy is told the
    outcome is unknown (not "nothing was written": its twin's record may land), and none
    writes a second time while the first write is pending. Once the producer settled it,
    a retry writes again under the same id (consumers drop the copy). Before, the first
    copy let its claim go at once: the waiting copies wrote the record again, and a copy
    that waited past its deadline said nothing was written."""
    redis = make_redis(settings)
    names = TopicNames(settings.topic_prefix)
    one, two = LateProducer(0.6, fails=fails), LateProducer(0.6, fails=fails)
    replicas = [
        Publisher(p, redis, names, seen_ttl_s=60, timeout_s=0.2)  # type: ignore[arg-type]
        for p in (one, two)
    ]
    data = Interaction(channel="webform", customer=Customer(email="late@example.com"), text="hi")
    try:
        answers = await asyncio.gather(
            *(replicas[n % 2].interaction("/test", "k-late", data) for n in range(4)),
            return_exceptions=True,
        )
        assert one.sent + two.sent == 1  # one write
        assert all(isinstance(a, OutcomeUnknown) for a in answers), answers
        await asyncio.sleep(1.0)  # the producer learns the outcome
        two.delay, two.fails = 0.0, False  # the broker is back
        retry = await replicas[1].interaction("/test", "k-late", data)
    finally:
        for replica in replicas:
            await replica.close()
        await redis.aclose()
    assert retry.duplicate is False
    assert one.sent + two.sent == 2
