"""The thin slice on real Apache Kafka and Redis: HTTP -> inbound -> router -> tickets and
ticket-state -> metrics -> metric topic; redelivery and poison records as a real broker
delivers them."""

from __future__ import annotations

import orjson
import pytest

from router.codec import CONTENT_TYPE, CONTENT_TYPE_HEADER
from router.events import Customer, Interaction, MetricRecord
from router.topics import Topic, TopicNames
from tests.component.pipeline.conftest import Running
from tests.component.pipeline.test_slice import CREATED_ONCE, interaction_event, types
from tests.conftest import read_topic, values
from tests.integration.conftest import TIMEOUT_S, WAIT_S, produce

pytestmark = [pytest.mark.integration, pytest.mark.timeout(TIMEOUT_S)]

CREATED = "switchboard.ticket.created"
ROUTED = "switchboard.ticket.routed"


async def test_webform_over_http_becomes_a_routed_ticket_and_a_workload_metric(
    switchboard: Running,
) -> None:
    resp = await switchboard.http.post(
        "/v1/channels/webform",
        json={"email": "ada@example.com", "subject": "Refund", "message": "my invoice is wrong"},
    )
    assert resp.status_code == 202, resp.text
    settings = switchboard.settings

    inbound = await read_topic(settings, Topic.INBOUND, expect=1, timeout=WAIT_S)
    assert [r.key for r in inbound] == [b"email:ada@example.com"]
    assert values(inbound)[0]["id"] == resp.json()["id"]

    records = await read_topic(settings, Topic.TICKETS, expect=2, timeout=WAIT_S)
    tickets = values(records)
    assert types(tickets) == [CREATED, ROUTED]
    created, routed = tickets
    ticket = created["data"]["ticket"]
    assert [r.key for r in records] == [ticket["id"].encode()] * 2
    assert [dict(r.headers)["content-type"] for r in records] == [CONTENT_TYPE.encode()] * 2
    assert ticket["status"] == "new"
    assert ticket["channel"] == "webform"
    assert ticket["queue"] == "billing"
    assert ticket["priority"] == "normal"
    assert ticket["sla_policy"] == "standard"
    assert ticket["tags"] == ["billing"]
    assert ticket["sla"]["first_response"]["due"] is not None
    assert created["data"]["interaction"]["event_id"] == resp.json()["id"]
    assert routed["data"]["matched"] == ["billing"]
    assert routed["data"]["rules_version"] == ticket["rules_version"]
    assert routed["data"]["rules_hash"].startswith("sha256:")

    state = await read_topic(settings, Topic.TICKET_STATE, expect=1, timeout=WAIT_S)
    assert [r.key for r in state] == [ticket["id"].encode()]
    assert [s["data"]["ticket"]["id"] for s in values(state)] == [ticket["id"]]

    metrics = await read_topic(settings, Topic.METRICS_WORKLOAD, expect=1, timeout=WAIT_S)
    last = [m for m in metrics if b"channel=" in (m.key or b"")][-1]  # not backlog gauges
    latest = orjson.loads(last.value)
    assert latest["metric"] == "workload"
    assert latest["dimensions"] == {"queue": "billing", "channel": "webform"}
    assert latest["counters"] == CREATED_ONCE  # every counter, 0 where nothing counted
    assert latest["revision"] >= 1
    # The key is what compaction keeps one record per: metric, window start, dimensions.
    assert last.key == MetricRecord.model_validate(latest).key().encode()
    assert dict(last.headers)["content-type"] == b"application/json"


async def test_redelivered_inbound_record_opens_one_ticket(switchboard: Running) -> None:
    settings = switchboard.settings
    who = Customer(email="bo@example.com")
    record = interaction_event("redelivered", Interaction(channel="chat", customer=who, text="hi"))
    await produce(settings, Topic.INBOUND, record, record, headers=[CONTENT_TYPE_HEADER])
    first = values(await read_topic(settings, Topic.TICKETS, expect=2, timeout=WAIT_S))
    assert types(first) == [CREATED, ROUTED]

    # Once more after the first copy was handled and committed; then a new message from the
    # same sender, on the same partition behind it, proves the copy has been seen and dropped.
    later = interaction_event(
        "later", Interaction(channel="chat", customer=who, text="one more thing")
    )
    await produce(settings, Topic.INBOUND, record, later, headers=[CONTENT_TYPE_HEADER])
    tickets = values(await read_topic(settings, Topic.TICKETS, expect=3, timeout=WAIT_S))
    assert types(tickets) == [CREATED, ROUTED, "switchboard.ticket.message_added"]
    assert len({t["data"]["ticket"]["id"] for t in tickets}) == 1
    assert tickets[-1]["data"]["ticket"]["contacts"] == 2

    metrics = values(await read_topic(settings, Topic.METRICS_WORKLOAD, expect=1, timeout=WAIT_S))
    counted = [m for m in metrics if "channel" in m["dimensions"]]
    assert counted[-1]["counters"] == CREATED_ONCE


async def test_poison_record_goes_to_deadletter_with_its_origin_and_the_line_keeps_moving(
    switchboard: Running,
) -> None:
    settings = switchboard.settings
    good = interaction_event(
        "ok", Interaction(channel="chat", customer=Customer(email="eve@example.com"), text="x")
    )
    poison = ("email:eve@example.com", b"{not json")
    placed, _ = await produce(settings, Topic.INBOUND, poison, good, headers=[CONTENT_TYPE_HEADER])

    dead = await read_topic(settings, Topic.DEADLETTER, expect=1, timeout=WAIT_S)
    assert len(dead) == 1
    assert dead[0].key == b"email:eve@example.com"
    assert dead[0].value == b"{not json"
    headers = dict(dead[0].headers)
    assert headers["dlq.topic"] == TopicNames(settings.topic_prefix)(Topic.INBOUND).encode()
    assert headers["dlq.partition"] == str(placed.partition).encode()
    assert headers["dlq.offset"] == str(placed.offset).encode()
    assert headers["dlq.consumer"] == b"router"
    assert b"not a CloudEvent" in headers["dlq.error"]
    assert headers["content-type"] == CONTENT_TYPE.encode()  # the original headers travel too

    tickets = values(await read_topic(settings, Topic.TICKETS, expect=2, timeout=WAIT_S))
    assert types(tickets) == [CREATED, ROUTED]
