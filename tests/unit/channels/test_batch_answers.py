"""Requests that publish several events still answer the contract's top-level
``{id, duplicate}`` (section 4), with the per-event detail beside it. The app is served
over ASGI with a publisher that remembers ids, so a redelivery is recognised without a
broker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import httpx
import pytest
from pydantic import SecretStr

from channels.publish import Accepted
from router.events import CloudEvent, Interaction
from router.limits import Limits
from router.settings import Settings
from router.topics import Topic
from tests.unit.channels.support import ingress_client

pytestmark = pytest.mark.unit

AUTH = {"Authorization": "Bearer t"}


class Remembering:
    """Publishes nothing; answers ``duplicate`` for an id it has seen, as Redis would."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.published: list[tuple[str, str]] = []  # (key or source, text or type)
        self.limits = Limits()

    def _accept(self, id_: str) -> Accepted:
        duplicate = id_ in self.seen
        self.seen.add(id_)
        return Accepted(id_, duplicate)

    async def interaction(
        self, source: str, provider_id: str | None, data: Interaction, **_: object
    ) -> Accepted:
        self.published.append((source, data.text))
        return self._accept(f"{source}#{provider_id}")

    async def publish(self, topic: Topic, key: str, event: CloudEvent, **_: object) -> Accepted:
        assert topic is Topic.ACTIONS
        self.published.append((key, event.type))
        return self._accept(event.id)

    async def reused(self, named: list[tuple[str, str]]) -> list[bool]:
        """No id was used for other content (each test sends one content per id)."""
        return [False for _ in named]


async def every_ticket_exists(ticket_ids: list[str]) -> list[str | None]:
    return ["customer" for _ in ticket_ids]


@pytest.fixture
def publisher() -> Remembering:
    return Remembering()


@pytest.fixture
async def client(publisher: Remembering) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(api_tokens=SecretStr("t"))
    async with ingress_client(settings, publisher, every_ticket_exists) as c:
        yield c


def message(mid: str, text: str) -> dict[str, Any]:
    return {
        "sender": {"id": "PSID-1"},
        "recipient": {"id": "PAGE1"},
        "timestamp": 1762164000000,
        "message": {"mid": mid, "text": text},
    }


READ = {
    "sender": {"id": "PSID-1"},
    "recipient": {"id": "PAGE1"},
    "timestamp": 1762164001000,
    "read": {"watermark": 1762164000500},
}


def delivery(*messaging: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "page",
        "entry": [{"id": "PAGE1", "time": 1762164000000, "messaging": list(messaging)}],
    }


async def test_a_meta_delivery_answers_the_first_event_id_and_duplicate_on_redelivery(
    client: httpx.AsyncClient, publisher: Remembering
) -> None:
    body = delivery(message("m_1", "first"), READ, message("m_2", "second"))
    first = await client.post("/v1/channels/messenger", json=body)
    assert first.status_code == 202, first.text
    answer = first.json()
    assert answer["id"] == answer["events"][0]["id"]
    assert answer["id"].endswith("#m_1")
    assert answer["duplicate"] is False
    assert [e["duplicate"] for e in answer["events"]] == [False, False]
    assert answer["ignored"] == 1
    assert [text for _, text in publisher.published] == ["first", "second"]  # in order

    again = (await client.post("/v1/channels/messenger", json=body)).json()
    assert (again["id"], again["duplicate"]) == (answer["id"], True)
    assert [e["duplicate"] for e in again["events"]] == [True, True]

    partly = delivery(message("m_1", "first"), message("m_3", "third"))
    mixed = (await client.post("/v1/channels/messenger", json=partly)).json()
    assert (mixed["id"], mixed["duplicate"]) == (answer["id"], False)


async def test_a_meta_delivery_without_customer_messages_answers_a_null_id(
    client: httpx.AsyncClient,
) -> None:
    resp = await client.post("/v1/channels/messenger", json=delivery(READ))
    assert resp.status_code == 202, resp.text
    assert resp.json() == {"id": None, "duplicate": False, "events": [], "ignored": 1}


async def test_a_list_of_actions_answers_the_first_id_and_duplicate_when_all_were(
    client: httpx.AsyncClient,
) -> None:
    batch = [
        {"type": "feedback.csat", "id": "csat-1", "data": {"ticket_id": "T-9", "score": 5}},
        {"type": "ticket.resolved", "id": "res-1", "data": {"ticket_id": "T-9"}},
    ]
    first = await client.post("/v1/actions", json=batch, headers=AUTH)
    assert first.status_code == 202, first.text
    assert first.json() == {
        "id": "csat-1",
        "duplicate": False,
        "events": [{"id": "csat-1", "duplicate": False}, {"id": "res-1", "duplicate": False}],
    }
    again = (await client.post("/v1/actions", json=batch, headers=AUTH)).json()
    assert (again["id"], again["duplicate"]) == ("csat-1", True)
    assert [e["duplicate"] for e in again["events"]] == [True, True]

    one_new = [batch[0], {**batch[1], "id": "res-2"}]
    mixed = (await client.post("/v1/actions", json=one_new, headers=AUTH)).json()
    assert (mixed["id"], mixed["duplicate"]) == ("csat-1", False)


async def test_one_action_still_answers_plain_id_and_duplicate(client: httpx.AsyncClient) -> None:
    action = {"type": "ticket.resolved", "id": "res-9", "data": {"ticket_id": "T-9"}}
    first = await client.post("/v1/actions", json=action, headers=AUTH)
    assert first.status_code == 202, first.text
    assert first.json() == {"id": "res-9", "duplicate": False}
    again = await client.post("/v1/actions", json=action, headers=AUTH)
    assert again.json() == {"id": "res-9", "duplicate": True}


async def test_the_openapi_document_shows_both_answers(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    schemas = doc["components"]["schemas"]

    def answer_of(path: str) -> dict[str, Any]:
        ok: dict[str, Any] = doc["paths"][path]["post"]["responses"]["202"]
        return cast(dict[str, Any], ok["content"]["application/json"]["schema"])

    assert answer_of("/v1/channels/messenger") == {"$ref": "#/components/schemas/BatchAccepted"}
    assert set(schemas["BatchAccepted"]["required"]) == {"id", "duplicate", "events", "ignored"}
    refs = {s["$ref"] for s in answer_of("/v1/actions")["anyOf"]}
    assert refs == {
        "#/components/schemas/ListAccepted",
        "#/components/schemas/AcceptedBody",
        "#/components/schemas/EmptyBatch",  # an empty CloudEvents batch: no event named
    }
    assert set(schemas["ListAccepted"]["required"]) == {"id", "duplicate", "events"}


async def test_a_meta_batch_cut_by_a_broker_failure_names_what_was_written() -> None:
    """Its 503 had said "nothing was written" with the first messages on Kafka."""
    from channels.meta import publish_all
    from channels.problems import PartlyWritten
    from router.errors import BackendUnavailable
    from router.events import Customer

    class FailsSecond(Remembering):
        async def interaction(
            self, source: str, provider_id: str | None, data: Interaction, **_: object
        ) -> Accepted:
            if provider_id == "m_2":
                raise BackendUnavailable("kafka", "no broker answered in time")
            return await super().interaction(source, provider_id, data)

    message = Interaction(
        channel="messenger", customer=Customer(handles={"messenger": "p1"}), inbox="page", text="hi"
    )
    publisher = FailsSecond()
    with pytest.raises(PartlyWritten) as cut:
        await publish_all(publisher, "/v1/channels/messenger", [("m_1", message), ("m_2", message)])  # type: ignore[arg-type]
    assert [pid for pid, _ in cut.value.written] == ["m_1"]
    assert cut.value.items == "messages"
