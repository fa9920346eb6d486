"""The thin slice, end to end on real parts: HTTP -> inbound -> router -> tickets and
ticket-state -> metrics -> metric topic."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaProducer

from router.codec import CONTENT_TYPE_HEADER, encode_event
from router.events import CloudEvent, Customer, Interaction, ThreadRef
from router.ids import event_id
from router.topics import Topic, TopicNames
from router.vocabulary import EventType
from tests.component.pipeline.conftest import Running
from tests.conftest import read_topic, values

pytestmark = pytest.mark.component
CREATED_ONCE = {
    "created": 1,
    "resolved": 0,
    "reopened": 0,
    "escalated": 0,
    "handled": 0,
    "handle_seconds_sum": 0,
}


def types(events: list[dict[str, object]]) -> list[object]:
    return [e["type"] for e in events]


async def test_webform_becomes_a_routed_ticket_and_a_workload_metric(
    switchboard: Running,
) -> None:
    resp = await switchboard.http.post(
        "/v1/channels/webform",
        json={"email": "ada@example.com", "subject": "Refund", "message": "my invoice is wrong"},
    )
    assert resp.status_code == 202, resp.text
    settings = switchboard.settings

    tickets = values(await read_topic(settings, Topic.TICKETS, expect=2))
    assert types(tickets) == ["switchboard.ticket.created", "switchboard.ticket.routed"]
    created, routed = tickets
    ticket = created["data"]["ticket"]
    assert ticket["status"] == "new"
    assert ticket["queue"] == "billing"
    assert ticket["priority"] == "normal"
    assert ticket["sla_policy"] == "standard"
    assert ticket["tags"] == ["billing"]
    assert ticket["sla"]["first_response"]["due"] is not None
    assert created["data"]["interaction"]["event_id"] == resp.json()["id"]
    assert routed["data"]["matched"] == ["billing"]
    assert routed["data"]["rules_version"] == ticket["rules_version"]
    assert routed["data"]["rules_hash"].startswith("sha256:")

    state = values(await read_topic(settings, Topic.TICKET_STATE, expect=1))
    assert [s["data"]["ticket"]["id"] for s in state] == [ticket["id"]]

    metrics = values(await read_topic(settings, Topic.METRICS_WORKLOAD, expect=1, timeout=15))
    latest = [m for m in metrics if "channel" in m["dimensions"]][-1]
    assert latest["metric"] == "workload"
    assert latest["dimensions"] == {"queue": "billing", "channel": "webform"}
    assert latest["counters"] == CREATED_ONCE  # every counter, 0 where nothing counted
    assert latest["revision"] >= 1


async def _produce(running: Running, *events: tuple[str, bytes]) -> None:
    settings = running.settings
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        name = TopicNames(settings.topic_prefix)(Topic.INBOUND)
        for key, value in events:
            await producer.send_and_wait(
                name, value, key=key.encode(), headers=[CONTENT_TYPE_HEADER]
            )
    finally:
        await producer.stop()


def interaction_event(n: str, data: Interaction) -> tuple[str, bytes]:
    event = CloudEvent(
        id=event_id("/test", n),
        source="/test",
        type=EventType.INTERACTION_RECEIVED,
        time="2026-11-23T10:00:00Z",  # type: ignore[arg-type]
        data=data.model_dump(mode="json", exclude_none=True),
    )
    return data.sender_key(), encode_event(event)


async def test_redelivered_record_changes_nothing(switchboard: Running) -> None:
    record = interaction_event(
        "dup", Interaction(channel="chat", customer=Customer(email="bo@example.com"), text="hi")
    )
    await _produce(switchboard, record, record)
    tickets = values(await read_topic(switchboard.settings, Topic.TICKETS, expect=2, settle=1.0))
    assert types(tickets) == ["switchboard.ticket.created", "switchboard.ticket.routed"]
    metrics = values(await read_topic(switchboard.settings, Topic.METRICS_WORKLOAD, expect=1))
    counted = [m for m in metrics if "channel" in m["dimensions"]]
    assert counted[-1]["counters"] == CREATED_ONCE


async def test_chat_then_email_from_one_person_is_one_ticket(switchboard: Running) -> None:
    who = Customer(email="cy@example.com")
    first = interaction_event("c1", Interaction(channel="chat", customer=who, text="hello"))
    second = interaction_event(
        "c2",
        Interaction(
            channel="email",
            customer=who,
            text="still waiting for an answer",
            thread=ThreadRef(message_id="<m2@example.com>"),
        ),
    )
    await _produce(switchboard, first, second)
    tickets = values(await read_topic(switchboard.settings, Topic.TICKETS, expect=4))
    assert types(tickets) == [
        "switchboard.ticket.created",
        "switchboard.ticket.routed",
        "switchboard.ticket.message_added",
        "switchboard.ticket.routed",
    ]
    ids = {t["data"]["ticket"]["id"] for t in tickets}
    assert len(ids) == 1
    joined = tickets[2]["data"]["ticket"]
    assert joined["channels_seen"] == ["chat", "email"]
    assert joined["contacts"] == 2
    assert tickets[3]["data"]["matched"] == ["angry again"]
    assert tickets[3]["data"]["ticket"]["priority"] == "high"
    assert tickets[3]["data"]["ticket"]["tags"] == ["chased"]


async def test_auto_reply_never_opens_a_ticket(switchboard: Running) -> None:
    bounce = interaction_event(
        "ooo",
        Interaction(
            channel="email",
            customer=Customer(email="dee@example.com"),
            text="I am away",
            auto_reply=True,
        ),
    )
    await _produce(switchboard, bounce)
    assert await read_topic(switchboard.settings, Topic.TICKETS, expect=0, settle=1.5) == []


async def test_poison_record_goes_to_deadletter_and_the_line_keeps_moving(
    switchboard: Running,
) -> None:
    good = interaction_event(
        "ok", Interaction(channel="chat", customer=Customer(email="eve@example.com"), text="x")
    )
    await _produce(switchboard, ("email:eve@example.com", b"{not json"), good)
    dead = await read_topic(switchboard.settings, Topic.DEADLETTER, expect=1)
    assert len(dead) == 1
    assert dead[0].value == b"{not json"
    headers = dict(dead[0].headers)
    assert (
        headers["dlq.topic"]
        == TopicNames(switchboard.settings.topic_prefix)(Topic.INBOUND).encode()
    )
    assert headers["dlq.consumer"] == b"router"
    assert b"not a CloudEvent" in headers["dlq.error"]
    tickets = values(await read_topic(switchboard.settings, Topic.TICKETS, expect=2))
    assert types(tickets)[0] == "switchboard.ticket.created"


async def test_forget_erases_the_customer_and_tombstones_their_tickets(
    switchboard: Running,
) -> None:
    from router.app.forget import forget
    from router.redis import make_redis

    settings = switchboard.settings
    resp = await switchboard.http.post(
        "/v1/channels/webform", json={"email": "Gone@Example.com", "message": "erase me later"}
    )
    assert resp.status_code == 202
    created = values(await read_topic(settings, Topic.TICKETS, expect=2))[0]
    ticket_id = created["data"]["ticket"]["id"]
    customer_id = created["data"]["ticket"]["customer_id"]

    done = await forget(settings, "gone@example.com")
    assert (done.customer_id, done.tickets) == (customer_id, [ticket_id])

    redis = make_redis(settings)
    try:
        left = [k async for k in redis.scan_iter(match=f"*{customer_id}*")]
        assert left == []
        assert await redis.get(f"{settings.topic_prefix}:id:email:gone@example.com") is None
    finally:
        await redis.aclose()
    state = await read_topic(settings, Topic.TICKET_STATE, expect=2)
    assert [(r.key, r.value is None) for r in state][-1] == (ticket_id.encode(), True)
    assert (await forget(settings, "gone@example.com")).customer_id is None


async def test_window_opened_past_its_lateness_is_published_once_as_final(
    switchboard: Running,
) -> None:
    old = interaction_event(
        "late", Interaction(channel="sms", customer=Customer(phone="+15551234567"), text="hi")
    )  # event time 2026-11-23T10:00Z: its window closed long ago
    await _produce(switchboard, old)
    records = await read_topic(switchboard.settings, Topic.METRICS_WORKLOAD, expect=2, timeout=15)
    records = [r for r in records if b"channel=" in (r.key or b"")]  # not the backlog gauges
    assert {r.key for r in records} == {b"workload/2026-11-23T10:00:00Z/channel=sms,queue=general"}
    revisions = [(v["revision"], v["final"], v["counters"]) for v in values(records)]
    assert revisions == [(1, True, CREATED_ONCE)]  # no open revision, no identical final one
    window = values(records)[-1]["window"]
    assert window == {"start": "2026-11-23T10:00:00Z", "end": "2026-11-23T10:01:00Z"}


async def test_logs_at_info_carry_no_personal_data(switchboard: Running) -> None:
    import structlog

    with structlog.testing.capture_logs() as logs:
        resp = await switchboard.http.post(
            "/v1/channels/webform",
            json={"email": "private.person@example.com", "message": "my secret diagnosis"},
        )
        assert resp.status_code == 202
        await read_topic(switchboard.settings, Topic.TICKETS, expect=2)
    shipped = [e for e in logs if e.get("log_level") in ("info", "warning", "error")]
    text = repr(shipped)
    assert "private.person" not in text
    assert "secret diagnosis" not in text
    assert any(e.get("event") == "routed" for e in logs), "the routing decision is logged"
