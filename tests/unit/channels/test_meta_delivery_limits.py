"""A Meta delivery is read up to what Meta sends in one (it batches at most 1,000
updates), with room to spare: 1,000 entries, 5,000 events in all; the rest is
counted in ``ignored`` with one warning, and a large body is read in a worker thread.
The audit: 10^6 tiny entries (4.3 MiB), one validation each on the loop, held the
process 9.5 s."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from structlog.testing import capture_logs

import channels.meta
from channels.meta import extract
from channels.meta_payloads import MAX_DELIVERY_EVENTS, MAX_ENTRIES, MAX_EVENTS
from router.settings import Settings
from tests.unit.channels.support import Remembering, ingress_client

pytestmark = pytest.mark.unit


def message(n: int) -> dict[str, Any]:
    return {
        "sender": {"id": f"PSID-{n}"},
        "recipient": {"id": "PAGE1"},
        "timestamp": 1762164000000,
        "message": {"mid": f"m_{n}", "text": "hello"},
    }


def entry(*events: dict[str, Any]) -> dict[str, Any]:
    return {"id": "PAGE1", "messaging": list(events)}


def wa_change(first: int, count: int) -> dict[str, Any]:
    messages = [
        {"from": "972544401243", "id": f"wamid.{n}", "type": "text", "text": {"body": "hi"}}
        for n in range(first, first + count)
    ]
    return {"field": "messages", "value": {"messages": messages}}


def warnings(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == "meta_delivery_over_limits"]


def test_a_delivery_of_meta_s_size_is_read_whole() -> None:
    delivery = {"object": "page", "entry": [entry(message(n)) for n in range(1000)]}
    with capture_logs() as logs:
        _, found = extract(delivery)
    assert (len(found.messages), found.ignored) == (1000, 0)
    assert warnings(logs) == []


def test_entries_past_a_thousand_are_ignored_with_one_warning() -> None:
    delivery = {"object": "page", "entry": [entry(message(n)) for n in range(MAX_ENTRIES + 500)]}
    with capture_logs() as logs:
        _, found = extract(delivery)
    assert [mid for mid, _ in found.messages] == [f"m_{n}" for n in range(MAX_ENTRIES)]
    assert found.ignored == 500
    assert [w["unread"] for w in warnings(logs)] == [500]


def test_a_million_empty_entries_are_counted_not_read() -> None:
    delivery = {"object": "page", "entry": [{}] * 1_000_000}
    with capture_logs() as logs:
        _, found = extract(delivery)
    assert found.messages == []
    assert found.ignored == 1_000_000 - MAX_ENTRIES  # those read hold nothing
    assert len(warnings(logs)) == 1


def test_events_past_the_limit_in_one_list_are_ignored() -> None:
    events = (message(n) for n in range(MAX_EVENTS + 200))
    delivery = {"object": "page", "entry": [entry(*events)]}
    with capture_logs() as logs:
        _, found = extract(delivery)
    assert (len(found.messages), found.ignored) == (MAX_EVENTS, 200)
    assert [w["unread"] for w in warnings(logs)] == [200]


def test_whatsapp_messages_past_the_delivery_budget_are_ignored() -> None:
    size = MAX_DELIVERY_EVENTS // 2
    changes = [wa_change(size * k, size) for k in range(3)]
    delivery = {"object": "whatsapp_business_account", "entry": [{"id": "W", "changes": changes}]}
    with capture_logs() as logs:
        _, found = extract(delivery)
    read = [f"wamid.{n}" for n in range(MAX_DELIVERY_EVENTS)]
    assert [mid for mid, _ in found.messages] == read
    assert found.ignored == 3 * size - MAX_DELIVERY_EVENTS
    assert [w["unread"] for w in warnings(logs)] == [3 * size - MAX_DELIVERY_EVENTS]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with ingress_client(Settings(), Remembering()) as c:
        yield c


async def test_a_large_delivery_is_read_in_a_worker_thread(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_loop: list[bool] = []

    def recording(data: object) -> Any:
        on_loop.append(threading.current_thread() is threading.main_thread())
        return extract(data)

    monkeypatch.setattr(channels.meta, "extract", recording)
    body = orjson.dumps({"object": "page", "entry": [entry(message(n)) for n in range(1000)]})
    assert len(body) > 64 * 1024
    resp = await client.post(
        "/v1/channels/messenger", content=body, headers={"content-type": "application/json"}
    )
    assert resp.status_code == 202, resp.text
    assert len(resp.json()["events"]) == 1000
    assert on_loop == [False]


def test_whatsapp_values_nested_past_any_encoder_are_read_without_failing() -> None:
    """A Flow's ``response_json`` (JSON in a string) or the change's ``metadata`` nested
    a thousand deep had failed the whole delivery (orjson writes 254 levels; ``str`` of
    such an array is a RecursionError)."""
    deep = "[" * 1017 + "]" * 1017
    flow = {
        "from": "972544401243",
        "id": "wamid.flow",
        "type": "interactive",
        "interactive": {
            "type": "nfm_reply",
            "nfm_reply": {"name": "f", "body": "Sent", "response_json": '{"q": ' + deep + "}"},
        },
    }
    value = {"metadata": {"display_phone_number": "DEEP"}, "messages": [flow]}
    delivery = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "W", "changes": [{"field": "messages", "value": value}]}],
    }
    raw = orjson.dumps(delivery).replace(b'"DEEP"', deep.encode())
    _, found = channels.meta.read_delivery(raw)
    [(_, message)] = found.messages
    assert message.text.startswith('Sent\n{"q": [[[')  # kept as it came, cut
    assert "flow_response" not in message.metadata
