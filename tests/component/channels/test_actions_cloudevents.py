"""POST /v1/actions in the modes of the CloudEvents HTTP binding, as a CloudEvents SDK
sends them: what an outside audit found read differently from the binding, the JSON
format or the Kafka path (``router.codec``), against the real embedded broker."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr

from channels.actions import CE_BATCH, CE_JSON
from router.settings import Settings
from router.topics import Topic
from tests.component.channels.support import (
    assert_nothing_written,
    assert_problem,
    client_for,
    create_tickets,
)
from tests.conftest import read_topic, values

pytestmark = pytest.mark.component

AUTH = {"Authorization": "Bearer tok-1"}
URL = "/v1/actions"
PRESENCE = {"agent_id": "a-1", "status": "online"}
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
SCHEMA = "https://helpdesk.example/schemas/presence.json"
ENCODED = base64.b64encode(orjson.dumps(PRESENCE)).decode()


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    with_tokens = settings.model_copy(update={"api_tokens": SecretStr("tok-1")})
    async with client_for(with_tokens) as c:
        yield c


def structured(**attributes: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": "ev-1",
        "source": "/helpdesk",
        "type": "agent.presence",
        "data": PRESENCE,
        **attributes,
    }


async def post_structured(
    client: httpx.AsyncClient, body: Any, content_type: str = CE_JSON
) -> httpx.Response:
    headers = {**AUTH, "content-type": content_type}
    return await client.post(URL, content=orjson.dumps(body), headers=headers)


def binary(**headers: str) -> dict[str, str]:
    return {
        **AUTH,
        "ce-specversion": "1.0",
        "ce-id": "ev-1",
        "ce-source": "/helpdesk",
        "ce-type": "agent.presence",
        **headers,
    }


# 1. datacontenttype is a media type: parameters, case, +json


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset=utf-8",
        "Application/JSON ;charset=UTF-8",
        "application/vnd.helpdesk.presence+json",
    ],
)
async def test_structured_datacontenttype_with_parameters_is_json(
    client: httpx.AsyncClient, settings: Settings, content_type: str
) -> None:
    resp = await post_structured(client, structured(datacontenttype=content_type))
    assert resp.status_code == 202, resp.text
    [event] = values(await read_topic(settings, Topic.ACTIONS, expect=1))
    assert event["data"] == PRESENCE
    assert event["datacontenttype"] == "application/json"  # the data written is JSON


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "json", ""])
async def test_a_datacontenttype_that_is_not_json_is_400_saying_what_is(
    client: httpx.AsyncClient, settings: Settings, content_type: str
) -> None:
    resp = await post_structured(client, structured(datacontenttype=content_type))
    problem = assert_problem(resp, 400, "/datacontenttype")
    assert "application/json" in problem["errors"][0]["detail"]
    assert "+json" in problem["errors"][0]["detail"]
    await assert_nothing_written(settings)


# 2. binary-mode header values are percent-encoded (HTTP binding 3.1.3.2)


async def test_binary_header_values_are_percent_decoded(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    headers = binary(**{"ce-id": "caf%C3%A9-1", "ce-subject": "agent%20a-1%25"})
    resp = await client.post(URL, json=PRESENCE, headers=headers)
    assert resp.status_code == 202, resp.text
    [event] = values(await read_topic(settings, Topic.ACTIONS, expect=1))
    assert event["id"] == "café-1"
    assert event["subject"] == "agent a-1%"


@pytest.mark.parametrize("content_type", ["text/json", "application/vnd.api+json"])
async def test_binary_mode_takes_any_json_content_type_as_its_data_type(
    client: httpx.AsyncClient, settings: Settings, content_type: str
) -> None:
    """In binary mode Content-Type is the data's type: another JSON type had been 415,
    where structured mode and Kafka's binary mode take it."""
    headers = {**binary(), "content-type": content_type}
    resp = await client.post(URL, content=orjson.dumps(PRESENCE), headers=headers)
    assert resp.status_code == 202, resp.text
    [event] = values(await read_topic(settings, Topic.ACTIONS, expect=1))
    assert event["data"] == PRESENCE


async def test_binary_mode_without_a_content_type_takes_the_data_as_json(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """``datacontenttype`` is optional, and in binary mode Content-Type is where it would
    be: an event without one is JSON by the CloudEvents default, as the Kafka path reads
    one (``router.codec``). It had been 415."""
    resp = await client.post(URL, content=orjson.dumps(PRESENCE), headers=binary())
    assert resp.status_code == 202, resp.text
    [event] = values(await read_topic(settings, Topic.ACTIONS, expect=1))
    assert event["data"] == PRESENCE


async def test_a_body_without_a_content_type_or_ce_headers_is_still_415(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    resp = await client.post(URL, content=orjson.dumps(PRESENCE), headers=AUTH)
    assert resp.status_code == 415, resp.text
    await assert_nothing_written(settings)


async def test_binary_header_bytes_sent_unencoded_are_read_as_utf8(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    headers: dict[str, Any] = {**binary(), "ce-id": "café-2".encode()}
    resp = await client.post(URL, json=PRESENCE, headers=headers)
    assert resp.status_code == 202, resp.text
    [event] = values(await read_topic(settings, Topic.ACTIONS, expect=1))
    assert event["id"] == "café-2"


@pytest.mark.parametrize(
    ("header", "value", "pointer"),
    [
        ("ce-id", "caf%C3-1", "/id"),  # a UTF-8 sequence cut short
        ("ce-source", "%FF", "/source"),
        ("ce-traceparent", "%C0%AF", "/traceparent"),  # an overlong encoding
    ],
)
async def test_a_percent_escape_that_is_no_utf8_is_400_at_its_attribute(
    client: httpx.AsyncClient, settings: Settings, header: str, value: str, pointer: str
) -> None:
    resp = await client.post(URL, json=PRESENCE, headers=binary(**{header: value}))
    problem = assert_problem(resp, 400, pointer)
    assert "UTF-8" in problem["detail"]
    await assert_nothing_written(settings)


# 3. dataschema and extension attributes: accepted and kept in every mode


async def test_extensions_and_dataschema_are_kept_alike_in_structured_and_binary_mode(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    first = structured(id="ev-s", traceparent=TRACEPARENT, dataschema=SCHEMA, attempt=2)
    batch = [structured(id="ev-b", traceparent=TRACEPARENT, sampled=True, absent=None)]
    headers = binary(**{"ce-id": "ev-h", "ce-TraceParent": TRACEPARENT, "ce-dataschema": SCHEMA})
    answers = [
        await post_structured(client, first),
        await post_structured(client, batch, CE_BATCH),
        await client.post(URL, json=PRESENCE, headers=headers),
    ]
    assert [a.status_code for a in answers] == [202] * 3, [a.text for a in answers]
    events = {e["id"]: e for e in values(await read_topic(settings, Topic.ACTIONS, expect=3))}
    assert events["ev-s"]["traceparent"] == TRACEPARENT
    assert events["ev-s"]["dataschema"] == SCHEMA
    assert events["ev-s"]["attempt"] == 2
    assert events["ev-b"]["sampled"] is True
    assert "absent" not in events["ev-b"]  # null is absent (JSON format)
    assert events["ev-h"]["traceparent"] == TRACEPARENT  # header names are case-blind
    assert events["ev-h"]["dataschema"] == SCHEMA
    assert all(e["data"] == PRESENCE for e in events.values())


@pytest.mark.parametrize(
    ("name", "pointer", "says"),
    [
        ("TraceParent", "/TraceParent", "lower-case"),
        ("trace_parent", "/trace_parent", "lower-case"),
        ("trace-parent", "/trace-parent", "lower-case"),
        ("", "/", "lower-case"),
        ("a" * 21, "/" + "a" * 21, "longer than 20"),
    ],
)
async def test_a_structured_extension_name_against_the_naming_rule_is_400_at_it(
    client: httpx.AsyncClient, settings: Settings, name: str, pointer: str, says: str
) -> None:
    resp = await post_structured(client, structured(**{name: "x"}))
    problem = assert_problem(resp, 400, pointer)
    assert says in problem["errors"][0]["detail"]
    await assert_nothing_written(settings)


async def test_a_twenty_character_extension_name_is_accepted(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    name = "a1" * 10
    assert (await post_structured(client, structured(**{name: "x"}))).status_code == 202
    [event] = values(await read_topic(settings, Topic.ACTIONS, expect=1))
    assert event[name] == "x"


@pytest.mark.parametrize(
    ("header", "pointer"),
    [
        ("ce-trace-parent", "/trace-parent"),
        ("ce-trace_parent", "/trace_parent"),
        ("ce-" + "a" * 21, "/" + "a" * 21),
        ("ce-data", "/data"),  # the body is the data: no header replaces it
        ("ce-datacontenttype", "/datacontenttype"),  # that is Content-Type
        ("ce-dataschema", "/dataschema"),  # not a URI
    ],
)
async def test_a_binary_header_that_names_no_extension_is_400_at_it(
    client: httpx.AsyncClient, settings: Settings, header: str, pointer: str
) -> None:
    resp = await client.post(URL, json=PRESENCE, headers=binary(**{header: "not a uri"}))
    assert_problem(resp, 400, pointer)
    await assert_nothing_written(settings)


@pytest.mark.parametrize(
    ("attributes", "pointer", "says"),
    [
        ({"traceparent": {"version": "00"}}, "/traceparent", "string, number or boolean"),
        ({"traceparent": ["00"]}, "/traceparent", "string, number or boolean"),
        ({"traceparent": "a\x00b"}, "/traceparent", "control character"),
        ({"traceparent": "x" * 1025}, "/traceparent", "longer than 1024 characters"),
        ({"dataschema": "not a uri"}, "/dataschema", "not an absolute URI"),
        ({f"x{i}": i for i in range(17)}, "", "more than 16 extension attributes"),
        # the conformance suite's invalidNonIntegerExtensionValue; CloudEvents' Integer
        # is 32-bit: both had been accepted and written to actions
        ({"extfloat": 1.5}, "/extfloat", "a 32-bit integer"),
        ({"extint": 2**31}, "/extint", "a 32-bit integer"),
    ],
)
async def test_an_extension_value_that_is_not_a_scalar_attribute_is_400(
    client: httpx.AsyncClient,
    settings: Settings,
    attributes: dict[str, Any],
    pointer: str,
    says: str,
) -> None:
    problem = assert_problem(await post_structured(client, structured(**attributes)), 400)
    assert problem["errors"] == [{"pointer": pointer, "detail": problem["errors"][0]["detail"]}]
    assert says in problem["errors"][0]["detail"]
    await assert_nothing_written(settings)


async def test_a_repeated_binary_header_is_400_not_one_of_them_picked(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    headers = [*binary().items(), ("ce-traceparent", "00-a"), ("ce-traceparent", "00-b")]
    resp = await client.post(URL, json=PRESENCE, headers=headers)
    assert_problem(resp, 400, "/traceparent")
    await assert_nothing_written(settings)


@pytest.mark.parametrize("url", [URL, "/v1/channels/webform"])
async def test_a_repeated_content_type_is_400_not_one_of_them_picked(
    client: httpx.AsyncClient, settings: Settings, url: str
) -> None:
    """Content-Type names one media type (RFC 9110, 8.3); of two, the one read first may
    be the one the client did not mean."""
    body = {"type": "agent.presence", "data": PRESENCE, "email": "ada@example.com"}
    headers = [*AUTH.items(), ("content-type", "application/json"), ("content-type", CE_JSON)]
    resp = await client.post(url, content=orjson.dumps(body), headers=headers)
    problem = assert_problem(resp, 400)
    assert problem["errors"] == [
        {
            "pointer": "/header/content-type",
            "detail": "the Content-Type header is repeated; send one",
        }
    ]
    await assert_nothing_written(settings)


async def test_plain_json_still_refuses_a_member_it_does_not_know(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """``application/json`` is this endpoint's own format: an unknown member is a typo;
    dataschema and a datacontenttype with parameters are CloudEvents attributes."""
    action = {"type": "agent.presence", "data": PRESENCE}
    assert_problem(await client.post(URL, json={**action, "traceparent": "x"}, headers=AUTH), 400)
    extra = {"dataschema": SCHEMA, "datacontenttype": "application/json; charset=utf-8"}
    assert (await client.post(URL, json={**action, **extra}, headers=AUTH)).status_code == 202


async def test_a_retry_with_the_same_extensions_is_a_duplicate_and_other_ones_reuse_the_id(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """Extensions are part of the event: its fingerprint holds them."""
    event = structured(traceparent=TRACEPARENT, dataschema=SCHEMA)
    assert (await post_structured(client, event)).json()["duplicate"] is False
    assert (await post_structured(client, event)).json()["duplicate"] is True
    # the same event in binary mode, header names in another case and order
    headers = binary(**{"ce-dataschema": SCHEMA, "CE-TRACEPARENT": TRACEPARENT})
    again = await client.post(URL, json=PRESENCE, headers=headers)
    assert again.json()["duplicate"] is True, again.text
    for other in (
        structured(traceparent="00-other", dataschema=SCHEMA),
        structured(traceparent=TRACEPARENT),
        structured(traceparent=TRACEPARENT, dataschema=SCHEMA, attempt=2),
    ):
        problem = assert_problem(await post_structured(client, other), 422, "/id")
        assert problem["type"].endswith("/id-reused")
    clash = [event, structured(traceparent="00-other", dataschema=SCHEMA)]
    assert_problem(await post_structured(client, clash, CE_BATCH), 400, "/1/id")
    assert len(await read_topic(settings, Topic.ACTIONS, expect=1, settle=0.3)) == 1


# 4. any ce-* header makes a request binary mode


async def test_binary_mode_without_ce_type_is_400_naming_the_missing_header(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await create_tickets(settings, "T-1")
    headers = binary()
    del headers["ce-type"]
    note = {"ticket_id": "T-1", "text": "called back"}
    problem = assert_problem(await client.post(URL, json=note, headers=headers), 400)
    assert problem["errors"] == [
        {"pointer": "/type", "detail": "binary mode: the ce-type header is required"}
    ]
    only_an_extension = {**AUTH, "ce-traceparent": TRACEPARENT}
    resp = await client.post(URL, json=note, headers=only_an_extension)
    assert_problem(resp, 400, "/type")
    await assert_nothing_written(settings)


# 5. a list is a batch, of the batch content type


async def test_a_list_posted_as_one_structured_event_is_400_pointing_to_the_batch_type(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    resp = await post_structured(client, [structured()])
    problem = assert_problem(resp, 400, "")
    assert CE_BATCH in problem["detail"]
    await assert_nothing_written(settings)
    plain = await client.post(URL, json=[structured()], headers=AUTH)  # application/json
    assert plain.status_code == 202, plain.text


async def test_an_object_posted_as_a_batch_is_400_at_the_whole_body(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    problem = assert_problem(await post_structured(client, structured(), CE_BATCH), 400, "")
    assert problem["errors"][0]["detail"].startswith("a CloudEvents batch is a JSON array")
    await assert_nothing_written(settings)


async def test_an_empty_batch_is_accepted_as_the_binding_allows_and_an_empty_list_is_not(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """The conformance suite's validBatchEmpty ("The batch MAY be empty", HTTP binding
    3.3.2) had been 400; this endpoint's own JSON list still must hold an action."""
    resp = await post_structured(client, [], CE_BATCH)
    assert resp.status_code == 202, resp.text
    assert resp.json() == {"id": None, "duplicate": False, "events": []}
    assert_problem(await post_structured(client, [], "application/json"), 400, "")
    await assert_nothing_written(settings)


@pytest.mark.parametrize(
    ("body", "content_type", "pointer"),
    [
        (None, "application/json", ""),
        (None, CE_JSON, ""),
        ("ev", CE_JSON, ""),
        ([None], CE_BATCH, "/0"),
    ],
)
async def test_a_body_that_is_no_object_is_told_so_in_json_terms(
    client: httpx.AsyncClient, settings: Settings, body: Any, content_type: str, pointer: str
) -> None:
    """No Python class name, and no empty pointer before a colon, in what a client reads."""
    what = "each action" if pointer else "the body"
    detail = f"{what} must be a JSON object (a CloudEvent)"
    problem = assert_problem(await post_structured(client, body, content_type), 400)
    assert problem["errors"] == [{"pointer": pointer, "detail": detail}]
    assert problem["detail"] == (f"{pointer}: {detail}" if pointer else detail)
    await assert_nothing_written(settings)


# 6. data_base64, as the JSON format allows and Kafka reads it


async def test_structured_data_base64_is_decoded_into_data(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    event = {k: v for k, v in structured().items() if k != "data"}
    resp = await post_structured(client, {**event, "data_base64": ENCODED})
    assert resp.status_code == 202, resp.text
    [written] = values(await read_topic(settings, Topic.ACTIONS, expect=1))
    assert written["data"] == PRESENCE
    assert "data_base64" not in written
    # the same event with its data as JSON: the same content, a duplicate
    assert (await post_structured(client, structured())).json()["duplicate"] is True


@pytest.mark.parametrize(
    ("members", "says"),
    [
        ({"data_base64": "not base64!"}, "not the base64 of a JSON object"),
        ({"data_base64": base64.b64encode(b"not json").decode()}, "not the base64"),
        ({"data_base64": base64.b64encode(b"[1, 2]").decode()}, "not the base64"),
        ({"data_base64": 5}, "not the base64"),
        ({"data_base64": ENCODED, "data": PRESENCE}, "both present"),
    ],
)
async def test_data_base64_that_is_no_json_object_is_400_at_it(
    client: httpx.AsyncClient, settings: Settings, members: dict[str, Any], says: str
) -> None:
    event = {k: v for k, v in structured().items() if k != "data"}
    problem = assert_problem(await post_structured(client, {**event, **members}), 400)
    assert [e["pointer"] for e in problem["errors"]] == ["/data_base64"]
    assert says in problem["errors"][0]["detail"]
    await assert_nothing_written(settings)


async def test_data_base64_of_data_that_is_not_json_is_400_at_datacontenttype(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    event = {k: v for k, v in structured().items() if k != "data"}
    body = {**event, "data_base64": ENCODED, "datacontenttype": "text/plain"}
    assert_problem(await post_structured(client, body), 400, "/datacontenttype")
    await assert_nothing_written(settings)
