"""The AsyncAPI document describes what the router reads on ``inbound`` and ``actions``
from other producers, not only what Switchboard writes: binary mode, no content-type,
short action type names and ``data_base64``. Each record here is one the router accepts
(checked through the codec), and must match a message of its channel."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from router.codec import CONTENT_TYPE, decode_record
from router.topics import Topic
from tests.unit.core.test_asyncapi_records import channel, errors

pytestmark = pytest.mark.unit

RESOLVED = {"ticket_id": "T-1", "agent_id": "a-7"}
INTERACTION = {"channel": "webform", "customer": {"email": "ada@example.com"}, "text": "hi"}
ATTRIBUTES = {"specversion": "1.0", "id": "e-1", "source": "/desk", "time": "2026-11-23T10:05:00Z"}


def matching(topic: Topic, headers: dict[str, str], value: bytes) -> list[str]:
    """The names of the channel's messages that this record fits (headers and payload)."""
    decode_record(value, [(k, v.encode()) for k, v in headers.items()])  # the router reads it
    payload = orjson.loads(value)
    return [
        m["name"]
        for m in channel(topic)["messages"].values()
        if not errors(m["headers"], headers) and not errors(m["payload"], payload)
    ]


def structured(kind: str, **fields: Any) -> bytes:
    return orjson.dumps({**ATTRIBUTES, "type": kind, **fields})


def binary(kind: str) -> dict[str, str]:
    return {f"ce_{k}": v for k, v in {**ATTRIBUTES, "type": kind}.items()} | {
        "content-type": "application/json"
    }


@pytest.mark.parametrize("headers", [{}, {"content-type": CONTENT_TYPE}], ids=["none", "ce+json"])
def test_structured_actions_with_short_types_and_no_content_type_are_documented(
    headers: dict[str, str],
) -> None:
    value = structured("ticket.resolved", data=RESOLVED)
    assert matching(Topic.ACTIONS, headers, value) == ["switchboard.ticket.resolved"]


def test_binary_mode_records_are_documented_on_both_input_topics() -> None:
    on_actions = matching(Topic.ACTIONS, binary("ticket.resolved"), orjson.dumps(RESOLVED))
    assert on_actions == ["switchboard.ticket.resolved (binary mode)"]
    kind = "switchboard.interaction.received"
    on_inbound = matching(Topic.INBOUND, binary(kind), orjson.dumps(INTERACTION))
    assert on_inbound == [f"{kind} (binary mode)"]
    [described] = [
        m for m in channel(Topic.INBOUND)["messages"].values() if m["name"].endswith("mode)")
    ]
    assert "ce_specversion" in described["headers"]["required"]


@pytest.mark.parametrize("content_type", ["Application/JSON", "application/vnd.desk+JSON; v=2"])
def test_a_binary_content_type_in_any_case_is_documented_as_the_router_reads_it(
    content_type: str,
) -> None:
    """Media types are case-insensitive (RFC 9110): the router reads these, and the
    document's pattern had refused them."""
    headers = binary("ticket.resolved") | {"content-type": content_type}
    on_actions = matching(Topic.ACTIONS, headers, orjson.dumps(RESOLVED))
    assert on_actions == ["switchboard.ticket.resolved (binary mode)"]


def test_data_base64_is_documented_and_data_beside_it_is_not() -> None:
    encoded = base64.b64encode(orjson.dumps(INTERACTION)).decode()
    kind = "switchboard.interaction.received"
    assert matching(Topic.INBOUND, {}, structured(kind, data_base64=encoded)) == [kind]
    [message] = [m for m in channel(Topic.INBOUND)["messages"].values() if m["name"] == kind]
    both = orjson.loads(structured(kind, data=INTERACTION, data_base64=encoded))
    assert errors(message["payload"], both) != []


def test_only_actions_document_the_extensions_the_ingress_sets_on_actions() -> None:
    """``switchboardrules``, ``authtype`` and ``authid`` are set on actions: the inbound
    topic's events never carry them, and its message had listed them."""

    def extensions(topic: Topic) -> set[str]:
        structured = [m for m in channel(topic)["messages"].values() if "binary" not in m["name"]]
        return {
            name
            for m in structured
            for name in m["payload"]["allOf"][1]["properties"]
            if name in ("switchboardrules", "authtype", "authid")
        }

    assert extensions(Topic.INBOUND) == set()
    assert extensions(Topic.ACTIONS) == {"switchboardrules", "authtype", "authid"}
