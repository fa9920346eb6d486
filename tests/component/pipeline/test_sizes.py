"""Sizes designed end to end: what the ingress accepts fits in every record that follows,
an oversized record on a topic is dead-lettered (never retried forever), and routing goes
on for everyone else."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from pydantic import SecretStr

from router.codec import CONTENT_TYPE_HEADER, encode_event
from router.events import CloudEvent, Customer, Interaction
from router.ids import event_id
from router.kafka import send_and_wait_all
from router.limits import Limits
from router.settings import Settings
from router.topics import Topic, TopicNames
from router.vocabulary import EventType
from tests.component.channels.support import assert_problem, client_for
from tests.component.pipeline.conftest import Running
from tests.conftest import read_topic, values

pytestmark = pytest.mark.component


async def test_a_huge_webform_message_is_413_naming_the_limit(switchboard: Running) -> None:
    body = {"email": "ada@example.com", "message": "x" * 1_047_700}
    resp = await switchboard.http.post("/v1/channels/webform", json=body)
    problem = assert_problem(resp, 413, pointer="/message")
    assert problem["type"].endswith("/payload-too-large")  # one type for every 413
    assert "SWITCHBOARD_MAX_TEXT_BYTES" in problem["detail"]
    assert "65,536" in problem["detail"]
    inbound = await read_topic(switchboard.settings, Topic.INBOUND, expect=0, settle=0.3)
    assert inbound == []


async def test_a_huge_email_is_accepted_trimmed_and_routed(switchboard: Running) -> None:
    mail = EmailMessage()
    mail["From"] = "Ada <ada@example.com>"
    mail["To"] = "support@example.com"
    mail["Subject"] = "Long log"
    mail["Message-ID"] = "<huge-1@example.com>"
    mail.set_content("line of a very long log\n" * 90_000)  # 2.1 MB of text
    raw = mail.as_bytes()
    assert len(raw) > 2_000_000
    resp = await switchboard.http.post(
        "/v1/channels/email", content=raw, headers={"content-type": "message/rfc822"}
    )
    assert resp.status_code == 202, resp.text
    [record] = values(await read_topic(switchboard.settings, Topic.INBOUND, expect=1))
    assert record["data"]["truncated"] is True
    assert len(orjson.dumps(record["data"]["text"])) <= 64 * 1024 + 2
    created = [
        v
        for v in values(await read_topic(switchboard.settings, Topic.TICKETS, expect=2))
        if v["type"] == EventType.TICKET_CREATED
    ]
    assert len(created) == 1


async def test_an_oversized_action_is_413(settings: Settings) -> None:
    action = {
        "type": "customer.upserted",
        "data": {"email": "ada@example.com", "attributes": {"notes": "n" * 400_000}},
    }
    local = settings.model_copy(update={"api_tokens": SecretStr("t")})
    async with client_for(local) as client:
        resp = await client.post("/v1/actions", json=action, headers={"authorization": "Bearer t"})
    problem = assert_problem(resp, 413)
    assert "262,144" in problem["detail"]
    assert await read_topic(settings, Topic.ACTIONS, expect=0, settle=0.3) == []


def _inbound(i: int, text: str) -> tuple[bytes, bytes]:
    data = Interaction(channel="chat", customer=Customer(email=f"c{i}@example.com"), text=text)
    event = CloudEvent(
        id=event_id("/sizes", str(i)),
        source="/sizes",
        type=EventType.INTERACTION_RECEIVED,
        data=data.model_dump(mode="json", exclude_none=True),
    )
    return data.sender_key().encode(), encode_event(event)


async def test_a_record_over_the_limit_is_deadlettered_and_routing_goes_on(
    switchboard: Running,
) -> None:
    """The 1 MiB wedge: a record written to inbound by anyone speaking Kafka, larger than
    any record the router could publish, must not stop the line."""
    settings = switchboard.settings
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers, max_request_size=4 << 20
    )
    await producer.start()
    inbound = TopicNames(settings.topic_prefix)(Topic.INBOUND)
    big_key, big = _inbound(0, "y" * 1_100_000)
    try:
        await producer.send_and_wait(inbound, big, key=big_key, headers=[CONTENT_TYPE_HEADER])
        for i in range(1, 21):
            key, value = _inbound(i, f"hello {i}")
            await producer.send_and_wait(inbound, value, key=key, headers=[CONTENT_TYPE_HEADER])
    finally:
        await producer.stop()
    tickets = values(await read_topic(settings, Topic.TICKETS, expect=40, timeout=20))
    created = {v["data"]["ticket"]["customer_id"] for v in tickets if v["type"].endswith("created")}
    assert len(created) == 20
    [dead] = await read_topic(settings, Topic.DEADLETTER, expect=1)
    headers = {k: v.decode() for k, v in dead.headers}
    assert headers["dlq.consumer"] == "router"
    assert "1,048,576" in headers["dlq.error"] or "262,144" in headers["dlq.error"]
    assert headers["dlq.truncated"] == "true"
    assert headers["dlq.original_bytes"] == str(len(big))
    assert headers["dlq.original_digest"] == "sha256:" + hashlib.sha256(big).hexdigest()
    assert headers["content-type"] == "application/octet-stream"  # half a JSON document
    assert headers["dlq.original_content_type"] == CONTENT_TYPE_HEADER[1].decode()
    assert dead.value is not None
    assert big.startswith(dead.value)
    assert len(dead.value) <= Limits().deadletter_value_bytes


async def test_a_record_the_broker_refuses_for_good_is_deadlettered(settings: Settings) -> None:
    """A non-retriable produce error is not retried: the record goes to the dead-letter
    topic (truncated to fit, with its digest) and the batch completes."""
    names = TopicNames(settings.topic_prefix)
    small = Limits(record_bytes=64 * 1024)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers, max_request_size=64 * 1024
    )
    await producer.start()
    try:
        await send_and_wait_all(
            producer,
            [
                (names(Topic.TICKETS), b"T-1", b"z" * 100_000, []),
                (names(Topic.TICKETS), b"T-2", b"fine", []),
            ],
            deadletter=names(Topic.DEADLETTER),
            consumer="test",
            limits=small,
        )
    finally:
        await producer.stop()
    [ok] = await read_topic(settings, Topic.TICKETS, expect=1)
    assert ok.value == b"fine"
    [dead] = await read_topic(settings, Topic.DEADLETTER, expect=1)
    headers = {k: v.decode() for k, v in dead.headers}
    assert headers["dlq.topic"] == names(Topic.TICKETS)
    assert "MessageSizeTooLarge" in headers["dlq.error"]
    assert headers["dlq.original_bytes"] == "100000"
    assert dead.value is not None
    assert len(dead.value) == small.deadletter_value_bytes
