"""Helpdesk actions close the loop: replies, resolution, feedback and CRM data change
tickets, and the metric topics count them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from pydantic import SecretStr

from router.app.report.windows import Period
from router.app.verify import verify
from router.codec import CONTENT_TYPE_HEADER, encode_event
from router.events import CloudEvent
from router.settings import Settings
from router.topics import Topic, TopicNames
from tests.component.pipeline.conftest import RULES, Running, run_switchboard
from tests.conftest import read_topic, values

pytestmark = pytest.mark.component

AUTH = {"authorization": "Bearer tok"}


@pytest.fixture
async def helpdesk(settings: Settings) -> AsyncIterator[Running]:
    update = {"rules_path": RULES, "api_tokens": SecretStr("tok")}
    async with run_switchboard(settings.model_copy(update=update)) as running:
        yield running


async def tickets(running: Running, expect: int) -> list[dict[str, Any]]:
    return values(await read_topic(running.settings, Topic.TICKETS, expect=expect, timeout=15))


def latest(records: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Counters per metric of the newest revision of each window (one window here)."""
    out: dict[str, dict[str, int]] = {}
    for r in records:
        if r["metric"] == "workload" and "channel" not in r["dimensions"]:
            continue  # the backlog gauges, tested on their own
        merged = out.setdefault(r["metric"], {})
        merged.update((k, v) for k, v in r["counters"].items() if v)  # 0: not counted
    return out


async def metric_counters(running: Running, topic: Topic, want: dict[str, int]) -> dict[str, int]:
    found: dict[str, int] = {}
    for _ in range(30):
        found = latest(values(await read_topic(running.settings, topic, expect=1)))
        metric = next(iter(found.values()), {})
        if all(metric.get(k) == v for k, v in want.items()):
            return metric
    return next(iter(found.values()), {})


async def test_reply_resolve_feedback_and_reopen(helpdesk: Running) -> None:
    resp = await helpdesk.http.post(
        "/v1/channels/webform", json={"email": "kim@example.com", "message": "hello"}
    )
    assert resp.status_code == 202
    ticket_id = (await tickets(helpdesk, 2))[0]["data"]["ticket"]["id"]

    actions = [
        {
            "type": "agent.replied",
            "data": {
                "ticket_id": ticket_id,
                "agent_id": "a1",
                "public": True,
                "handle_seconds": 120,
            },
        },
        {"type": "ticket.resolved", "data": {"ticket_id": ticket_id, "agent_id": "a1"}},
        {"type": "feedback.csat", "data": {"ticket_id": ticket_id, "score": 5}},
    ]
    resp = await helpdesk.http.post("/v1/actions", json=actions, headers=AUTH)
    assert resp.status_code == 202, resp.text

    events = await tickets(helpdesk, 6)
    assert [e["type"].rsplit(".", 1)[1] for e in events] == [
        "created",
        "routed",
        "assigned",  # the agent who answered an unassigned ticket took it
        "responded",
        "resolved",
        "feedback_received",
    ]
    taken, responded, resolved, feedback = events[2:]
    assert taken["data"]["ticket"]["assignee"] == taken["data"]["agent_id"]
    assert taken["data"]["ticket"]["accepted"] is True
    assert responded["data"]["response"] == "first"
    assert responded["data"]["ticket"]["status"] == "pending"
    assert resolved["data"]["first_contact"] is True
    assert resolved["data"]["ticket"]["status"] == "resolved"
    assert feedback["data"]["kind"] == "csat"

    workload = await metric_counters(
        helpdesk, Topic.METRICS_WORKLOAD, {"resolved": 1, "handled": 1}
    )
    assert workload == {"created": 1, "resolved": 1, "handled": 1, "handle_seconds_sum": 120}
    assert await metric_counters(helpdesk, Topic.METRICS_FCR, {"resolved": 1}) == {
        "resolved": 1,
        "resolved_first_contact": 1,
    }
    fcr_records = values(await read_topic(helpdesk.settings, Topic.METRICS_FCR, expect=1))
    assert {r["definition_hash"] for r in fcr_records} == {resolved["data"]["fcr_definition"]}
    workload_records = values(await read_topic(helpdesk.settings, Topic.METRICS_WORKLOAD, expect=1))
    assert all("definition_hash" not in r for r in workload_records)
    scraped = (await helpdesk.http.get("/metrics")).text
    assert 'switchboard_handle_seconds_bucket{le="120.0",queue="general"} 1.0' in scraped
    assert "switchboard_metric_total" in scraped
    assert (
        'switchboard_response_seconds_count{channel="webform",queue="general",'
        'target="first_response"} 1.0'
    ) in scraped
    lag = [line for line in scraped.splitlines() if line.startswith("switchboard_consumer_lag{")]
    assert any('consumer="router"' in line for line in lag), lag
    assert all(float(line.rsplit(" ", 1)[1]) >= 0 for line in lag)
    assert await metric_counters(helpdesk, Topic.METRICS_SATISFACTION, {"csat_responses": 1}) == {
        "csat_responses": 1,
        "csat_satisfied": 1,
    }

    again = await helpdesk.http.post(
        "/v1/channels/webform", json={"email": "kim@example.com", "message": "it broke again"}
    )
    assert again.status_code == 202
    reopened = (await tickets(helpdesk, 7))[6]
    assert reopened["type"] == "switchboard.ticket.reopened"
    assert reopened["data"]["ticket"]["id"] == ticket_id
    assert reopened["data"]["was_first_contact"] is True
    fcr = await metric_counters(helpdesk, Topic.METRICS_FCR, {"reopened_after_first_contact": 1})
    assert fcr["reopened_after_first_contact"] == 1


async def test_crm_tier_reaches_the_rules(helpdesk: Running) -> None:
    upsert = {
        "type": "customer.upserted",
        "data": {"id": "crm-7", "email": "Lee@Example.com", "tier": "gold"},
    }
    resp = await helpdesk.http.post("/v1/actions", json=upsert, headers=AUTH)
    assert resp.status_code == 202
    # acknowledged first, so the router sees it no later than the message below
    resp = await helpdesk.http.post(
        "/v1/channels/webform", json={"email": "lee@example.com", "message": "hi"}
    )
    routed = (await tickets(helpdesk, 2))[1]
    assert routed["type"] == "switchboard.ticket.routed"
    assert routed["data"]["matched"] == ["gold customers"]
    assert routed["data"]["ticket"]["priority"] == "high"


async def test_a_crm_number_too_large_for_64_bits_written_to_kafka_does_not_stop_routing(
    helpdesk: Running,
) -> None:
    # a structured CloudEvent as a CRM's own producer writes it: the number kept whole
    # by its JSON, beyond what orjson (and so the profile in Redis) can hold
    upsert = (
        b'{"specversion":"1.0","id":"crm-big-1","source":"/crm","type":"customer.upserted",'
        b'"data":{"id":"crm-9","email":"max@example.com","tier":"gold",'
        b'"attributes":{"account":123456789012345678901234567890,"ids":[18446744073709551616]}}}'
    )
    producer = AIOKafkaProducer(bootstrap_servers=helpdesk.settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(
            TopicNames(helpdesk.settings.topic_prefix)(Topic.ACTIONS),
            upsert,
            key=b"customer:crm-9",
            headers=[CONTENT_TYPE_HEADER],
        )
    finally:
        await producer.stop()
    # the router goes on routing, and the upsert counted: the rules see the tier
    resp = await helpdesk.http.post(
        "/v1/channels/webform", json={"email": "max@example.com", "message": "hi"}
    )
    assert resp.status_code == 202
    routed = (await tickets(helpdesk, 2))[1]
    assert routed["data"]["matched"] == ["gold customers"]
    assert await read_topic(helpdesk.settings, Topic.DEADLETTER, expect=0, settle=0.3) == []


async def test_action_for_an_unknown_ticket_is_404_over_http_and_dead_lettered_from_kafka(
    helpdesk: Running,
) -> None:
    bad = {"type": "ticket.resolved", "data": {"ticket_id": "T-doesnotexist"}}
    refused = await helpdesk.http.post("/v1/actions", json=bad, headers=AUTH)
    assert refused.status_code == 404, refused.text
    assert await read_topic(helpdesk.settings, Topic.ACTIONS, expect=0, settle=0.3) == []

    # A helpdesk that writes to the actions topic directly gets no answer: the router
    # dead-letters what it cannot apply.
    event = CloudEvent(
        id="direct-1", source="/helpdesk", type="switchboard.ticket.resolved", data=bad["data"]
    )
    producer = AIOKafkaProducer(bootstrap_servers=helpdesk.settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(
            TopicNames(helpdesk.settings.topic_prefix)(Topic.ACTIONS),
            encode_event(event),
            key=b"T-doesnotexist",
            headers=[CONTENT_TYPE_HEADER],
        )
    finally:
        await producer.stop()
    [dead] = await read_topic(helpdesk.settings, Topic.DEADLETTER, expect=1)
    assert b"unknown ticket 'T-doesnotexist'" in dict(dead.headers)["dlq.error"]


async def test_backlog_gauges_per_queue(settings: Settings) -> None:
    update = {"rules_path": RULES, "api_tokens": SecretStr("tok"), "metrics_window_s": 1}
    async with run_switchboard(settings.model_copy(update=update)) as running:
        for who, text in (("p@example.com", "invoice"), ("q@example.com", "hello")):
            resp = await running.http.post(
                "/v1/channels/webform", json={"email": who, "message": text}
            )
            assert resp.status_code == 202
        gauges: dict[str, dict[str, int]] = {}
        for _ in range(40):
            for record in values(await read_topic(settings, Topic.METRICS_WORKLOAD, expect=1)):
                if set(record["dimensions"]) == {"queue"}:
                    gauges[record["dimensions"]["queue"]] = record["counters"]
                    assert record["values"] == {}  # gauges only: no ratio to derive
            if {"billing", "general"} <= set(gauges):
                break
            await asyncio.sleep(0.25)
        assert gauges["billing"]["open"] == 1
        assert gauges["billing"]["waiting"] == 1
        assert gauges["general"]["open"] == 1
        assert gauges["general"]["oldest_waiting_seconds"] >= 0
        scraped = (await running.http.get("/metrics")).text
        assert 'switchboard_backlog_open{queue="billing"} 1.0' in scraped


async def test_calls_add_handling_time_and_notes_stay_internal(helpdesk: Running) -> None:
    """Voice and notes end to end: a missed call opens a ticket, the call back adds its
    handling time (AHT counts it), and a note is published as an internal event."""
    call = {"from": "+15551230000", "to": "+15550000000", "at": "2026-11-23T10:00:00Z"}
    for event, extra in (
        ("ringing", {}),
        ("missed", {}),
        ("answered", {"agent_id": "a1"}),
        ("ended", {"agent_id": "a1", "talk_seconds": 200, "hold_seconds": 20, "wrap_seconds": 30}),
    ):
        call_id = "CA-1" if event in ("ringing", "missed") else "CA-2"
        body = {**call, "call_id": call_id, "event": event, **extra}
        resp = await helpdesk.http.post("/v1/channels/voice", json=body)
        assert resp.status_code == 202, resp.text
    events = await tickets(helpdesk, 4)
    kinds = [e["type"].rsplit(".", 1)[1] for e in events]
    assert kinds == ["created", "routed", "message_added", "message_added"]
    ticket = events[-1]["data"]["ticket"]
    assert (ticket["contacts"], ticket["handle_seconds"]) == (1, 250)
    assert events[-1]["data"]["contact"] is False

    note = {"type": "ticket.note_added", "data": {"ticket_id": ticket["id"], "text": "VIP"}}
    resp = await helpdesk.http.post("/v1/actions", json=note, headers=AUTH)
    assert resp.status_code == 202, resp.text
    noted = (await tickets(helpdesk, 5))[4]
    assert noted["type"] == "switchboard.ticket.note_added"
    assert noted["data"]["text"] == "VIP"
    assert noted["data"]["ticket"]["agent_replies"] == 0
    workload = await metric_counters(helpdesk, Topic.METRICS_WORKLOAD, {"handled": 1})
    assert (workload["handled"], workload["handle_seconds_sum"]) == (1, 250)

    unknown = {"type": "ticket.note_added", "data": {"ticket_id": "T-nope", "text": "x"}}
    resp = await helpdesk.http.post("/v1/actions", json=unknown, headers=AUTH)
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("application/problem+json")


async def test_an_internal_reply_is_a_note_whose_handle_time_counts_as_handled_work(
    helpdesk: Running,
) -> None:
    """``agent.replied {public: false, handle_seconds: 300}`` was answered 202 and
    published nothing: the ticket's handle time and the workload's AHT never got it."""
    resp = await helpdesk.http.post(
        "/v1/channels/webform", json={"email": "ivy@example.com", "message": "hello"}
    )
    assert resp.status_code == 202
    ticket_id = (await tickets(helpdesk, 2))[0]["data"]["ticket"]["id"]
    internal = {"ticket_id": ticket_id, "agent_id": "a1", "public": False, "handle_seconds": 300}
    resp = await helpdesk.http.post(
        "/v1/actions", json={"type": "agent.replied", "data": internal}, headers=AUTH
    )
    assert resp.status_code == 202, resp.text
    events = await tickets(helpdesk, 3)
    assert [e["type"].rsplit(".", 1)[1] for e in events] == ["created", "routed", "note_added"]
    noted = events[-1]["data"]
    assert (noted["agent_id"], noted["text"], noted["handle_seconds"]) == ("a1", "", 300)
    ticket = noted["ticket"]
    assert (ticket["handle_seconds"], ticket["agent_replies"], ticket["status"]) == (300, 0, "new")
    assert ticket["sla"]["first_response"]["met_at"] is None  # no response, nothing sent
    workload = await metric_counters(helpdesk, Topic.METRICS_WORKLOAD, {"handled": 1})
    assert (workload["handled"], workload["handle_seconds_sum"]) == (1, 300)
    now = datetime.now(UTC)
    period = Period(now - timedelta(hours=1), now + timedelta(hours=1))
    for _ in range(30):  # the metrics role may not have committed its offsets yet
        checked = await verify(helpdesk.settings, period)
        if not checked.windows_open:
            break
        await asyncio.sleep(0.3)
    assert (checked.differences, checked.windows_open) == ([], 0)
    assert checked.windows_recounted > 0


async def test_a_note_written_to_kafka_a_day_ahead_does_not_pin_the_ticket_there(
    helpdesk: Running,
) -> None:
    """A helpdesk writing to the actions topic with a wrong clock (a day ahead): the
    note counts at the time the record was written, so the resolve that follows over
    HTTP (and its metrics) are at now, not tomorrow."""
    resp = await helpdesk.http.post(
        "/v1/channels/webform", json={"email": "lee@example.com", "message": "hello"}
    )
    assert resp.status_code == 202
    ticket_id = (await tickets(helpdesk, 2))[0]["data"]["ticket"]["id"]
    tomorrow = datetime.now(UTC) + timedelta(hours=24)
    note = CloudEvent(
        id="direct-note",
        source="/helpdesk",
        type="switchboard.ticket.note_added",
        time=tomorrow,
        data={"ticket_id": ticket_id, "text": "VIP"},
    )
    producer = AIOKafkaProducer(bootstrap_servers=helpdesk.settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(
            TopicNames(helpdesk.settings.topic_prefix)(Topic.ACTIONS),
            encode_event(note),
            key=ticket_id.encode(),
            headers=[CONTENT_TYPE_HEADER],
        )
    finally:
        await producer.stop()
    await tickets(helpdesk, 3)
    resolve = {"type": "ticket.resolved", "data": {"ticket_id": ticket_id, "agent_id": "a1"}}
    resp = await helpdesk.http.post("/v1/actions", json=resolve, headers=AUTH)
    assert resp.status_code == 202, resp.text
    [resolved] = [e for e in await tickets(helpdesk, 4) if e["type"].endswith(".resolved")]
    at = datetime.fromisoformat(resolved["time"])
    assert abs(at - datetime.now(UTC)) < timedelta(minutes=5)
