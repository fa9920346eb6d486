"""The cheaper paths of the ingress keep its answers: the produce deadline of every send
in flight, claim tokens, and the MIME shortcuts."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from channels import publish
from channels.addresses import parse_addresses
from channels.mail_text import decode_words
from channels.mime import parse_email
from channels.publish import Publisher
from router.errors import BackendUnavailable, OutcomeUnknown
from router.topics import Topic, TopicNames

pytestmark = pytest.mark.unit

DEADLINE_S = 0.05
GUARD_S = 10.0  # a send that never ends would otherwise hang the test


class Producer:
    """A producer that takes every record; each is confirmed only when the test says so
    (``confirm``), or never."""

    def __init__(self) -> None:
        self.records: list[asyncio.Future[Any]] = []
        self._taken = asyncio.Event()

    async def send(self, *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        del args, kwargs
        self.records.append(asyncio.get_running_loop().create_future())
        self._taken.set()
        return self.records[-1]

    async def confirm(self, index: int) -> None:
        """Confirm the ``index``-th record, once it was taken."""
        while len(self.records) <= index:
            self._taken.clear()
            await self._taken.wait()
        self.records[index].set_result(None)


class DeafProducer:
    """A producer that never takes the record (no broker for its metadata, say)."""

    async def send(self, *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        del args, kwargs
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def publisher(producer: Any, timeout_s: float = DEADLINE_S) -> Publisher:
    return Publisher(producer, None, TopicNames("t"), seen_ttl_s=60, timeout_s=timeout_s)  # type: ignore[arg-type]


async def send(pub: Publisher) -> None:
    await asyncio.wait_for(pub.send(Topic.INBOUND, "k", b"v"), GUARD_S)


async def test_a_record_never_confirmed_is_outcome_unknown() -> None:
    with pytest.raises(OutcomeUnknown):
        await send(publisher(Producer()))


async def test_a_record_never_taken_is_nothing_written() -> None:
    with pytest.raises(BackendUnavailable) as caught:
        await send(publisher(DeafProducer()))
    assert not isinstance(caught.value, OutcomeUnknown)


async def test_each_send_in_flight_has_its_own_deadline() -> None:
    """Sends started at different times share one timer: each fails at its own deadline
    unless confirmed before it, whichever others are still running."""
    producer = Producer()
    pub = publisher(producer, timeout_s=0.2)
    first = asyncio.create_task(send(pub))
    await asyncio.sleep(0.05)
    second = asyncio.create_task(send(pub))
    third = asyncio.create_task(send(pub))
    await producer.confirm(1)
    await second  # confirmed: no error
    with pytest.raises(OutcomeUnknown):
        await first
    assert not third.done()  # its deadline is later than the first's
    with pytest.raises(OutcomeUnknown):
        await third
    fourth = asyncio.create_task(send(pub))  # a new send after all the others: a timer again
    await producer.confirm(3)
    await fourth  # confirmed: no error
    with pytest.raises(OutcomeUnknown):
        await send(pub)


async def test_a_confirmed_send_is_never_cancelled_later() -> None:
    producer = Producer()
    pub = publisher(producer)
    task = asyncio.create_task(send(pub))
    await producer.confirm(0)
    await task
    await asyncio.sleep(DEADLINE_S * 3)  # past its deadline: nothing fires on the task
    assert asyncio.current_task() is not None
    assert not asyncio.current_task().cancelling()  # type: ignore[union-attr]


async def test_a_cancellation_from_outside_stays_a_cancellation() -> None:
    producer = Producer()
    pub = publisher(producer, timeout_s=5.0)
    task = asyncio.create_task(pub.send(Topic.INBOUND, "k", b"v"))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    again = asyncio.create_task(send(pub))
    await producer.confirm(1)
    await again  # confirmed: no error


def test_claim_tokens_are_all_different_and_pending() -> None:
    tokens = [publish._claim_token() for _ in range(1000)]  # noqa: SLF001
    assert len(set(tokens)) == len(tokens)
    assert all(t.startswith(publish.PENDING) for t in tokens)


@pytest.mark.parametrize(
    "value",
    [
        "a@example.com",
        "Anna <a@example.com>",
        "Anna <a@example.com>, b@example.com; c@example.com",
        '"Müller, Anna" <a@example.com>',
        "Müller, Anna <a@example.com>",
    ],
)
def test_addresses_without_a_separator_are_one_chunk(value: str) -> None:
    found = parse_addresses([value], decode_words, "to")
    expected = value.replace(";", ",").count("@")
    assert len(found.boxes) == expected


@pytest.mark.parametrize(
    ("headers", "name"),
    [
        ("Content-Type: application/pdf; NAME=Invoice.pdf", "Invoice.pdf"),
        ("Content-Type: application/pdf\nContent-Disposition: attachment; FILENAME=a.pdf", "a.pdf"),
        (
            "Content-Type: application/pdf\n"
            "Content-Disposition: attachment; filename*0*=utf-8''R%C3%A9; filename*1=sum.pdf",
            "Résum.pdf",
        ),
        ("Content-Type: application/pdf", None),
        ("Content-Type: text/plain\nContent-Disposition: inline", None),
    ],
)
def test_a_part_names_its_file_whatever_the_case_of_the_parameter(
    headers: str, name: str | None
) -> None:
    raw = (
        "From: a@example.com\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nhello\n"
        f"--b\n{headers}\n\nJVBERi0=\n--b--\n"
    ).encode()
    parsed = parse_email(raw)
    assert parsed.text.startswith("hello")
    if "text/plain" in headers:  # inline text: part of the body, no attachment
        assert parsed.attachments == []
    else:
        [attachment] = parsed.attachments
        assert attachment.name == name
