"""On the real broker: a dead letter keeps its original key byte for byte (a null key
stays null), so replaying it from the dead-letter topic restores the key; and an event
whose data came as ``data_base64`` is routed like any other."""

from __future__ import annotations

import base64

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from router.codec import CONTENT_TYPE_HEADER
from router.topics import Topic, TopicNames
from router.vocabulary import EventType
from tests.component.pipeline.conftest import Running
from tests.conftest import read_topic, values

pytestmark = pytest.mark.component


async def test_dead_letters_keep_the_original_key_and_data_base64_is_routed(
    switchboard: Running,
) -> None:
    settings = switchboard.settings
    inbound = TopicNames(settings.topic_prefix)(Topic.INBOUND)
    data = {"channel": "webform", "customer": {"email": "ada@example.com"}, "text": "hi"}
    event = {
        "specversion": "1.0",
        "id": "b64-1",
        "source": "/crm",
        "type": EventType.INTERACTION_RECEIVED,
        "data_base64": base64.b64encode(orjson.dumps(data)).decode(),
    }
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        for key in (None, b"\xff\xfe-not-utf8"):
            await producer.send_and_wait(inbound, b"{}", key=key, headers=[CONTENT_TYPE_HEADER])
        await producer.send_and_wait(inbound, orjson.dumps(event), key=b"email:ada@example.com")
    finally:
        await producer.stop()
    dead = await read_topic(settings, Topic.DEADLETTER, expect=2, timeout=20)
    assert sorted((r.key for r in dead), key=lambda k: k or b"") == [None, b"\xff\xfe-not-utf8"]
    tickets = values(await read_topic(settings, Topic.TICKETS, expect=2, timeout=20))
    [created] = [t for t in tickets if t["type"] == EventType.TICKET_CREATED]
    assert created["data"]["interaction"]["text"] == "hi"
