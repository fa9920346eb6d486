"""Actions written to ``switchboard.actions`` directly (no HTTP answer) that name an agent:
a transfer to an agent no presence ever named is dead-lettered, as HTTP refuses it, and
an accept from an agent the ticket is not offered to leaves one log line."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from structlog.testing import capture_logs

from router.codec import CONTENT_TYPE_HEADER, encode_event
from router.events import CloudEvent
from router.settings import Settings
from router.topics import Topic, TopicNames
from tests.component.pipeline.conftest import Running
from tests.component.pipeline.test_assignment_lifecycle import (
    AUTH,
    helpdesk,
    online,
    open_ticket,
    story_until,
)
from tests.conftest import read_topic, values

pytestmark = pytest.mark.component


async def produce(
    running: Running, ticket_id: str, *actions: tuple[str, str, dict[str, Any]]
) -> None:
    """``(id, type, data)`` actions on the ticket, in this order, as a Kafka helpdesk writes
    them (keyed by the ticket: one partition, so the router applies them in order)."""
    producer = AIOKafkaProducer(bootstrap_servers=running.settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        for id_, type_, data in actions:
            event = CloudEvent(id=id_, source="/helpdesk", type=f"switchboard.{type_}", data=data)
            await producer.send_and_wait(
                TopicNames(running.settings.topic_prefix)(Topic.ACTIONS),
                encode_event(event),
                key=ticket_id.encode(),
                headers=[CONTENT_TYPE_HEADER],
            )
    finally:
        await producer.stop()


async def until_noted(running: Running, ticket_id: str, text: str) -> list[dict[str, Any]]:
    """The ticket's records once the note ``text`` is on it: what was written before it on
    the same key was handled by then."""
    for _ in range(100):
        records = values(await read_topic(running.settings, Topic.TICKETS, expect=1))
        mine = [e for e in records if e["data"]["ticket"]["id"] == ticket_id]
        if any(e["type"].endswith(".note_added") and e["data"].get("text") == text for e in mine):
            return mine
        await asyncio.sleep(0.1)
    raise AssertionError(f"note {text!r} never reached {ticket_id}")


async def offered_to_bill(desk: Running) -> str:
    await online(desk, "a-bill", [])
    ticket_id = await open_ticket(desk, "kim@example.com", "my invoice is wrong")
    seen, _ = await story_until(desk, ticket_id, lambda s: len(s) >= 1)
    assert seen[:1] == [("assigned", "a-bill")]
    return ticket_id


async def test_a_kafka_transfer_to_an_agent_never_seen_is_deadlettered_and_the_stream_goes_on(
    settings: Settings, tmp_path: Path
) -> None:
    async with helpdesk(settings, tmp_path, "10m") as desk:
        ticket_id = await offered_to_bill(desk)
        ghost = {"ticket_id": ticket_id, "agent_id": "ghost-agent"}
        note = {"ticket_id": ticket_id, "agent_id": "a-bill", "text": "after the ghost"}
        await produce(
            desk,
            ticket_id,
            ("ghost-1", "ticket.transferred", ghost),
            ("note-1", "ticket.note_added", note),
        )
        mine = await until_noted(desk, ticket_id, "after the ghost")

        [dead] = await read_topic(desk.settings, Topic.DEADLETTER, expect=1)
        reason = dict(dead.headers)["dlq.error"].decode()
        assert "/data/agent_id: unknown agent 'ghost-agent': an agent.presence names one" in reason
        assert not [e for e in mine if e["type"].endswith(".transferred")]
        seen, _ = await story_until(desk, ticket_id, bool)
        assert seen == [("assigned", "a-bill")]  # offered to no one else
        ticket = (await desk.http.get(f"/v1/tickets/{ticket_id}", headers=AUTH)).json()
        assert ticket["assignee"] == "a-bill"
        agent = await desk.http.get("/v1/agents/ghost-agent", headers=AUTH)
        assert agent.status_code == 404, agent.text


async def test_a_kafka_accept_from_an_agent_not_offered_the_ticket_is_logged(
    settings: Settings, tmp_path: Path
) -> None:
    async with helpdesk(settings, tmp_path, "10m") as desk:
        ticket_id = await offered_to_bill(desk)
        # the marker note is someone else's: a note by the offered a-bill would accept it
        note = {"ticket_id": ticket_id, "agent_id": "a-other", "text": "after the accept"}
        with capture_logs() as logs:
            await produce(
                desk,
                ticket_id,
                (
                    "accept-1",
                    "assignment.accepted",
                    {"ticket_id": ticket_id, "agent_id": "a-other"},
                ),
                ("note-2", "ticket.note_added", note),
            )
            await until_noted(desk, ticket_id, "after the accept")
        lines = [e for e in logs if e["event"] == "assignment_answer_not_offered"]
        assert lines == [
            {
                "event": "assignment_answer_not_offered",
                "log_level": "info",
                "answer": "accepted",
                "ticket_id": ticket_id,
                "agent_id": "a-other",
                "offered_to": "a-bill",
            }
        ]
        ticket = (await desk.http.get(f"/v1/tickets/{ticket_id}", headers=AUTH)).json()
        assert (ticket["assignee"], ticket["accepted"]) == ("a-bill", False)
        assert await read_topic(desk.settings, Topic.DEADLETTER, expect=0, settle=0.2) == []


async def test_a_kafka_note_without_text_is_deadlettered_and_the_stream_goes_on(
    settings: Settings, tmp_path: Path
) -> None:
    """HTTP refuses a note that says nothing (400 at /data/text); written to Kafka it is
    dead-lettered with that reason, not published as an empty note."""
    async with helpdesk(settings, tmp_path, "10m") as desk:
        ticket_id = await offered_to_bill(desk)
        await produce(
            desk,
            ticket_id,
            ("blank-1", "ticket.note_added", {"ticket_id": ticket_id, "text": "  "}),
            ("note-3", "ticket.note_added", {"ticket_id": ticket_id, "text": "after the blank"}),
        )
        mine = await until_noted(desk, ticket_id, "after the blank")
        [dead] = await read_topic(desk.settings, Topic.DEADLETTER, expect=1)
        assert "/data/text" in dict(dead.headers)["dlq.error"].decode()
        notes = [e["data"]["text"] for e in mine if e["type"].endswith(".note_added")]
        assert notes == ["after the blank"]
