"""A stored ticket the router can no longer read (a value valid once, or written by a
faulty release) parks the messages that need it, with the reason; every other customer
is still routed. Before, the validation error stopped the router role."""

from __future__ import annotations

import uuid

import orjson
import pytest

from consumers.state.threads import RedisThreadStore
from router.app.embedded import EmbeddedServices
from router.keys import Keys, ticket_field
from router.redis import make_redis
from router.topics import Topic
from tests.conftest import make_settings
from tests.unit.core.test_routing_handler import ALICE, BOB, Broker, customer, event, handler
from tests.unit.core.test_routing_handler import inbound as inbound_record

pytestmark = pytest.mark.component


async def test_an_unreadable_stored_ticket_parks_its_messages_and_the_rest_are_routed(
    services: EmbeddedServices,
) -> None:
    prefix = f"unreadable-{uuid.uuid4().hex[:12]}"
    client = make_redis(make_settings(services, prefix))
    store = RedisThreadStore(client, ttl_s=3600, prefix=prefix)
    broker = Broker()
    router = handler(store, broker)  # type: ignore[arg-type]
    try:
        await router.handle([inbound_record(ALICE, "hello", 0)])
        [ticket_id] = {event(r)["data"]["ticket"]["id"] for r in broker.take()}
        keys = Keys(prefix)
        field = ticket_field(ticket_id, "json")
        alice = await customer(store, ALICE)  # type: ignore[arg-type]
        stored = orjson.loads(await client.hget(keys.ticket_data(alice), field))
        stored["handle_seconds"] = None  # what an overflowed sum was written as
        await client.hset(keys.ticket_data(alice), field, orjson.dumps(stored))

        await router.handle([inbound_record(ALICE, "any news?", 1), inbound_record(BOB, "hi", 2)])

        out = broker.take()
        [parked] = [r for r in out if r.topic is Topic.DEADLETTER]
        error = dict(parked.headers or [])["dlq.error"].decode()
        assert error == "InvalidEvent: the stored ticket cannot be read (handle_seconds)"
        created = [event(r) for r in out if r.topic is Topic.TICKETS]
        bob = await customer(store, BOB)  # type: ignore[arg-type]
        assert {e["data"]["ticket"]["customer_id"] for e in created} == {bob}
    finally:
        await client.aclose()
